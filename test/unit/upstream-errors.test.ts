import { describe, expect, it } from 'vitest';
import { GonkaUpstreamError } from '../../shared/gonka/index.js';
import { scrub, upstreamToApiError } from '../../shared/inference/upstream-errors.js';

const model = { id: 'brand-large', upstream: 'Qwen/Qwen3-235B-A22B-Instruct-2507-FP8' };

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
    for (const status of [400, 404, 413, 422]) {
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
  });
});
