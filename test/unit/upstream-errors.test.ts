import { describe, expect, it } from 'vitest';
import { GonkaUpstreamError } from '../../shared/gonka/index.js';
import { scrub, upstreamToApiError } from '../../shared/inference/upstream-errors.js';

const model = { id: 'brand-large', upstream: 'Qwen/Qwen3-235B-A22B-Instruct-2507-FP8' };

/** A node's refusal of the request (its status and body, not to be tried elsewhere), as the client throws it. */
const refusedWith = (status: number, body: unknown) =>
  new GonkaUpstreamError(String(status), status, body, false);

describe('what a node says, as a child key’s client reads it', () => {
  it('names no node: URLs, hosts and ports, IP addresses, addresses on the network, its name', () => {
    const said =
      'executor http://10.0.0.7:8000/v1 failed; retried on 10.1.2.3:5000, [fd00::1]:8080, ' +
      'node-3.internal.example:9000 and localhost:8081 for gonka1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq on Gonka';
    const out = scrub(said);
    for (const leak of ['10.0.0.7', '10.1.2.3', 'fd00', 'node-3.internal', 'localhost', 'gonka1', 'Gonka'])
      expect(out).not.toContain(leak);
    expect(out).toContain('[upstream]');
  });

  it('gives the model the name the client asked for, not the node’s', () => {
    const err = new GonkaUpstreamError(
      '400 from node',
      400,
      {
        error: {
          message: `This model's maximum context length is 32768 tokens (${model.upstream}, 10.1.2.3:5000)`,
        },
      },
      false,
    );
    const apiError = upstreamToApiError(err, model);
    expect(apiError?.type).toBe('invalid_request_error');
    expect(apiError?.message).toBe(
      "This model's maximum context length is 32768 tokens (brand-large, [upstream])",
    );
  });

  it('reads a Gonka node’s own {"error": "<words>"}, and vLLM’s refusal wrapped in it', () => {
    const vllm = {
      object: 'error',
      message: "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens.",
      type: 'BadRequestError',
      param: 'messages',
      code: 400,
    };
    const wrapped = refusedWith(400, {
      error: `Inference node response with an error. code = 400. error = ${JSON.stringify(vllm)}.`,
    });
    expect(upstreamToApiError(wrapped, model)).toMatchObject({
      type: 'invalid_request_error',
      message: vllm.message,
      extra: { param: 'messages', code: 'context_length_exceeded' },
    });
    const plain = refusedWith(400, { error: 'unsupported message content in message 1' });
    expect(upstreamToApiError(plain, model)).toMatchObject({
      type: 'invalid_request_error',
      message: 'unsupported message content in message 1',
      // The message it names, as validation names a field (newcomer32: param was null).
      extra: { param: 'messages.1.content' },
    });
  });

  it('says a request too large for the node in its own words, naming what to shorten', () => {
    const err = refusedWith(413, { error: 'Request Entity Too Large at ta-3.corp.lan' });
    expect(upstreamToApiError(err, model)).toMatchObject({
      type: 'invalid_request_error',
      message: 'The request is too large for the model',
      extra: { param: 'messages' },
    });
  });

  it('passes on a node’s own words only where the client can act on them: they may name its hosts', () => {
    const own = (said: string) => upstreamToApiError(refusedWith(400, { error: said }), model);
    expect(own('code=400, message=Syntax error at node mlnode-4.prod.gonka.network')).toMatchObject({
      type: 'invalid_request_error',
      message: 'The model rejected the request',
    });
    // An older node's {"message"} alike; vLLM's own shapes pass, scrubbed.
    const older = refusedWith(400, { message: 'bad thing on ta-3.corp.lan' });
    expect(upstreamToApiError(older, model)?.message).toBe('The model rejected the request');
    expect(own('Unsupported message content')?.message).toBe('Unsupported message content');
    const vllm = refusedWith(400, { object: 'error', message: 'top_k must be -1 or >= 1' });
    expect(upstreamToApiError(vllm, model)?.message).toBe('top_k must be -1 or >= 1');
  });

  it('answers the gateway’s Gonka account short of the escrow (402) with no capacity, not the client’s fault', () => {
    for (const [status, said] of [
      [402, 'insufficient balance'],
      [404, 'account not found'],
    ] as const) {
      const err = new GonkaUpstreamError(`${status}`, status, { error: said }, false, 1, {
        refusal: 'account',
      });
      expect(upstreamToApiError(err, model)).toMatchObject({ type: 'upstream_unavailable' });
    }
    // No executor for a model the catalogue lists: the chain's state, not the client's request.
    const noExecutor = new GonkaUpstreamError('404', 404, { error: 'model not found' }, false, 1, {
      refusal: 'unserved',
    });
    expect(upstreamToApiError(noExecutor, model)).toMatchObject({ type: 'upstream_unavailable' });
  });

  it('calls nodes that took the request and never answered a failure (502), not a lack of capacity', () => {
    const opts = (timedOut: boolean) => ({ timedOut });
    const timedOut = new GonkaUpstreamError('no answer in time', null, null, true, 3, opts(true));
    expect(upstreamToApiError(timedOut, model)).toMatchObject({
      type: 'upstream_error',
      message: 'The model did not answer in the time allowed',
    });
    const unreachable = new GonkaUpstreamError('ECONNREFUSED', null, null, true, 3, opts(false));
    expect(upstreamToApiError(unreachable, model)?.type).toBe('upstream_unavailable');
  });

  it('blames the client only for a refusal of its request, never for the node refusing the gateway', () => {
    for (const status of [401, 403]) {
      const err = new GonkaUpstreamError(
        `${status} from node`,
        status,
        { error: { message: 'invalid bearer token' } },
        false,
      );
      const apiError = upstreamToApiError(err, model);
      expect(apiError?.type).toBe('upstream_error');
      expect(apiError?.message).not.toContain('bearer');
    }
    for (const status of [400, 404, 422]) {
      const err = new GonkaUpstreamError(
        `${status} from node`,
        status,
        { error: { message: 'prompt too long' } },
        false,
      );
      expect(upstreamToApiError(err, model)).toMatchObject({
        type: 'invalid_request_error',
        message: 'prompt too long',
      });
    }
  });

  it('leaves a public id that already contains the node’s name as it is', () => {
    const named = { id: 'Qwen/Qwen3-32B', upstream: 'Qwen3-32B' };
    expect(scrub('unknown adapter for Qwen/Qwen3-32B', named)).toBe('unknown adapter for Qwen/Qwen3-32B');
  });

  it('keeps ordinary numbers and times in a message', () => {
    expect(scrub('max_tokens must be at most 4096, got 5000.5 at 12:30')).toBe(
      'max_tokens must be at most 4096, got 5000.5 at 12:30',
    );
    expect(scrub('retry after 12:30:45')).toBe('retry after 12:30:45');
  });

  it('names no host without its port, nor an IPv6 address without its brackets', () => {
    expect(
      scrub(
        'executor ta-7.internal.example refused at node mlnode-3.prod.cluster.local (pod fe80::1, 2001:db8:0:0:1:0:0:1)',
      ),
    ).toBe('executor [upstream] refused at node [upstream] (pod [upstream], [upstream])');
  });

  it('keeps field paths, versions and model names, which are dotted but no hosts', () => {
    const said = 'messages.0.content: Field required (Qwen2.5-7B-Instruct, v1.2.3, e.g. config.json)';
    expect(scrub(said)).toBe(said);
  });

  it('ends a URL at the bracket or quote around it, so the sentence keeps its own', () => {
    expect(scrub('too long (executor http://10.0.0.5:8000/v1). Retry')).toBe(
      'too long (executor [upstream]). Retry',
    );
    expect(scrub('see "https://[fd00::1]:8080/v1/chat"')).toBe('see "[upstream]"');
  });
});

