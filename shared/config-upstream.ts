import { secp256k1 } from '@noble/curves/secp256k1.js';
import { z } from 'zod';
import { envBool } from './config-fields.js';

const HEX_KEY = /^(0x)?[0-9a-fA-F]{64}$/;

/** An http(s) URL with no user or password in it (a Gonka node's: fetch refuses credentials in one). */
function isPlainHttpUrl(raw: string): boolean {
  // URL.canParse first: zod runs this refinement even after z.url() refused an element, and a
  // throw here would stop start-up with a stack trace that prints the value, password and all.
  if (!URL.canParse(raw)) return false;
  const u = new URL(raw);
  return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
}

/** A bech32 `gonka1…` account address (bech32's alphabet has no 1, b, i or o after the separator). */
const GONKA_ADDRESS = /^gonka1[02-9ac-hj-np-z]{38}$/;

/**
 * A GONKA_NODES entry: a node's URL, or `url;address` naming its transfer address (as the official
 * SDKs' GONKA_ENDPOINTS do), for a node signed mode cannot find in its participant list under that
 * URL (behind a proxy, another host name).
 */
function isNodeEntry(entry: string): boolean {
  const [url = '', address, ...more] = entry.split(';');
  return more.length === 0 && isPlainHttpUrl(url) && (address === undefined || GONKA_ADDRESS.test(address));
}

/** GONKA_NODES' entries as the node pool takes them. */
export function nodesOf(entries: readonly string[]): { url: string; address?: string }[] {
  return entries.map((e) => {
    const [url = '', address] = e.split(';');
    return address ? { url, address } : { url };
  });
}

/** The settings of the Gonka side: which nodes, how they are found, how requests to them are authorized, model ids. */
export const upstreamSettings = {
  GONKA_NODES: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(z.string()).refine((entries) => entries.every(isNodeEntry), {
        // Never echoes the URL: it may hold a password, which belongs in GONKA_API_KEY.
        message:
          'each node must be an http(s):// URL without user:password (bearer mode: GONKA_API_KEY), optionally followed by ;<its gonka1… transfer address>',
      }),
    ),
  /**
   * GONKA_NODES are seeds: the pool is every participant they list (GET
   * /v1/epochs/current/participants, with each node's address for signing), read again every
   * PRICING_REFRESH_SECONDS by each process that calls nodes, for a new epoch's. Off: exactly the
   * nodes GONKA_NODES names.
   */
  GONKA_DISCOVERY: envBool.default(false),
  /** Bearer token for gateway/broker upstreams (bearer mode). */
  GONKA_API_KEY: z.string().optional(),
  GONKA_PRIVATE_KEY: z
    .string()
    .regex(HEX_KEY, 'must be 32 bytes of hex')
    // Zero, or the curve order or past it, is no key (signing would throw at start-up).
    .refine(
      (v) => !HEX_KEY.test(v) || secp256k1.utils.isValidSecretKey(Buffer.from(v.replace(/^0x/, ''), 'hex')),
      {
        message: 'is not a valid secp256k1 private key (zero, or not below the curve order)',
      },
    )
    .optional(),
  /**
   * Public model ids and the upstream model each maps to: `fast=Qwen/QwQ-32B,smart=Qwen/...`.
   * Unset: the upstream ids are served as they are. Clients of child keys only ever see public ids.
   */
  MODEL_ALIASES: z
    .string()
    .optional()
    .transform((v, c) => {
      const map = new Map<string, string>();
      for (const pair of (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const [pub, up] = pair.split('=').map((s) => s.trim());
        if (!pub || !up) {
          c.addIssue({ code: 'custom', message: `expected public=upstream pairs, got "${pair}"` });
          return z.NEVER;
        }
        // The second would silently win: a typo that sends one alias's traffic to the wrong model.
        if (map.has(pub)) {
          c.addIssue({ code: 'custom', message: `"${pub}" is given twice` });
          return z.NEVER;
        }
        map.set(pub, up);
      }
      return map;
    }),
};
