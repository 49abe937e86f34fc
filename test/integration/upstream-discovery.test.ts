import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';
import { PARTICIPANTS_PATH } from '../../shared/gonka/index.js';
import { SIM_MODEL_QWQ_32B, type Simulator, startSimulator } from '../../shared/gonka/simulator/index.js';
import { createUpstream, type Upstream } from '../../shared/upstream.js';
import { createTestEnv } from '../helpers/context.js';
import { capturedLogger } from '../helpers/logs.js';
import { waitFor } from '../helpers/wait.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ nodes: 3, auth: 'signed' });
});
afterAll(() => sim?.close());

const KEY = '44'.repeat(32);

/** The upstream's nodes, sorted. */
const urlsOf = (upstream: Upstream) =>
  upstream.pool
    .nodes()
    .map((n) => n.url)
    .sort();

describe('the upstream at start-up', () => {
  it('with GONKA_DISCOVERY, calls every participant its seed lists, and signs for each', async () => {
    const env = await createTestEnv({ env: { GONKA_DISCOVERY: 'true', GONKA_PRIVATE_KEY: KEY } });
    const upstream = await createUpstream(env.ctx, [sim.urls[1]!]);
    try {
      expect(urlsOf(upstream)).toEqual([...sim.urls].sort());
      expect(upstream.pool.nodes().every((n) => n.address?.startsWith('gonka1'))).toBe(true);
      for (let i = 0; i < 6; i++) {
        const r = await upstream.client.chat({
          model: SIM_MODEL_QWQ_32B,
          messages: [{ role: 'user', content: `hi ${i}` }],
          max_tokens: 2,
        });
        expect(r.usage.completion_tokens).toBeGreaterThan(0);
      }
    } finally {
      await upstream.close();
      await env.close();
    }
  });

  it('with GONKA_DISCOVERY and no seed answering at start, serves from the seeds and finds the participants later', async () => {
    const port = await freePort();
    const seed = `http://127.0.0.1:${port}`; // nothing answers there yet
    const env = await createTestEnv({ env: { GONKA_DISCOVERY: 'true', PRICING_REFRESH_SECONDS: '1' } });
    const upstream = await createUpstream(env.ctx, [seed]);
    // Then the seed answers, listing the network's participants.
    const participants = await (await fetch(`${sim.urls[0]}${PARTICIPANTS_PATH}`)).text();
    const seedNode = createServer((_req, res) => res.end(participants)).listen(port, '127.0.0.1');
    try {
      expect(upstream.pool.nodes().map((n) => n.url)).toEqual([seed]);
      await waitFor('participants found', async () => upstream.pool.size === sim.urls.length, 10_000);
      expect(urlsOf(upstream)).toEqual([...sim.urls].sort());
    } finally {
      seedNode.close();
      await upstream.close();
      await env.close();
    }
  });

  it('in signed mode, signs for a node given as url;address, whatever URL its participant list names it by', async () => {
    const { logger, lines } = capturedLogger('info');
    const env = await createTestEnv({ env: { GONKA_PRIVATE_KEY: KEY }, logger });
    // Its list names it by 127.0.0.1: reached here (as behind a proxy) by another name.
    const proxied = sim.urls[0]!.replace('127.0.0.1', 'localhost');
    const upstream = await createUpstream(env.ctx, [`${proxied};${sim.nodes[0]!.address}`]);
    try {
      expect(lines.filter((l) => l.level === 50 || l.level === 60)).toEqual([]);
      expect(upstream.pool.nodes()).toMatchObject([{ url: proxied, address: sim.nodes[0]!.address }]);
      const r = await upstream.client.chat({
        model: SIM_MODEL_QWQ_32B,
        messages: [{ role: 'user', content: 'via a proxy' }],
        max_tokens: 2,
      });
      expect(r.node).toBe(proxied);
    } finally {
      await upstream.close();
      await env.close();
    }
  });

  it('in signed mode, names at start a node given a transfer address its participant list does not', async () => {
    // gonka32: such a node refuses every request signed for it, and nothing said why.
    const { logger, lines } = capturedLogger('info');
    const env = await createTestEnv({ env: { GONKA_PRIVATE_KEY: KEY }, logger });
    const upstream = await createUpstream(env.ctx, [`${sim.urls[1]!};${sim.nodes[0]!.address}`]);
    try {
      expect(lines.filter((l) => l.level === 50)).toMatchObject([
        {
          msg: expect.stringMatching(/^the transfer address GONKA_NODES gives this node is not/),
          node: sim.urls[1],
          configured: sim.nodes[0]!.address,
          listed: sim.nodes[1]!.address,
        },
      ]);
    } finally {
      await upstream.close();
      await env.close();
    }
  });

  it('in signed mode, names at start a node it cannot sign for (its URL not in its participant list)', async () => {
    const { logger, lines } = capturedLogger('info');
    const env = await createTestEnv({ env: { GONKA_PRIVATE_KEY: KEY }, logger });
    const stranger = sim.urls[0]!.replace('127.0.0.1', 'localhost');
    const upstream = await createUpstream(env.ctx, [stranger, sim.urls[1]!]);
    try {
      const errors = lines.filter((l) => l.level === 50);
      expect(errors).toMatchObject([
        { msg: expect.stringMatching(/^no transfer address for this node/), node: stranger },
      ]);
    } finally {
      await upstream.close();
      await env.close();
    }
  });
});
