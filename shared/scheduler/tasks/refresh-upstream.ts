import type { Upstream } from '../../upstream.js';

/**
 * Refresh this process's view of the network: node prices and the participant list. Both live in
 * process memory, so this runs on every replica that has an upstream, not only the leader. A failed
 * refresh keeps the last good prices and nodes.
 */
export async function refreshUpstream(upstream: Upstream): Promise<{ models: number; nodes: number }> {
  const [prices, nodes] = await Promise.allSettled([upstream.pricing.refresh(), upstream.pool.refresh()]);
  // Both are tried; either failing fails the run, so the task metric shows it.
  for (const r of [prices, nodes]) if (r.status === 'rejected') throw r.reason;
  return { models: upstream.pricing.models().length, nodes: upstream.pool.size };
}
