import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { ApiError } from '../../shared/errors.js';
import { NodePool } from '../../shared/gonka/node-pool.js';
import { PricingCache } from '../../shared/gonka/pricing-cache.js';
import { SIM_MODEL_QWQ_32B, type Simulator, startSimulator } from '../../shared/gonka/simulator/index.js';
import { chatCompletionBody, prepareChat } from '../../shared/inference/chat-request.js';
import { ModelCatalog } from '../../shared/models.js';

const quiet = () => {};
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** What prepareChat throws for `model`, as the client would read it. */
function refusal(models: ModelCatalog, model: string, config = loadConfig({}, quiet)) {
  const body = chatCompletionBody.parse({ model, messages: [{ role: 'user', content: 'hi' }] });
  try {
    prepareChat(body, models, config);
  } catch (err) {
    if (err instanceof ApiError) return { type: err.type, code: err.extra.code, headers: err.headers };
    throw err;
  }
  return null;
}

describe('a model the catalogue cannot price', () => {
  it('is unavailable (503, Retry-After) until the nodes’ prices are known, then served or unknown', async () => {
    sim = await startSimulator({ nodes: 1 });
    const config = loadConfig({}, quiet);
    const pricing = new PricingCache({ pool: new NodePool(sim.urls) });
    const models = new ModelCatalog(config, pricing);
    for (const model of [SIM_MODEL_QWQ_32B, 'no/such-model'])
      expect(refusal(models, model)).toEqual({
        type: 'upstream_unavailable',
        code: undefined,
        headers: { 'retry-after': '1' },
      });
    await pricing.refresh();
    expect(refusal(models, SIM_MODEL_QWQ_32B)).toBeNull();
    expect(refusal(models, 'no/such-model')).toMatchObject({
      type: 'invalid_request_error',
      code: 'model_not_found',
    });
  });

  it('with aliases: an alias whose model has no price waits for the nodes; a name that is no alias is unknown', async () => {
    sim = await startSimulator({ nodes: 1 });
    const config = loadConfig({ MODEL_ALIASES: `fast=${SIM_MODEL_QWQ_32B},gone=retired/model` }, quiet);
    const pricing = new PricingCache({ pool: new NodePool(sim.urls) });
    await pricing.refresh();
    const models = new ModelCatalog(config, pricing);
    expect(refusal(models, 'fast', config)).toBeNull();
    expect(refusal(models, 'gone', config)).toMatchObject({ type: 'upstream_unavailable' });
    expect(refusal(models, SIM_MODEL_QWQ_32B, config)).toMatchObject({ code: 'model_not_found' });
  });
});
