import { afterEach, describe, expect, it } from 'vitest';
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

  it('treats a 401 as final: another node would refuse the same credentials', async () => {
    sim = await startSimulator({ nodes: 2, auth: 'bearer', bearerToken: 'right-token' });
    const pool = new NodePool(sim.urls);
    const c = new GonkaClient({ pool, mode: 'signed', privateKeyHex: KEY });
    // Nodes that want a bearer token refuse the signature; the address lookup still works (public list).
    const logged: unknown[] = [];
    const logger = { error: (fields: unknown, msg: string) => logged.push({ fields, msg }) };
    const err = await c.chat(body('x'), { log: { logger } as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GonkaUpstreamError);
    expect(err).toMatchObject({ status: 401, retryable: false });
    expect(sim.nodes[1]?.stats.requests).toBe(0);
    // Not a success that hides it: counted as the gateway's credentials refused, and said so.
    const refused = pool.status().find((n) => n.url === sim!.urls[0]);
    expect(refused).toMatchObject({ calls: 1, failures: 0, credentialRefusals: 1, state: 'closed' });
    expect(logged).toEqual([
      {
        fields: expect.objectContaining({ status: 401 }),
        msg: expect.stringMatching(/refused the gateway’s credentials/),
      },
    ]);
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
