import { isIP } from 'node:net';
import { type HostLookup, systemLookup } from '../host-lookup.js';

/**
 * SSRF guard for webhook URLs. A customer chooses the URL, so without it a delivery could reach the
 * gateway's own network (Redis, Postgres, cloud metadata at 169.254.169.254). Every address the
 * host resolves to is checked, and the request then connects to the checked address, so a DNS
 * answer that changes between check and connect (rebinding) cannot slip through.
 */

export type RefusedRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'cgnat'
  | 'reserved';

/** A host that resolves to an address webhooks may not reach; permanent, so never retried. */
export class RefusedAddressError extends Error {
  override name = 'RefusedAddressError';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: RefusedRange,
  ) {
    // The address stays out of the message: it reaches the delivery log, and the customer should
    // not learn how the gateway's resolver sees internal names.
    super(`${host} resolves to a ${range} address, which webhooks may not reach`);
  }
}

type V4Rule = [first: number, prefixBits: number, range: RefusedRange];
const V4_RULES: V4Rule[] = [
  [0x00000000, 8, 'unspecified'], // 0.0.0.0/8 "this network"
  [0x0a000000, 8, 'private'], // 10/8
  [0x64400000, 10, 'cgnat'], // 100.64/10
  [0x7f000000, 8, 'loopback'], // 127/8
  [0xa9fe0000, 16, 'link-local'], // 169.254/16 (cloud metadata lives here)
  [0xac100000, 12, 'private'], // 172.16/12
  [0xc0a80000, 16, 'private'], // 192.168/16
  [0xc0000000, 24, 'reserved'], // 192.0.0/24 IETF protocol assignments
  [0xc0000200, 24, 'reserved'], // 192.0.2/24 TEST-NET-1
  [0xc0586300, 24, 'reserved'], // 192.88.99/24 6to4 relay anycast
  [0xc6120000, 15, 'reserved'], // 198.18/15 benchmarking
  [0xc6336400, 24, 'reserved'], // 198.51.100/24 TEST-NET-2
  [0xcb007100, 24, 'reserved'], // 203.0.113/24 TEST-NET-3
  [0xe0000000, 4, 'multicast'], // 224/4
  [0xf0000000, 4, 'reserved'], // 240/4, broadcast included
];

function classifyV4(n: number): RefusedRange | null {
  for (const [first, bits, range] of V4_RULES) {
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    if ((n & mask) >>> 0 === first) return range;
  }
  return null;
}

function parseV4(s: string): number {
  return s.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** The 8 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function parseV6(s: string): number[] {
  let text = s.split('%')[0]!; // drop a zone id (fe80::1%eth0)
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = parseV4(tail[1]!);
    text = `${text.slice(0, -tail[1]!.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const a = head ? head.split(':') : [];
  const b = rest ? rest.split(':') : [];
  const zeros = rest === undefined ? [] : Array(8 - a.length - b.length).fill('0');
  return [...a, ...zeros, ...b].map((g) => Number.parseInt(g, 16));
}

function classifyV6(g: number[]): RefusedRange | null {
  const embeddedV4 = (hi: number, lo: number) => classifyV4(((hi << 16) | lo) >>> 0);
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return 'unspecified';
  if (zeroUpTo(7) && g[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d): judge the IPv4.
  if (zeroUpTo(5) && (g[5] === 0xffff || g[5] === 0)) return embeddedV4(g[6]!, g[7]!);
  // SIIT's IPv4-translated form (::ffff:0:a.b.c.d, ::ffff:0:0/96) reaches the same IPv4 address.
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return embeddedV4(g[6]!, g[7]!);
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) also lead to an IPv4 address. The local-use
  // 64:ff9b:1::/48 may embed it at any of RFC 6052's places, and is not globally reachable
  // (IANA): refused whole.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
    return embeddedV4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'private';
  if (g[0] === 0x2002) return embeddedV4(g[1]!, g[2]!);
  const first = g[0]!;
  // Teredo (2001::/32) tunnels to an address it hides; 2001:db8::/32 is documentation only;
  // 100::/64 discards.
  if (first === 0x2001 && (g[1] === 0 || g[1] === 0xdb8)) return 'reserved';
  if (first === 0x100 && g.slice(1, 4).every((x) => x === 0)) return 'reserved';
  if ((first & 0xffc0) === 0xfe80) return 'link-local'; // fe80::/10
  if ((first & 0xffc0) === 0xfec0) return 'private'; // fec0::/10, deprecated site-local
  if ((first & 0xfe00) === 0xfc00) return 'unique-local'; // fc00::/7
  if ((first & 0xff00) === 0xff00) return 'multicast'; // ff00::/8
  return null;
}

/** The refused range an IP address falls in, or null when webhooks may reach it. */
export function classifyAddress(address: string): RefusedRange | null {
  const family = isIP(address.split('%')[0]!);
  if (family === 4) return classifyV4(parseV4(address));
  if (family === 6) return classifyV6(parseV6(address));
  throw new Error(`not an IP address: ${address}`);
}

export interface VettedAddress {
  address: string;
  family: 4 | 6;
}

/** A lookup that took longer than its bound: temporary, like any DNS failure. */
export class LookupTimeoutError extends Error {
  override name = 'LookupTimeoutError';
  constructor(
    readonly host: string,
    readonly timeoutMs: number,
  ) {
    super(`looking up ${host} timed out after ${timeoutMs} ms`);
  }
}

export interface ResolveOptions {
  /** @default the system resolver */
  lookup?: HostLookup;
  /**
   * Give up after this long. The system resolver has no deadline of its own (and its call cannot
   * be cancelled: it only stops being waited for). @default no bound
   */
  timeoutMs?: number;
}

/**
 * Resolve `host` (a name or an IP literal, brackets allowed) and return one address to connect to.
 * Every resolved address must pass, not only the one used: a name answering with one public and one
 * private address is refused. DNS errors and timeouts pass through (they may be temporary).
 */
export async function resolveVetted(
  host: string,
  allowPrivate: boolean,
  opts: ResolveOptions = {},
): Promise<VettedAddress> {
  const name = host.replace(/^\[(.*)\]$/, '$1');
  const all = await within(opts.timeoutMs, name, (opts.lookup ?? systemLookup)(name));
  if (all.length === 0) throw new Error(`${name} did not resolve`);
  if (!allowPrivate) {
    for (const a of all) {
      const range = classifyAddress(a.address);
      if (range) throw new RefusedAddressError(name, a.address, range);
    }
  }
  const first = all[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

async function within<T>(timeoutMs: number | undefined, host: string, work: Promise<T>): Promise<T> {
  if (timeoutMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LookupTimeoutError(host, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
