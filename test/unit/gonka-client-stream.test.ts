import { createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import {
  countContentChunks,
  GonkaClient,
  GonkaStreamError,
  isAnswerChunk,
  isContentChunk,
  NodePool,
  stripForcedFields,
} from '../../shared/gonka/index.js';
import { SIM_MODEL_QWQ_32B, type Simulator, startSimulator } from '../../shared/gonka/simulator/index.js';

type Json = Record<string, any>;
const body = (content: string, extra: Json = {}): Json => ({
  model: SIM_MODEL_QWQ_32B,
  messages: [{ role: 'user', content }],
  stream: true,
  ...extra,
});

let sim: Simulator;
let pool: NodePool;
beforeAll(async () => {
  sim = await startSimulator({ nodes: 2 });
});
afterAll(() => sim.close());
beforeEach(() => {
  for (const n of sim.nodes) {
    n.setFaults({});
    n.resetStats();
  }
  pool = new NodePool(sim.urls);
});
const client = () => new GonkaClient({ pool, mode: 'none' });

async function collect(chunks: AsyncIterable<Json>): Promise<{ seen: Json[]; error: unknown }> {
  const seen: Json[] = [];
  try {
    for await (const c of chunks) seen.push(c);
    return { seen, error: undefined };
  } catch (error) {
    return { seen, error };
  }
}

describe('GonkaClient.chatStream', () => {
  it('yields every chunk and captures the usage the node was made to send', async () => {
    const s = await client().chatStream(body('Explain proof of compute.', { max_tokens: 7 }));
    expect(s.node).toBe(sim.urls[0]);
    const { seen, error } = await collect(s.chunks);
    expect(error).toBeUndefined();
    expect(countContentChunks(seen)).toBe(7);
    expect(s.contentChunks()).toBe(7);
    expect(s.usage()).toEqual({ prompt_tokens: 7, completion_tokens: 7 });
    expect(seen.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 7 } });
    const text = seen.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text.split(' ')).toHaveLength(7);
  });

  it('drops the usage chunk and logprobs the client did not ask for', async () => {
    const clientBody = body('hi', { stream_options: { include_usage: false } });
    const s = await client().chatStream(clientBody);
    const { seen } = await collect(s.chunks);
    const forwarded = seen.filter((c) => !stripForcedFields(c, clientBody).drop);
    expect(forwarded).toHaveLength(seen.length - 1);
    // As OpenAI sends what was not asked for: `logprobs: null`, and no usage field at all.
    expect(forwarded.every((c) => c.choices.length === 1 && c.choices[0].logprobs === null)).toBe(true);
    expect(forwarded.some((c) => 'usage' in c)).toBe(false);
    expect(s.usage()).not.toBeNull(); // still read for billing
  });

  it('forwards usage and logprobs when the client asked for them', async () => {
    const clientBody = body('hi', { stream_options: { include_usage: true }, logprobs: true });
    const { seen } = await collect((await client().chatStream(clientBody)).chunks);
    expect(seen.filter((c) => stripForcedFields(c, clientBody).drop)).toHaveLength(0);
    expect(seen[0]?.choices[0].logprobs.content).toHaveLength(1);
    // As OpenAI: `usage: null` on every chunk before the usage chunk.
    expect(seen.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(seen.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 1 } });
  });

  it('fails over before the first byte when a node answers 503', async () => {
    sim.nodes[0]?.setFaults({ status: 503 });
    const s = await client().chatStream(body('hello'));
    expect(s.node).toBe(sim.urls[1]);
    expect((await collect(s.chunks)).error).toBeUndefined();
  });

  it('fails over when a node answers 200 and breaks before any content', async () => {
    sim.nodes[0]?.setFaults({ cutAfterChunks: 0 });
    const s = await client().chatStream(body('hello there', { max_tokens: 5 }));
    expect(s.node).toBe(sim.urls[1]);
    const { seen, error } = await collect(s.chunks);
    expect(error).toBeUndefined();
    expect(countContentChunks(seen)).toBe(5);
    const [first, second] = pool.status();
    expect(first).toMatchObject({ consecutiveFailures: 1, inFlight: 0 });
    expect(second).toMatchObject({ consecutiveFailures: 0, inFlight: 0, calls: 1 });
  });

  it("trips a node's breaker when its streams break mid-way, then streams from another node", async () => {
    sim.nodes[0]?.setFaults({ cutAfterChunks: 2 });
    for (let i = 0; i < 3; i++) {
      const s = await client().chatStream(body('tell me more'));
      expect(s.node).toBe(sim.urls[0]); // the 200 and its first content came: served by it
      expect((await collect(s.chunks)).error).toBeInstanceOf(GonkaStreamError);
    }
    expect(pool.status()[0]).toMatchObject({ state: 'open', consecutiveFailures: 3, inFlight: 0 });
    const s = await client().chatStream(body('tell me more'));
    expect(s.node).toBe(sim.urls[1]);
    expect((await collect(s.chunks)).error).toBeUndefined();
  });

  it('counts a stream as in flight on its node until it ends', async () => {
    const s = await client().chatStream(body('slowly [[sim delay=20]]', { max_tokens: 4 }));
    expect(pool.status().find((n) => n.url === s.node)?.inFlight).toBe(1);
    await collect(s.chunks);
    expect(pool.status().find((n) => n.url === s.node)).toMatchObject({ inFlight: 0, calls: 1 });
  });

  it('streams a tool call or reasoning as it comes: such chunks show the node answering', async () => {
    // 10 chunks 60 ms apart with no text: longer than the attempt's 300 ms, each its own write.
    const tool = (i: number) => ({
      index: 0,
      delta: { tool_calls: [{ index: 0, function: { arguments: `${i}` } }] },
    });
    const reason = (i: number) => ({ index: 0, delta: { reasoning_content: `step ${i} ` } });
    for (const choice of [tool, reason]) {
      const node = await rawSseNode(
        [{ index: 0, delta: { role: 'assistant' } }, ...Array.from({ length: 10 }, (_, i) => choice(i))],
        60,
      );
      try {
        const c = new GonkaClient({ pool: new NodePool([node.url]), mode: 'none', timeoutMs: 300 });
        const s = await c.chatStream(body('x'));
        const { seen, error } = await collect(s.chunks);
        expect(error).toBeUndefined();
        expect(seen).toHaveLength(13); // the role chunk, 10, the finish, the usage
        expect(node.requests()).toBe(1);
      } finally {
        node.close();
      }
    }
  });

  it('fails over a node that answers 200 then goes silent before answering, as a timed-out failure', async () => {
    const node = await rawSseNode([{ index: 0, delta: { role: 'assistant' } }], 0, { hang: true });
    try {
      const c = new GonkaClient({ pool: new NodePool([node.url]), mode: 'none', timeoutMs: 200 });
      const err = await c.chatStream(body('x')).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 200, timedOut: true });
    } finally {
      node.close();
    }
  });

  it("closes a tripped node's breaker once its trial stream is answering, not at the stream's end", async () => {
    const clock = new ManualClock('2026-12-05T12:00:00.000Z');
    const one = new NodePool([sim.urls[0]!], { clock, failureThreshold: 3, cooldownMs: 10_000 });
    for (let i = 0; i < 3; i++) one.failure(sim.urls[0]!);
    expect(one.status()[0]?.state).toBe('open');
    clock.advance(10_001);
    const s = await new GonkaClient({ pool: one, mode: 'none' }).chatStream(body('slowly [[sim delay=30]]'));
    // Still streaming, and the node takes other requests already.
    expect(one.status()[0]).toMatchObject({ state: 'closed', inFlight: 1 });
    expect(one.pick()?.url).toBe(sim.urls[0]);
    one.release(sim.urls[0]!);
    expect((await collect(s.chunks)).error).toBeUndefined();
    expect(one.status()[0]).toMatchObject({ state: 'closed', consecutiveFailures: 0, inFlight: 0 });
  });

  it('ends an answer at its [DONE], as whole, though the node then holds the response open', async () => {
    const node = await rawSseNode([{ index: 0, delta: { role: 'assistant', content: 'hi' } }], 0, {
      lingerAfterDone: true,
    });
    try {
      const one = new NodePool([node.url]);
      // A minute's idle allowance: the answer ends at its [DONE], not when the node lets go (the
      // test's own time limit is far shorter).
      const s = await new GonkaClient({ pool: one, mode: 'none', timeoutMs: 60_000 }).chatStream(body('x'));
      const { seen, error } = await collect(s.chunks);
      expect(error).toBeUndefined();
      expect(seen).toHaveLength(3);
      expect(one.status()[0]).toMatchObject({ consecutiveFailures: 0, failures: 0, calls: 1, inFlight: 0 });
    } finally {
      node.close();
    }
  });

  it.each(['close', 'cut'] as const)(
    'ends an answer as whole when the node %ss it after the finish and the usage, with no [DONE]',
    async (noDone) => {
      const node = await rawSseNode([{ index: 0, delta: { role: 'assistant', content: 'hi' } }], 0, {
        noDone,
      });
      try {
        const one = new NodePool([node.url]);
        const s = await new GonkaClient({ pool: one, mode: 'none' }).chatStream(body('x'));
        const { seen, error } = await collect(s.chunks);
        expect(error).toBeUndefined();
        expect(seen).toHaveLength(3);
        expect(s.usage()).toEqual({ prompt_tokens: 1, completion_tokens: 1 });
        expect(one.status()[0]).toMatchObject({ consecutiveFailures: 0, failures: 0, calls: 1, inFlight: 0 });
      } finally {
        node.close();
      }
    },
  );

  it('a stream ending with no [DONE] and no usage is broken, finish or not: the bill is not known', async () => {
    const node = await rawSseNode([{ index: 0, delta: { content: 'hi' } }], 0, {
      noDone: 'close',
      noUsage: true,
    });
    try {
      const one = new NodePool([node.url]);
      const s = await new GonkaClient({ pool: one, mode: 'none' }).chatStream(body('x'));
      const { seen, error } = await collect(s.chunks);
      expect(error).toBeInstanceOf(GonkaStreamError);
      expect(seen).toHaveLength(2);
      expect(one.status()[0]).toMatchObject({ failures: 1 });
    } finally {
      node.close();
    }
  });

  it('throws when the stream is cut after N chunks; the chunks seen are countable', async () => {
    const s = await client().chatStream(body('tell me more [[sim cut=3]]'));
    const { seen, error } = await collect(s.chunks);
    expect(error).toBeInstanceOf(GonkaStreamError);
    expect(countContentChunks(seen)).toBe(3);
    expect(s.contentChunks()).toBe(3);
    expect(s.usage()).toBeNull();
    expect(pool.status().find((n) => n.url === s.node)?.consecutiveFailures).toBe(1);
  });

  it('yields every chunk that arrived with the break itself (data and close in one read)', async () => {
    // A raw socket: headers, three content chunks and the close leave in one write, so they reach
    // the gateway together; what arrived before the break is what the node generated and billed.
    const chunk = (i: number) =>
      `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `t${i} ` } }] })}\n\n`;
    const server = createNetServer((socket) => {
      socket.once('data', () => {
        const events = chunk(1) + chunk(2) + chunk(3);
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n' +
            `${Buffer.byteLength(events).toString(16)}\r\n${events}\r\n`,
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const stream = await new GonkaClient({ pool: new NodePool([url]), mode: 'none' }).chatStream(body('x'));
      const { seen, error } = await collect(stream.chunks);
      expect(seen.map((c) => c.choices[0].delta.content)).toEqual(['t1 ', 't2 ', 't3 ']);
      expect(error).toBeInstanceOf(GonkaStreamError);
      expect(stream.contentChunks()).toBe(3);
    } finally {
      server.close();
    }
  });

  it('ends with the caller abort reason, without blaming the node', async () => {
    const ac = new AbortController();
    const s = await client().chatStream(body('slowly [[sim delay=30]]'), { signal: ac.signal });
    const seen: Json[] = [];
    const err = await (async () => {
      for await (const c of s.chunks) {
        seen.push(c);
        if (seen.length === 2) ac.abort(new Error('client went away'));
      }
    })().catch((e: unknown) => e);
    expect((err as Error).message).toBe('client went away');
    expect(countContentChunks(seen)).toBe(2);
    expect(pool.status().every((n) => n.consecutiveFailures === 0 && n.inFlight === 0)).toBe(true);
    await expect.poll(() => sim.nodes[0]?.stats.abandoned, { timeout: 2_000 }).toBe(1);
  });

  it('closes the upstream when the caller leaves the loop early', async () => {
    const s = await client().chatStream(body('bye [[sim delay=30]]'));
    for await (const _ of s.chunks) break;
    expect(s.contentChunks()).toBe(1);
    // The node notices the closed connection and stops generating.
    await expect.poll(() => sim.nodes[0]?.stats.abandoned, { timeout: 2_000 }).toBe(1);
  });

  it('treats an idle stream as broken', async () => {
    const c = new GonkaClient({ pool, mode: 'none', timeoutMs: 250 });
    const s = await c.chatStream(body('stall [[sim delay=1000]]'));
    const { seen, error } = await collect(s.chunks);
    expect(error).toBeInstanceOf(GonkaStreamError);
    expect((error as Error).message).toMatch(/sent no chunk in 250 ms/);
    expect(countContentChunks(seen)).toBe(1);
  });
});

/**
 * A node answering every request with these choices as chunk events, `gapMs` apart, then a finish,
 * usage and [DONE] (or, with `hang`, nothing more and no end).
 */
async function rawSseNode(
  choices: Json[],
  gapMs: number,
  opts: {
    hang?: boolean;
    lingerAfterDone?: boolean;
    /** After the usage chunk, no [DONE]: the response ends (`close`) or its socket is destroyed (`cut`). */
    noDone?: 'close' | 'cut';
    /** No usage chunk after the finish. */
    noUsage?: boolean;
  } = {},
) {
  let requests = 0;
  const server = createServer(async (_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (o: Json) =>
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', ...o })}\n\n`);
    for (const c of choices) {
      event({ choices: [c] });
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
    if (opts.hang) return;
    event({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
    if (!opts.noUsage) event({ choices: [], usage: { prompt_tokens: 1, completion_tokens: choices.length } });
    if (opts.noDone === 'close') res.end();
    else if (opts.noDone === 'cut')
      setTimeout(() => res.destroy(), 20); // the events leave first
    else if (opts.lingerAfterDone) res.write('data: [DONE]\n\n');
    else res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('isContentChunk', () => {
  it('counts generated tokens of every kind (billing a cut stream), never a role or a finish alone', () => {
    const chunk = (delta: Json, finish_reason: string | null = null) => ({
      choices: [{ index: 0, delta, finish_reason }],
    });
    expect(isContentChunk(chunk({ content: 'a' }))).toBe(true);
    expect(isContentChunk(chunk({ reasoning_content: 'so' }))).toBe(true);
    expect(isContentChunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '{' } }] }))).toBe(true);
    expect(isContentChunk(chunk({ role: 'assistant', content: '' }))).toBe(false);
    expect(isContentChunk(chunk({}, 'stop'))).toBe(false);
    expect(isAnswerChunk(chunk({}, 'stop'))).toBe(true);
  });
});

describe('stripForcedFields', () => {
  it('removes usage riding on a content chunk when the client did not ask for it', () => {
    const chunk: Json = {
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { content: 'x' } }],
      usage: { prompt_tokens: 1, completion_tokens: 1 },
    };
    expect(stripForcedFields(chunk, { stream: true })).toEqual({ drop: false });
    expect(chunk).not.toHaveProperty('usage');
  });
});