/** vLLM's context-length refusal, as vLLM words it. */
const CONTEXT =
  "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens (35000 in the messages, 5000 in the completion). Please reduce the length of the messages or completion.";
const refused = (body: unknown) => upstreamToApiError(new GonkaUpstreamError('400', 400, body, false), model);

describe('a node’s refusal, in each shape it comes in', () => {
  it('reads a Gonka node’s own answer, which wraps what vLLM said, with vLLM’s param', () => {
    const vllm = { object: 'error', message: CONTEXT, type: 'BadRequestError', param: 'messages', code: 400 };
    const body = {
      message: `Inference node response with an error. code = 400. error = ${JSON.stringify(vllm)}.`,
    };
    expect(refused(body)).toMatchObject({
      type: 'invalid_request_error',
      message: CONTEXT,
      extra: { param: 'messages', code: 'context_length_exceeded' },
    });
  });

  it('reads older vLLM’s top-level error, OpenAI’s nested one, and FastAPI’s 422', () => {
    expect(refused({ object: 'error', message: CONTEXT, param: null, code: 400 })).toMatchObject({
      message: CONTEXT,
      extra: { param: null, code: 'context_length_exceeded' },
    });
    expect(
      refused({ error: { message: 'temperature too high', param: 'temperature', code: 'invalid_value' } }),
    ).toMatchObject({
      message: 'temperature too high',
      extra: { param: 'temperature', code: 'invalid_value' },
    });
    expect(
      refused({
        detail: [{ loc: ['body', 'messages', 0, 'content'], msg: 'field required', type: 'missing' }],
      }),
    ).toMatchObject({
      message: 'messages.0.content: field required',
      extra: { param: 'messages.0.content' },
    });
  });

  it('keeps a wrapped answer that is not JSON as its text, and says something generic for nothing', () => {
    expect(
      refused({ message: 'Inference node response with an error. code = 413. error = payload too large.' }),
    ).toMatchObject({ message: 'payload too large', extra: { param: null } });
    expect(refused(null)).toMatchObject({ message: 'The model rejected the request' });
    expect(refused({ unrelated: true })).toMatchObject({ message: 'The model rejected the request' });
  });
});
