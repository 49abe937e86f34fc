/**
 * Promise.all that waits for every promise before it rejects with the first error: nothing it
 * started is still running when the caller fails (a group's jobs, a dispatcher run's lines).
 */
export async function allFinished<T>(promises: (T | Promise<T>)[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}
