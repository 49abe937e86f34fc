import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { ManualClock } from '../../shared/clock.js';
import { newId } from '../../shared/ids.js';
import { signSession } from '../../shared/jwt.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { topup } from '../../shared/ledger/topup.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

// Mid-afternoon UTC on 15 March: the default usage window is 14 Feb … 15 Mar.
const clock = new ManualClock('2026-03-15T15:30:00Z');
let env: TestEnv;
let server: TestServer;

beforeAll(async () => {
  env = await createTestEnv({ clock });
  server = await startTestServer(env.ctx);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

interface Owner {
  id: string;
  token: string;
}

async function registerOwner(): Promise<Owner> {
  const res = await call(server.url, 'POST', '/api/auth/register', {
    body: { email: `${randomBytes(6).toString('hex')}@example.com`, password: 'correct horse' },
  });
  expect(res.status).toBe(201);
  return { id: res.body.account.id, token: res.body.token };
}

/** A management key and a child key straight in Postgres: the FK targets of usage and holds. */
async function insertChildKey(accountId: string): Promise<string> {
  const mk = newId('mk');
  const ck = newId('ck');
  await env.ctx.sql`insert into management_keys (id, account_id, name, key_hash, key_prefix)
    values (${mk}, ${accountId}, 'mk', ${randomBytes(32)}, 'gm-xxx')`;
  await env.ctx.sql`insert into child_keys (id, account_id, management_key_id, name, key_hash, key_prefix)
    values (${ck}, ${accountId}, ${mk}, 'ck', ${randomBytes(32)}, 'gc-xxx')`;
  return ck;
}

async function insertUsage(
  accountId: string,
  keyId: string,
  day: string,
  model: string,
  n: { requests: number; prompt: number; completion: number; cost: bigint },
) {
  await env.ctx.sql`insert into key_usage_daily
      (child_key_id, day, model, account_id, requests, prompt_tokens, completion_tokens, cost_ngonka)
    values (${keyId}, ${day}, ${model}, ${accountId}, ${n.requests}, ${n.prompt}, ${n.completion}, ${n.cost.toString()})`;
}

const get = (owner: Owner, path: string) => call(server.url, 'GET', path, { token: owner.token });

describe('account: happy', () => {
  it('shows balance, held and available from the ledger and the open holds', async () => {
    const owner = await registerOwner();
    await topup(env.ctx, { accountId: owner.id, amount: 5_000n, reference: `acct-${owner.id}` });
    const ck = await insertChildKey(owner.id);
    await env.ctx.sql`insert into holds (id, request_id, account_id, child_key_id, amount, period_day, model,
        price_ngonka_per_token, markup_bps, deadline)
      values (${newId('hold')}, ${newId('req')}, ${owner.id}, ${ck}, 1200, '2026-03-15', 'm', 1, 12000, now())`;
    const res = await get(owner, '/api/account');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: owner.id,
      balance_ngonka: '5000',
      held_ngonka: '1200',
      available_ngonka: '3800',
      referred_by: null,
    });
    expect(res.body.created_at).toBe('2026-03-15T15:30:00.000Z');
  });

  it('pages the ledger newest first with a cursor', async () => {
    const owner = await registerOwner();
    for (let i = 1; i <= 5; i++)
      await topup(env.ctx, {
        accountId: owner.id,
        amount: BigInt(i * 100),
        reference: `page-${owner.id}-${i}`,
      });

    const first = await get(owner, '/api/account/ledger?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.data.map((e: any) => e.amount_ngonka)).toEqual(['500', '400']);
    expect(first.body.data[0]).toMatchObject({
      kind: 'topup',
      direction: 'credit',
      balance_after_ngonka: '1500',
      ref: `page-${owner.id}-5`,
    });
    expect(first.body.next_cursor).toBe(first.body.data[1].id);

    const second = await get(owner, `/api/account/ledger?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.data.map((e: any) => e.amount_ngonka)).toEqual(['300', '200']);
    const third = await get(owner, `/api/account/ledger?limit=2&cursor=${second.body.next_cursor}`);
    expect(third.body.data.map((e: any) => e.amount_ngonka)).toEqual(['100']);
    expect(third.body.next_cursor).toBeNull();

    const all = await get(owner, '/api/account/ledger');
    expect(all.body.data).toHaveLength(5);
    expect(all.body.next_cursor).toBeNull();
    // A last page that is exactly full has no cursor either: no empty page to fetch after it.
    const exact = await get(owner, `/api/account/ledger?limit=3&cursor=${first.body.next_cursor}`);
    expect(exact.body.data.map((e: any) => e.amount_ngonka)).toEqual(['300', '200', '100']);
    expect(exact.body.next_cursor).toBeNull();
  });

  it('sums usage per day, key and model over the default 30-day window', async () => {
    const owner = await registerOwner();
    const k1 = await insertChildKey(owner.id);
    const k2 = await insertChildKey(owner.id);
    const u = (requests: number, cost: bigint) => ({
      requests,
      prompt: requests * 10,
      completion: requests * 5,
      cost,
    });
    await insertUsage(owner.id, k1, '2026-03-15', 'model-a', u(1, 100n));
    await insertUsage(owner.id, k1, '2026-03-14', 'model-b', u(2, 200n));
    await insertUsage(owner.id, k2, '2026-03-14', 'model-a', u(4, 400n));
    await insertUsage(owner.id, k2, '2026-02-14', 'model-a', u(8, 800n)); // first day of the window
    await insertUsage(owner.id, k2, '2026-02-13', 'model-a', u(16, 1600n)); // one day too early
    const other = await registerOwner();
    await insertUsage(other.id, await insertChildKey(other.id), '2026-03-15', 'model-a', u(32, 3200n));

    const byDay = await get(owner, '/api/account/usage');
    expect(byDay.status).toBe(200);
    expect(byDay.body).toEqual({
      data: [
        {
          day: '2026-02-14',
          requests: 8,
          tokens: 120,
          prompt_tokens: 80,
          completion_tokens: 40,
          cost_ngonka: '800',
        },
        {
          day: '2026-03-14',
          requests: 6,
          tokens: 90,
          prompt_tokens: 60,
          completion_tokens: 30,
          cost_ngonka: '600',
        },
        {
          day: '2026-03-15',
          requests: 1,
          tokens: 15,
          prompt_tokens: 10,
          completion_tokens: 5,
          cost_ngonka: '100',
        },
      ],
      from: '2026-02-14',
      to: '2026-03-15',
      group_by: 'day',
    });

    const byKey = await get(owner, '/api/account/usage?group_by=key&from=2026-03-01&to=2026-03-31');
    expect(byKey.body.data).toEqual(
      [
        { key_id: k1, requests: 3, tokens: 45, prompt_tokens: 30, completion_tokens: 15, cost_ngonka: '300' },
        { key_id: k2, requests: 4, tokens: 60, prompt_tokens: 40, completion_tokens: 20, cost_ngonka: '400' },
      ].sort((a, b) => (a.key_id < b.key_id ? -1 : 1)),
    );
    expect(byKey.body).toMatchObject({ from: '2026-03-01', to: '2026-03-31', group_by: 'key' });
    // The keys that cost most, most first: what a page of top spenders needs, not every key.
    const top = await get(owner, '/api/account/usage?group_by=key&from=2026-03-01&to=2026-03-31&limit=1');
    expect(top.body.data).toEqual([expect.objectContaining({ key_id: k2, cost_ngonka: '400' })]);
    const onlyByKey = await get(owner, '/api/account/usage?group_by=day&limit=1');
    expect([onlyByKey.status, onlyByKey.body.error.param]).toEqual([400, 'limit']);

    const byModel = await get(owner, '/api/account/usage?group_by=model&from=2026-01-01&to=2026-03-15');
    expect(byModel.body.data).toEqual([
      {
        model: 'model-a',
        requests: 29,
        tokens: 435,
        prompt_tokens: 290,
        completion_tokens: 145,
        cost_ngonka: '2900',
      },
      {
        model: 'model-b',
        requests: 2,
        tokens: 30,
        prompt_tokens: 20,
        completion_tokens: 10,
        cost_ngonka: '200',
      },
    ]);

    const oneDay = await get(owner, '/api/account/usage?from=2026-03-14&to=2026-03-14');
    expect(oneDay.body.data).toHaveLength(1);
    // API.md's management-API timestamps: one is taken as its UTC day.
    const stamped = await get(
      owner,
      '/api/account/usage?from=2026-03-14T00:00:00Z&to=2026-03-14T23:59:59.999Z',
    );
    expect(stamped.body).toMatchObject({ from: '2026-03-14', to: '2026-03-14', data: oneDay.body.data });
    // Another zone's time counts as the UTC day it falls on.
    const zoned = await get(
      owner,
      '/api/account/usage?from=2026-03-15T01:00:00%2B02:00&to=2026-03-14T23:00:00-01:00',
    );
    expect(zoned.body).toMatchObject({ from: '2026-03-14', to: '2026-03-15' });
  });

  it('defaults `from` to 29 days before an explicit `to`', async () => {
    const owner = await registerOwner();
    const res = await get(owner, '/api/account/usage?to=2025-12-31');
    expect(res.body).toMatchObject({ from: '2025-12-02', to: '2025-12-31', data: [] });
  });
});

describe('account: error', () => {
  it.each([
    ['/api/account/ledger?limit=0', 'limit'],
    ['/api/account/ledger?limit=101', 'limit'],
    ['/api/account/ledger?limit=abc', 'limit'],
    // A whole number's digits, nothing else: z.coerce read " 1" as 1 and "1e1" as 10.
    ['/api/account/ledger?limit=%201', 'limit'],
    ['/api/account/ledger?limit=1e1', 'limit'],
    ['/api/account/ledger?limit=', 'limit'],
    ['/api/account/ledger?cursor=nope', 'cursor'],
    ['/api/account/ledger?cursor=le_-1', 'cursor'],
    ['/api/account/ledger?cursor=le_9999999999999999999', 'cursor'], // past Postgres's bigint
    ['/api/account/usage?from=2026-02-30', 'from'],
    ['/api/account/usage?to=15-03-2026', 'to'],
    // No zone: which day it falls on would be a guess. No such time.
    ['/api/account/usage?from=2026-03-14T00:00:00', 'from'],
    ['/api/account/usage?from=2026-03-14T99:99:99Z', 'from'],
    ['/api/account/usage?to=2026-03-14T00:00:60Z', 'to'],
    ['/api/account/usage?group_by=hour', 'group_by'],
    ['/api/account/usage?from=2026-03-02&to=2026-03-01', 'from'],
    ['/api/account/usage?from=2025-01-01&to=2026-01-02', 'from'],
    // Year 0 parses in JavaScript but is no Postgres date (1 BC is followed by AD 1): it was a 500.
    ['/api/account/usage?from=0000-12-31&to=0001-01-01', 'from'],
    // A filter these routes do not take is refused, not ignored into the whole account's figures.
    ['/api/account/usage?group_by=day&key_id=ck_x', 'key_id'],
    ['/api/account/ledger?kind=charge', 'kind'],
  ])('%s → 400 naming %s', async (path, param) => {
    const owner = await registerOwner();
    const res = await get(owner, path);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('says a from past today is after today when no to was given, not after a to it was not sent', async () => {
    const owner = await registerOwner();
    const res = await get(owner, '/api/account/usage?from=2999-01-01');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('from: must not be after to, which is today (UTC) when not given');
  });

  it('accepts a range of exactly 366 days', async () => {
    const owner = await registerOwner();
    const res = await get(owner, '/api/account/usage?from=2024-01-01&to=2024-12-31');
    expect(res.status).toBe(200);
  });
});

describe('account: security', () => {
  it.each(['/api/account', '/api/account/ledger', '/api/account/usage'])(
    '%s needs a session and refuses keys that are not one',
    async (path) => {
      expect((await call(server.url, 'GET', path)).status).toBe(401);
      // No key of ours at all: 401, as API.md has an unknown key (a live one is a 403: auth.test.ts).
      for (const token of ['gm-notarealkey', 'gc-notarealkey']) {
        const res = await call(server.url, 'GET', path, { token });
        expect(res.status).toBe(401);
        expect(res.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_unknown' });
      }
    },
  );

  it('shows an owner only their own ledger, even with another account’s cursor', async () => {
    const a = await registerOwner();
    const b = await registerOwner();
    await topup(env.ctx, { accountId: a.id, amount: 777n, reference: `own-${a.id}` });
    const aLedger = await get(a, '/api/account/ledger');
    expect(aLedger.body.data).toHaveLength(1);
    // A serial in the pre-opaque form is no cursor on a database that never made such ids.
    expect((await get(b, `/api/account/ledger?cursor=le_9999999`)).status).toBe(400);
    expect((await get(b, `/api/account/ledger?cursor=${aLedger.body.data[0].id}`)).body.data).toEqual([]);
    expect((await get(b, '/api/account')).body.balance_ngonka).toBe('0');
  });

  it('shows one ledger entry; a charge with the requests it billed, each by the id its client knows', async () => {
    const owner = await registerOwner();
    const other = await registerOwner();
    await topup(env.ctx, { accountId: owner.id, amount: 10_000n, reference: `detail-${owner.id}` });
    const keyId = await insertChildKey(owner.id);
    const [mk] = await env.ctx.sql<
      { id: string }[]
    >`select management_key_id as id from child_keys where id = ${keyId}`;
    const key = { id: keyId, account_id: owner.id, management_key_id: mk!.id };
    const hold = (requestId?: string) =>
      admit(env.ctx, {
        key,
        estimate: 1_000n,
        model: 'm1',
        pricePerToken: 2n,
        markupBps: 10000,
        holdTtlMs: 60_000,
        ...(requestId ? { requestId } : {}),
      });
    const sync = await hold(); // a chat completion: its request id is the gateway's own
    const job = await hold(newId('job'));
    await settleHolds(env.ctx, [
      { holdId: sync.hold.id, outcome: 'post', promptTokens: 10, completionTokens: 20 }, // 60
      { holdId: job.hold.id, outcome: 'post', promptTokens: 5, completionTokens: 0 }, // 10
    ]);

    const ledger = (await get(owner, '/api/account/ledger')).body.data;
    const charge = ledger.find((e: any) => e.kind === 'charge');
    const res = await get(owner, `/api/account/ledger/${charge.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ...charge, amount_ngonka: '70', metadata: { requests: 2 } });
    // Both were admitted at the same instant of this file's clock: compare them in id order.
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    expect([...res.body.requests].sort(byId)).toEqual(
      [
        {
          id: `chatcmpl-${sync.hold.id.slice('hold_'.length)}`,
          key_id: keyId,
          model: 'm1',
          prompt_tokens: 10,
          completion_tokens: 20,
          cost_ngonka: '60',
          created_at: sync.hold.createdAt.toISOString(),
        },
        {
          id: job.hold.requestId,
          key_id: keyId,
          model: 'm1',
          prompt_tokens: 5,
          completion_tokens: 0,
          cost_ngonka: '10',
          created_at: job.hold.createdAt.toISOString(),
        },
      ].sort(byId),
    );
    // A top-up is an entry of its own, with nothing billed under it.
    const credit = ledger.find((e: any) => e.kind === 'topup');
    const topupEntry = await get(owner, `/api/account/ledger/${credit.id}`);
    expect(topupEntry.body).toEqual(credit);
    // Its serial in the form ids had before they were opaque (le_ and the number) finds nothing: this
    // database never made such ids, and reading any would let an account bisect the gateway's count.
    const [posting] = await env.ctx.sql<{ id: string }[]>`
      select p.id::text as id from postings p join transfers t on t.id = p.transfer_id
      where t.kind = 'topup' and t.ref = ${`detail-${owner.id}`} and p.ledger_account_id = ${owner.id}`;
    expect((await get(owner, `/api/account/ledger/le_${posting!.id}`)).status).toBe(404);
    const paged = await get(owner, `/api/account/ledger?cursor=le_${posting!.id}`);
    expect([paged.status, paged.body.error.param]).toEqual([400, 'cursor']);
    // Another account's entry, or no entry id at all, does not exist.
    for (const path of [
      `/api/account/ledger/${charge.id}`,
      '/api/account/ledger/le_0',
      '/api/account/ledger/le_9999999999999999999',
      '/api/account/ledger/x',
    ])
      expect((await get(other, path)).body.error.type).toBe('not_found');
    expect((await get(owner, '/api/account/ledger/chg_nope')).status).toBe(404);
  });

  it('treats a session for a vanished account as unauthenticated', async () => {
    const token = await signSession(env.config.JWT_SECRET, 'acct_doesnotexist', 60);
    const res = await call(server.url, 'GET', '/api/account', { token });
    expect(res.status).toBe(401);
  });
});
