import OpenAI from 'openai';
import type { Context } from '../../shared/context.js';
import { topup } from '../../shared/ledger/topup.js';
import { createTestAccount } from './accounts.js';
import { call } from './http.js';

export interface Customer {
  accountId: string;
  jwt: string;
  mkId: string;
  mkKey: string;
  childId: string;
  childKey: string;
  openai: OpenAI;
}

/**
 * A customer set up the way a user does it, over HTTP: an account with a balance, a management key
 * and a child key with the given limits; plus the official OpenAI client on that child key.
 */
export async function createCustomer(
  ctx: Context,
  baseUrl: string,
  opts: { balance?: bigint; child?: Record<string, unknown> } = {},
): Promise<Customer> {
  const account = await createTestAccount(ctx);
  if (opts.balance !== 0n)
    await topup(ctx, {
      accountId: account.id,
      amount: opts.balance ?? 1_000_000_000n,
      reference: `e2e-${account.id}`,
    });
  const mk = await call(baseUrl, 'POST', '/api/management/keys', {
    token: account.token,
    body: { name: 'My SaaS' },
  });
  const child = await call(baseUrl, 'POST', `/api/management/keys/${mk.body.id}/children`, {
    token: mk.body.key,
    body: { name: 'Client A', ...opts.child },
  });
  if (child.status !== 201) throw new Error(`child key: ${child.status} ${JSON.stringify(child.body)}`);
  return {
    accountId: account.id,
    jwt: account.token,
    mkId: mk.body.id,
    mkKey: mk.body.key,
    childId: child.body.id,
    childKey: child.body.key,
    openai: new OpenAI({ apiKey: child.body.key, baseURL: `${baseUrl}/v1`, maxRetries: 0 }),
  };
}

/** A second management key of the customer's account, with a child key of its own. */
export async function secondManagementKey(
  baseUrl: string,
  c: Pick<Customer, 'jwt'>,
): Promise<{ mkId: string; childKey: string }> {
  const mk = await call(baseUrl, 'POST', '/api/management/keys', { token: c.jwt, body: { name: 'two' } });
  const child = await call(baseUrl, 'POST', `/api/management/keys/${mk.body.id}/children`, {
    token: c.jwt,
    body: { name: 'two-child' },
  });
  if (child.status !== 201) throw new Error(`child key: ${child.status} ${JSON.stringify(child.body)}`);
  return { mkId: mk.body.id as string, childKey: child.body.key as string };
}
