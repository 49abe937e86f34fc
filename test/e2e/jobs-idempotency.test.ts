import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { insertHold } from '../../shared/db/queries/holds.js';
import { getAccountBalance } from '../../shared/db/queries/ledger-accounts.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { claimSubmission, MadeElsewhere } from '../../shared/idempotency.js';
import { chatCompletionBody, prepareChat } from '../../shared/inference/chat-request.js';
import { jobSubmission, submitJob } from '../../shared/jobs/submit.js';
import { topup } from '../../shared/ledger/topup.js';
import { expectNoLedgerDrift } from '../helpers/books.js';
import { type Customer, createCustomer, secondManagementKey } from '../helpers/customer.js';
import { createKeyFixture } from '../helpers/fixtures.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const stack = useTestStack();

const body = {
  request: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 },
};

async function submit(key: string, idempotencyKey?: string) {
  const res = await fetch(`${stack.server.url}/v1/jobs`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    replayed: res.headers.get('idempotent-replayed'),
    headers: Object.fromEntries(res.headers),
    body: (await res.json()) as any,
  };
}

/** The Redis key of an Idempotency-Key's claim, to make a claim look dead (a minute old). */
const claimName = (owner: { accountId: string; mkId: string }, given: string) =>
  stack.env.ctx.keys.idempotency(
    owner.accountId,
    owner.mkId,
    'job',
    createHash('sha256').update(given).digest('hex'),
  );

const holdsOf = async (c: Customer) =>
  (
    await stack.env.ctx.sql<
      { n: number }[]
    >`select count(*)::int as n from holds where account_id = ${c.accountId}`
  )[0]!.n;

