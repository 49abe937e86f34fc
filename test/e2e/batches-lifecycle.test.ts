import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchObject } from '../../api/schemas/inference.js';
import { dispatchBatch } from '../../shared/batches/dispatch.js';
import { expireBatch } from '../../shared/batches/expire.js';
import { defaultSimPrice, SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { priceTokens } from '../../shared/pricing.js';
import { settled } from '../helpers/books.js';
import { createCustomer, secondManagementKey } from '../helpers/customer.js';
import { ledgerDrift } from '../helpers/fixtures.js';
import { call } from '../helpers/http.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// One node call at a time and two lines in flight per batch: a test can catch a batch with one
// line running, one queued (admitted, holding money) and the rest pending.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    env: { BATCH_LINES_IN_FLIGHT: '2' },
    workers: { inference: { concurrency: 1 } },
  });
});
afterAll(async () => {
  await stack?.close();
});

const INITIAL = 1_000_000_000n;
const line = (customId: string, content: string) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content }], max_tokens: 20 },
  });

async function upload(key: string, content: string, purpose: string | null = 'batch') {
  const form = new FormData();
  if (purpose !== null) form.set('purpose', purpose);
  form.set('file', new Blob([content]), 'in.jsonl');
  const res = await fetch(`${stack.server.url}/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function startBatch(key: string, lines: string[]) {
  const file = await upload(key, lines.join('\n'));
  expect(file.status).toBe(200);
  const batch = await call(stack.server.url, 'POST', '/v1/batches', {
    token: key,
    body: { input_file_id: file.body.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
  });
  expect(batch.status).toBe(200);
  return batch.body;
}

const getBatch = async (key: string, id: string) =>
  (await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: key })).body;
const waitStatus = (key: string, id: string, status: string) =>
  waitFor(`batch ${status}`, async () => {
    const b = await getBatch(key, id);
    return b.status === status ? b : null;
  });
async function content(key: string, fileId: string) {
  const res = await fetch(`${stack.server.url}/v1/files/${fileId}/content`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return (await res.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}
/** Lines of a batch by status, straight from Postgres. */
async function lineStates(batchId: string): Promise<Record<string, number>> {
  const rows = await stack.env.ctx.sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from jobs where batch_id = ${batchId} group by status`;
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
const charged = (output: any[]) =>
  output.reduce(
    (s, o) =>
      s + priceTokens(BigInt(o.response.body.usage.total_tokens), defaultSimPrice(SIM_MODEL_QWQ_32B), 12000),
    0n,
  );

describe('batch input validation', () => {
  it('refuses a malformed input file with a 400 naming the file and the line', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const good = line('a', 'hello');
    const cases: [string, RegExp][] = [
      [`${good}\n{"custom_id":"b","method":"POST","url":"/v1/chat/completions"}`, /Line 2: body/],
      [`${good}\n\n${line('a', 'again')}`, /Line 3: custom_id "a" is already used on line 1/],
      [`${good}\nnot json`, /Line 2: not a valid JSON object/],
      [good.replace('/v1/chat/completions', '/v1/embeddings'), /Line 1: url/],
      [`${good}\n{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":[1]}`, /Line 2: body/],
      [good.replace('"custom_id":"a"', '"custom_id":"a","extra":1'), /Line 1: unknown field extra/],
      ['\n\n', /no requests/],
    ];
    for (const [text, message] of cases) {
      const res = await upload(c.childKey, text);
      expect(res.status, text).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'file' });
      expect(res.body.error.message).toMatch(message);
    }
    for (const p of ['fine-tune', null]) {
      const purpose = await upload(c.childKey, good, p);
      expect(purpose.status).toBe(400);
      expect(purpose.body.error).toMatchObject({ param: 'purpose', message: 'purpose: must be "batch"' });
    }
    const broken = await call(stack.server.url, 'POST', '/v1/files', {
      token: c.childKey,
      rawBody: '--x\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\nabc',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
    });
    expect(broken.status).toBe(400);
    expect(broken.body.error.type).toBe('invalid_request_error');
  });

  it('refuses batch parameters other than OpenAI chat completions in 24h, naming the param', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const file = await upload(c.childKey, line('a', 'hello'));
    const base = { input_file_id: file.body.id, endpoint: '/v1/chat/completions', completion_window: '24h' };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, endpoint: '/v1/embeddings' }, 'endpoint'],
      [{ ...base, completion_window: '48h' }, 'completion_window'],
      [{ ...base, input_file_id: 'file_nope' }, 'input_file_id'],
      [{ ...base, surprise: true }, 'surprise'],
    ];
    for (const [body, param] of cases) {
      const r = await call(stack.server.url, 'POST', '/v1/batches', { token: c.childKey, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.param).toBe(param);
    }
  });
});

