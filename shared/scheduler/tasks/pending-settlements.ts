import type { Queues } from '../../queues.js';

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
