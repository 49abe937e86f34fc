import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';

/**
 * How host names are resolved (webhook URLs): every address a name has, as the system resolver
 * gives them. On the Context so tests can put a slow or silent resolver in its place.
 */
export type HostLookup = (name: string) => Promise<LookupAddress[]>;

export const systemLookup: HostLookup = (name) => lookup(name, { all: true, verbatim: true });
