const HOUR_S = 3600;

/** A hold's Redis record outlives the hold's deadline by an hour, as when admission writes it. */
export function holdRecordTtlS(deadline: Date, at: Date): number {
  return Math.max(Math.ceil((deadline.getTime() - at.getTime()) / 1000), 0) + HOUR_S;
}
