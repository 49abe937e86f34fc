import { APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B, simulateCompletion } from '../../shared/gonka/simulator/index.js';
import { estimatePromptTokens, priceTokens } from '../../shared/pricing.js';
import { expectNoLedgerDrift, settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';
import { readUntilBreak } from '../helpers/streams.js';

/**
 * A sync stream may not outlive its hold: past SYNC_STREAM_MAX_SECONDS it is stopped and billed for
 * what was generated (a stream still running when the stale-hold sweeper voided its hold was free,
 * and freed its reservation mid-flight). Here the limit is 1 s and tokens come every 100 ms.
 */
const stack = useTestStack({ env: { SYNC_STREAM_MAX_SECONDS: '1' } });

describe('a sync stream longer than its limit', () => {
  it('is stopped with an error event and billed for the tokens sent; its hold outlives it', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const messages = [{ role: 'user' as const, content: 'A long story, slowly [[sim delay=100]]' }];
    expect(simulateCompletion(messages, 1000).completionTokens).toBeGreaterThan(15); // > 1.5 s of tokens
    const stream = await c.openai.chat.completions.create({
      model: SIM_MODEL_QWEN3_235B,
      messages,
      max_tokens: 1000,
      stream: true,
    });
    const { pieces, err } = await readUntilBreak(stream);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).message).toMatch(/reached its 1 s limit/);
    expect(pieces.length).toBeGreaterThan(3);
    expect(pieces.length).toBeLessThan(15);

    const [hold] = await settled(stack.env.ctx, c.accountId);
    expect(hold?.status).toBe('posted');
    expect(hold?.posted_amount).toBe(
      priceTokens(BigInt(estimatePromptTokens(messages) + pieces.length), 10n, 12_000),
    );
    // The hold was set to live past the limit by the grace a settlement gets (HOLD_GRACE_SECONDS).
    const [row] = await stack.env.ctx.sql<{ ttl: number }[]>`
      select extract(epoch from deadline - created_at)::int as ttl from holds where id = ${hold!.id}`;
    expect(row?.ttl).toBe(1 + stack.env.config.HOLD_GRACE_SECONDS);
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it.each([false, true])(
    'answers a call whose nodes had not begun by the limit with a 502 (not a 500), and voids its hold (stream: %s)',
    async (stream) => {
      const c = await createCustomer(stack.env.ctx, stack.server.url);
      const err = await c.openai.chat.completions
        .create({
          model: SIM_MODEL_QWEN3_235B,
          messages: [{ role: 'user', content: 'Think hard [[sim latency=5000]]' }],
          max_tokens: 10,
          stream,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect(err).toMatchObject({ status: 502, type: 'upstream_error' });
      expect((err as APIError).message).toMatch(/did not answer in the time allowed/);
      const [hold] = await settled(stack.env.ctx, c.accountId);
      expect(hold?.status).toBe('voided');
      await expectNoLedgerDrift(stack.env.ctx);
    },
  );
});
