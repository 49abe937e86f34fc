import { describe, expect, it } from 'vitest';
import type { Books } from '../../scripts/soak/books.js';
import { crashOrphans } from '../../scripts/soak/crash-orphans.js';
import { Journal } from '../../scripts/soak/journal.js';
import { loseRedisPrefix } from '../../scripts/soak/stack.js';
import type { World } from '../../scripts/soak/world.js';
import { ManualClock } from '../../shared/clock.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { hold, schedulerEnv } from '../helpers/scheduler.js';

const clock = new ManualClock('2026-12-05T10:00:00.000Z');
const w = schedulerEnv(clock);

/** A batch line the workers admitted and were killed before writing: Redis has its record, Postgres nothing. */
const unwrittenLine = (f: KeyFixture, estimate: bigint) =>
  hold(w.env.ctx, f.key, estimate, { unwritten: true });

/**
 * The soak's Redis loss deletes the hold records of crash orphans, the only trace of a batch line
 * killed workers admitted but never wrote. The soak keeps them from the loss, so its RPM check
 * still counts the slot each held until then (a 240 s run failed on 429s a lost orphan explained).
 */
describe('soak: hold records a Redis loss deleted', () => {
  it('are replied by the loss as admission wrote them, and judged as crash orphans afterwards', async () => {
    const f = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const other = await createKeyFixture(w.env.ctx, { balance: 10_000n });
    const lineId = await unwrittenLine(f, 3_000n);
    const strayId = await unwrittenLine(other, 500n);

    const lost = await loseRedisPrefix(w.env.ctx.redis, w.env.ctx.config.REDIS_PREFIX);
    expect(lost.keys).toBeGreaterThan(2);
    expect(await w.env.ctx.redis.keys(`${w.env.ctx.config.REDIS_PREFIX}:*`)).toEqual([]);
    const at = clock.now().getTime();
    expect(lost.holdRecords.sort((a, b) => Number(b.amount - a.amount))).toEqual([
      { name: w.env.ctx.keys.hold(f.accountId, lineId), keyId: f.key.id, amount: 3_000n, at },
      { name: w.env.ctx.keys.hold(other.accountId, strayId), keyId: other.key.id, amount: 500n, at },
    ]);

    // Workers were killed, and a batch was asked for on f's key only: its line is explained, the
    // other record is not (no crash admits without writing on a key with no batch and no kill).
    const journal = new Journal();
    journal.disruptions.push({ kind: 'workers', at });
    journal.batchKeys.add(f.key.id);
    const lostAt = at + 5_000;
    journal.lostHoldRecords.push(...lost.holdRecords.map((r) => ({ ...r, lostAt })));
    const books = { holds: [] } as unknown as Books;
    const world = { accounts: [{ id: f.accountId }, { id: other.accountId }] } as unknown as World;
    const judged = await crashOrphans(w.env.ctx, books, world, journal);
    expect(judged.orphans).toEqual([]);
    expect(judged.lost).toEqual([
      {
        holdId: lineId,
        accountId: f.accountId,
        keyId: f.key.id,
        amount: 3_000n,
        cause: 'workers',
        admittedAt: at,
        lostAt,
      },
    ]);
    expect(judged.unexplained).toEqual([
      `${w.env.ctx.keys.hold(other.accountId, strayId)}: a hold record Postgres has no row for, and no crash explains it`,
    ]);

    // A record whose hold Postgres has by the end (its write landed after the loss) is no orphan.
    const recorded = { holds: [{ id: lineId }, { id: strayId }] } as unknown as Books;
    expect(await crashOrphans(w.env.ctx, recorded, world, journal)).toEqual({
      orphans: [],
      lost: [],
      unexplained: [],
    });
  });
});
