import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from '../../shared/context.js';
import { insertBatch } from '../../shared/db/queries/batches.js';
import { insertFile } from '../../shared/db/queries/files.js';
import { newId } from '../../shared/ids.js';
import { signSession } from '../../shared/jwt.js';
import { createTestAccount, type TestAccount } from '../helpers/accounts.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { call, startTestServer, type TestServer } from '../helpers/http.js';

// GET /api/jobs and /api/batches: the owner's lists across keys share their filters, paging and
// errors, so each case runs on both. Alice's rows are written straight to Postgres at whole
// seconds, so `before` (Unix seconds) pages without losing a row to rounding; Carol's all fall in
// one second, which only the `after` cursor pages exactly.
let env: TestEnv;
let server: TestServer;
let alice: TestAccount;
let a1: KeyFixture;
let a2: KeyFixture;
let bob: KeyFixture;
let bobToken: string;
let carol: KeyFixture;
let carolToken: string;
const T0 = Date.parse('2026-03-10T08:00:00.000Z');
/** Carol's rows, ms into one second: ties on created_at too, which the id breaks. */
const CAROL_MS = [0, 0, 0, 250, 250, 500, 501, 999, 999, 999, 100, 100];

/** Alice's rows, oldest first: three on a1's key, two on a2's; the second one `failed`. */
const ids = { jobs: [] as string[], batches: [] as string[] };
/** Carol's rows, in the order they were written (not the order listed). */
const carolIds = { jobs: [] as string[], batches: [] as string[] };
/** Bob's listed rows, for a cursor of another account. */
const bobIds = { jobs: '', batches: '' };

async function addBatch(ctx: Context, k: KeyFixture, at: Date): Promise<string> {
  const file = await insertFile(ctx.sql, {
    id: newId('file'),
    accountId: k.accountId,
    managementKeyId: k.mkId,
    purpose: 'batch',
    filename: 'in.jsonl',
    bytes: 3,
    lineCount: 1,
    createdAt: at,
  });
  const id = newId('batch');
  await insertBatch(ctx.sql, {
    id,
    accountId: k.accountId,
    managementKeyId: k.mkId,
    childKeyId: k.key.id,
    inputFileId: file.id,
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    total: 1,
    metadata: {},
    createdAt: at,
    expiresAt: new Date(at.getTime() + 86_400_000),
  });
  return id;
}

async function addJob(ctx: Context, k: KeyFixture, at: Date, batchId: string | null = null): Promise<string> {
  const id = newId('job');
  await ctx.sql`
    insert into jobs (id, account_id, management_key_id, child_key_id, batch_id, status, model, request, created_at)
    values (${id}, ${k.accountId}, ${k.mkId}, ${k.key.id}, ${batchId}, 'queued', 'm', '{}', ${at})`;
  return id;
}

