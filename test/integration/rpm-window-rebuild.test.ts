import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { publishChildKeyState } from '../../shared/admission/key-state.js';
import { countRequestsBeforeLimit, readRpmWindow } from '../../shared/admission/rpm-window.js';
import { ManualClock } from '../../shared/clock.js';
import { findChildKey, updateChildKey } from '../../shared/db/queries/child-keys.js';
import { type ApiError, statusOf } from '../../shared/errors.js';
import { applyChildKeyPatch } from '../../shared/keys/child-keys.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { createTestEnv, type TestEnv } from '../helpers/context.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { flushPrefix, hold, outcome } from '../helpers/scheduler.js';

const T0 = '2026-11-26T10:00:00.000Z';
const clock = new ManualClock(T0);
let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv({ clock, env: { RECONCILE_INFLIGHT_MS: '20' } });
});
afterAll(async () => {
  await env?.close();
});
beforeEach(() => clock.set(T0));

const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const request = (f: KeyFixture) => outcome(hold(env.ctx, f.key, 1n));
/** Admit one request at each instant (seconds after T0); returns the hold ids. */
async function admitAt(f: KeyFixture, seconds: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const s of seconds) {
    clock.set(at(s));
    ids.push(await hold(env.ctx, f.key, 1n));
  }
  return ids;
}
const windowOf = (f: KeyFixture) =>
  env.ctx.redis.zrange(env.ctx.keys.rpm(f.accountId, f.key.id), 0, -1, 'WITHSCORES');

/** The owner changes the key's RPM limit with PATCH's own writes: in Postgres, then published to Redis. */
async function setRpm(f: KeyFixture, rpm: number | null): Promise<void> {
  const now = clock.now();
  let before: number | null = null;
  const row = await env.ctx.sql.begin(async (tx) => {
    const cur = await findChildKey(tx, f.accountId, f.key.management_key_id, f.key.id, { forUpdate: true });
    before = cur!.rate_limit_rpm;
    return updateChildKey(tx, f.key.id, applyChildKeyPatch(cur!, { rate_limit_rpm: rpm }, now), now);
  });
  await publishChildKeyState(env.ctx, row);
  await countRequestsBeforeLimit(env.ctx, { rate_limit_rpm: before }, row, now);
}

/** At 60 s the request admitted at 0 s leaves the window: room for exactly one. */
async function oneLeavesAt60(f: KeyFixture): Promise<void> {
  clock.set(at(60));
  expect(await request(f)).toBe('ok');
  expect(await request(f)).toBe('rate_limit_exceeded');
}

async function refusal(f: KeyFixture): Promise<ApiError> {
  const err = await hold(env.ctx, f.key, 1n).then(
    () => null,
    (e: ApiError) => e,
  );
  if (!err) throw new Error('admitted, expected a refusal');
  return err;
}

