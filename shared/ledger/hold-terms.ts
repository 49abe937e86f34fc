import type { NewHold } from '../db/queries/holds.js';
import type { HoldTerms } from '../queues.js';

/** A hold's terms as the settlement queue carries them (money as decimal strings). */
export function toHoldTerms(h: NewHold): HoldTerms {
  return {
    ...h,
    amount: h.amount.toString(),
    pricePerToken: h.pricePerToken.toString(),
    createdAt: h.createdAt.toISOString(),
    deadline: h.deadline.toISOString(),
  };
}

export function fromHoldTerms(t: HoldTerms): NewHold {
  return {
    ...t,
    amount: BigInt(t.amount),
    pricePerToken: BigInt(t.pricePerToken),
    createdAt: new Date(t.createdAt),
    deadline: new Date(t.deadline),
  };
}
