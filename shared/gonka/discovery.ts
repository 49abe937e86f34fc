import { normalizeNodeUrl, PARTICIPANTS_PATH, participantsResponseSchema } from './protocol.js';

/** A node the gateway can call. `models` unset means "unknown: may serve anything". */
export interface NodeInfo {
  url: string;
  /** The node's `gonka1…` address, needed as X-Transfer-Address in signed mode. */
  address?: string;
  models?: readonly string[];
}

/** @default 5_000 */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 5_000;

/** The current epoch's participants as one node reports them. */
export async function fetchParticipants(
  url: string,
  timeoutMs = DEFAULT_DISCOVERY_TIMEOUT_MS,
): Promise<NodeInfo[]> {
  const res = await fetch(`${normalizeNodeUrl(url)}${PARTICIPANTS_PATH}`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`participants from ${url}: HTTP ${res.status}`);
  }
  const parsed = participantsResponseSchema.parse(await res.json());
  const excluded = new Set((parsed.excluded_participants ?? []).map((p) => p.address));
  const nodes: NodeInfo[] = [];
  for (const p of parsed.active_participants.participants) {
    if (!p.inference_url || !p.index || excluded.has(p.index)) continue;
    nodes.push({ url: normalizeNodeUrl(p.inference_url), address: p.index, models: p.models });
  }
  return nodes;
}

/** The transfer address a node's own participant list gives its URL, or undefined when it lists no such URL. */
export async function listedAddress(
  url: string,
  timeoutMs = DEFAULT_DISCOVERY_TIMEOUT_MS,
): Promise<string | undefined> {
  return (await fetchParticipants(url, timeoutMs)).find((p) => p.url === url)?.address;
}

/**
 * Asks each seed in turn and returns the first non-empty participant list: one seed being down
 * must not stop the gateway from finding the rest of the network.
 */
export async function discoverNodes(
  seeds: readonly string[],
  timeoutMs = DEFAULT_DISCOVERY_TIMEOUT_MS,
): Promise<NodeInfo[]> {
  const errors: string[] = [];
  for (const seed of seeds) {
    try {
      const nodes = await fetchParticipants(seed, timeoutMs);
      if (nodes.length > 0) return nodes;
      errors.push(`${seed}: no participants`);
    } catch (err) {
      errors.push(`${seed}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`node discovery failed (${errors.join('; ') || 'no seeds'})`);
}
