import { isIP } from 'node:net';
import { ApiError } from '../errors.js';
import type { HostLookup } from '../host-lookup.js';
import { LookupTimeoutError, RefusedAddressError, resolveVetted } from './ssrf.js';

export const WEBHOOK_URL_MAX_LENGTH = 2000;

/** How long a URL check waits for its host to resolve: the client is waiting for the answer. */
export const WEBHOOK_URL_LOOKUP_TIMEOUT_MS = 3_000;

export interface WebhookUrlCheck {
  allowPrivate: boolean;
  /** The field named in a 400. @default 'url' */
  param?: string;
  lookup: HostLookup;
}

/**
 * Registration-time checks of a webhook URL: https only (plain http only when private networks are
 * allowed, which is for local testing), no credentials in it (they would be listed back and
 * logged), and a host that resolves, within WEBHOOK_URL_LOOKUP_TIMEOUT_MS, to addresses webhooks
 * may reach. The delivery worker checks the address again on every attempt; this only turns an
 * obvious mistake into a 400 early.
 */
export async function assertWebhookUrl(raw: string, check: WebhookUrlCheck): Promise<URL> {
  const { allowPrivate, param = 'url' } = check;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw ApiError.invalid(param, `${param}: must be an absolute URL`);
  }
  const allowed = allowPrivate ? ['https:', 'http:'] : ['https:'];
  if (!allowed.includes(url.protocol)) {
    const what = allowPrivate ? 'https or http' : 'https';
    throw ApiError.invalid(param, `${param}: must use ${what}`);
  }
  if (url.username || url.password) throw ApiError.invalid(param, `${param}: must not contain credentials`);
  try {
    await resolveVetted(url.hostname, allowPrivate, {
      lookup: check.lookup,
      timeoutMs: WEBHOOK_URL_LOOKUP_TIMEOUT_MS,
    });
  } catch (err) {
    // An address typed as such is named for what it is. A name gets one answer whether it resolves
    // to a private address or not at all: telling them apart would let a customer map which
    // internal names the gateway's resolver knows.
    if (err instanceof RefusedAddressError && isIP(url.hostname.replace(/^\[|\]$/g, '')))
      throw ApiError.invalid(param, `${param}: ${url.hostname} is a ${err.range} address`);
    if (err instanceof LookupTimeoutError)
      throw ApiError.invalid(
        param,
        `${param}: ${url.hostname} did not resolve within ${WEBHOOK_URL_LOOKUP_TIMEOUT_MS / 1000} s`,
      );
    throw ApiError.invalid(param, `${param}: the host ${url.hostname} does not resolve to a public address`);
  }
  return url;
}
