import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../shared/group-commit.js';

/** A write that records its groups and finishes when the test says so. */
function controlledWrite(fail?: (items: number[]) => boolean) {
  const groups: number[][] = [];
  const pending: (() => void)[] = [];
  const write = (items: number[]) =>
    new Promise<void>((resolve, reject) => {
      groups.push(items);
      pending.push(() => (fail?.(items) ? reject(new Error(`bad ${items.join(',')}`)) : resolve()));
    });
  const finishAll = async () => {
    while (pending.length > 0) {
      for (const done of pending.splice(0)) done();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { groups, write, finishAll };
}

describe('GroupCommit', () => {
  it('writes a lone item at once, without waiting for company', async () => {
    const w = controlledWrite();
    const gc = new GroupCommit(w.write);
    const done = gc.add(1);
    expect(w.groups).toEqual([[1]]);
    await w.finishAll();
    await done;
  });

  it('sends everything that arrived during a write together in the next one', async () => {
    const w = controlledWrite();
    const gc = new GroupCommit(w.write, 3);
    const all = [1, 2, 3, 4, 5, 6].map((i) => gc.add(i));
    await w.finishAll();
    await Promise.all(all);
    expect(w.groups).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  it('retries a failed group item by item, so only the bad item fails', async () => {
    const w = controlledWrite((items) => items.includes(3));
    const gc = new GroupCommit(w.write);
    const results = [1, 2, 3, 4].map((i) =>
      gc.add(i).then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    );
    await w.finishAll();
    expect(await Promise.all(results)).toEqual(['ok', 'ok', 'bad 3', 'ok']);
    expect(w.groups).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });
});

describe('GroupCommit with results', () => {
  it('gives each caller the result of its own item', async () => {
    const gc = new GroupCommit<number, string>(async (items) => items.map((i) => `r${i}`));
    expect(await Promise.all([1, 2, 3].map((i) => gc.add(i)))).toEqual(['r1', 'r2', 'r3']);
  });
});
