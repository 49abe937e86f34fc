import type { Queues } from '../queues.js';

/** Settlement messages read per page. */
const PAGE = 500;
/** Past this many waiting messages settlement is far behind: nothing is voided for want of one. */
const MAX_SCANNED = 20_000;

/**
 * Which of `holdIds` a settlement message still waiting to run carries (waiting, delayed for a
 * retry, running): their usage is on its way, so they are not stale, however late. Settlement
 * retries for hours (jobDefaults), and a sync request's usage lives only in its message. `'backlog'`
 * when the queue holds more messages than are worth reading: then none is judged lost.
 */
export async function holdsAwaitingSettlement(
  queues: Queues,
  holdIds: ReadonlySet<string>,
): Promise<Set<string> | 'backlog'> {
  const found = new Set<string>();
  if (holdIds.size === 0) return found;
  const queue = queues.get('settlement');
  const states = ['waiting', 'delayed', 'active', 'prioritized', 'paused'] as const;
  const counts = await queue.getJobCounts(...states);
  if (Object.values(counts).reduce((a, b) => a + b, 0) > MAX_SCANNED) return 'backlog';
  for (let start = 0; ; start += PAGE) {
    const page = await queue.getJobs([...states], start, start + PAGE - 1);
    for (const m of page) {
      const data = m?.data as { items?: { holdId?: unknown }[]; holdId?: unknown } | undefined;
      for (const item of data?.items ?? [data ?? {}])
        if (typeof item.holdId === 'string' && holdIds.has(item.holdId)) found.add(item.holdId);
    }
    if (page.length < PAGE) return found;
  }
}

const ENDED = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

/** An open hold and the request it reserved for (a sync request has no job row). */
export interface HoldOfRequest {
  hold_id: string | null;
  job_id: string | null;
  job_status: string | null;
  job_usage: unknown;
}

/** The hold's request is over: a sync one (its hold is looked at only past its deadline), or a job that ended. */
export const requestEnded = (h: HoldOfRequest): boolean => !h.job_id || ENDED.has(h.job_status ?? '');

/**
 * Of these open holds, the ones the stale-hold sweeper leaves alone, however late: their request
 * ended and a settlement message for them still waits to run (or settlement is too far behind to
 * tell), and that message is what settles them. A succeeded job's usage is on its row, so its hold
 * is the sweeper's whatever waits. Reconciliation asks the same question, so it never calls lost a
 * hold the sweeper is right to wait for.
 */
export async function holdsLeftToSettlement(
  queues: Queues,
  holds: readonly HoldOfRequest[],
): Promise<Set<string>> {
  const ended = holds.filter(
    (h): h is HoldOfRequest & { hold_id: string } =>
      h.hold_id !== null && requestEnded(h) && !(h.job_status === 'succeeded' && h.job_usage),
  );
  const settling = await holdsAwaitingSettlement(queues, new Set(ended.map((h) => h.hold_id)));
  return new Set(
    ended.filter((h) => settling === 'backlog' || settling.has(h.hold_id)).map((h) => h.hold_id),
  );
}
