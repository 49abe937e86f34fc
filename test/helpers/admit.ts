import { type AdmitInput, admit } from '../../shared/admission/admit.js';
import type { Context } from '../../shared/context.js';
import type { KeyFixture } from './fixtures.js';

/**
 * Admit a request of `estimate` nGNK on `key` at 10 nGNK a token with a ×1.2 markup (12 nGNK per
 * token charged), its hold due in a minute; `extra` overrides any of it.
 */
export const holdFor = (
  ctx: Context,
  key: KeyFixture['key'],
  estimate: bigint,
  extra: Partial<AdmitInput> = {},
) =>
  admit(ctx, {
    key,
    estimate,
    model: 'm1',
    pricePerToken: 10n,
    markupBps: 12000,
    holdTtlMs: 60_000,
    ...extra,
  });
