import { beforeEach, describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { startBatch } from '../helpers/batches.js';
import { createCustomer } from '../helpers/customer.js';
import { capturedLogger } from '../helpers/logs.js';
import { healthyNodes, useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const { logger, lines } = capturedLogger('debug');
const stack = useTestStack({ workers: false, logger });

beforeEach(() => healthyNodes(stack));

/** A sync chat with the request id given, read to its end. */
async function chat(key: string, requestId: string, body: Record<string, unknown>): Promise<number> {
  const res = await fetch(`${stack.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'x-request-id': requestId,
    },
    body: JSON.stringify({ model: SIM_MODEL_QWQ_32B, max_tokens: 30, ...body }),
  });
  await res.text();
  return res.status;
}

const logged = (msg: string) => waitFor(`"${msg}" logged`, () => lines.find((l) => l.msg === msg));

describe('what a request logs while it is served carries its request id', () => {
  it('a sync stream whose node broke it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const messages = [{ role: 'user', content: 'Tell me a long story [[sim cut=3]]' }];
    expect(await chat(c.childKey, 'stream-cut', { messages, stream: true })).toBe(200);
    expect(await logged('upstream stream broke')).toMatchObject({ requestId: 'stream-cut' });
  });

  it('a node a sync chat failed over from', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    stack.sim.nodes[0]!.setFaults({ status: 503 });
    expect(await chat(c.childKey, 'failed-over', { messages: [{ role: 'user', content: 'hi' }] })).toBe(200);
    // Failover absorbed it: worth a warning, not an error.
    expect(await logged('gonka node failed')).toMatchObject({ requestId: 'failed-over', level: 40 });
  });

  it('a batch created', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const batchId = await startBatch(stack.server.url, c.childKey, 2, '', { 'x-request-id': 'new-batch' });
    expect(await logged('batch created')).toMatchObject({ batchId, requestId: 'new-batch' });
  });
});
