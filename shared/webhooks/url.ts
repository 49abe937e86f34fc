import { ApiError } from '../errors.js';
import { RefusedAddressError, resolveVetted } from './ssrf.js';

export const WEBHOOK_URL_MAX_LENGTH = 2000;

/**
 * Registration-time checks of a webhook URL (param `url`): https only (plain http only when private
 * networks are allowed, which is for local testing), no credentials in it (they would be listed
 * back and logged), and a host that resolves to addresses webhooks may reach. The delivery worker
 * checks the address again on every attempt; this only turns an obvious mistake into a 400 early.
 */
export async function assertWebhookUrl(raw: string, allowPrivate: boolean, param = 'url'): Promise<URL> {
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
    await resolveVetted(url.hostname, allowPrivate);
  } catch (err) {
    if (err instanceof RefusedAddressError)
      throw ApiError.invalid(param, `${param}: ${url.hostname} resolves to a ${err.range} address`);
    throw ApiError.invalid(param, `${param}: ${url.hostname} does not resolve`);
  }
  return url;
}
