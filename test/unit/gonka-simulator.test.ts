import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signRequest } from '../../shared/gonka/signing.js';
import {
  DEFAULT_SIM_MODELS,
  SIM_MODEL_QWEN3_235B,
  SIM_MODEL_QWQ_32B,
  type Simulator,
  simulatorNodeKey,
  startSimulator,
} from '../../shared/gonka/simulator/index.js';

const chatBody = (content: string, extra: Record<string, unknown> = {}) => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  ...extra,
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: text,
  });
}

/** Raw SSE `data:` payloads of a response. */
async function sseEvents(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

describe('simulator (no auth)', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ nodes: 3 });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    for (const n of sim.nodes) {
      n.setFaults({});
      n.resetStats();
    }
  });

  it('answers a chat completion with exact usage and forced logprobs', async () => {
    const content = 'Tell me about decentralized inference.';
    const res = await post(sim.urls[0] as string, chatBody(content, { max_tokens: 5 }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.object).toBe('chat.completion');
    const text: string = body.choices[0].message.content;
    expect(text.split(' ')).toHaveLength(5);
    expect(body.choices[0].finish_reason).toBe('length');
    expect(body.choices[0].logprobs.content).toHaveLength(5);
    expect(body.usage).toEqual({
      prompt_tokens: Math.ceil(content.length / 4),
      completion_tokens: 5,
      total_tokens: 15,
    });
    expect(body.usage.prompt_tokens).toBeLessThanOrEqual(content.length);
    expect(sim.nodes[0]?.stats).toEqual({ requests: 1, served: 1, errors: 0, abandoned: 0 });
  });

  it('streams one word per chunk, then a usage chunk even unasked, then [DONE]', async () => {
    const res = await post(sim.urls[1] as string, chatBody('Stream please', { stream: true }));
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = await sseEvents(res);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    const content = chunks.filter((c) => c.choices[0]?.delta?.content);
    expect(usageChunk.usage.completion_tokens).toBe(content.length);
    expect(usageChunk.usage.prompt_tokens).toBe(Math.ceil('Stream please'.length / 4));
    expect(content.every((c) => c.choices[0].logprobs.content.length === 1)).toBe(true);
    expect(chunks.at(-2).choices[0].finish_reason).toBe('stop');
  });

  it('refuses as a Gonka node does, {"error": "<words>"}: an unknown model 404, bad messages 400', async () => {
    const res = await post(sim.urls[0] as string, {
      model: 'nope',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'model not found' });
    const bad = await post(sim.urls[0] as string, { model: SIM_MODEL_QWQ_32B, messages: [] });
    expect(bad.status).toBe(400);
    expect(typeof ((await bad.json()) as { error: unknown }).error).toBe('string');
    expect((await post(sim.urls[0] as string, '{not json')).status).toBe(400);
  });

  it('ends an answer at its first stop sequence, left out of the text, as vLLM does', async () => {
    const url = sim.urls[0] as string;
    const plain = (await (await post(url, chatBody('tell me', { max_tokens: 12 }))).json()) as any;
    const text: string = plain.choices[0].message.content;
    const words = text.split(' ');
    // The fourth word, where it first appears: what comes before it is the answer.
    const stop = words[3] as string;
    const before = text.slice(0, text.indexOf(stop));
    const cut = (await (
      await post(url, chatBody('tell me', { max_tokens: 12, stop: ['zzz', stop] }))
    ).json()) as any;
    expect(cut.choices[0]).toMatchObject({ message: { content: before }, finish_reason: 'stop' });
    // The tokens generated up to the end of the stop sequence are used: one per word here.
    const tokensThrough = before.split(' ').filter(Boolean).length + 1;
    expect(cut.usage.completion_tokens).toBe(tokensThrough);
    // Streamed alike.
    const events = await sseEvents(
      await post(url, chatBody('tell me', { max_tokens: 12, stop, stream: true })),
    );
    const chunks = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe(before);
    expect(chunks.at(-1).usage.completion_tokens).toBe(tokensThrough);
  });

  it('takes text only, as current nodes do: null or absent content and non-text parts are 400s', async () => {
    const url = sim.urls[0] as string;
    const ask = (messages: unknown[]) => post(url, { model: SIM_MODEL_QWQ_32B, messages });
    const toolTurn = {
      role: 'assistant',
      tool_calls: [{ id: 't1', type: 'function', function: { name: 'f' } }],
    };
    for (const refused of [
      [{ role: 'user', content: null }],
      [{ role: 'user', content: 'hi' }, toolTurn, { role: 'tool', tool_call_id: 't1', content: '42' }],
      [
        { role: 'user', content: 'hi' },
        { ...toolTurn, content: ' ' },
        { role: 'tool', tool_call_id: 't1', content: '42' },
      ],
      [{ role: 'user', content: [] }],
      [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.example/i.png' } }] }],
    ]) {
      const res = await ask(refused);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: expect.stringMatching(/unsupported message content/) });
    }
    const withText = [
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      { ...toolTurn, content: [{ type: 'text', text: '' }] },
      { role: 'tool', tool_call_id: 't1', content: '42' },
    ];
    expect((await ask(withText)).status).toBe(200);
  });

  it('injects 429 and 503 from node faults, once each with failNext, in a real node’s words', async () => {
    const url = sim.urls[0] as string;
    sim.nodes[0]?.setFaults({ status: 429, failNext: 1 });
    const r1 = await post(url, chatBody('a'));
    expect(r1.status).toBe(429);
    expect(await r1.json()).toEqual({
      error: `Transfer Agent capacity reached. Try another TA from ${url}/v1/epochs/current/participants`,
    });
    expect((await post(url, chatBody('a'))).status).toBe(200);
    const r3 = await post(url, chatBody('a [[sim status=503]]'));
    expect(r3.status).toBe(503);
    expect(await r3.json()).toEqual({ error: 'no executors available for model' });
    const r4 = await post(url, chatBody('a [[sim status=402]]'));
    expect([r4.status, await r4.json()]).toEqual([402, { error: 'insufficient balance' }]);
    const r5 = await post(url, chatBody('a [[sim status=403]]'));
    expect([r5.status, await r5.json()]).toEqual([403, { error: 'Transfer Agent not allowed' }]);
  });

  it('sets faults and reads stats over HTTP', async () => {
    const url = sim.urls[2] as string;
    const set = await fetch(`${url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ status: 500 }) });
    expect(set.status).toBe(200);
    expect((await post(url, chatBody('x'))).status).toBe(500);
    expect(await (await fetch(`${url}/_sim/stats`)).json()).toEqual({
      requests: 1,
      served: 0,
      errors: 1,
      abandoned: 0,
    });
    const invalid = await fetch(`${url}/_sim/faults`, {
      method: 'POST',
      body: JSON.stringify({ status: 404 }),
    });
    expect(invalid.status).toBe(400);
  });

  it('waits latencyMs before answering', async () => {
    const started = performance.now();
    expect((await post(sim.urls[0] as string, chatBody('slow [[sim latency=120]]'))).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
  });

  it('lists models, prices and every participant with its address', async () => {
    const url = sim.urls[1] as string;
    // A node's own list (get_models_handler), not OpenAI's {object, data}.
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { models: { id: string }[] };
    expect(models.models.map((m) => m.id)).toEqual([SIM_MODEL_QWEN3_235B, SIM_MODEL_QWQ_32B]);
    const pricing = (await (await fetch(`${url}/v1/governance/pricing`)).json()) as Record<string, any>;
    expect(pricing.models).toEqual(
      DEFAULT_SIM_MODELS.map((m) => ({
        id: m.id,
        units_of_compute_per_token: Number(m.pricePerToken),
        price_per_token: Number(m.pricePerToken),
      })),
    );
    const parts = (await (await fetch(`${url}/v1/epochs/current/participants`)).json()) as Record<
      string,
      any
    >;
    const listed = parts.active_participants.participants;
    expect(listed.map((p: { inference_url: string }) => p.inference_url)).toEqual(sim.urls);
    expect(listed.map((p: { index: string }) => p.index)).toEqual(sim.nodes.map((n) => n.address));
    expect(listed[0].models).toEqual([SIM_MODEL_QWEN3_235B, SIM_MODEL_QWQ_32B]);
  });

  it('gives node i the same address on every run', async () => {
    const again = await startSimulator({ nodes: 1 });
    try {
      expect(again.nodes[0]?.address).toBe(sim.nodes[0]?.address);
      expect(again.nodes[0]?.address).toMatch(/^gonka1[02-9ac-hj-np-z]{38}$/);
    } finally {
      await again.close();
    }
    expect(simulatorNodeKey(0)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('simulator auth', () => {
  it('bearer: accepts the token, refuses anything else with 401', async () => {
    const sim = await startSimulator({ nodes: 1, auth: 'bearer', bearerToken: 'sekret-token' });
    try {
      const url = sim.urls[0] as string;
      expect((await post(url, chatBody('x'), { authorization: 'Bearer sekret-token' })).status).toBe(200);
      const refused = await post(url, chatBody('x'), { authorization: 'Bearer wrong' });
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({ error: 'invalid bearer token' });
      expect((await post(url, chatBody('x'))).status).toBe(401);
    } finally {
      await sim.close();
    }
  });

  it('signed: accepts a fresh signature once, refuses its replay, a stale one and a foreign node', async () => {
    const sim = await startSimulator({ nodes: 2, auth: 'signed' });
    try {
      const [url, otherUrl] = sim.urls as [string, string];
      const node = sim.nodes[0];
      const body = JSON.stringify(chatBody('signed hello'));
      const sign = (timestampNs: bigint, transferAddress = node?.address as string) => ({
        ...signRequest({ privateKeyHex: '33'.repeat(32), body, timestampNs, transferAddress }),
      });
      const now = BigInt(Date.now()) * 1_000_000n;
      const headers = sign(now);
      expect((await post(url, body, headers)).status).toBe(200);
      // A real node's status and words for a replay and for a stale timestamp: 400s (validateRequest).
      const replay = await post(url, body, headers);
      expect(replay.status).toBe(400);
      expect(await replay.json()).toEqual({ error: 'AuthKey has already been used for a transfer request' });
      const stale = await post(url, body, sign(now - 30_000_000_000n));
      expect([stale.status, await stale.json()]).toEqual([400, { error: 'signature is too old' }]);
      expect((await post(otherUrl, body, sign(now + 1n))).status).toBe(401);
      expect((await post(url, `${body} `, sign(now + 2n))).status).toBe(401);
      expect((await post(url, body, sign(now + 3n))).status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});