describe('batch visibility', () => {
  it('shows files and batches to sibling keys and the owner, and to no one else', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const batch = await startBatch(c.childKey, [line('a', 'hello')]);
    const sibling = await call(stack.server.url, 'POST', `/api/management/keys/${c.mkId}/children`, {
      token: c.jwt,
      body: { name: 'sibling' },
    });
    const done = await waitStatus(sibling.body.key, batch.id, 'completed');
    expect((await content(sibling.body.key, done.output_file_id))[0].custom_id).toBe('a');

    const other = await createCustomer(stack.env.ctx, stack.server.url);
    for (const [method, path] of [
      ['GET', `/v1/files/${batch.input_file_id}`],
      ['GET', `/v1/files/${batch.input_file_id}/content`],
      ['GET', `/v1/files/${done.output_file_id}/content`],
      ['GET', `/v1/batches/${batch.id}`],
      ['POST', `/v1/batches/${batch.id}/cancel`],
    ] as const) {
      const r = await call(stack.server.url, method, path, { token: other.childKey });
      expect(r.status, path).toBe(404);
      expect(r.body.error.type).toBe('not_found');
    }
    const steal = await call(stack.server.url, 'POST', '/v1/batches', {
      token: other.childKey,
      body: {
        input_file_id: batch.input_file_id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      },
    });
    expect(steal.status).toBe(400);
    expect((await call(stack.server.url, 'GET', '/v1/batches', { token: other.childKey })).body.data).toEqual(
      [],
    );

    const owner = await call(stack.server.url, 'GET', `/api/batches?key_id=${c.childId}`, { token: c.jwt });
    expect(owner.body.data).toMatchObject([{ id: batch.id, key_id: c.childId, status: 'completed' }]);
    const stranger = await call(stack.server.url, 'GET', '/api/batches', { token: other.jwt });
    expect(stranger.body.data).toEqual([]);
  });

  it('pages only from a batch the key sees: another management key’s is no cursor (400)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // A second management key of the same account, with a batch older than the first key's.
    const two = await secondManagementKey(stack.server.url, c);
    const older = await startBatch(two.childKey, [line('a', 'hello')]);
    const newer = await startBatch(c.childKey, [line('b', 'hello')]);
    const list = (after: string) =>
      call(stack.server.url, 'GET', `/v1/batches?after=${after}`, { token: two.childKey });
    // Refused alike, so it tells nothing; an empty page would read as the end of the list.
    for (const after of [newer.id, 'batch_unknown']) {
      const refused = await list(after);
      expect([refused.status, refused.body.error.type, refused.body.error.param]).toEqual([
        400,
        'invalid_request_error',
        'after',
      ]);
    }
    const own = await call(stack.server.url, 'GET', '/v1/batches', { token: two.childKey });
    expect(own.body.data.map((b: { id: string }) => b.id)).toEqual([older.id]);
  });
});

