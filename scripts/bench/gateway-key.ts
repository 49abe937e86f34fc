import { randomBytes } from 'node:crypto';

async function post<T>(base: string, path: string, token: string, body: unknown): Promise<T> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export interface BenchCustomer {
  accountId: string;
  jwt: string;
  /** A child key (`gc-…`) with no limits: only the balance bounds it. */
  childKey: string;
}

/**
 * A customer made the way a user makes one, through the gateway's own API: register, an admin
 * top-up large enough for any run, a management key and an unlimited child key under it.
 */
export async function createBenchCustomer(base: string, adminToken: string): Promise<BenchCustomer> {
  const tag = randomBytes(6).toString('hex');
  const reg = await post<{ account: { id: string }; token: string }>(base, '/api/auth/register', '', {
    email: `bench-${tag}@bench.example`,
    password: randomBytes(12).toString('hex'),
  });
  await post(base, '/api/admin/topups', adminToken, {
    account_id: reg.account.id,
    amount_ngonka: '1000000000000000', // 1e6 GNK: no run can spend it
    reference: `bench-${tag}`,
  });
  const mk = await post<{ id: string; key: string }>(base, '/api/management/keys', reg.token, {
    name: 'bench',
  });
  const child = await post<{ key: string }>(base, `/api/management/keys/${mk.id}/children`, mk.key, {
    name: 'bench',
  });
  return { accountId: reg.account.id, jwt: reg.token, childKey: child.key };
}

/** Open holds of the customer: zero once settlement caught up with the run. */
export async function heldNgonka(base: string, jwt: string): Promise<bigint> {
  const res = await fetch(`${base}/api/account`, { headers: { authorization: `Bearer ${jwt}` } });
  return BigInt(((await res.json()) as { held_ngonka: string }).held_ngonka);
}
