import type { LookupAddress } from 'node:dns';
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * How host names are resolved (webhook URLs): every address a name has. On the Context so tests
 * can put a slow or silent resolver in its place.
 */
export type HostLookup = (name: string) => Promise<LookupAddress[]>;

/**
 * DNS over c-ares, off libuv's threadpool: `dns.lookup` (getaddrinfo) runs there, on at most two
 * threads for all of a process's name lookups, and cannot be cancelled, so a few webhook hosts whose
 * nameserver never answers (anyone may register one) held both for ~10 s each and stalled every
 * other lookup in the process: other accounts' webhooks, node and database host names. A c-ares
 * query waits on a socket, with its own timeout. `timeout` is the first try's (c-ares doubles it on
 * each retry): about 6 s in all, past any caller's bound.
 */
export const systemLookup: HostLookup = dnsLookup(new Resolver({ timeout: 2000, tries: 2 }));

/**
 * Every address of `name`: an IP literal as itself; `localhost` (and `*.localhost`, RFC 6761) from
 * the system, which answers it locally; any other name by DNS through `resolver` (A and AAAA), not
 * /etc/hosts.
 */
export function dnsLookup(resolver: Resolver): HostLookup {
  return async (name) => {
    const family = isIP(name);
    if (family) return [{ address: name, family }];
    if (name === 'localhost' || name.endsWith('.localhost'))
      return lookup(name, { all: true, verbatim: true });
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
    const found: LookupAddress[] = [
      ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (found.length === 0 && v4.status === 'rejected') throw v4.reason;
    return found;
  };
}
