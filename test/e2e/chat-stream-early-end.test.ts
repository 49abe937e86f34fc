import { once } from 'node:events';
import { connect } from 'node:net';
import { APIError } from 'openai';
import { beforeEach, describe, expect, it } from 'vitest';
import { simulateCompletion } from '../../shared/gonka/simulator/index.js';
import { estimatePromptTokens } from '../../shared/pricing.js';
import { accountBooks, expectNoLedgerDrift, holdsOf, settled } from '../helpers/books.js';
import { ask, BALANCE, charge, MODEL } from '../helpers/chat-faults.js';
import { createCustomer } from '../helpers/customer.js';
import { healthyNodes, useTestStack } from '../helpers/stack.js';
import { readUntilBreak } from '../helpers/streams.js';
import { waitFor } from '../helpers/wait.js';
import { expectWhiteLabelled } from '../helpers/white-label.js';

// Streams that end before their [DONE], and clients that leave first (chat-faults.test.ts: nodes that fail).
const stack = useTestStack();

beforeEach(() => healthyNodes(stack));

describe('streams that end early', () => {
  // A node that cuts the stream, or sends an error event mid-way (its text names the executor): the
  // client gets the gateway's own error event, and is billed for the chunks that came.
  it.each([
    ['cuts the stream after 3 chunks', 'cut=3', 3, false],
    ['sends an error event after 2 chunks', 'error=2', 2, false],
    ['cuts the stream after 3 chunks, usage asked for', 'cut=3', 3, true],
    ['sends an error event after 2 chunks, usage asked for', 'error=2', 2, true],
  ])(
    'bills a stream whose node %s for those chunks plus the prompt estimate',
    async (_what, fault, chunks, includeUsage) => {
      const c = await createCustomer(stack.env.ctx, stack.server.url);
      const messages = ask(`Tell me a long story [[sim ${fault}]]`);
      const stream = await c.openai.chat.completions.create({
        model: MODEL,
        messages,
        max_tokens: 50,
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      });
      const { pieces, err, usage } = await readUntilBreak(stream);
      expect(pieces).toHaveLength(chunks);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).type).toBe('upstream_error');
      expect((err as APIError).message).not.toMatch(/CUDA|executor|10\.1\.2\.3/);
      expectWhiteLabelled([(err as APIError).message], stack.sim);

      const billed = estimatePromptTokens(messages) + chunks;
      const [hold] = await settled(stack.env.ctx, c.accountId);
      expect(hold?.status).toBe('posted');
      expect(hold?.posted_amount).toBe(charge(billed));
      // Asked for, the usage it is billed for comes before the error: a client metering its own
      // customers from it records what was charged, not nothing.
      if (includeUsage)
        expect(usage).toEqual({
          prompt_tokens: estimatePromptTokens(messages),
          completion_tokens: chunks,
          total_tokens: billed,
        });
      else expect(usage).toBeNull();
      await expectNoLedgerDrift(stack.env.ctx);
    },
  );

  it('streams from another node when the first answers 200 and breaks before any content: billed once', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    stack.sim.nodes[0]!.setFaults({ cutAfterChunks: 0 });
    const stream = await c.openai.chat.completions.create({
      model: MODEL,
      messages: ask('Hello'),
      max_tokens: 20,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let tokens = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) tokens = chunk.usage.total_tokens;
    }
    expect(text).toMatch(/\w+/);
    expect(stack.sim.nodes[0]!.stats.requests).toBe(1);
    expect(stack.sim.nodes[1]!.stats).toMatchObject({ requests: 1, served: 1 });

    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status)).toEqual(['posted']);
    const books = await accountBooks(stack.env.ctx, c.accountId);
    expect(books.billed).toBe(1);
    expect(books.balance).toBe(BALANCE - charge(tokens));
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('calls no node for a client that hung up while it was admitted, and holds nothing for it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const body = JSON.stringify({ model: MODEL, messages: ask('hello'), max_tokens: 50, stream: true });
    const { port } = new URL(stack.server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.end(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.childKey}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.destroy(); // gone before the gateway has admitted the request
    // The request was admitted (its hold exists), then released at once, not at the stream's limit.
    const [hold] = await waitFor('the hold released', async () => {
      const holds = await holdsOf(stack.env.ctx, c.accountId);
      return holds.length === 1 && holds[0]!.status !== 'open' ? holds : null;
    });
    expect(hold!.status).toBe('voided');
    expect(stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0)).toBe(0);
    await settled(stack.env.ctx, c.accountId);
  });

  it('serves two streams pipelined on one connection, the second waiting its turn', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const request = (content: string) => {
      const body = JSON.stringify({ model: MODEL, messages: ask(content), max_tokens: 10, stream: true });
      return (
        `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.childKey}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      );
    };
    const socket = connect(Number(new URL(stack.server.url).port), '127.0.0.1');
    await once(socket, 'connect');
    // The first streams slowly, so the second is admitted while the first still holds the connection.
    socket.write(request('hello [[sim delay=50]]') + request('hello'));
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
    });
    await waitFor('both streams done', () => (text.match(/data: \[DONE\]/g) ?? []).length === 2);
    socket.destroy();
    expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(text.match(/cache-control: no-store/gi)).toHaveLength(2); // as every /v1 answer
  });

  it('stops a non-streamed call whose client gave up, and bills nothing: an SDK retry is not billed twice', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // The openai client gives up on a slow answer and tries again: twice, each giving up too.
    const client = c.openai.withOptions({ timeout: 300, maxRetries: 1 });
    const gaveUp = await client.chat.completions
      .create({ model: MODEL, messages: ask('Slow [[sim latency=1500]]'), max_tokens: 20 })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(gaveUp?.constructor.name).toBe('APIConnectionTimeoutError');
    // The gateway hung up on the node each time, which made nothing.
    await waitFor(
      'the node saw both calls end early',
      async () => stack.sim.nodes.reduce((n, node) => n + node.stats.abandoned, 0) === 2,
    );
    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.map((h) => h.status)).toEqual(['voided', 'voided']);
    expect((await accountBooks(stack.env.ctx, c.accountId)).billed).toBe(0);
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('stops the node call when the client disconnects, and bills what was generated', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const messages = ask('Tell me a long story [[sim delay=50]]');
    const whole = simulateCompletion(messages, 1000).completionTokens;
    expect(whole).toBeGreaterThan(10); // long enough that stopping early shows in the bill

    const ac = new AbortController();
    const res = await fetch(`${stack.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.childKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages, max_tokens: 1000, stream: true }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while ((text.match(/"content":"/g) ?? []).length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    ac.abort();
    await reader.cancel().catch(() => {});
    // The gateway hung up on the node, which stopped generating there.
    await waitFor('the node saw the call end early', async () =>
      stack.sim.nodes.some((n) => n.stats.abandoned === 1),
    );

    const [hold] = await settled(stack.env.ctx, c.accountId);
    expect(hold?.status).toBe('posted');
    const [t] = await stack.env.ctx.sql<{ completion_tokens: number }[]>`
      select completion_tokens from holds where id = ${hold!.id}`;
    const generated = t!.completion_tokens;
    // Billed for what the node produced before the gateway hung up: at least what the client read,
    // and less than the whole answer, which the node would have finished had the call gone on.
    expect(generated).toBeGreaterThanOrEqual(3);
    expect(generated).toBeLessThan(whole);
    expect(hold?.posted_amount).toBe(charge(estimatePromptTokens(messages) + generated));
    expect(hold!.posted_amount!).toBeLessThan(hold!.amount);
    await expectNoLedgerDrift(stack.env.ctx);
  });
});
