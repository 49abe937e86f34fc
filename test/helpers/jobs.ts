import { inferenceJobIds, parsePayload, type Queues } from '../../shared/queues.js';
import { pendingMessages } from '../../shared/reconcile/queued-jobs.js';
import { call } from './http.js';
import { waitFor } from './wait.js';

/** POST /v1/jobs as a child key with a chat request; the accepted job's id. */
export async function submitJob(url: string, childKey: string, request: unknown): Promise<string> {
  const res = await call(url, 'POST', '/v1/jobs', { token: childKey, body: { request } });
  return res.body.id as string;
}

/**
 * Wait until every one of these accepted jobs has its message in the inference queue: the 202
 * does not wait for the hand-off (shared/jobs/submit.ts), a test that reads the queue does.
 */
export async function waitForHandOff(queues: Queues, jobIds: readonly string[]): Promise<void> {
  await waitFor(`${jobIds.length} job(s) in the inference queue`, async () => {
    const queued = new Set<string>();
    for await (const m of pendingMessages(queues, 'inference'))
      for (const id of inferenceJobIds(parsePayload('inference', m.data))) queued.add(id);
    return jobIds.every((id) => queued.has(id));
  });
}
