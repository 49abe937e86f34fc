import { call } from './http.js';

/** POST /v1/jobs as a child key with a chat request; the accepted job's id. */
export async function submitJob(url: string, childKey: string, request: unknown): Promise<string> {
  const res = await call(url, 'POST', '/v1/jobs', { token: childKey, body: { request } });
  return res.body.id as string;
}
