import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import {
  addressFromPrivateKey,
  GonkaClient,
  GonkaUpstreamError,
  NodePool,
} from '../../shared/gonka/index.js';
import { SIM_MODEL_QWQ_32B, type Simulator, startSimulator } from '../../shared/gonka/simulator/index.js';

const KEY = '44'.repeat(32);
const body = (content: string, extra: Record<string, unknown> = {}) => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  ...extra,
});

let sim: Simulator | undefined;
afterEach(() => sim?.close());

describe('GonkaClient signed mode', () => {
  it('signs each request for the node it goes to, and the node accepts it', async () => {
    sim = await startSimulator({ nodes: 2, auth: 'signed' });
    const c = new GonkaClient({
      pool: await NodePool.discover(sim.urls[0] as string),
      mode: 'signed',
      privateKeyHex: KEY,
    });
    expect(c.requesterAddress).toBe(addressFromPrivateKey(KEY));
    const r = await c.chat(body('signed'));
    expect(r.usage.completion_tokens).toBeGreaterThan(0);
    const s = await c.chatStream(body('signed stream'));
    for await (const _ of s.chunks);
    expect(s.usage()).not.toBeNull();
  });

  it('never repeats a signature, even for identical bodies sent at once', async () => {
    sim = await startSimulator({ nodes: 1, auth: 'signed' });
    const c = new GonkaClient({
      pool: await NodePool.discover(sim.urls[0] as string),
      mode: 'signed',
      privateKeyHex: KEY,
    });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.chat(body('same body'))));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(sim.nodes[0]?.stats).toMatchObject({ served: 20, errors: 0 });
  });

  it('finds the transfer address of a node configured by URL only', async () => {
    sim = await startSimulator({ nodes: 2, auth: 'signed' });
    const c = new GonkaClient({
      pool: new NodePool([sim.urls[1] as string]),
      mode: 'signed',
      privateKeyHex: KEY,
    });
    expect((await c.chat(body('by url'))).node).toBe(sim.urls[1]);
  });

  it('tries each node within its budget on a 401, counting and saying each refusal', async () => {
    sim = await startSimulator({ nodes: 2, auth: 'bearer', bearerToken: 'right-token' });
    const pool = new NodePool(sim.urls);
    const c = new GonkaClient({ pool, mode: 'signed', privateKeyHex: KEY });
    // Nodes that want a bearer token refuse the signature; the address lookup still works (public list).
    const logged: unknown[] = [];
    const logger = { error: (fields: unknown, msg: string) => logged.push({ fields, msg }) };
    const err = await c.chat(body('x'), { log: { logger } as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GonkaUpstreamError);
    expect(err).toMatchObject({ status: 401, refusal: 'credentials' });
    // A refusal may be one node's own (gonka32): the other was asked too, and both are counted.
    for (const node of pool.status())
      expect(node).toMatchObject({ calls: 1, failures: 1, credentialRefusals: 1 });
    expect(logged).toEqual(
      Array(2).fill({
        fields: expect.objectContaining({ status: 401 }),
        msg: expect.stringMatching(/refused the gateway’s credentials/),
      }),
    );
  });
});

describe('refusals of the gateway in the log', () => {
  it('are logged once per node and kind, then once a minute with a count of the rest', async () => {
    // A wrong key under load was an error line per node per request (review33).
    sim = await startSimulator({ nodes: 2, auth: 'bearer', bearerToken: 'right-token' });
    const clock = new ManualClock('2026-12-06T12:00:00Z');
    const pool = new NodePool(sim.urls, { clock });
    const c = new GonkaClient({ pool, mode: 'bearer', bearerToken: 'wrong-token' });
    const logged: { fields: Record<string, unknown>; msg: string }[] = [];
    const logger = { error: (fields: Record<string, unknown>, msg: string) => logged.push({ fields, msg }) };
    const refused = () => c.chat(body('x'), { log: { logger } as never }).catch(() => null);
    for (let i = 0; i < 5; i++) await refused();
    expect(logged).toHaveLength(2);
    expect(pool.status().map((n) => n.credentialRefusals)).toEqual([5, 5]);
    clock.advance(60_000);
    await refused();
    expect(logged.length).toBeGreaterThan(2);
    expect(logged.at(-1)?.fields.notLoggedSince).toBe(4);
  });
});

describe('GonkaClient bearer mode', () => {
  it('sends the bearer token', async () => {
    sim = await startSimulator({ nodes: 1, auth: 'bearer', bearerToken: 'right-token' });
    const ok = new GonkaClient({ pool: new NodePool(sim.urls), mode: 'bearer', bearerToken: 'right-token' });
    expect((await ok.chat(body('x'))).node).toBe(sim.urls[0]);
    const wrong = new GonkaClient({
      pool: new NodePool(sim.urls),
      mode: 'bearer',
      bearerToken: 'wrong-token',
    });
    await expect(wrong.chat(body('x'))).rejects.toMatchObject({ status: 401 });
  });

  it('refuses to start without the credential its mode needs', () => {
    const pool = new NodePool([]);
    expect(() => new GonkaClient({ pool, mode: 'bearer' })).toThrow(/bearerToken/);
    expect(() => new GonkaClient({ pool, mode: 'signed' })).toThrow(/privateKeyHex/);
  });
});
