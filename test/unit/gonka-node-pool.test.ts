import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { NodePool } from '../../shared/gonka/node-pool.js';
import { startSimulator } from '../../shared/gonka/simulator/index.js';

const A = 'http://a.test';
const B = 'http://b.test';

function failTimes(pool: NodePool, url: string, n: number) {
  for (let i = 0; i < n; i++) {
    expect(pool.pick(new Set([...pool.nodes().map((x) => x.url)].filter((u) => u !== url)))?.url).toBe(url);
    pool.failure(url);
  }
}

describe('NodePool circuit breaker', () => {
  it('opens after 3 consecutive failures and sends no traffic during the cooldown', () => {
    const clock = new ManualClock('2026-11-26T00:00:00Z');
    const pool = new NodePool([A, B], { clock, cooldownMs: 10_000 });
    failTimes(pool, A, 2);
    expect(pool.status()[0]).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
    failTimes(pool, A, 1);
    expect(pool.status()[0]).toMatchObject({ state: 'open', consecutiveFailures: 3 });
    expect(pool.pick(new Set([B]))).toBeUndefined();
    clock.advance(9_999);
    expect(pool.pick(new Set([B]))).toBeUndefined();
  });

  it('half-opens after the cooldown: one trial; success closes it', () => {
    const clock = new ManualClock('2026-11-26T00:00:00Z');
    const pool = new NodePool([A, B], { clock, cooldownMs: 10_000 });
    failTimes(pool, A, 3);
    clock.advance(10_000);
    expect(pool.status()[0]?.state).toBe('half-open');
    // The trial goes first, even though B is healthy, so a recovered node gets traffic again.
    expect(pool.pick()?.url).toBe(A);
    expect(pool.pick(new Set([B]))).toBeUndefined(); // only one trial at a time
    pool.success(A, 5);
    expect(pool.status()[0]).toMatchObject({ state: 'closed', consecutiveFailures: 0, inFlight: 0 });
  });

  it('a failed trial re-opens it for another full cooldown', () => {
    const clock = new ManualClock('2026-11-26T00:00:00Z');
    const pool = new NodePool([A, B], { clock, cooldownMs: 10_000 });
    failTimes(pool, A, 3);
    clock.advance(10_000);
    expect(pool.pick()?.url).toBe(A);
    pool.failure(A);
    expect(pool.status()[0]?.state).toBe('open');
    clock.advance(9_000);
    expect(pool.pick(new Set([B]))).toBeUndefined();
    clock.advance(1_000);
    expect(pool.pick()?.url).toBe(A);
  });

  it('with every node open, lets the one open longest have its trial early, one at a time', () => {
    const clock = new ManualClock('2026-11-26T00:00:00Z');
    const pool = new NodePool([A, B], { clock, cooldownMs: 10_000 });
    failTimes(pool, A, 3);
    clock.advance(1_000);
    // While B is usable, A sits its cooldown out, even for a request that already tried B.
    expect(pool.pick(new Set([B]))).toBeUndefined();
    failTimes(pool, B, 3);
    // Now none is: the pool is not left refusing everything for 10 s once the nodes are well.
    expect(pool.pick()?.url).toBe(A);
    expect(pool.pick()?.url).toBe(B);
    expect(pool.pick()).toBeUndefined(); // each has its one trial in flight
    pool.success(A, 5);
    expect(pool.status()[0]).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    pool.failure(B); // B's trial failed: open again, from now
    expect(pool.pick(new Set([A]))).toBeUndefined(); // A is usable, so B waits its cooldown
  });

  it('an aborted trial lets the next request try again', () => {
    const clock = new ManualClock('2026-11-26T00:00:00Z');
    const pool = new NodePool([A], { clock, failureThreshold: 1, cooldownMs: 1_000 });
    failTimes(pool, A, 1);
    clock.advance(1_000);
    expect(pool.pick()?.url).toBe(A);
    pool.release(A);
    expect(pool.pick()?.url).toBe(A);
  });

  it('a success resets the consecutive count', () => {
    const pool = new NodePool([A], { clock: new ManualClock('2026-11-26T00:00:00Z') });
    failTimes(pool, A, 2);
    pool.pick();
    pool.success(A, 1);
    failTimes(pool, A, 2);
    expect(pool.status()[0]?.state).toBe('closed');
  });
});

