import { describe, expect, it } from 'vitest';
import { admit } from '../../shared/admission/admit.js';
import { systemClock } from '../../shared/clock.js';
import type { Context } from '../../shared/context.js';
import { dayKey } from '../../shared/periods.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { schedulerEnv } from '../helpers/scheduler.js';
import { waitFor } from '../helpers/wait.js';

const w = schedulerEnv(systemClock);

/**
 * Redis runs the admission, but its answer never reaches the api: Redis slower than
 * REDIS_COMMAND_TIMEOUT_MS (paused, swapping), or the connection lost after the call went out. The
 * client is refused (a 503), so the reservation must not stand: it is taken back once Redis
 * answers, rather than when the hold's record expires (6 hours for a job).
 */
function answerLost(): { ctx: Context; lost: () => number } {
  const { ctx } = w.env;
  let lost = 0;
  const run: Context['scripts']['run'] = async (name, keys, args) => {
    const reply = await ctx.scripts.run(name, keys, args);
    // (A first call may answer that the key's state must be loaded: nothing reserved then.)
    if (name !== 'admit' || (reply as string[])[0] !== 'ok') return reply;
    lost++;
    throw new Error('Command timed out');
  };
  return { ctx: { ...ctx, scripts: { ...ctx.scripts, run } }, lost: () => lost };
}

async function reservation(f: KeyFixture) {
  const { redis, keys, clock } = w.env.ctx;
  const [available, day] = await Promise.all([
    redis.get(keys.balance(f.accountId)),
    redis.get(keys.day(f.accountId, f.key.id, dayKey(clock.now()))),
  ]);
  return { available, day };
}

describe('admission: an answer Redis ran but never gave', () => {
  it('is refused to the client, and its reservation given back once Redis answers', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 1_000n, limitDaily: 1_000n });
    const { ctx, lost } = answerLost();
    const input = {
      key: f.key,
      estimate: 800n,
      model: 'm',
      pricePerToken: 1n,
      markupBps: 10_000,
      holdTtlMs: 6 * 3600_000,
    };
    await expect(admit(ctx, input)).rejects.toThrow('Command timed out');
    expect(lost()).toBe(1);
    // Redis did reserve it; it goes back without waiting for the record's six hours.
    await waitFor('the reservation given back', async () => (await reservation(f)).available === '1000');
    expect(await reservation(f)).toEqual({ available: '1000', day: '0' });
    expect(await w.env.ctx.redis.keys(`${w.env.ctx.keys.hold(f.accountId, '*')}`)).toEqual([]);
    // The key's limit is whole again: the same request fits.
    const again = await admit(w.env.ctx, input);
    expect(again.hold.amount).toBe(800n);
  });
});
