import { setTimeout as sleep } from 'node:timers/promises';
import { type JobsOptions, Queue, UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import type { Context } from './context.js';
import { redisOptionsFromUrl } from './redis/client.js';
import { followBull, redisOutageLog } from './redis/outage-log.js';

const decimal = z.string().regex(/^\d+$/);

/**
 * A hold as admission made it (NewHold, money as decimal strings), for a request that was served
 * although its hold's write failed: settlement writes the hold itself, then posts it.
 */
const holdTerms = z.object({
  id: z.string(),
  requestId: z.string(),
  accountId: z.string(),
  childKeyId: z.string(),
  amount: decimal,
  periodDay: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  model: z.string(),
  pricePerToken: decimal,
  markupBps: z.number().int(),
  createdAt: z.iso.datetime(),
  deadline: z.iso.datetime(),
});
export type HoldTerms = z.infer<typeof holdTerms>;

/** One resolved request to book: post the node's usage, or void the hold. */
const settlementItem = {
  post: {
    holdId: z.string(),
    outcome: z.literal('post'),
    promptTokens: z.number().int().nonnegative(),
    completionTokens: z.number().int().nonnegative(),
    unrecorded: holdTerms.optional(),
  },
  void: { holdId: z.string(), outcome: z.literal('void') },
};
const enqueuedAt = z.number().int();
const settlement = z.discriminatedUnion('outcome', [
  z.object(settlementItem.post),
  z.object(settlementItem.void),
]);
/**
 * What settlement learns from the worker: the node's usage, or that nothing was served. A post
 * carries the hold's terms when its admission write failed although the request was served
 * (`unrecorded`): settlement then writes the hold first, so the request is still billed once.
 */
export type Settlement = z.infer<typeof settlement>;

/**
 * Every BullMQ queue and the zod schema of its payload: used to enqueue and to parse on entry. A
 * payload that fails to parse can never succeed, so it is an UnrecoverableError (no retries).
 */
export const queuePayloads = {
  /**
   * Admitted async jobs (or batch lines) waiting for a Gonka node: the group accepted together
   * (enqueueInference) or put back together by reconcile --fix (queue-check.ts), so the queue moves
   * one BullMQ job per group, not per request; or one job alone (a retry, or what earlier versions
   * enqueued).
   */
  inference: z.union([z.object({ jobIds: z.array(z.string()).min(1) }), z.object({ jobId: z.string() })]),
  /**
   * Resolved requests waiting to be booked, as a group: every request that finished while the last
   * hand-off was in flight (settleRequest), so the queue moves one job per group, not per request.
   * A single hold per job is what earlier versions enqueued; settlement retries for hours, so such
   * a job may still be waiting after an upgrade. Drop that form once every deployment has run a
   * grouping version longer than settlement's retries last (20 attempts from 0.5 s, doubling:
   * about three days), with the single-hold case of test/integration/settlement-worker.test.ts.
   */
  settlement: z.union([
    z.object({
      items: z.array(settlement).min(1),
      enqueuedAt,
    }),
    z.discriminatedUnion('outcome', [
      z.object({ ...settlementItem.post, enqueuedAt }),
      z.object({ ...settlementItem.void, enqueuedAt }),
    ]),
  ]),
  /** One webhook delivery attempt chain. */
  webhooks: z.object({ deliveryId: z.string() }),
  /** A batch to look at: dispatch its pending lines, expire it, or finalize it. */
  batches: z.object({ batchId: z.string() }),
} as const;

export type QueueName = keyof typeof queuePayloads;
export type Payload<Q extends QueueName> = z.infer<(typeof queuePayloads)[Q]>;

/**
 * Retry policy per queue, chosen on purpose: settlement retries for hours (money must land; it is
 * idempotent), finished jobs are kept only in bounded numbers so Redis memory per job stays bounded.
 */
export const jobDefaults: Record<QueueName, JobsOptions> = {
  // Its attempts and backoff are INFERENCE_ATTEMPTS / INFERENCE_BACKOFF_MS, given with every message
  // (inferenceMessageOptions).
  inference: {
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  },
  settlement: {
    attempts: 20,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 10000 },
  },
  webhooks: {
    attempts: 1, // retries are scheduled by the delivery processor itself (24 h schedule)
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  },
  batches: {
    // A run is idempotent; retrying covers a Postgres or Redis hiccup mid-run.
    attempts: 10,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  },
};

