/** The constraint a statement broke when it failed as a duplicate (SQLSTATE 23505), else null. */
export function uniqueViolation(err: unknown): string | null {
  const e = err as { code?: string; constraint_name?: string } | null;
  return e?.code === '23505' ? (e.constraint_name ?? null) : null;
}