describe('NodePool.pick', () => {
  it('prefers the lower latency EWMA, and spreads load over nodes in flight', () => {
    const pool = new NodePool([A, B]);
    pool.pick(new Set([B]));
    pool.success(A, 50);
    pool.pick(new Set([A]));
    pool.success(B, 5);
    expect(pool.pick()?.url).toBe(B);
    expect(pool.pick()?.url).toBe(B); // B: (5+1)×2 = 12 < A: 51
    expect(pool.status().find((s) => s.url === B)?.inFlight).toBe(2);
  });

  it('skips nodes that do not serve the model, and excluded ones', () => {
    const pool = new NodePool([
      { url: A, models: ['m1'] },
      { url: `${B}/v1/`, models: ['m2'] },
    ]);
    expect(pool.pick(undefined, 'm2')?.url).toBe(B);
    expect(pool.pick(new Set([B]), 'm2')).toBeUndefined();
    expect(pool.serves('m3')).toBe(false);
  });
});

describe('NodePool discovery', () => {
  it('finds every simulator node, with addresses and models, from one seed', async () => {
    const sim = await startSimulator({ nodes: 3 });
    try {
      const pool = await NodePool.discover(sim.urls[2] as string);
      expect(pool.nodes().map((n) => n.url)).toEqual(sim.urls);
      expect(pool.nodes().map((n) => n.address)).toEqual(sim.nodes.map((n) => n.address));
      expect(pool.serves('Qwen/QwQ-32B')).toBe(true);
      expect(pool.serves('other/model')).toBe(false);
      await pool.refresh();
      expect(pool.size).toBe(3);
    } finally {
      await sim.close();
    }
  });

  it('falls back to the next seed when the first is down, and fails when all are', async () => {
    const sim = await startSimulator({ nodes: 2 });
    try {
      const pool = await NodePool.discover(['http://127.0.0.1:9', sim.urls[0] as string], {
        discoveryTimeoutMs: 2_000,
      });
      expect(pool.size).toBe(2);
    } finally {
      await sim.close();
    }
    await expect(NodePool.discover('http://127.0.0.1:9', { discoveryTimeoutMs: 2_000 })).rejects.toThrow(
      /node discovery failed/,
    );
  });

  it('reads a real participant list: skips one without a URL (omitempty) and the excluded ones', async () => {
    // As a node serves it: proto fields with omitempty, and the epoch's exclusions beside the list.
    const list = {
      active_participants: {
        participants: [
          {
            index: 'gonka1aaa',
            validator_key: 'x=',
            weight: 10,
            inference_url: 'http://a.test/v1',
            models: ['m'],
          },
          { index: 'gonka1bbb', validator_key: 'y=', weight: 5, models: ['m'] },
          { index: 'gonka1ccc', weight: 7, inference_url: 'http://c.test', models: ['m'] },
          { weight: 3, inference_url: 'http://d.test', models: ['m'] },
        ],
      },
      excluded_participants: [{ address: 'gonka1ccc', reason: 'jailed' }],
    };
    const seed = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(list));
    });
    await new Promise<void>((r) => seed.listen(0, '127.0.0.1', r));
    try {
      const pool = await NodePool.discover(`http://127.0.0.1:${(seed.address() as AddressInfo).port}`);
      expect(pool.nodes()).toEqual([{ url: 'http://a.test', address: 'gonka1aaa', models: ['m'] }]);
    } finally {
      seed.close();
    }
  });

  it('looks up a node address from the node itself when configured by URL only', async () => {
    const sim = await startSimulator({ nodes: 2 });
    try {
      const pool = new NodePool([sim.urls[1] as string]);
      expect(await pool.addressOf(sim.urls[1] as string)).toBe(sim.nodes[1]?.address);
      expect(pool.nodes()[0]?.address).toBe(sim.nodes[1]?.address);
    } finally {
      await sim.close();
    }
  });
});
