import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import {
  GonkaClient,
  GonkaUnavailableError,
  GonkaUpstreamError,
  NodePool,
  stripForcedFields,
} from '../../shared/gonka/index.js';
import { SIM_MODEL_QWQ_32B, type Simulator, startSimulator } from '../../shared/gonka/simulator/index.js';

type Json = Record<string, any>;
const body = (content: string, extra: Json = {}): Json => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  ...extra,
});

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ nodes: 2 });
});
afterAll(() => sim.close());
beforeEach(() => {
  for (const n of sim.nodes) {
    n.setFaults({});
    n.resetStats();
  }
});

/** A fresh pool lists node 0 first; with no latency history it is picked first. */
const client = (opts: { timeoutMs?: number; clock?: ManualClock } = {}) =>
  new GonkaClient({
    pool: new NodePool(sim.urls, { clock: opts.clock }),
    mode: 'none',
    timeoutMs: opts.timeoutMs,
  });

describe('GonkaClient.chat', () => {
  it('returns the completion, its usage and the node that served', async () => {
    const r = await client().chat(body('What is an epoch?', { max_tokens: 6 }));
    expect(r.node).toBe(sim.urls[0]);
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 6 });
    // As the node sent it: logprobs forced on, one per token.
    expect((r.completion.choices as Json[])[0]!.logprobs.content).toHaveLength(6);
  });

  it('nulls forced logprobs unless the client asked for them, as OpenAI sends them', async () => {
    const asked = body('hi', { logprobs: true, max_tokens: 4 });
    const a = await client().chat(asked);
    expect(stripForcedFields(a.completion, asked)).toEqual({ drop: false });
    // The node's forced five alternatives per token, cut to what the client asked: none unset.
    const alternatives = (r: { completion: Json }) =>
      ((r.completion.choices as Json[])[0]!.logprobs.content as Json[]).map((t) => t.top_logprobs.length);
    const tokens = (a.completion.choices as Json[])[0]!.logprobs.content as Json[];
    expect(tokens).toHaveLength(4);
    for (const t of tokens) expect(t.top_logprobs).toEqual([]);
    const two = body('hi', { logprobs: true, top_logprobs: 2, max_tokens: 4 });
    const b2 = await client().chat(two);
    expect(alternatives(b2)).toEqual([5, 5, 5, 5]);
    stripForcedFields(b2.completion, two);
    expect(alternatives(b2)).toEqual([2, 2, 2, 2]);
    // Five at least, as a node forces them; more when asked.
    const eight = body('hi', { logprobs: true, top_logprobs: 8, max_tokens: 2 });
    const b8 = await client().chat(eight);
    stripForcedFields(b8.completion, eight);
    expect(alternatives(b8)).toEqual([8, 8]);
    const plain = body('hi');
    const b = await client().chat(plain);
    stripForcedFields(b.completion, plain);
    expect((b.completion.choices as Json[])[0]).toHaveProperty('logprobs', null);
  });

  it('fails over from a node answering 503 "no executors"', async () => {
    sim.nodes[0]?.setFaults({ status: 503 });
    const r = await client().chat(body('hello'));
    expect(r.node).toBe(sim.urls[1]);
    expect(sim.nodes[0]?.stats.errors).toBe(1);
  });

  it('fails over from a node answering 429 "capacity reached"', async () => {
    sim.nodes[0]?.setFaults({ status: 429, failNext: 1 });
    const r = await client().chat(body('hello'));
    expect(r.node).toBe(sim.urls[1]);
    expect(sim.nodes[0]?.stats).toMatchObject({ requests: 1, errors: 1 });
  });

  it('fails over from a node that is too slow, and from one that refuses connections', async () => {
    sim.nodes[0]?.setFaults({ latencyMs: 2_000 });
    const slow = await client({ timeoutMs: 300 }).chat(body('x'));
    expect(slow.node).toBe(sim.urls[1]);
    expect(sim.nodes[0]?.stats.requests).toBe(1);
    sim.nodes[0]?.setFaults({});

    const dead = new GonkaClient({ pool: new NodePool(['http://127.0.0.1:9', ...sim.urls]), mode: 'none' });
    expect((await dead.chat(body('x'))).node).not.toBe('http://127.0.0.1:9');
  });

  it('says when every attempt timed out, as it does not for nodes out of reach', async () => {
    for (const n of sim.nodes) n.setFaults({ latencyMs: 1_000 });
    const slow = await client({ timeoutMs: 100 })
      .chat(body('x'))
      .catch((e: unknown) => e);
    expect(slow).toMatchObject({ status: null, attempts: 2, timedOut: true });
    const dead = new GonkaClient({ pool: new NodePool(['http://127.0.0.1:9']), mode: 'none' });
    expect(await dead.chat(body('x')).catch((e: unknown) => e)).toMatchObject({
      status: null,
      timedOut: false,
    });
  });

  it('fails over from a node that cuts its JSON answer mid-body', async () => {
    // Headers promise 2000 bytes, half arrive, then the socket closes: not an answer to bill.
    const cutter = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2000' });
      res.write('{"id":"x","choices":[', () => res.destroy());
    });
    await new Promise<void>((resolve) => cutter.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(cutter.address() as AddressInfo).port}`;
      const c = new GonkaClient({ pool: new NodePool([url, sim.urls[1]!]), mode: 'none' });
      const r = await c.chat(body('x'));
      expect(r.node).toBe(sim.urls[1]);
      expect(r.usage.completion_tokens).toBeGreaterThan(0);
    } finally {
      cutter.closeAllConnections();
      cutter.close();
    }
  });

  it('fails over on a fault directive the gateway forwarded untouched, until attempts run out', async () => {
    // The directive travels with the body, so every node answers 503 and both attempts fail.
    const err = await client()
      .chat(body('x [[sim status=503]]'))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, attempts: 2 });
    expect(sim.nodes.map((n) => n.stats.requests)).toEqual([1, 1]);
  });

  it('throws GonkaUpstreamError with the last status when every node fails', async () => {
    for (const n of sim.nodes) n.setFaults({ status: 503 });
    const err = await client()
      .chat(body('hello'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GonkaUpstreamError);
    expect(err).toMatchObject({ status: 503, attempts: 2, retryable: true });
  });

  it('passes a refusal of the request through without failing over', async () => {
    const err = await client()
      .chat({ ...body('x'), max_tokens: 0 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, retryable: false, refusal: null });
    // A Gonka node's own error body is {"error": "<words>"}: read into the message for the logs.
    expect((err as GonkaUpstreamError).body).toEqual({ error: 'max_tokens must be a positive integer' });
    expect((err as GonkaUpstreamError).message).toMatch(
      /answered 400: max_tokens must be a positive integer$/,
    );
    expect(sim.nodes[1]?.stats.requests).toBe(0);
  });

  it('fails over from a node that may not act as transfer agent (403), counting it failed', async () => {
    sim.nodes[0]?.setFaults({ status: 403 });
    const pool = new NodePool(sim.urls);
    const r = await new GonkaClient({ pool, mode: 'none' }).chat(body('hello'));
    expect(r.node).toBe(sim.urls[1]);
    // Its breaker counts it, so the allow-list's outsider stops being picked.
    expect(pool.status()[0]).toMatchObject({ failures: 1, credentialRefusals: 0 });
  });

  it('fails over from a node refusing the gateway’s Gonka account (402), telling the operator', async () => {
    // One node's refusal may be its own (its view of the chain lagging): the next node serves.
    sim.nodes[0]?.setFaults({ status: 402 });
    const logged: { fields: unknown; msg: string }[] = [];
    const logger = { error: (fields: unknown, msg: string) => logged.push({ fields, msg }) };
    const pool = new NodePool(sim.urls);
    const c = new GonkaClient({ pool, mode: 'none' });
    const r = await c.chat(body('hello'), { log: { logger } as never });
    expect(r.node).toBe(sim.urls[1]);
    expect(logged).toEqual([
      { fields: expect.objectContaining({ status: 402 }), msg: expect.stringMatching(/top up/) },
    ]);
    // Counted, but no verdict on the node: whether an escrow fits is the request's size (review33).
    expect(pool.status()[0]).toMatchObject({ failures: 0, credentialRefusals: 1, state: 'closed' });
    // Every node refusing (the account really short): the refusal is what the caller gets.
    sim.nodes[1]?.setFaults({ status: 402 });
    const err = await c.chat(body('hello')).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 402, refusal: 'account' });
  });

  it('never trips a node’s breaker for the account’s refusals: they are the request’s size, not the node', async () => {
    // review33: one tenant's large requests refused by every node opened every breaker, and the
    // others' requests were refused meanwhile.
    sim.nodes[0]?.setFaults({ status: 402 });
    const pool = new NodePool(sim.urls);
    const c = new GonkaClient({ pool, mode: 'none' });
    for (let i = 0; i < 6; i++) expect((await c.chat(body('hello'))).node).toBe(sim.urls[1]);
    expect(pool.status()[0]).toMatchObject({ state: 'closed', failures: 0, credentialRefusals: 6 });
  });

  it.each([
    ['its executor’s timestamp check (a hop later)', 400, 'Request timestamp is too old', null],
    ['a prompt hash its executor disagrees with', 400, 'Prompt hash mismatch', null],
  ])('fails over from a node refusing for %s: not the request’s fault', async (_what, status, said) => {
    const refusing = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: said }));
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
      const r = await new GonkaClient({
        pool: new NodePool([url, sim.urls[1] as string]),
        mode: 'none',
      }).chat(body('hello'));
      expect(r.node).toBe(sim.urls[1]);
      // Alone, it ends as the node's failure, the refusal kept for the client's answer.
      const alone = await new GonkaClient({ pool: new NodePool([url]), mode: 'none' })
        .chat(body('hello'))
        .catch((e: unknown) => e);
      expect(alone).toMatchObject({ status, retryable: true });
    } finally {
      refusing.close();
    }
  });

  it('stops at a 404 "model not found" for a model it asked for: the chain has no executor, every node would say so', async () => {
    const pool = new NodePool(sim.urls);
    const err = await new GonkaClient({ pool, mode: 'none' })
      .chat({ ...body('x'), model: 'no/such-model' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 404, retryable: false, refusal: 'unserved' });
    expect(sim.nodes[1]?.stats.requests).toBe(0);
    // No verdict against the node: a stale model must not sideline healthy nodes.
    expect(pool.status()[0]).toMatchObject({ failures: 0 });
  });

  it('fails over, signing afresh, from a node refusing the signature’s time or reuse (a 400 not the request’s)', async () => {
    // A node whose chain clock is behind ours, or that saw the signature already: its 400s blame
    // the gateway, not the request, and a fresh signature to another node passes.
    const refusing = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'AuthKey has already been used for a transfer request' }));
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
      const pool = new NodePool([url, sim.urls[1] as string]);
      const logged: { fields: unknown; msg: string }[] = [];
      const logger = { error: (fields: unknown, msg: string) => logged.push({ fields, msg }) };
      const r = await new GonkaClient({ pool, mode: 'none' }).chat(body('hello'), {
        log: { logger } as never,
      });
      expect(r.node).toBe(sim.urls[1]);
      // Against the node too (its view of the chain may lag), and counted as the gateway's refusal.
      expect(pool.status()[0]).toMatchObject({ failures: 1, credentialRefusals: 1 });
      expect(logged).toEqual([
        { fields: expect.objectContaining({ status: 400 }), msg: expect.stringMatching(/clock/) },
      ]);
    } finally {
      refusing.close();
    }
  });

  it('throws GonkaUnavailableError when there is no node, or none serves the model', async () => {
    const empty = new GonkaClient({ pool: new NodePool([]), mode: 'none' });
    await expect(empty.chat(body('x'))).rejects.toBeInstanceOf(GonkaUnavailableError);
    const discovered = new GonkaClient({
      pool: await NodePool.discover(sim.urls[0] as string),
      mode: 'none',
    });
    await expect(discovered.chat({ ...body('x'), model: 'no/such-model' })).rejects.toBeInstanceOf(
      GonkaUnavailableError,
    );
  });

  it('stops sending to a node once its breaker opens, and trials it after the cooldown', async () => {
    const clock = new ManualClock('2026-11-26T00:00:00Z');
    const c = client({ clock });
    sim.nodes[0]?.setFaults({ status: 500 });
    for (let i = 0; i < 5; i++) expect((await c.chat(body(`r${i}`))).node).toBe(sim.urls[1]);
    expect(sim.nodes[0]?.stats.requests).toBe(3); // threshold 3, then open
    clock.advance(10_000);
    sim.nodes[0]?.setFaults({});
    expect((await c.chat(body('trial'))).node).toBe(sim.urls[0]);
    expect(sim.nodes[0]?.stats.requests).toBe(4);
  });
});