describe('RPM window after Redis loses it', () => {
  it('is rebuilt from the holds of the last 60 s: a flush grants no request beyond the limit', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 3 });
    const ids = await admitAt(f, [0, 10, 20]);
    clock.set(at(30));
    await flushPrefix(env.ctx);

    const err = await refusal(f);
    expect(err.type).toBe('rate_limit_exceeded');
    expect(statusOf(err.type)).toBe(429);
    expect(err.extra.retry_after_ms).toBe(30_000); // the request at 0 s leaves the window at 60 s
    expect(err.headers['retry-after']).toBe('30');
    // The same entries admission wrote: hold ids scored by admission ms.
    expect(await windowOf(f)).toEqual(ids.flatMap((id, i) => [id, String(Date.parse(at(i * 10)))]));

    clock.set('2026-11-26T10:00:59.999Z');
    expect(await request(f)).toBe('rate_limit_exceeded');
    await oneLeavesAt60(f);
  });

  it('starts empty for a key whose holds are all older than 60 s, exact at the edge', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 2 });
    const [, last] = await admitAt(f, [0, 1]);
    const key = { id: f.key.id, rate_limit_rpm: 2, rpm_limit_cleared_at: null };
    expect(await readRpmWindow(env.ctx.sql, key, new Date('2026-11-26T10:01:00.999Z'))).toEqual([
      { id: last, atMs: Date.parse(at(1)) },
    ]);
    expect(await readRpmWindow(env.ctx.sql, key, new Date(at(61)))).toEqual([]);
    clock.set(at(61)); // the hold at 1 s leaves the window now
    await flushPrefix(env.ctx);
    expect(await request(f)).toBe('ok');
    expect(await request(f)).toBe('ok');
    expect(await request(f)).toBe('rate_limit_exceeded');
  });

  it('counts only the holds still in the window, resolved ones too', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 3 });
    const [, second, third] = await admitAt(f, [0, 20, 40]);
    await settleHolds(env.ctx, [
      { holdId: second!, outcome: 'void' },
      { holdId: third!, outcome: 'post', promptTokens: 1, completionTokens: 0 },
    ]);
    clock.set(at(60)); // the hold at 0 s has left; those at 20 s and 40 s have not
    await flushPrefix(env.ctx);
    expect(await request(f)).toBe('ok');
    const err = await refusal(f);
    expect(err.type).toBe('rate_limit_exceeded');
    expect(err.extra.retry_after_ms).toBe(20_000);
  });

  it('leaves a window that exists as it is when the key state is reloaded', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 3 });
    const [first] = await admitAt(f, [0, 10]);
    const window = env.ctx.keys.rpm(f.accountId, f.key.id);
    // Live state Postgres does not show (a request given back), then the key's state is lost.
    await env.ctx.redis.zrem(window, first!);
    await env.ctx.redis.del(env.ctx.keys.childKey(f.accountId, f.key.id));
    clock.set(at(20));
    expect(await request(f)).toBe('ok'); // reloads the key; the window keeps 10 s and now 20 s
    expect(await env.ctx.redis.zcard(window)).toBe(2);
    expect(await request(f)).toBe('ok');
    expect(await request(f)).toBe('rate_limit_exceeded');
  });

  it('is rebuilt by reconcile --fix with the key state it restores', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 2 });
    const ids = await admitAt(f, [0, 15]);
    clock.set(at(30));
    await flushPrefix(env.ctx);
    const fix = await runReconcile(env.ctx, { fix: true });
    expect(fix.restored).toBeGreaterThan(0);
    expect(await windowOf(f)).toEqual([
      ids[0],
      String(Date.parse(at(0))),
      ids[1],
      String(Date.parse(at(15))),
    ]);
    // --fix marked the key loaded, so admission uses what it wrote without loading anything.
    const err = await refusal(f);
    expect(err.type).toBe('rate_limit_exceeded');
    expect(err.extra.retry_after_ms).toBe(30_000);
    await oneLeavesAt60(f);
    expect((await runReconcile(env.ctx)).drift).toEqual([]);
  });

  // Live, a window keeps every request admitted under a limit for its 60 s, through a limit lowered
  // or cleared meanwhile: raised again, the limit still counts them. A rebuild must too, whatever
  // the limit is at the moment Redis lost the window.
  it('keeps the holds of a limit lowered when Redis lost it: raised back, it grants none again', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 4 });
    await admitAt(f, [0, 1, 2, 3]);
    clock.set(at(10));
    await setRpm(f, 2);
    await flushPrefix(env.ctx);
    expect(await request(f)).toBe('rate_limit_exceeded'); // reloads the key under its limit of 2
    await setRpm(f, 4);
    // Four admitted in the last 60 s, as without the loss: full until the first leaves at 60 s.
    expect(await request(f)).toBe('rate_limit_exceeded');
    await oneLeavesAt60(f);
  });

  it('keeps the holds of a limit cleared when Redis lost it: set again, it grants none again', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 2 });
    await admitAt(f, [0, 1]);
    clock.set(at(10));
    await setRpm(f, null);
    await flushPrefix(env.ctx);
    expect(await request(f)).toBe('ok'); // reloads the key with no limit
    await setRpm(f, 2);
    const err = await refusal(f);
    expect(err.type).toBe('rate_limit_exceeded');
    // 0 s, 1 s and the request at 10 s made without a limit: room once the one at 1 s leaves.
    expect(err.extra.retry_after_ms).toBe(51_000);
  });

  // A busy key without a limit is the common case, and after a loss each of its requests that finds
  // the state missing loads it: none reads a minute of its traffic for a window admission keeps
  // none of. Nor does one whose limit was cleared more than a minute ago.
  it('rebuilds no window for a key that has had no limit for a minute', async () => {
    const never = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: null });
    await admitAt(never, [0, 1, 2]);
    const cleared = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 5 });
    await admitAt(cleared, [0, 1]);
    await setRpm(cleared, null);
    await admitAt(cleared, [30, 50]);
    clock.set(at(61)); // cleared at 1 s: a minute ago
    await flushPrefix(env.ctx);
    expect(await request(never)).toBe('ok');
    expect(await request(cleared)).toBe('ok');
    expect(await windowOf(never)).toEqual([]);
    expect(await windowOf(cleared)).toEqual([]);
  });

  it('is rebuilt by reconcile --fix with the holds of a limit lowered meanwhile', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 3 });
    await admitAt(f, [0, 1, 2]);
    clock.set(at(10));
    await setRpm(f, 1);
    await flushPrefix(env.ctx);
    await runReconcile(env.ctx, { fix: true });
    await setRpm(f, 3);
    expect(await request(f)).toBe('rate_limit_exceeded');
    await oneLeavesAt60(f);
  });
});

describe('RPM window when the limit changes', () => {
  it('counts the last minute’s requests, its newest N, when a limit is set on a key that had none', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: null });
    await admitAt(f, [0, 10, 20]);
    clock.set(at(30));
    await setRpm(f, 2);
    const err = await refusal(f);
    expect(err.extra.retry_after_ms).toBe(40_000); // the newest two: room when the one at 10 s leaves
    clock.set(at(70));
    expect(await request(f)).toBe('ok');
    expect(await request(f)).toBe('rate_limit_exceeded');
  });

  it('answers a lowered limit’s Retry-After with the moment the window has room, not its oldest entry’s exit', async () => {
    const f = await createKeyFixture(env.ctx, { balance: 10_000n, rpm: 3 });
    await admitAt(f, [0, 10, 20]);
    clock.set(at(30));
    await setRpm(f, 1);
    const err = await refusal(f);
    expect(err.extra.retry_after_ms).toBe(50_000); // all but none of three must leave: the one at 20 s
    expect(err.headers['retry-after']).toBe('50');
    clock.set(at(79.999));
    expect(await request(f)).toBe('rate_limit_exceeded');
    clock.set(at(80));
    expect(await request(f)).toBe('ok');
  });
});