describe('dispatching', () => {
  it('admits each line once when several dispatcher runs race on the same batch', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: INITIAL });
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const batch = await startBatch(
      c.childKey,
      ids.map((id) => line(id, `line ${id}`)),
    );
    const deps = stack.deps;
    await Promise.all([1, 2, 3].map(() => dispatchBatch(stack.env.ctx, deps, batch.id, { maxInFlight: 6 })));
    const done = await waitStatus(c.childKey, batch.id, 'completed');
    expect(done.request_counts).toEqual({ total: 6, completed: 6, failed: 0 });
    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds).toHaveLength(6);
    expect(new Set(holds.map((h) => h.request_id)).size).toBe(6);
    expect(holds.every((h) => h.status === 'posted')).toBe(true);
    // A line number is its batch's once: Postgres refuses a second row for it.
    const copy = stack.env.ctx.sql`
      insert into jobs (id, account_id, management_key_id, child_key_id, batch_id, custom_id, line_no,
                        status, model, request)
      select 'job_copy', account_id, management_key_id, child_key_id, batch_id, custom_id, line_no,
             'pending', model, request
      from jobs where batch_id = ${batch.id} and line_no = 1`;
    await expect(copy).rejects.toMatchObject({ code: '23505', constraint_name: 'jobs_batch_line_key' });
  });

  it('fails the lines not yet dispatched when the key is disabled mid-batch', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: INITIAL });
    const slow = (id: string) => line(id, 'slow [[sim latency=1500]]');
    const batch = await startBatch(c.childKey, [
      slow('s1'),
      slow('s2'),
      line('p3', 'later'),
      line('p4', 'later'),
    ]);
    // The first line at a node (a batch runs one line at a time here); the second, admitted and
    // queued behind it, ends unrun like the two not yet dispatched (workers/inference.ts).
    await waitFor('a line running', async () => (await lineStates(batch.id)).running === 1);
    const off = await call(
      stack.server.url,
      'PATCH',
      `/api/management/keys/${c.mkId}/children/${c.childId}`,
      {
        token: c.jwt,
        body: { status: 'disabled' },
      },
    );
    expect(off.status).toBe(200);
    // The key no longer authenticates: read the batch as its owner.
    const owner = await waitFor('batch completed', async () => {
      const list = await call(stack.server.url, 'GET', `/api/batches?key_id=${c.childId}`, { token: c.jwt });
      return list.body.data[0]?.status === 'completed' ? list.body.data[0] : null;
    });
    expect(owner.request_counts).toEqual({ total: 4, completed: 1, failed: 3 });
    const failed = await stack.env.ctx
      .sql`select custom_id, error from jobs where batch_id = ${batch.id} and status = 'failed' order by custom_id`;
    expect(failed.map((j) => j.custom_id)).toEqual(['p3', 'p4', 's2']);
    for (const j of failed) expect(j.error).toMatchObject({ type: 'invalid_api_key', code: 'key_disabled' });
  });

  it('runs a batch past its key’s RPM limit, whose slots stay the key’s real-time requests’', async () => {
    // API.md: a line is admitted against limits and balance. Counted against the RPM, a batch on a
    // key of 1 a minute ran one line a minute and left the key's own requests 429s meanwhile.
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 1 } });
    const batch = await startBatch(c.childKey, [line('a', 'one'), line('b', 'two'), line('c', 'three')]);
    const done = await waitStatus(c.childKey, batch.id, 'completed');
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    const chat = await call(stack.server.url, 'POST', '/v1/chat/completions', {
      token: c.childKey,
      body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'real time' }], max_tokens: 8 },
    });
    expect([chat.status, chat.headers.get('x-ratelimit-remaining-requests')]).toEqual([200, '0']);
  });
});

