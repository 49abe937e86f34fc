/**
 * Wait for `work`; if it has not settled within `afterMs`, call `onWedged` once (and go on
 * waiting: it cannot be cancelled). For the one-at-a-time writers whose stall stops everything
 * queued behind them: postgres.js can leave a transaction waiting forever on a connection the
 * server ended mid-query (pg_terminate_backend, a failover: porsager/postgres#1215, #1186), and a
 * process that looks healthy then bills nothing. Crash-only: the caller's `onWedged` ends the
 * process, its supervisor starts a new one, and what was in flight runs again (settlement is
 * idempotent per hold).
 */
export async function watchForWedge<T>(work: Promise<T>, afterMs: number, onWedged: () => void): Promise<T> {
  const timer = setTimeout(onWedged, afterMs);
  try {
    return await work;
  } finally {
    clearTimeout(timer);
  }
}