beforeAll(async () => {
  env = await createTestEnv();
  server = await startTestServer(env.ctx);
  alice = await createTestAccount(env.ctx);
  a1 = await createKeyFixture(env.ctx, { accountId: alice.id });
  a2 = await createKeyFixture(env.ctx, { accountId: alice.id });
  bob = await createKeyFixture(env.ctx);
  bobToken = await signSession(env.config.JWT_SECRET, bob.accountId, 3600);
  for (const [i, k] of [a1, a1, a1, a2, a2].entries()) {
    const at = new Date(T0 + i * 1000);
    ids.batches.push(await addBatch(env.ctx, k, at));
    ids.jobs.push(await addJob(env.ctx, k, at));
  }
  await env.ctx.sql`update jobs set status = 'failed' where id = ${ids.jobs[1]!}`;
  await env.ctx.sql`update batches set status = 'failed' where id = ${ids.batches[1]!}`;
  // Not Alice's, or (a batch line) not a job of /api/jobs: never listed.
  bobIds.batches = await addBatch(env.ctx, bob, new Date(T0 + 10_000));
  bobIds.jobs = await addJob(env.ctx, bob, new Date(T0 + 10_000));
  await addJob(env.ctx, a1, new Date(T0 + 10_000), ids.batches[0]!);
  carol = await createKeyFixture(env.ctx);
  carolToken = await signSession(env.config.JWT_SECRET, carol.accountId, 3600);
  for (const ms of CAROL_MS) {
    carolIds.batches.push(await addBatch(env.ctx, carol, new Date(T0 + 20_000 + ms)));
    carolIds.jobs.push(await addJob(env.ctx, carol, new Date(T0 + 20_000 + ms)));
  }
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const kinds = [
  { kind: 'jobs', object: 'job', otherStatus: 'in_progress' },
  { kind: 'batches', object: 'batch', otherStatus: 'queued' },
] as const;

describe.each(kinds)('GET /api/$kind', ({ kind, object, otherStatus }) => {
  const list = (query = '', token = alice.token) =>
    call(server.url, 'GET', `/api/${kind}${query}`, { token });
  /** Alice's rows by their index in `ids`, newest first as the list answers. */
  const rows = (...i: number[]) => i.map((n) => ids[kind][n]);
  const idsOf = (body: { data: { id: string }[] }) => body.data.map((d) => d.id);

  it("lists the owner's rows across keys, newest first, as an OpenAI-style list", async () => {
    const res = await list();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'list', has_more: false });
    expect(idsOf(res.body)).toEqual(rows(4, 3, 2, 1, 0));
    expect(res.body.data[0]).toMatchObject({ object, key_id: a2.key.id, created_at: (T0 + 4000) / 1000 });
    if (kind === 'batches') expect(res.body.data[0].management_key_id).toBe(a2.mkId);
    expect(idsOf((await list('', bobToken)).body)).toHaveLength(1);
  });

  it('filters by management key, child key and status, alone and together', async () => {
    expect(idsOf((await list(`?management_key_id=${a2.mkId}`)).body)).toEqual(rows(4, 3));
    expect(idsOf((await list(`?key_id=${a1.key.id}`)).body)).toEqual(rows(2, 1, 0));
    expect(idsOf((await list('?status=failed')).body)).toEqual(rows(1));
    expect(idsOf((await list(`?management_key_id=${a2.mkId}&status=failed`)).body)).toEqual([]);
    expect(idsOf((await list(`?key_id=${a1.key.id}&status=failed`)).body)).toEqual(rows(1));
    // Another account's key filters to nothing rather than showing its rows.
    expect(idsOf((await list(`?management_key_id=${bob.mkId}`)).body)).toEqual([]);
  });

  it('pages with limit and before (the oldest created_at of the last page)', async () => {
    const first = await list('?limit=2');
    expect(idsOf(first.body)).toEqual(rows(4, 3));
    expect(first.body.has_more).toBe(true);
    const second = await list(`?limit=2&before=${first.body.data[1].created_at}`);
    expect(idsOf(second.body)).toEqual(rows(2, 1));
    expect(second.body.has_more).toBe(true);
    const last = await list(`?limit=2&before=${second.body.data[1].created_at}`);
    expect(idsOf(last.body)).toEqual(rows(0));
    expect(last.body.has_more).toBe(false);
  });

  it('says has_more: false on an exactly full last page', async () => {
    const all = await list('?limit=5');
    expect(idsOf(all.body)).toEqual(rows(4, 3, 2, 1, 0));
    expect(all.body.has_more).toBe(false);
    const notAll = await list('?limit=4');
    expect(idsOf(notAll.body)).toEqual(rows(4, 3, 2, 1));
    expect(notAll.body.has_more).toBe(true);
  });

  it('pages with after (the last id of the last page), answering first_id and last_id', async () => {
    const first = await list('?limit=2');
    expect(first.body).toMatchObject({ first_id: rows(4)[0], last_id: rows(3)[0], has_more: true });
    const second = await list(`?limit=2&after=${first.body.last_id}`);
    expect(idsOf(second.body)).toEqual(rows(2, 1));
    expect(second.body.has_more).toBe(true);
    const last = await list(`?limit=2&after=${second.body.last_id}`);
    expect(idsOf(last.body)).toEqual(rows(0));
    expect(last.body).toMatchObject({ first_id: rows(0)[0], last_id: rows(0)[0], has_more: false });
    const none = await list(`?after=${rows(0)[0]}`);
    expect(none.body).toMatchObject({ data: [], first_id: null, last_id: null, has_more: false });
    // The cursor is a position, not a filter: a row the filter leaves out still marks where to go on.
    expect(idsOf((await list(`?status=failed&after=${rows(2)[0]}`)).body)).toEqual(rows(1));
  });

  it('pages rows created within one second with after, each row once and in order', async () => {
    // The order the list promises: created_at, then id, both descending. Ties are ordered by the
    // database's collation of ids, so ask it rather than sort in JS.
    const sql = env.ctx.sql;
    const expected = (
      await sql<{ id: string }[]>`
        select id from ${sql(kind)} where account_id = ${carol.accountId} order by created_at desc, id desc`
    ).map((r) => r.id);
    expect([...expected].sort()).toEqual([...carolIds[kind]].sort());
    const seen: string[] = [];
    const more: boolean[] = [];
    let after = '';
    for (let page = 0; page < 10; page++) {
      const res = await list(`?limit=4${after ? `&after=${after}` : ''}`, carolToken);
      expect(res.status).toBe(200);
      seen.push(...idsOf(res.body));
      more.push(res.body.has_more);
      if (!res.body.has_more) break;
      after = res.body.last_id;
    }
    expect(seen).toEqual(expected);
    // 12 rows in pages of 4: the third page is exactly full and the last.
    expect(more).toEqual([true, true, false]);
    // `before` pages by whole seconds, so it cannot go past the first page here: all share one.
    const first = await list('?limit=4', carolToken);
    const byBefore = await list(`?limit=4&before=${first.body.data[3].created_at}`, carolToken);
    expect(idsOf(byBefore.body)).toEqual([]);
  });

  it("refuses an after that is not one of the owner's rows", async () => {
    for (const after of [`${kind}_nope`, bobIds[kind]]) {
      const res = await list(`?after=${after}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'after' });
      expect(res.body.error.message).toBe(`after must be the id of one of your ${kind}`);
    }
  });

  it.each([
    ['?extra=1', 'extra'],
    [`?status=${otherStatus}`, 'status'],
    ['?limit=0', 'limit'],
    ['?limit=101', 'limit'],
    ['?before=soon', 'before'],
    // Past the last instant a Date holds (8.64e12 s): an Invalid Date reached Postgres, a 500.
    ['?before=99999999999999', 'before'],
    ['?before=8640000000000', 'before'], // a valid Date, but past year 9999 for Postgres
    ['?before=253402300800', 'before'],
    [`?key_id=${'k'.repeat(101)}`, 'key_id'],
    [`?after=${'k'.repeat(101)}`, 'after'],
  ])('refuses %s with a 400 naming %s', async (query, param) => {
    const res = await list(query);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('is documented in /openapi.json with both cursors', async () => {
    const doc = await call(server.url, 'GET', '/openapi.json');
    const params: { name: string; description?: string }[] = doc.body.paths[`/api/${kind}`].get.parameters;
    expect(params.map((p) => p.name)).toEqual(expect.arrayContaining(['limit', 'after', 'before']));
    expect(params.find((p) => p.name === 'after')?.description).toContain('last_id');
  });

  it('answers only a session token', async () => {
    const none = await call(server.url, 'GET', `/api/${kind}`);
    expect(none.status).toBe(401);
    expect(none.body.error.type).toBe('authentication_error');
    const child = await list('', a1.plainKey);
    expect(child.status).toBe(403);
    expect(child.body.error.type).toBe('permission_error');
  });
});
