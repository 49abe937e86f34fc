import { describe, expect, it } from 'vitest';
import { watchForWedge } from '../../shared/db/wedge-watch.js';

describe('watchForWedge', () => {
  it('says so once when the work has not settled in time, and still gives its outcome', async () => {
    let wedged = 0;
    let finish!: (v: string) => void;
    const work = new Promise<string>((r) => {
      finish = r;
    });
    const watched = watchForWedge(work, 20, () => wedged++);
    await new Promise((r) => setTimeout(r, 60));
    expect(wedged).toBe(1);
    finish('done');
    expect(await watched).toBe('done');
  });

  it('says nothing of work that settles in time, resolved or rejected', async () => {
    let wedged = 0;
    expect(await watchForWedge(Promise.resolve(1), 20, () => wedged++)).toBe(1);
    await expect(watchForWedge(Promise.reject(new Error('no')), 20, () => wedged++)).rejects.toThrow('no');
    await new Promise((r) => setTimeout(r, 60));
    expect(wedged).toBe(0);
  });
});
