import { z } from 'zod';
import { messageText, type SimMessage } from './completion.js';

/**
 * Faults a simulated node injects into chat completions (other endpoints stay healthy, so discovery
 * and pricing keep working while inference fails).
 * - `latencyMs`: wait before the first byte of every answer.
 * - `status`: answer every request with this error status; with `failNext`, only the next N requests:
 *   402 (the gateway's Gonka account cannot cover the escrow), 403 (this transfer agent is not on
 *   the chain's allow-list), 429 (capacity), 500, 503 (no executors), each in a real node's words.
 * - `failNext`: the next N requests fail with `status` (503 when unset), then the node recovers.
 * - `cutAfterChunks`: a stream's socket is destroyed after N content chunks.
 * - `tokenDelayMs`: pause between streamed chunks (a slow generation, to test abandoned streams).
 * - `errorAfterChunks`: a stream sends an error event after N content chunks, then `[DONE]`, as
 *   vLLM does when generation fails mid-way (its message names the executor).
 * - `noUsage` (1): a stream sends no usage chunk, as a node that breaks Gonka's rule would.
 */
export const nodeFaultsSchema = z.object({
  latencyMs: z.number().int().min(0).optional(),
  status: z
    .union([z.literal(402), z.literal(403), z.literal(429), z.literal(500), z.literal(503)])
    .optional(),
  failNext: z.number().int().min(0).optional(),
  cutAfterChunks: z.number().int().min(0).optional(),
  tokenDelayMs: z.number().int().min(0).optional(),
  errorAfterChunks: z.number().int().min(0).optional(),
  noUsage: z.number().int().min(0).max(1).optional(),
});

export type NodeFaults = z.infer<typeof nodeFaultsSchema>;
export type FaultStatus = NonNullable<NodeFaults['status']>;

/** What one request suffers, after node faults and the request's own directive are combined. */
export interface RequestFaults {
  latencyMs: number;
  status: FaultStatus | undefined;
  cutAfterChunks: number | undefined;
  tokenDelayMs: number;
  errorAfterChunks: number | undefined;
  noUsage: boolean;
}

const DIRECTIVE = /\[\[sim((?:\s+[a-z]+=\d+)*)\s*\]\]/;
const DIRECTIVE_KEYS: Record<string, keyof NodeFaults> = {
  latency: 'latencyMs',
  status: 'status',
  cut: 'cutAfterChunks',
  delay: 'tokenDelayMs',
  error: 'errorAfterChunks',
  nousage: 'noUsage',
};

/**
 * A directive inside the last user message, `[[sim latency=200 status=503 cut=3 delay=20 error=2]]` (any
 * subset). The gateway forwards bodies untouched, so tests can drive faults from its edge.
 * Unknown keys and statuses other than 402/403/429/500/503 are ignored.
 */
export function parseDirective(messages: readonly SimMessage[]): NodeFaults {
  let last: SimMessage | undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') {
      last = messages[i];
      break;
    }
  }
  if (!last) return {};
  const text = messageText(last);
  // Cheap pre-check: most requests carry no directive and must not pay for a regex.
  if (!text.includes('[[sim')) return {};
  const m = DIRECTIVE.exec(text);
  if (!m?.[1]) return {};
  const out: Record<string, number> = {};
  for (const pair of m[1].trim().split(/\s+/)) {
    const [k = '', v = ''] = pair.split('=');
    const field = DIRECTIVE_KEYS[k];
    if (field) out[field] = Number(v);
  }
  const parsed = nodeFaultsSchema.safeParse(out);
  if (parsed.success) return parsed.data;
  // Keep the valid keys when one is out of range (e.g. status=404).
  const { status: _ignored, ...rest } = out;
  return nodeFaultsSchema.safeParse(rest).data ?? {};
}

/**
 * Combine the node's faults with the request's directive (the directive wins per field) and consume
 * one `failNext` credit when the node-level failure applies. Mutates `node.failNext`.
 */
export function resolveFaults(node: NodeFaults, directive: NodeFaults): RequestFaults {
  let status: FaultStatus | undefined = directive.status;
  if (status === undefined) {
    if (node.failNext !== undefined) {
      if (node.failNext > 0) {
        node.failNext -= 1;
        status = node.status ?? 503;
      }
    } else {
      status = node.status;
    }
  }
  return {
    latencyMs: directive.latencyMs ?? node.latencyMs ?? 0,
    status,
    cutAfterChunks: directive.cutAfterChunks ?? node.cutAfterChunks,
    tokenDelayMs: directive.tokenDelayMs ?? node.tokenDelayMs ?? 0,
    errorAfterChunks: directive.errorAfterChunks ?? node.errorAfterChunks,
    noUsage: (directive.noUsage ?? node.noUsage ?? 0) === 1,
  };
}
