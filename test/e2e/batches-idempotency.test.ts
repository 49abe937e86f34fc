import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { expectNoLedgerDrift, settled } from '../helpers/books.js';
import { type Customer, createCustomer, secondManagementKey } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const stack = useTestStack();

/** An input file of `lines` small chat requests, uploaded through the openai client. */
async function inputFile(c: Customer, lines = 2): Promise<string> {
  const jsonl = Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      custom_id: `l${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: `line ${i}` }], max_tokens: 8 },
    }),
  ).join('\n');
  const file = await c.openai.files.create({
    file: await toFile(Buffer.from(jsonl), 'in.jsonl'),
    purpose: 'batch',
  });
  return file.id;
}

/** POST /v1/batches through the openai client, with the Idempotency-Key a careful integrator sends. */
async function createBatch(c: Pick<Customer, 'openai'>, fileId: string, idempotencyKey: string) {
  const { data, response } = await c.openai.batches
    .create(
      { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' },
      { headers: { 'Idempotency-Key': idempotencyKey } },
    )
    .withResponse();
  return { batch: data, replayed: response.headers.get('idempotent-replayed') };
}

const batchesOf = async (c: Customer) =>
  (
    await stack.env.ctx.sql<
      { n: number }[]
    >`select count(*)::int as n from batches where account_id = ${c.accountId}`
  )[0]!.n;

describe('POST /v1/batches with an Idempotency-Key', () => {
  it('answers a retry with the batch the first creation made: run and billed once', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const fileId = await inputFile(c);
    const first = await createBatch(c, fileId, 'nightly-2026-12-06');
    expect(first.replayed).toBeNull();
    const again = await createBatch(c, fileId, 'nightly-2026-12-06');
    expect(again.replayed).toBe('true');
    expect(again.batch.id).toBe(first.batch.id);
    expect(await batchesOf(c)).toBe(1);

    const done = await waitFor('batch completed', async () => {
      const b = await c.openai.batches.retrieve(first.batch.id);
      return b.status === 'completed' ? b : null;
    });
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    // A retry after the run gets the batch as it is now, still the one.
    const late = await createBatch(c, fileId, 'nightly-2026-12-06');
    expect([late.batch.id, late.batch.status, late.replayed]).toEqual([first.batch.id, 'completed', 'true']);
    expect((await settled(stack.env.ctx, c.accountId)).length).toBe(2);
    // Another key, or none, makes another batch.
    expect((await createBatch(c, fileId, 'nightly-2026-12-07')).batch.id).not.toBe(first.batch.id);
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('leaves the key of a creation that failed (5xx) to its retry at once, which makes the batch', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const fileId = await inputFile(c);
    const fn = `fail_batch_${c.accountId.replace(/\W/g, '')}`;
    const sql = stack.env.ctx.sql;
    await sql.unsafe(
      `create function ${fn}() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$`,
    );
    await sql.unsafe(
      `create trigger fail_batch before insert on batches for each row when (new.account_id = '${c.accountId}') execute function ${fn}()`,
    );
    const body = { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' };
    const failed = await call(stack.server.url, 'POST', '/v1/batches', {
      token: c.childKey,
      headers: { 'idempotency-key': 'after-5xx' },
      body,
    }).finally(() => sql.unsafe('drop trigger fail_batch on batches'));
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const retried = await createBatch(c, fileId, 'after-5xx');
    expect(retried.replayed).toBeNull();
    expect((await createBatch(c, fileId, 'after-5xx')).batch.id).toBe(retried.batch.id);
    expect(await batchesOf(c)).toBe(1);
  });

  it('makes one batch of 10 racing creations with one key', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const fileId = await inputFile(c);
    const all = await Promise.all(
      Array.from({ length: 10 }, () =>
        call(stack.server.url, 'POST', '/v1/batches', {
          token: c.childKey,
          headers: { 'idempotency-key': 'race' },
          body: { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' },
        }),
      ),
    );
    // Each answer is that one batch, or a 409 to retry while the first is still being made.
    const ids = new Set(all.filter((r) => r.status === 200).map((r) => r.body.id));
    expect(ids.size).toBe(1);
    for (const r of all.filter((r) => r.status !== 200))
      expect([r.status, r.body.error.type, r.body.error.param, r.headers.get('retry-after')]).toEqual([
        409,
        'conflict',
        'Idempotency-Key',
        '1',
      ]);
    expect(await batchesOf(c)).toBe(1);
  });

  it('refuses a key reused for another batch with a 409, and frees a key whose creation was refused', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const [a, b] = [await inputFile(c), await inputFile(c, 1)];
    await createBatch(c, a, 'k1');
    const reused = await c.openai.batches
      .create(
        { input_file_id: b, endpoint: '/v1/chat/completions', completion_window: '24h' },
        { headers: { 'Idempotency-Key': 'k1' } },
      )
      .catch((e: unknown) => e as { status: number; error: { type: string; param: string } });
    expect(reused).toMatchObject({ status: 409, error: { type: 'conflict', param: 'Idempotency-Key' } });

    // An unknown file is refused, nothing made: the same key then works for a good request.
    const refused = await call(stack.server.url, 'POST', '/v1/batches', {
      token: c.childKey,
      headers: { 'idempotency-key': 'k2' },
      body: { input_file_id: 'file_nope', endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    expect([refused.status, refused.body.error.param]).toEqual([400, 'input_file_id']);
    expect((await createBatch(c, b, 'k2')).replayed).toBeNull();
    expect(await batchesOf(c)).toBe(2);
  });

  it('shares keys across the child keys of one management key, and keeps batches’ keys apart from jobs’', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const fileId = await inputFile(c);
    const first = await createBatch(c, fileId, 'shared');
    const sibling = await call(stack.server.url, 'POST', `/api/management/keys/${c.mkId}/children`, {
      token: c.mkKey,
      body: { name: 'sibling' },
    });
    const siblingBatch = await call(stack.server.url, 'POST', '/v1/batches', {
      token: sibling.body.key,
      headers: { 'idempotency-key': 'shared' },
      body: { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    expect(siblingBatch.body.id).toBe(first.batch.id);
    // Another management key's child cannot see the file, and its key is its own: a 400, not the batch.
    const other = await secondManagementKey(stack.server.url, c);
    const elsewhere = await call(stack.server.url, 'POST', '/v1/batches', {
      token: other.childKey,
      headers: { 'idempotency-key': 'shared' },
      body: { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    expect([elsewhere.status, elsewhere.body.error.param]).toEqual([400, 'input_file_id']);
    // The same key on a job submission makes a job.
    const job = await call(stack.server.url, 'POST', '/v1/jobs', {
      token: c.childKey,
      headers: { 'idempotency-key': 'shared' },
      body: {
        request: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 },
      },
    });
    expect([job.status, job.body.id]).toEqual([202, expect.stringMatching(/^job_/)]);
  });

  it('refuses an empty or over-long key with a 400 naming it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await call(stack.server.url, 'POST', '/v1/batches', {
      token: c.childKey,
      headers: { 'idempotency-key': 'x'.repeat(256) },
      body: { input_file_id: await inputFile(c), endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    expect([res.status, res.body.error.param]).toEqual([400, 'Idempotency-Key']);
    expect(await batchesOf(c)).toBe(0);
  });
});
