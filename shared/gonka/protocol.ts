import { z } from 'zod';

/**
 * The Gonka node endpoints the gateway reads, with field names as the real decentralized-api serves
 * them (gonka-ai/gonka `decentralized-api`). Only the fields we use are validated; the rest pass through.
 */

export const CHAT_PATH = '/v1/chat/completions';
export const PARTICIPANTS_PATH = '/v1/epochs/current/participants';
export const PRICING_PATH = '/v1/governance/pricing';
export const MODELS_PATH = '/v1/models';

/** A uint64 from Go arrives as a JSON number; accept a digit string too, and keep it exact as bigint. */
const uint64 = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)])
  .transform((v) => BigInt(v));

/**
 * `GET /v1/epochs/current/participants`: `index` is the participant's `gonka1…` address (the
 * X-Transfer-Address for signed requests), `inference_url` its public API base URL. Both are
 * proto fields with `omitempty`: a participant without a URL has no `inference_url` at all, and is
 * skipped rather than failing the whole list (as the official SDKs do).
 */
export const participantSchema = z.looseObject({
  index: z.string().optional(),
  validator_key: z.string().optional(),
  weight: z.number().optional(),
  inference_url: z.string().optional(),
  models: z.array(z.string()).default([]),
});

export const participantsResponseSchema = z.looseObject({
  active_participants: z.looseObject({
    participants: z.array(participantSchema),
    epoch_group_id: z.number().optional(),
    poc_start_block_height: z.number().optional(),
    created_at_block_height: z.number().optional(),
  }),
  /** Participants the epoch excluded (jailed, say): listed, but not to be called. */
  excluded_participants: z.array(z.looseObject({ address: z.string().optional() })).nullish(),
});

export type ParticipantsResponse = z.input<typeof participantsResponseSchema>;

/**
 * `GET /v1/governance/pricing`: price_per_token (nGNK) = unit_of_compute_price ×
 * units_of_compute_per_token. Older nodes call the model field `model_id`, newer ones `id`.
 */
export const pricingResponseSchema = z.looseObject({
  unit_of_compute_price: uint64.optional(),
  models: z.array(
    z
      .looseObject({
        id: z.string().optional(),
        model_id: z.string().optional(),
        units_of_compute_per_token: uint64.optional(),
        price_per_token: uint64,
      })
      .refine((m) => m.id ?? m.model_id, 'a model needs id or model_id'),
  ),
});

export interface PricingModelDto {
  id: string;
  units_of_compute_per_token: number;
  price_per_token: number;
}

export interface PricingResponse {
  unit_of_compute_price: number;
  models: PricingModelDto[];
}

/** Usage as OpenAI-compatible nodes report it. */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** Base URLs are kept without a trailing slash or `/v1`, so `${url}${CHAT_PATH}` is always right. */
export function normalizeNodeUrl(url: string): string {
  return url.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
}
