import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizeIfIdle } from '../../shared/batches/finalize.js';
import type { Context } from '../../shared/context.js';
import { closeBatch, insertBatch } from '../../shared/db/queries/batches.js';
import { insertFile } from '../../shared/db/queries/files.js';
import { completeJobs } from '../../shared/db/queries/job-attempts.js';
import { failJob } from '../../shared/db/queries/jobs.js';
import { newId } from '../../shared/ids.js';
import { afterJobFinished } from '../../shared/jobs/finish.js';
import type { Queues } from '../../shared/queues.js';
import { emitMissedEvents } from '../../shared/scheduler/tasks/missed-events.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { admitJob, subscribeAll, testQueues } from '../helpers/scheduler.js';
import { waitFor } from '../helpers/wait.js';

// The webhook event of a job's or batch's end is recorded with that end (event_outbox), so it is
// emitted even when the process that wrote the end never got to emit it, and never twice to one
// destination. No webhook worker runs: deliveries stay recorded for the assertions.
let env: TestEnv;
let queues: Queues;
beforeAll(async () => {
  env = await createTestEnv();
  queues = testQueues(env.ctx);
});
afterAll(async () => {
  await queues?.close();
  await env?.close();
});

const JOB_URL = 'https://hooks.example.com/job';

/** Every delivery of the account: its event, where it goes, and what it reports. */
const deliveries = (ctx: Context, accountId: string) =>
  ctx.sql<{ event_type: string; endpoint_id: string | null; url: string; subject: string }[]>`
    select event_type, endpoint_id, url, payload -> 'data' ->> 'id' as subject
    from webhook_deliveries where account_id = ${accountId} order by endpoint_id nulls last`;

/** A subscribed account with a job of its own webhook_url, admitted (not run). */
async function accountWithJob(): Promise<{ f: KeyFixture; endpointId: string; jobId: string }> {
  const f = await createKeyFixture(env.ctx, { balance: 1_000_000n });
  const endpointId = await subscribeAll(env.ctx, f.accountId);
  const { jobId } = await admitJob(env.ctx, f, 100n);
  await env.ctx.sql`update jobs set webhook_url = ${JOB_URL} where id = ${jobId}`;
  return { f, endpointId, jobId };
}

/** A batch of no lines of the account's key, not yet ended. */
async function emptyBatch(f: KeyFixture): Promise<string> {
  const now = env.ctx.clock.now();
  const file = await insertFile(env.ctx.sql, {
    id: newId('file'),
    accountId: f.accountId,
    managementKeyId: f.mkId,
    purpose: 'batch',
    filename: 'in.jsonl',
    bytes: 0,
    lineCount: 0,
    createdAt: now,
  });
  const id = newId('batch');
  await insertBatch(env.ctx.sql, {
    id,
    accountId: f.accountId,
    managementKeyId: f.mkId,
    childKeyId: f.key.id,
    inputFileId: file.id,
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    total: 0,
    metadata: {},
    createdAt: now,
    expiresAt: new Date(now.getTime() + 86_400_000),
  });
  return id;
}

/** End a batch as finalize does, without emitting its event (the process died first). */
const closeEmpty = (id: string, at = env.ctx.clock.now()) =>
  closeBatch(env.ctx.sql, id, {
    status: 'completed',
    at,
    outputFileId: null,
    errorFileId: null,
    completed: 0,
    failed: 0,
    errors: null,
  });

const failIt = (jobId: string) =>
  failJob(env.ctx.sql, jobId, {
    status: 'failed',
    error: { type: 'upstream_error', message: 'no' },
    at: env.ctx.clock.now(),
  });

