import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullPrefix } from '../../shared/queues.js';
import { redisOptionsFromUrl } from '../../shared/redis/client.js';
import { followBull, RedisOutageLog, workerErrorLog } from '../../shared/redis/outage-log.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { capturedLogger } from '../helpers/logs.js';
import { waitFor } from '../helpers/wait.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.close());

// After Redis lost its data (a restart without persistence), a worker finishing a job whose
// message is gone gets BullMQ's "Missing key for job N. moveToFinished". Postgres holds the job and
// reconciliation queues a live one again, so it is a warning, not an error line per job paging
// whoever watches the error rate.
describe('a job whose message vanished while a worker ran it', () => {
  it('is one warning naming the job, and other worker errors stay errors', async () => {
    const { ctx } = env;
    const { logger, lines } = capturedLogger('info');
    const connection = redisOptionsFromUrl(ctx.config.REDIS_URL);
    const prefix = bullPrefix(ctx);
    const queue = new Queue('vanishing', { connection, prefix });
    let finish!: () => void;
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const worker = new Worker(
      'vanishing',
      async () => {
        started();
        await new Promise<void>((r) => {
          finish = r;
        });
      },
      { connection, prefix },
    );
    const onError = workerErrorLog(logger, 'test worker error');
    followBull(worker, new RedisOutageLog(logger, 'workers'), onError);
    const reports: string[] = [];
    worker.on('error', (err) => reports.push(err.message));
    try {
      const job = await queue.add('j', {});
      await running;
      await ctx.redis.del(`${prefix}:vanishing:${job.id}`);
      finish();
      // BullMQ reports it twice: finishing the job, then failing it.
      await waitFor('BullMQ reported the vanished job twice', async () => reports.length >= 2);
      expect(reports.every((m) => m.startsWith(`Missing key for job ${job.id}.`))).toBe(true);
      expect(lines.map((l) => [l.level, l.msg, l.jobId])).toEqual([
        [
          40,
          'job message vanished (Redis lost it?); the reconciliation check queues a live job again',
          job.id,
        ],
      ]);
      onError(new Error('something else'));
      expect(lines.at(-1)).toMatchObject({ level: 50, msg: 'test worker error' });
    } finally {
      await worker.close(true);
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
