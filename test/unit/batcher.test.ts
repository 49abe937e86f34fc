import { describe, expect, it } from 'vitest';
import { Batcher } from '../../shared/batcher.js';

/** A flush that records its batches and finishes when the test says so. */
function controlledFlush() {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  const flush = (items: number[]) =>
    new Promise<number[]>((resolve) => {
      batches.push(items);
      pending.push(() => resolve(items.map((i) => i * 10)));
    });
  return { batches, flush, finishOne: () => pending.shift()?.() };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  it('keeps items waiting for company until the oldest has waited maxWaitMs', async () => {
    const f = controlledFlush();
    const b = new Batcher(f.flush, 500, 60_000);
    void b.add(1);
    void b.add(2);
    await tick();
    expect(f.batches).toEqual([]);
  });

  it('drain hands off what is waiting at once and resolves once it is flushed', async () => {
    const f = controlledFlush();
    const b = new Batcher(f.flush, 500, 60_000);
    const results = [b.add(1), b.add(2)];
    let drained = false;
    const drain = b.drain().then(() => {
      drained = true;
    });
    await tick();
    expect(f.batches).toEqual([[1, 2]]);
    expect(drained).toBe(false); // the flush is still in flight
    f.finishOne();
    await drain;
    expect(await Promise.all(results)).toEqual([10, 20]);
  });

  it('drain waits for a running flush, then sends what arrived meanwhile', async () => {
    const f = controlledFlush();
    const b = new Batcher(f.flush, 500, 0);
    const first = b.add(1);
    await new Promise((r) => setTimeout(r, 5));
    expect(f.batches).toEqual([[1]]);
    const later = b.add(2); // arrives while [1] is in flight
    const drain = b.drain();
    f.finishOne();
    await tick();
    expect(f.batches).toEqual([[1], [2]]);
    f.finishOne();
    await drain;
    expect([await first, await later]).toEqual([10, 20]);
  });

  it('says which items are not flushed yet: in the running flush, then those waiting', async () => {
    const f = controlledFlush();
    const b = new Batcher(f.flush, 2, 1_000);
    void b.add(1);
    void b.add(2); // a full batch: flushed at once
    void b.add(3);
    await tick();
    expect(b.pending()).toEqual([1, 2, 3]);
    f.finishOne();
    await tick();
    expect(b.pending()).toEqual([3]);
  });

  it('drain with nothing waiting resolves at once', async () => {
    const f = controlledFlush();
    await new Batcher(f.flush).drain();
    expect(f.batches).toEqual([]);
  });
});
