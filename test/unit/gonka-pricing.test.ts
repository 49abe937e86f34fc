import { afterEach, describe, expect, it } from 'vitest';
import { NodePool } from '../../shared/gonka/node-pool.js';
import { PricingCache } from '../../shared/gonka/pricing-cache.js';
import { pricingResponseSchema } from '../../shared/gonka/protocol.js';
import {
  SIM_MODEL_QWEN3_235B,
  SIM_MODEL_QWQ_32B,
  type Simulator,
  startSimulator,
} from '../../shared/gonka/simulator/index.js';

let sim: Simulator | undefined;
let cache: PricingCache | undefined;
afterEach(async () => {
  cache?.stop();
  await sim?.close();
});

describe('PricingCache', () => {
  it('loads nGNK-per-token prices as bigints and picks up a changed price on refresh', async () => {
    sim = await startSimulator({ nodes: 2 });
    cache = new PricingCache({ pool: new NodePool(sim.urls) });
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBeUndefined();
    await cache.start();
    expect(cache.price(SIM_MODEL_QWEN3_235B)).toBe(10n);
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBe(5n);
    expect(cache.models()).toHaveLength(2);

    sim.setPrice(SIM_MODEL_QWQ_32B, 7n);
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBe(5n);
    await cache.refresh();
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBe(7n);
  });

  it('says and counts a broker refusing its token, which leaves every model without a price', async () => {
    sim = await startSimulator({ nodes: 1, auth: 'bearer', bearerToken: 'right-token' });
    const pool = new NodePool(sim.urls);
    const logged: { fields: unknown; msg: string }[] = [];
    const logger = { error: (fields: unknown, msg: string) => logged.push({ fields, msg }) };
    cache = new PricingCache({ pool, headers: { authorization: 'Bearer wrong' }, logger: logger as never });
    await expect(cache.start()).rejects.toThrow(/HTTP 401/);
    // gonka32: the refusal showed nowhere an operator alerts (only a warning saying "HTTP 401").
    expect(pool.status()[0]).toMatchObject({ credentialRefusals: 1, failures: 0 });
    expect(logged).toEqual([
      { fields: expect.objectContaining({ status: 401 }), msg: expect.stringMatching(/check GONKA_API_KEY/) },
    ]);
    expect(cache.updatedAt).toBeNull();
  });

  it('refreshes on its interval', async () => {
    sim = await startSimulator({ nodes: 1 });
    cache = new PricingCache({ pool: new NodePool(sim.urls), intervalMs: 30 });
    await cache.start();
    sim.setPrice(SIM_MODEL_QWEN3_235B, 12n);
    await expect.poll(() => cache?.price(SIM_MODEL_QWEN3_235B), { timeout: 2_000 }).toBe(12n);
  });

  it('asks another node when one is down, and keeps the last prices when all are', async () => {
    sim = await startSimulator({ nodes: 1 });
    const pool = new NodePool(['http://127.0.0.1:9', ...sim.urls]);
    cache = new PricingCache({ pool, timeoutMs: 2_000 });
    await cache.refresh();
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBe(5n);

    await sim.close();
    await expect(cache.refresh()).rejects.toThrow();
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBe(5n);
  });

  it("sends a broker's bearer token with its reads", async () => {
    sim = await startSimulator({ nodes: 1, auth: 'bearer', bearerToken: 'broker-token' });
    const pool = new NodePool(sim.urls);
    await expect(new PricingCache({ pool }).refresh()).rejects.toThrow(/HTTP 401/);
    cache = new PricingCache({ pool, headers: { authorization: 'Bearer broker-token' } });
    await cache.refresh();
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBe(5n);
  });

  it("leaves the nodes' health for completions alone: a tripped node stays tripped", async () => {
    sim = await startSimulator({ nodes: 1 });
    const pool = new NodePool(sim.urls);
    for (let i = 0; i < 3; i++) pool.failure(sim.urls[0]!); // its completions failed
    cache = new PricingCache({ pool });
    await cache.refresh();
    expect(cache.price(SIM_MODEL_QWQ_32B)).toBe(5n);
    expect(pool.status()[0]).toMatchObject({
      state: 'open',
      consecutiveFailures: 3,
      latencyEwmaMs: undefined,
    });
  });

  it('reads the older `model_id` field and digit-string prices exactly', () => {
    const parsed = pricingResponseSchema.parse({
      unit_of_compute_price: 2,
      models: [{ model_id: 'm', units_of_compute_per_token: 3, price_per_token: '9007199254740993' }],
    });
    expect(parsed.models[0]?.price_per_token).toBe(9_007_199_254_740_993n);
    expect(() => pricingResponseSchema.parse({ models: [{ price_per_token: 1 }] })).toThrow();
  });
});