describe('POST /v1/jobs with an Idempotency-Key', () => {
  it('answers a retry with the job the first submission made, held and charged once', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = await submit(c.childKey, 'order-42');
    expect(first.status).toBe(202);
    expect(first.replayed).toBeNull();
    const again = await submit(c.childKey, 'order-42');
    expect(again.status).toBe(202);
    expect(again.replayed).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(await holdsOf(c)).toBe(1);
    // Another key, or none, is another job.
    expect((await submit(c.childKey, 'order-43')).body.id).not.toBe(first.body.id);
    expect((await submit(c.childKey)).body.id).not.toBe(first.body.id);
    expect(await holdsOf(c)).toBe(3);
    await waitFor('all settled', async () => {
      const [h] = await stack.env.ctx.sql<{ n: number }[]>`
        select count(*)::int as n from holds where account_id = ${c.accountId} and status = 'open'`;
      return h!.n === 0;
    });
    // Replayed once it finished: the job as it is now.
    const late = await submit(c.childKey, 'order-42');
    expect(late.body).toMatchObject({ id: first.body.id, status: 'succeeded' });
    expect(await holdsOf(c)).toBe(3);
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('answers a retry with its job although Redis lost the claim (restarted without persistence)', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = await submit(c.childKey, 'order-after-restart');
    expect(first.status).toBe(202);
    await stack.env.ctx.redis.del(claimName(c, 'order-after-restart'));
    const again = await submit(c.childKey, 'order-after-restart');
    expect(again).toMatchObject({ status: 202, replayed: 'true', body: { id: first.body.id } });
    expect(await holdsOf(c)).toBe(1);
    // The claim names the job again: the next retry is answered from Redis.
    expect((await stack.env.ctx.redis.get(claimName(c, 'order-after-restart')))?.split(':')[0]).toBe(
      first.body.id,
    );
  });

  it('shares keys across the child keys of one management key, not across management keys', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const sibling = await fetch(`${stack.server.url}/api/management/keys/${c.mkId}/children`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.mkKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sibling' }),
    }).then((r) => r.json() as Promise<{ key: string }>);
    const other = await secondManagementKey(stack.server.url, c);
    const first = await submit(c.childKey, 'shared');
    expect((await submit(sibling.key, 'shared')).body.id).toBe(first.body.id);
    expect((await submit(other.childKey, 'shared')).body.id).not.toBe(first.body.id);
  });

  it('lets a refused submission be retried with the same key', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { balance: 0n });
    const refused = await submit(c.childKey, 'retry-me');
    expect(refused.status).toBe(402);
    await topup(stack.env.ctx, {
      accountId: c.accountId,
      amount: 1_000_000_000n,
      reference: `idem-${c.accountId}`,
    });
    const retried = await submit(c.childKey, 'retry-me');
    expect(retried.status).toBe(202);
    expect(retried.replayed).toBeNull();
  });

  it('leaves the key of a submission that failed (5xx) to its retry at once, which makes the job', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // The job's write fails in Postgres, for this customer's jobs only.
    const sql = stack.env.ctx.sql;
    await sql.unsafe(`
      create function fail_job_${c.accountId.replace(/\W/g, '')}() returns trigger language plpgsql as $$
      begin raise exception 'disk full'; end $$`);
    await sql.unsafe(`
      create trigger fail_job before insert on jobs for each row
      when (new.account_id = '${c.accountId}')
      execute function fail_job_${c.accountId.replace(/\W/g, '')}()`);
    const failed = await submit(c.childKey, 'after-5xx').finally(() =>
      sql.unsafe('drop trigger fail_job on jobs'),
    );
    expect(failed.status).toBeGreaterThanOrEqual(500);
    // Not a minute of 409s for a submission that has already answered: the retry makes the job.
    const retried = await submit(c.childKey, 'after-5xx');
    expect([retried.status, retried.replayed]).toEqual([202, null]);
    expect((await submit(c.childKey, 'after-5xx')).body.id).toBe(retried.body.id);
    await waitFor('the retry’s job settled', async () => (await holdsOf(c)) >= 1);
    expect(await holdsOf(c)).toBe(1);
  });

  it('makes one job of 20 racing submissions with one key', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const all = await Promise.all(Array.from({ length: 20 }, () => submit(c.childKey, 'race')));
    const made = all.filter((r) => r.status === 202 && r.replayed === null);
    expect(made).toHaveLength(1);
    for (const r of all) {
      if (r.status === 202) expect(r.body.id).toBe(made[0]!.body.id);
      else
        expect([r.status, r.body.error.type, r.headers['retry-after'], r.headers['x-should-retry']]).toEqual([
          409,
          'conflict',
          '1',
          'true',
        ]);
    }
    expect(await holdsOf(c)).toBe(1);
  });

  it('takes over, after a minute, a key whose submission died before making its job', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const key = { id: c.childId, account_id: c.accountId, management_key_id: c.mkId };
    // A submission claims the key, then its process dies before the job is written.
    const dead = await claimSubmission(stack.env.ctx, key, jobSubmission, 'orphan');
    expect('id' in dead).toBe(true);
    const early = await submit(c.childKey, 'orphan');
    expect([early.status, early.body.error.type]).toEqual([409, 'conflict']);

    const name = claimName(c, 'orphan');
    const [jobId] = (await stack.env.ctx.redis.get(name))!.split(':');
    await stack.env.ctx.redis.set(name, `${jobId}:${Date.now() - 61_000}`, 'EX', 3600);
    const later = await submit(c.childKey, 'orphan');
    expect(later.status).toBe(202);
    expect(later.replayed).toBeNull();
    expect((await submit(c.childKey, 'orphan')).body.id).toBe(later.body.id);
    expect(await holdsOf(c)).toBe(1);
  });

  it('takes a stalled claim over for the same job, so a slow first submission and its retry make one', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const key = { id: c.childId, account_id: c.accountId, management_key_id: c.mkId };
    const slow = await claimSubmission(stack.env.ctx, key, jobSubmission, 'stalled');
    if (!('id' in slow)) throw new Error('expected a claim');
    const name = claimName(c, 'stalled');
    await stack.env.ctx.redis.set(name, `${slow.id}:${Date.now() - 61_000}`, 'EX', 3600);
    const retry = await submit(c.childKey, 'stalled');
    expect(retry.status).toBe(202);
    expect(retry.body.id).toBe(slow.id);

    // The slow submission's write comes at last: refused (409, retry), its reservation given back.
    const chat = prepareChat(
      chatCompletionBody.parse(body.request),
      stack.deps.upstream.models,
      stack.env.config,
    );
    const late = submitJob(stack.env.ctx, stack.deps, {
      key,
      chat,
      webhookUrl: null,
      metadata: {},
      jobId: slow.id,
    });
    await expect(late).rejects.toBeInstanceOf(MadeElsewhere);
    expect(await holdsOf(c)).toBe(1);
    await expectNoLedgerDrift(stack.env.ctx);
    // Redis reserves exactly what Postgres holds: the refused write's reservation went back.
    const pg = (await getAccountBalance(stack.env.ctx.sql, c.accountId))!;
    expect(await stack.env.ctx.redis.get(stack.env.ctx.keys.balance(c.accountId))).toBe(
      (pg.balance - pg.held).toString(),
    );
  });

  it('keeps a taken-over claim when the slow submission wrote first: the retry is told to retry, never a second job', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const key = { id: c.childId, account_id: c.accountId, management_key_id: c.mkId };
    const slow = await claimSubmission(stack.env.ctx, key, jobSubmission, 'raced');
    if (!('id' in slow)) throw new Error('expected a claim');
    await stack.env.ctx.redis.set(claimName(c, 'raced'), `${slow.id}:${Date.now() - 61_000}`, 'EX', 3600);
    // The slow submission's write lands between the retry's look for its job and the retry's own
    // write (its hold row is what the retry's insert meets).
    const now = new Date();
    await insertHold(stack.env.ctx.sql, {
      id: `hold_raced${Date.now()}`,
      requestId: slow.id,
      accountId: c.accountId,
      childKeyId: c.childId,
      amount: 1n,
      periodDay: now.toISOString().slice(0, 10),
      model: SIM_MODEL_QWQ_32B,
      pricePerToken: 1n,
      markupBps: 10000,
      createdAt: now,
      deadline: new Date(now.getTime() + 60_000),
    });
    const retry = await submit(c.childKey, 'raced');
    expect([retry.status, retry.body.error?.type]).toEqual([409, 'conflict']);
    // The claim still names the slow submission's job: the next retry cannot make another.
    expect(await stack.env.ctx.redis.get(claimName(c, 'raced'))).toMatch(new RegExp(`^${slow.id}:`));
    const again = await submit(c.childKey, 'raced');
    expect(again.status).toBe(409);
    const jobs = await stack.env.ctx.sql`select id from jobs where account_id = ${c.accountId}`;
    expect(jobs).toHaveLength(0);
  });

  it('never lets a slow submission give up a claim that a retry took over', async () => {
    const f = await createKeyFixture(stack.env.ctx, { balance: 1000n });
    const slow = await claimSubmission(stack.env.ctx, f.key, jobSubmission, 'k');
    if (!('id' in slow)) throw new Error('expected a claim');
    // The first submission is slow (past a minute) but alive: its claim looks dead.
    const name = claimName(f, 'k');
    await stack.env.ctx.redis.set(name, `${slow.id}:${Date.now() - 61_000}`, 'EX', 3600);
    const retry = await claimSubmission(stack.env.ctx, f.key, jobSubmission, 'k');
    if (!('id' in retry)) throw new Error('expected a take-over');
    // The slow one is then refused and gives the key up: the retry's claim must stay.
    await slow.release();
    expect(await stack.env.ctx.redis.get(name)).toMatch(new RegExp(`^${retry.id}:`));
  });

  it('refuses a key reused for a different request with a 409', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url, { child: { rate_limit_rpm: 100 } });
    expect((await submit(c.childKey, 'same-key')).status).toBe(202);
    const other = await fetch(`${stack.server.url}/v1/jobs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${c.childKey}`,
        'content-type': 'application/json',
        'idempotency-key': 'same-key',
      },
      body: JSON.stringify({ ...body, metadata: { order: 'another' } }),
    });
    expect(other.status).toBe(409);
    expect(((await other.json()) as any).error).toMatchObject({ type: 'conflict', param: 'Idempotency-Key' });
    // Final: OpenAI's SDKs retry a 409 unless told not to, and would get this answer three times.
    expect(other.headers.get('x-should-retry')).toBe('false');
    // Like every /v1 answer, it says where the key stands with its rate limit.
    expect(other.headers.get('x-ratelimit-remaining-requests')).not.toBeNull();
    expect(await holdsOf(c)).toBe(1);
  });

  it('takes the same request with its fields in another order for the same request', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const first = await submit(c.childKey, 'reordered');
    const { model, messages, max_tokens } = body.request;
    const again = await fetch(`${stack.server.url}/v1/jobs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${c.childKey}`,
        'content-type': 'application/json',
        'idempotency-key': 'reordered',
      },
      body: JSON.stringify({ request: { max_tokens, messages, model } }),
    });
    expect(again.status).toBe(202);
    expect(((await again.json()) as any).id).toBe(first.body.id);
  });

  it('refuses an empty or over-long key with a 400 naming it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const res = await submit(c.childKey, 'x'.repeat(256));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'Idempotency-Key' });
    expect(await holdsOf(c)).toBe(0);
  });
});
