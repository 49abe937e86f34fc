import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueues, type QueueName, queuePayloads } from '../../shared/queues.js';
import { startWorkers } from '../../workers/index.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.close());

async function unhandledWhile(run: () => Promise<void>): Promise<string[]> {
  const unhandled: unknown[] = [];
  const listener = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', listener);
  try {
    await run();
    await sleep(300); // a rejection is reported after the microtasks that could have handled it
  } finally {
    process.off('unhandledRejection', listener);
  }
  return unhandled.map((e) => String(e));
}

// Closed at every moment of their start-up (a process stopped right after it started, a test whose
// stack closed while a slow step held the event loop).
describe('closing BullMQ connections still starting', () => {
  it('leaves no rejection unhandled for the queue producers', async () => {
    const { ctx } = env;
    const unhandled = await unhandledWhile(async () => {
      for (let i = 0; i < 40; i++) {
        const queues = createQueues(ctx);
        for (const name of Object.keys(queuePayloads) as QueueName[]) queues.get(name);
        await sleep(i / 4);
        await queues.close();
      }
    });
    expect(unhandled).toEqual([]);
  });

  it('leaves no rejection unhandled for the workers', async () => {
    const { ctx } = env;
    const unhandled = await unhandledWhile(async () => {
      for (let i = 0; i < 40; i++) {
        const stop = startWorkers(ctx, {});
        await sleep(i / 4);
        await stop();
      }
    });
    expect(unhandled).toEqual([]);
  });
});
