import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { priceTokens } from '../../shared/pricing.js';

/** What the chat fault tests (chat-faults, chat-stream-early-end) ask and bill. */
export const MODEL = SIM_MODEL_QWEN3_235B;
/** A customer's balance as createCustomer tops it up. */
export const BALANCE = 1_000_000_000n;
export const ask = (content: string) => [{ role: 'user' as const, content }];
/** 10 nGNK per token at the node, ×1.2 markup. */
export const charge = (tokens: number) => priceTokens(BigInt(tokens), 10n, 12_000);