describe('cancelling and expiring a batch', () => {
  it('cancel releases queued holds, cancels pending lines, and bills the line already running', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: INITIAL });
    const lines = [line('s1', 'slow [[sim latency=2000]]'), line('s2', 'slow [[sim latency=2000]]')];
    const batch = await startBatch(c.childKey, [...lines, line('p3', 'later'), line('p4', 'later')]);
    await waitFor('one line running, one queued', async () => {
      const s = await lineStates(batch.id);
      return s.running === 1 && s.queued === 1;
    });
    const held = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(held.body.held_ngonka).not.toBe('0');

    const cancelling = await call(stack.server.url, 'POST', `/v1/batches/${batch.id}/cancel`, {
      token: c.childKey,
    });
    expect(cancelling.body).toMatchObject({ status: 'cancelling', cancelling_at: expect.any(Number) });
    expect(await lineStates(batch.id)).toEqual({ running: 1, cancelled: 3 });

    const done = await waitStatus(c.childKey, batch.id, 'cancelled');
    expect(done.request_counts).toEqual({ total: 4, completed: 1, failed: 0 });
    const output = await content(c.childKey, done.output_file_id);
    expect(output).toHaveLength(1);
    const errors = await content(c.childKey, done.error_file_id);
    expect(errors).toHaveLength(3);
    for (const e of errors) expect(e).toMatchObject({ response: null, error: { code: 'batch_cancelled' } });

    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status).sort()).toEqual(['posted', 'voided']);
    const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(account.body).toMatchObject({
      held_ngonka: '0',
      balance_ngonka: (INITIAL - charged(output)).toString(),
    });
    // What the batch used and cost: its one line that ran. /openapi.json's Batch is what is served.
    const lineUsage = output[0].response.body.usage;
    const served = await getBatch(c.childKey, batch.id);
    expect(batchObject.strict().safeParse(served).error).toBeUndefined();
    expect(served).toMatchObject({
      usage: {
        input_tokens: lineUsage.prompt_tokens,
        output_tokens: lineUsage.completion_tokens,
        total_tokens: lineUsage.total_tokens,
      },
      cost_ngonka: charged(output).toString(),
    });
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });

    const again = await call(stack.server.url, 'POST', `/v1/batches/${batch.id}/cancel`, {
      token: c.childKey,
    });
    expect(again.body.status).toBe('cancelled');
  });

  it('an expired batch bills what finished, voids what was held, and expires the rest', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: INITIAL });
    const slow = (id: string) => line(id, 'slow [[sim latency=2000]]');
    const batch = await startBatch(c.childKey, [
      line('f1', 'quick'),
      slow('s2'),
      slow('s3'),
      line('p4', 'later'),
      line('p5', 'later'),
    ]);
    await waitFor('one line done, one running, one queued', async () => {
      const s = await lineStates(batch.id);
      return s.succeeded === 1 && s.running === 1 && s.queued === 1;
    });

    await stack.env.ctx
      .sql`update batches set expires_at = now() - interval '1 minute' where id = ${batch.id}`;
    await expireBatch(stack.env.ctx, stack.deps.queues, batch.id);
    expect(await lineStates(batch.id)).toEqual({ succeeded: 1, running: 1, expired: 3 });

    const done = await waitStatus(c.childKey, batch.id, 'expired');
    expect(done.expired_at).toBeGreaterThanOrEqual(done.finalizing_at);
    expect(done.request_counts).toEqual({ total: 5, completed: 2, failed: 0 });
    const output = await content(c.childKey, done.output_file_id);
    expect(output.map((o) => o.custom_id)).toEqual(['f1', output[1].custom_id]);
    const errors = await content(c.childKey, done.error_file_id);
    expect(errors.map((e) => e.custom_id)).toEqual([
      ...['s2', 's3'].filter((id) => id !== output[1].custom_id),
      'p4',
      'p5',
    ]);
    for (const e of errors) expect(e).toMatchObject({ response: null, error: { code: 'batch_expired' } });

    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status).sort()).toEqual(['posted', 'posted', 'voided']);
    const account = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
    expect(account.body).toMatchObject({
      held_ngonka: '0',
      balance_ngonka: (INITIAL - charged(output)).toString(),
    });
    expect(await ledgerDrift(stack.env.ctx)).toEqual({ unbalanced: 0, mismatched: 0 });
  });
});
