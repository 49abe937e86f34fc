import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { settled } from '../helpers/books.js';
import { type Customer, createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

/**
 * POST /api/management/keys/:id/children/:childId/rotate: a child key gets a new secret and keeps
 * its id, limits and usage (a leaked secret replaced without a fresh limit for the period, which a
 * new key would have). The secret replaced is refused on its very next request, however the api
 * met it before (its identity is cached without expiry), or works on until the grace asked for.
 */
const stack = useTestStack();

const CHAT = {
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user' as const, content: 'hi' }],
  max_tokens: 8,
};

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${stack.server.url}/v1`, maxRetries: 0 });

/** A chat with `key`: 200, or the status and error code it was refused with. */
async function chatWith(key: string): Promise<number | string> {
  try {
    await client(key).chat.completions.create(CHAT);
    return 200;
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    return `${err.status} ${err.code}`;
  }
}

async function modelsWith(key: string): Promise<number> {
  return (await call(stack.server.url, 'GET', '/v1/models', { token: key })).status;
}

function rotate(c: Customer, body?: Record<string, unknown>, token = c.mkKey) {
  return call(stack.server.url, 'POST', `/api/management/keys/${c.mkId}/children/${c.childId}/rotate`, {
    token,
    body,
  });
}

describe('child key rotation', () => {
  it('gives a new secret at once; the old one is refused on its next request; limits and usage stay', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, {
      child: { limit_daily_ngonka: '1000000', rate_limit_rpm: 100, metadata: { customer: 'acme' } },
    });
    expect(await chatWith(c.childKey)).toBe(200); // the api now knows this secret's identity
    const before = await call(
      stack.server.url,
      'GET',
      `/api/management/keys/${c.mkId}/children/${c.childId}`,
      {
        token: c.jwt,
      },
    );

    const res = await rotate(c);
    expect(res.status).toBe(200);
    const newKey = res.body.key as string;
    expect(newKey).toMatch(/^gc-/);
    expect(newKey).not.toBe(c.childKey);
    expect(res.body).toMatchObject({
      id: c.childId,
      name: 'Client A',
      status: 'active',
      limit_daily_ngonka: '1000000',
      rate_limit_rpm: 100,
      metadata: { customer: 'acme' },
      key_prefix: `${newKey.slice(0, 6)}…${newKey.slice(-4)}`,
      previous_key_expires_at: null,
      created_at: before.body.created_at,
    });

    // The replaced secret, on the route that takes a hold and on one that takes none.
    expect(await chatWith(c.childKey)).toBe('401 key_revoked');
    expect(await modelsWith(c.childKey)).toBe(401);
    expect(await chatWith(newKey)).toBe(200);
    expect(await modelsWith(newKey)).toBe(200);

    // One key all along: its usage counts both requests, under the same limit.
    await settled(stack.env.ctx, c.accountId);
    const after = await call(
      stack.server.url,
      'GET',
      `/api/management/keys/${c.mkId}/children/${c.childId}`,
      {
        token: c.jwt,
      },
    );
    expect(after.body.usage.requests_today).toBe(2);
    expect(BigInt(after.body.usage.daily_spent_ngonka)).toBeGreaterThan(
      BigInt(before.body.usage.daily_spent_ngonka),
    );
    expect(BigInt(after.body.usage.daily_remaining_ngonka)).toBe(
      1_000_000n - BigInt(after.body.usage.daily_spent_ngonka),
    );

    // Rotated again: the secret of the first rotation, never used, is refused as rotated too
    // (found by its hash in Postgres, not from anything the api remembers).
    const again = await rotate(c, { grace_period_seconds: 0 }, c.jwt);
    expect(again.status).toBe(200);
    expect(await chatWith(newKey)).toBe('401 key_revoked');
    expect(await chatWith(again.body.key)).toBe(200);

    // Redis's copy of the key agrees with Postgres, secrets included.
    const report = await runReconcile(stack.env.ctx, { inflightMs: 0 });
    expect(report.drift.filter((d) => d.subject.includes(c.childId))).toEqual([]);
  });

  it('keeps the old secret working through a grace, then refuses it; one grace at a time', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    expect(await chatWith(c.childKey)).toBe(200);
    const started = Date.now();
    const res = await rotate(c, { grace_period_seconds: 2 });
    expect(res.status).toBe(200);
    const until = Date.parse(res.body.previous_key_expires_at);
    expect(until - started).toBeGreaterThan(1_000);
    expect(until - started).toBeLessThanOrEqual(2_000 + (Date.now() - started));

    expect(await chatWith(c.childKey)).toBe(200);
    expect(await chatWith(res.body.key)).toBe(200);
    // Another grace while this one runs would leave three secrets working: refused.
    const second = await rotate(c, { grace_period_seconds: 60 });
    expect(second.status).toBe(409);
    expect(second.body.error.type).toBe('conflict');

    await new Promise((r) => setTimeout(r, Math.max(until - Date.now(), 0) + 50));
    expect(await chatWith(c.childKey)).toBe('401 key_revoked');
    expect(await chatWith(res.body.key)).toBe(200);
    const shown = await call(
      stack.server.url,
      'GET',
      `/api/management/keys/${c.mkId}/children/${c.childId}`,
      {
        token: c.jwt,
      },
    );
    expect(shown.body.previous_key_expires_at).toBeNull();
  });

  it('ends a running grace at once with grace_period_seconds 0', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = await rotate(c, { grace_period_seconds: 3600 });
    expect(await chatWith(c.childKey)).toBe(200);
    const second = await rotate(c, { grace_period_seconds: 0 });
    expect(second.status).toBe(200);
    expect(second.body.previous_key_expires_at).toBeNull();
    for (const old of [c.childKey, first.body.key]) expect(await chatWith(old)).toBe('401 key_revoked');
    expect(await chatWith(second.body.key)).toBe(200);
  });

  it('refuses the old secret after Redis lost the key state (rebuilt from Postgres)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    expect(await chatWith(c.childKey)).toBe(200);
    const res = await rotate(c);
    const { ctx } = stack.env;
    await ctx.redis.del(ctx.keys.childKey(c.accountId, c.childId));
    expect(await chatWith(c.childKey)).toBe('401 key_revoked');
    await ctx.redis.del(ctx.keys.childKey(c.accountId, c.childId));
    expect(await modelsWith(c.childKey)).toBe(401);
    expect(await chatWith(res.body.key)).toBe(200);
  });

  it('reconciles the secret fields: a state from before rotation existed is fine, a wrong secret is drift', async () => {
    const { ctx } = stack.env;
    const plain = await createCustomer(ctx, stack.server.url);
    const rotated = await createCustomer(ctx, stack.server.url);
    expect((await rotate(rotated)).status).toBe(200);
    // As the api published it before this release: no secret fields at all.
    await ctx.redis.hdel(ctx.keys.childKey(plain.accountId, plain.childId), 'h', 'ph', 'phx');
    await ctx.redis.hset(ctx.keys.childKey(rotated.accountId, rotated.childId), 'ph', '');
    const report = await runReconcile(ctx, { inflightMs: 0 });
    const about = (c: Customer) => report.drift.filter((d) => d.subject.includes(c.childId));
    expect(about(plain)).toEqual([]);
    expect(about(rotated).map((d) => d.message)).toEqual([expect.stringMatching(/differs .*: ph$/)]);
    expect(await chatWith(plain.childKey)).toBe(200);
  });

  it('answers a deleted key 409, a bad grace 400 naming it, and another account 404', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (const grace of [-1, 1.5, 7 * 86_400 + 1, '60']) {
      const res = await rotate(c, { grace_period_seconds: grace });
      expect([grace, res.status, res.body.error.param]).toEqual([grace, 400, 'grace_period_seconds']);
    }
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    expect((await rotate(c, {}, other.jwt)).status).toBe(404);
    await call(stack.server.url, 'DELETE', `/api/management/keys/${c.mkId}/children/${c.childId}`, {
      token: c.jwt,
    });
    const res = await rotate(c);
    expect(res.status).toBe(409);
    expect(await chatWith(c.childKey)).toBe('401 key_revoked');
  });
});
