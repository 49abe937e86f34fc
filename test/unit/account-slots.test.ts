import { describe, expect, it } from 'vitest';
import { AccountSlots } from '../../shared/webhooks/account-slots.js';

describe("AccountSlots (each account's share of the webhook attempts in flight)", () => {
  it('gives an account its share of slots, and its slots back as attempts end', () => {
    const slots = new AccountSlots(2);
    expect(slots.take('a', 0)).toBeNull();
    expect(slots.take('a', 0)).toBeNull();
    expect(slots.take('a', 0)).not.toBeNull();
    expect(slots.take('b', 0)).toBeNull(); // another account's share is its own
    slots.give('a', 10, 10);
    expect(slots.take('a', 10)).toBeNull();
  });

  it('sends a backlog back one step apart, a step being how often its attempts end', () => {
    const slots = new AccountSlots(4);
    for (let i = 0; i < 4; i++) slots.take('a', 0);
    // Attempts that take 40 ms each, four at a time: a slot frees every 10 ms or so.
    for (let i = 0; i < 20; i++) {
      slots.give('a', 40, 0);
      slots.take('a', 0);
    }
    const waits = Array.from({ length: 5 }, () => slots.take('a', 0)!);
    const steps = waits.slice(1).map((w, i) => w - waits[i]!);
    for (const step of steps) expect(step).toBeGreaterThanOrEqual(9);
    for (const step of steps) expect(step).toBeLessThanOrEqual(11);
    // Not a fixed wait for all of them: the fifth comes back about 40 ms after the first.
    expect(waits[4]! - waits[0]!).toBeGreaterThan(35);
  });

  it("sends a silent receiver's backlog back no sooner than 2 s, and no later", () => {
    const slots = new AccountSlots(2);
    slots.take('a', 0);
    slots.take('a', 0);
    for (let i = 0; i < 30; i++) {
      slots.give('a', 10_000, 0); // each attempt timed out
      slots.take('a', 0);
    }
    // A step of 5 s, held to 2 s: an average from slow attempts sets no pace for long.
    expect([slots.take('a', 0), slots.take('a', 0), slots.take('a', 1_000)]).toEqual([2_000, 2_000, 2_000]);
  });

  it('forgets an account once it is idle with nothing due back', () => {
    const slots = new AccountSlots(1);
    slots.take('a', 0);
    const wait = slots.take('a', 0)!;
    slots.give('a', 5, 0); // idle, but one attempt is still due back: remembered
    expect(slots.take('a', 0)).toBeNull();
    slots.give('a', 5, wait + 1);
    expect(slots.size).toBe(0);
  });
});
