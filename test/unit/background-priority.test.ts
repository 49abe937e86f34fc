import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { composeServices } from '../helpers/compose.js';

/**
 * What runBelowApi answers in a process of its own (started at niceness `startNice`), and the
 * niceness of each of its threads after it (/proc/self/task/<tid>/stat, field 19).
 */
function inChild(target: number, startNice = 0): { result: number | null; threads: number[] } {
  const code = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { setPriority } from 'node:os';
    import { runBelowApi } from './shared/background-priority.ts';
    if (${startNice} > 0) for (const t of readdirSync('/proc/self/task')) setPriority(Number(t), ${startNice});
    const result = runBelowApi(${target});
    const threads = readdirSync('/proc/self/task').map((t) => {
      const stat = readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
    console.log(JSON.stringify({ result, threads }));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim()) as { result: number | null; threads: number[] };
}

describe('runBelowApi (BACKGROUND_NICE for the workers and scheduler processes)', () => {
  it('lowers every thread of a process started at the default to the niceness asked for', () => {
    const { result, threads } = inChild(10);
    expect(result).toBe(10);
    expect(threads.length).toBeGreaterThan(1); // the event loop and V8's and libuv's helpers
    expect(new Set(threads)).toEqual(new Set([10]));
  });

  it('never raises the priority of a process started lower', () => {
    const { result, threads } = inChild(5, 15);
    expect(result).toBeNull();
    expect(new Set(threads)).toEqual(new Set([15]));
  });

  // A niceness orders threads only inside their CPU group, and each container is one: under
  // docker-compose, the container's weight is what makes the background roles yield.
  it("has docker-compose weigh the workers and scheduler containers below the api's", () => {
    // Docker's default weight is 1024 where a service sets none.
    const shares = (name: string) => composeServices()[name]?.cpu_shares ?? 1024;
    expect(shares('api')).toBe(1024);
    expect(shares('workers')).toBeLessThan(1024 / 4);
    expect(shares('scheduler')).toBeLessThan(1024 / 4);
  });
});
