/**
 * Wait for `work`; if it has not settled within `afterMs`, call `onWedged` once (and go on
 * waiting: it cannot be cancelled). For the one-at-a-time writers whose stall stops everything
 * queued behind them: a transaction that never settles (postgres.js 3 left some waiting forever on
 * a connection the server ended mid-query, porsager/postgres#1215, #1186; 4 rejects them, and
 * test/integration/settlement-connection-cuts.test.ts holds it to that) would leave a process that
 * looks healthy and bills nothing. The last resort, crash-only: the caller's `onWedged` ends the
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
