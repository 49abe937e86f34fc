import { afterAll, beforeAll } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import type { Clock } from '../../shared/clock.js';
import type { Context } from '../../shared/context.js';
import type { ChildKeyIdentity } from '../../shared/db/queries/admission-state.js';
import { completeJobs } from '../../shared/db/queries/job-attempts.js';
import { insertJobsWithHolds } from '../../shared/db/queries/jobs.js';
import { ApiError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { createQueues, type QueueName, type Queues, queuePayloads } from '../../shared/queues.js';
import { createTestEnv, type TestEnv } from './context.js';
import type { KeyFixture } from './fixtures.js';
import { insertWebhookEndpoint } from './webhook-deliveries.js';

/** A webhook endpoint of the account subscribed to every event (deliveries are recorded, not sent). */
export async function subscribeAll(ctx: Context, accountId: string): Promise<string> {
  const e = await insertWebhookEndpoint(ctx.sql, {
    id: newId('whe'),
    accountId,
    url: 'https://hooks.example.com/gw',
    events: ['*'],
    secret: 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=',
    createdAt: ctx.clock.now(),
  });
  return e.id;
}

/** The events recorded for an account's endpoints, oldest first. */
export async function deliveriesOf(
  ctx: Context,
  accountId: string,
  type?: string,
): Promise<{ event_type: string; payload: { type: string; data: Record<string, unknown> } }[]> {
  return ctx.sql`
    select event_type, payload from webhook_deliveries
    where account_id = ${accountId} ${type ? ctx.sql`and event_type = ${type}` : ctx.sql``}
    order by created_at, id` as never;
}

/** Admit a request of `estimate` nGNK on a key; the hold or the refusal code. */
export async function hold(
  ctx: Context,
  key: ChildKeyIdentity,
  estimate: bigint,
  opts: {
    ttlMs?: number;
    /** Its Postgres write never happens, as when the process admitting it is killed first. */
    unwritten?: boolean;
  } = {},
): Promise<string> {
  const a = await admit(ctx, {
    key,
    estimate,
    model: 'm',
    pricePerToken: 1n,
    markupBps: 10000,
    holdTtlMs: opts.ttlMs ?? 600_000,
    ...(opts.unwritten ? { write: () => new Promise<void>(() => {}), background: true } : {}),
  });
  return a.hold.id;
}

/** An async job and its hold, recorded in one transaction as POST /v1/jobs does (not enqueued). */
export async function admitJob(
  ctx: Context,
  f: KeyFixture,
  estimate: bigint,
  opts: { ttlMs?: number; createdAt?: Date } = {},
): Promise<{ jobId: string; holdId: string }> {
  const jobId = newId('job');
  const a = await admit(ctx, {
    key: f.key,
    estimate,
    model: 'm',
    pricePerToken: 1n,
    markupBps: 10000,
    holdTtlMs: opts.ttlMs ?? 6 * 3600_000,
    requestId: jobId,
    // As POST /v1/jobs writes them: the hold and the job in one statement.
    write: (hold) =>
      insertJobsWithHolds(ctx.sql, [
        {
          hold,
          job: {
            id: jobId,
            accountId: f.accountId,
            managementKeyId: f.mkId,
            childKeyId: f.key.id,
            holdId: hold.id,
            model: 'm',
            request: { messages: [] },
            webhookUrl: null,
            metadata: {},
            createdAt: opts.createdAt ?? hold.createdAt,
          },
        },
      ]),
  });
  return { jobId, holdId: a.hold.id };
}

/** A worker ran the job and recorded its answer (100 tokens, 100 nGNK); no settlement was handed off. */
export const succeededUnsettled = (ctx: Context, jobId: string) =>
  completeJobs(ctx.sql, [
    {
      id: jobId,
      attempt: 1,
      startedAt: ctx.clock.now(),
      result: {},
      usage: { prompt_tokens: 40, completion_tokens: 60, total_tokens: 100 },
      cost: 100n,
      at: ctx.clock.now(),
    },
  ]);

export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof ApiError) return (err.extra.code as string) ?? err.type;
    throw err;
  }
}

/** Queues whose webhook deliveries nobody works off: emitted events stay recorded for assertions. */
export function testQueues(ctx: Context): Queues {
  const queues = createQueues(ctx);
  // Closing a queue whose connection is still settling emits 'error'; unheard, it would crash.
  for (const name of Object.keys(queuePayloads) as QueueName[]) queues.get(name).on('error', () => {});
  return queues;
}

/**
 * A test env on `clock` with {@link testQueues}, opened before the file's tests and closed after
 * them (read `env` and `queues` inside tests and hooks, not at module level).
 */
export function schedulerEnv(
  clock: Clock,
  env: Record<string, string> = {},
): { env: TestEnv; queues: Queues } {
  const w = { env: undefined as unknown as TestEnv, queues: undefined as unknown as Queues };
  beforeAll(async () => {
    w.env = await createTestEnv({ clock, env });
    w.queues = testQueues(w.env.ctx);
  });
  afterAll(async () => {
    await w.queues?.close();
    await w.env?.close();
  });
  return w;
}

/** Every Redis key under the test's prefix except BullMQ's and rate windows, with its value. */
export async function admissionSnapshot(ctx: Context): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let cursor = '0';
  do {
    const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', ctx.keys.pattern(), 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      // Rate windows move with time; credit markers only guard a resend for an hour; a load epoch
      // (and the balance generation, the epoch of its last load) only orders loads against the
      // changes they race, and a rebuilt Redis starts it over.
      if (/:r:[^:]+$/.test(k) || /:cr:/.test(k) || /:(ep|bg)$/.test(k)) continue;
      const type = await ctx.redis.type(k);
      // A key state's `cg` counts its counters' loads, as the epoch orders them: a rebuild starts
      // over, and so do the generations a hold record keeps of the balance and counters (`bg`, `cg`).
      // Which process admitted a hold (`by`) Postgres does not know: a record put back lacks it, and
      // waits for its deadline if it turns out an orphan (release-orphans.ts).
      if (type === 'hash') {
        const { cg: _loads, bg: _balanceLoad, by: _admitter, ...hash } = await ctx.redis.hgetall(k);
        out[k] = hash;
      } else if (type === 'set') out[k] = (await ctx.redis.smembers(k)).sort();
      else out[k] = await ctx.redis.get(k);
    }
  } while (cursor !== '0');
  return out;
}

/** Delete every key under the test's Redis prefix: what a Redis restart without persistence does. */
export async function flushPrefix(ctx: Context): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', `${ctx.config.REDIS_PREFIX}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await ctx.redis.del(...keys);
  } while (cursor !== '0');
  return n;
}
