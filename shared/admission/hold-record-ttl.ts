const HOUR_S = 3600;

/**
 * How long a hold's Redis record lives from `at`: an hour past the hold's deadline, so the stale-hold
 * sweeper (which acts at the deadline) always finds it. Admission writes it so, a balance load
 * writes it again, and reconcile --fix puts it back so.
 */
export function holdRecordTtlS(deadline: Date, at: Date): number {
  return Math.max(Math.ceil((deadline.getTime() - at.getTime()) / 1000), 0) + HOUR_S;
}
