import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { clockOffsetMs, warnIfClockOff } from '../../shared/redis/clock-offset.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { capturedLogger } from '../helpers/logs.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("this host's clock against Redis's", () => {
  it('reads the offset in ms: about 0 on the host Redis runs on, the skew when this clock is off', async () => {
    expect(Math.abs(await clockOffsetMs(env.ctx))).toBeLessThan(1_000);
    // This process's clock 90 s ahead (only Date is faked: Redis's TIME is the real one).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 90_000);
    expect(Math.abs((await clockOffsetMs(env.ctx)) - 90_000)).toBeLessThan(1_000);
  });

  it('warns at start-up when it is off by more than a few seconds, and says nothing when it is not', async () => {
    const { logger, lines } = capturedLogger('info');
    await warnIfClockOff({ ...env.ctx, logger });
    expect(lines).toEqual([]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 60_000);
    await warnIfClockOff({ ...env.ctx, logger });
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, offsetMs: expect.any(Number), msg: expect.stringMatching(/NTP/) }),
    ]);
    expect(Math.abs((lines[0]!.offsetMs as number) + 60_000)).toBeLessThan(1_000);
  });
});