describe('job and batch events recorded with the end they report', () => {
  it('emits a failed job’s event that was lost after its end committed, once', async () => {
    const { f, endpointId, jobId } = await accountWithJob();
    await failIt(jobId); // …and the worker died before emitting
    expect(await deliveries(env.ctx, f.accountId)).toEqual([]);

    // Not yet: the worker that wrote the end normally emits it within moments.
    expect(await emitMissedEvents(env.ctx, queues)).toBe(0);
    expect(await emitMissedEvents(env.ctx, queues, { graceMs: 0 })).toBe(1);
    expect(await emitMissedEvents(env.ctx, queues, { graceMs: 0 })).toBe(0);
    expect(await deliveries(env.ctx, f.accountId)).toEqual([
      { event_type: 'job.failed', endpoint_id: endpointId, url: expect.any(String), subject: jobId },
      { event_type: 'job.failed', endpoint_id: null, url: JOB_URL, subject: jobId },
    ]);
  });

  it('emits a succeeded job’s lost event too', async () => {
    const { f, jobId } = await accountWithJob();
    const at = env.ctx.clock.now();
    await completeJobs(env.ctx.sql, [
      {
        id: jobId,
        attempt: 1,
        startedAt: at,
        result: { choices: [] },
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        cost: 2n,
        at,
      },
    ]);
    expect(await emitMissedEvents(env.ctx, queues, { graceMs: 0 })).toBe(1);
    expect((await deliveries(env.ctx, f.accountId)).map((d) => d.event_type)).toEqual([
      'job.succeeded',
      'job.succeeded',
    ]);
  });

  it('records the end of a job nobody listens to no event at all, and of one with only its own URL', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n }); // no endpoint
    const unheard = (await admitJob(env.ctx, f, 100n)).jobId;
    const ownUrl = (await admitJob(env.ctx, f, 100n)).jobId;
    await env.ctx.sql`update jobs set webhook_url = ${JOB_URL} where id = ${ownUrl}`;
    await failIt(unheard);
    const heard = (await failIt(ownUrl))!;
    const rows = await env.ctx
      .sql`select subject_id from event_outbox where subject_id in ${env.ctx.sql([unheard, ownUrl])}`;
    expect(rows.map((r) => r.subject_id)).toEqual([ownUrl]);
    await afterJobFinished(env.ctx, queues, heard); // emitted, and its record cleared
    await waitFor('its record cleared', async () => {
      const left = await env.ctx.sql`select 1 from event_outbox where subject_id = ${ownUrl}`;
      return left.length === 0;
    });
  });

  it('clears the record of an end heard when it was written but by nobody when emitted', async () => {
    const { jobId, endpointId } = await accountWithJob();
    await env.ctx.sql`update jobs set webhook_url = null where id = ${jobId}`;
    const job = (await failIt(jobId))!; // its endpoint hears it: recorded
    await env.ctx.sql`update webhook_endpoints set deleted_at = now() where id = ${endpointId}`;
    await afterJobFinished(env.ctx, queues, job); // nobody to tell now: nothing sent, nothing cleared
    const left = () => env.ctx.sql`select 1 from event_outbox where subject_id = ${jobId}`;
    expect(await left()).toHaveLength(1);
    await env.ctx
      .sql`update event_outbox set created_at = now() - interval '1 hour' where subject_id = ${jobId}`;
    await emitMissedEvents(env.ctx, queues, { graceMs: 0 });
    expect(await left()).toHaveLength(0);
  });

  it('never delivers one job event twice to one destination, however often it is emitted', async () => {
    const { f, jobId } = await accountWithJob();
    const job = (await failIt(jobId))!;
    await afterJobFinished(env.ctx, queues, job);
    // A second emit (a retry after an error, or the sweep meeting the worker) adds nothing.
    await afterJobFinished(env.ctx, queues, job);
    const earlier = new Date(Date.now() - 1000);
    await env.ctx.sql`insert into event_outbox (subject_id, created_at) values (${jobId}, ${earlier})`;
    expect(await emitMissedEvents(env.ctx, queues, { graceMs: 0 })).toBe(1);
    expect(await deliveries(env.ctx, f.accountId)).toHaveLength(2);
  });

  it('emits a finished batch’s event, once, and a lost one from the sweep', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n });
    await subscribeAll(env.ctx, f.accountId);
    const emitted = await emptyBatch(f);
    await finalizeIfIdle(env.ctx, queues, emitted);
    await finalizeIfIdle(env.ctx, queues, emitted);
    expect(await emitMissedEvents(env.ctx, queues, { graceMs: 0 })).toBe(0);

    // The batch's end commits, and the process dies before emitting: the sweep sends it.
    const lost = await emptyBatch(f);
    await closeEmpty(lost);
    expect(await emitMissedEvents(env.ctx, queues, { graceMs: 0 })).toBe(1);
    expect(await emitMissedEvents(env.ctx, queues, { graceMs: 0 })).toBe(0);

    const rows = await deliveries(env.ctx, f.accountId);
    expect(rows.map((d) => [d.event_type, d.subject]).sort()).toEqual(
      [
        ['batch.completed', emitted],
        ['batch.completed', lost],
      ].sort(),
    );
  });

  it('records the end of a batch nobody listens to no event: an endpoint made later never gets it', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n }); // no endpoint
    const id = await emptyBatch(f);
    await closeEmpty(id);
    expect(await env.ctx.sql`select 1 from event_outbox where subject_id = ${id}`).toHaveLength(0);
    await subscribeAll(env.ctx, f.accountId);
    await emitMissedEvents(env.ctx, queues, { graceMs: 0 });
    expect(await deliveries(env.ctx, f.accountId)).toEqual([]);
  });

  it('sends a lost event only to the endpoints there when it happened, stamped with when it happened', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 1_000_000n });
    const before = await subscribeAll(env.ctx, f.accountId);
    const endedAt = new Date(Date.now() - 60_000);
    await env.ctx
      .sql`update webhook_endpoints set created_at = ${new Date(endedAt.getTime() - 1000)} where id = ${before}`;
    const batchId = await emptyBatch(f);
    await closeEmpty(batchId, endedAt); // …and the process died before emitting
    const { jobId } = await admitJob(env.ctx, f, 100n);
    await failJob(env.ctx.sql, jobId, { status: 'failed', error: { type: 'upstream_error' }, at: endedAt });
    await subscribeAll(env.ctx, f.accountId); // made after both ended
    await emitMissedEvents(env.ctx, queues, { graceMs: 0 });
    const sent = await env.ctx.sql<{ endpoint_id: string; type: string; timestamp: string }[]>`
      select endpoint_id, event_type as type, payload ->> 'timestamp' as timestamp
      from webhook_deliveries where account_id = ${f.accountId} order by event_type`;
    expect(sent).toEqual([
      { endpoint_id: before, type: 'batch.completed', timestamp: endedAt.toISOString() },
      { endpoint_id: before, type: 'job.failed', timestamp: endedAt.toISOString() },
    ]);
  });
});