/** The job ids an inference payload carries. */
export function inferenceJobIds(p: Payload<'inference'>): string[] {
  return 'jobIds' in p ? p.jobIds : [p.jobId];
}

export function parsePayload<Q extends QueueName>(name: Q, data: unknown): Payload<Q> {
  const r = queuePayloads[name].safeParse(data);
  if (!r.success) throw new UnrecoverableError(`invalid ${name} payload: ${r.error.message}`);
  return r.data as Payload<Q>;
}

export interface Queues {
  get<Q extends QueueName>(name: Q): Queue<Payload<Q>>;
  add<Q extends QueueName>(name: Q, payload: Payload<Q>, opts?: JobsOptions): Promise<void>;
  /** Many jobs in one Redis round trip (BullMQ addBulk, one MULTI). */
  addBulk<Q extends QueueName>(name: Q, jobs: { payload: Payload<Q>; opts?: JobsOptions }[]): Promise<void>;
  close(): Promise<void>;
}

/** How long closing waits for a queue's or worker's connection to finish starting. */
const CLOSE_READY_WAIT_MS = 2000;

/**
 * Before closing BullMQ queues or workers: a connection closed while it is still starting rejects
 * BullMQ's opening commands unhandled (ioredis "Connection is closed"), so let them finish
 * starting, but do not wait long on a Redis that is down.
 */
export async function startedOrLate(bull: { waitUntilReady(): Promise<unknown> }[]): Promise<void> {
  await Promise.race([
    Promise.all(bull.map((b) => b.waitUntilReady().catch(() => {}))),
    sleep(CLOSE_READY_WAIT_MS, undefined, { ref: false }),
  ]);
}

/**
 * Whether a started queue's or worker's connection reaches Redis now: not while ioredis is
 * reconnecting, nor when it never connected (call after startedOrLate, which waited for that).
 */
export async function reachesRedis(bull: { readonly client: Promise<{ status: string }> }): Promise<boolean> {
  // An already connected client wins the race; one still connecting loses to the resolved null.
  const client = await Promise.race([bull.client, Promise.resolve(null)]).catch(() => null);
  return client?.status === 'ready';
}

/** Queue producers for one process, sharing one connection, under the configured prefix. */
export function createQueues(ctx: Context): Queues {
  const connection = redisOptionsFromUrl(ctx.config.REDIS_URL);
  const made = new Map<QueueName, Queue>();
  const get = <Q extends QueueName>(name: Q): Queue<Payload<Q>> => {
    let q = made.get(name);
    if (!q) {
      q = new Queue(name, { connection, prefix: bullPrefix(ctx), defaultJobOptions: jobDefaults[name] });
      // Without a listener a connection error (Redis restarting, a close while connecting) would be
      // an unhandled 'error' event and end the process; ioredis reconnects by itself.
      followBull(q, redisOutageLog(ctx.logger, 'queues'), (err) =>
        ctx.logger.warn({ err, queue: name }, 'queue error'),
      );
      made.set(name, q);
    }
    return q as unknown as Queue<Payload<Q>>;
  };
  let closing: Promise<void> | null = null;
  return {
    get,
    async add(name, payload, opts) {
      queuePayloads[name].parse(payload);
      // biome-ignore lint/suspicious/noExplicitAny: BullMQ's name/data generics do not narrow through Q
      await (get(name) as Queue<any>).add(name, payload, opts);
    },
    async addBulk(name, jobs) {
      for (const j of jobs) queuePayloads[name].parse(j.payload);
      // biome-ignore lint/suspicious/noExplicitAny: BullMQ's name/data generics do not narrow through Q
      await (get(name) as Queue<any>).addBulk(jobs.map((j) => ({ name, data: j.payload, opts: j.opts })));
    },
    close() {
      closing ??= (async () => {
        const queues = [...made.values()];
        await startedOrLate(queues);
        for (const q of queues) {
          try {
            await q.close();
          } catch (err) {
            ctx.logger.warn({ err }, 'closing queue failed');
          }
        }
      })();
      return closing;
    },
  };
}

export function bullPrefix(ctx: Context): string {
  return `${ctx.config.REDIS_PREFIX}:bull`;
}
