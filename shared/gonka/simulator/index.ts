import { createHash } from 'node:crypto';
import type { Logger } from '../../logger.js';
import type { ParticipantsResponse, PricingResponse } from '../protocol.js';
import { addressFromPrivateKey } from '../signing.js';
import { createAuthCheck, type SimAuthMode } from './auth.js';
import { type NodeServer, type SimNetwork, type SimNode, startNode } from './node.js';

export type { SimAuthMode } from './auth.js';
export type { SimStats } from './chat.js';
export { DEFAULT_SIM_MAX_TOKENS, promptTokens, simulateCompletion } from './completion.js';
export type { NodeFaults } from './faults.js';
export type { SimNode } from './node.js';

export interface SimModel {
  id: string;
  /** nGNK per token, as `/v1/governance/pricing` reports it. */
  pricePerToken: bigint;
}

export const SIM_MODEL_QWEN3_235B = 'Qwen/Qwen3-235B-A22B-Instruct-2507-FP8';
export const SIM_MODEL_QWQ_32B = 'Qwen/QwQ-32B';
/**
 * Whole prices under the default 1.2× markup (12 and 6 nGNK a token), so out of the box a model's
 * published per-token price is exactly the rate its requests are billed at.
 */
export const DEFAULT_SIM_MODELS: readonly SimModel[] = [
  { id: SIM_MODEL_QWEN3_235B, pricePerToken: 10n },
  { id: SIM_MODEL_QWQ_32B, pricePerToken: 5n },
];

/** A default simulator model's node price (nGNK a token). */
export function defaultSimPrice(id: string): bigint {
  const model = DEFAULT_SIM_MODELS.find((m) => m.id === id);
  if (!model) throw new Error(`no default simulator model ${id}`);
  return model.pricePerToken;
}

/** Node i's private key: fixed, so its address is the same on every run and in every test. */
export function simulatorNodeKey(index: number): string {
  return createHash('sha256').update(`gonka-simulator-node-${index}`).digest('hex');
}

export interface StartSimulatorOptions {
  /** @default 2 */
  nodes?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Node i listens on basePort + i; 0 picks random free ports. @default 0 */
  basePort?: number;
  /** @default DEFAULT_SIM_MODELS */
  models?: readonly SimModel[];
  /** @default 'none' */
  auth?: SimAuthMode;
  bearerToken?: string;
  /** Wait before every chat answer's first byte, on every node. @default 0 */
  latencyMs?: number;
  logger?: Logger;
}

export interface Simulator {
  urls: string[];
  nodes: SimNode[];
  /** Change a model's price on the whole network (Gonka prices are chain-wide, and change per block). */
  setPrice(model: string, pricePerToken: bigint): void;
  close(): Promise<void>;
}

export async function startSimulator(opts: StartSimulatorOptions = {}): Promise<Simulator> {
  const count = opts.nodes ?? 2;
  if (!Number.isInteger(count) || count < 1) throw new Error('nodes must be a positive integer');
  const models = new Map((opts.models ?? DEFAULT_SIM_MODELS).map((m) => [m.id, m.pricePerToken]));
  const servers: NodeServer[] = [];

  let pricing: PricingResponse | undefined;
  let participants: ParticipantsResponse | undefined;
  const network: SimNetwork = {
    models,
    // As a node's GET /v1/models (get_models_handler): the chain's models, not OpenAI's list.
    modelsBody: () => ({
      models: [...models].map(([id, p]) => ({ id, units_of_compute_per_token: Number(p) })),
    }),
    pricingBody: () => {
      // One unit of compute costs 1 nGNK here, so units per token equals the price per token.
      pricing ??= {
        unit_of_compute_price: 1,
        models: [...models].map(([id, p]) => ({
          id,
          units_of_compute_per_token: Number(p),
          price_per_token: Number(p),
        })),
      };
      return pricing;
    },
    participantsBody: () => {
      participants ??= {
        active_participants: {
          participants: servers.map((s) => ({
            index: s.address,
            weight: 1,
            inference_url: s.url,
            models: [...models.keys()],
          })),
          epoch_group_id: 1,
          poc_start_block_height: 1,
          created_at_block_height: 1,
        },
      };
      return participants;
    },
  };

  const host = opts.host ?? '127.0.0.1';
  const basePort = opts.basePort ?? 0;
  try {
    for (let i = 0; i < count; i++) {
      const address = addressFromPrivateKey(simulatorNodeKey(i));
      const auth = createAuthCheck({
        mode: opts.auth ?? 'none',
        bearerToken: opts.bearerToken,
        nodeAddress: address,
      });
      servers.push(
        await startNode({
          index: i,
          host,
          port: basePort === 0 ? 0 : basePort + i,
          address,
          network,
          auth,
          // A broker (bearer mode) serves nothing without its token; a node's reads are public.
          readAuth: opts.auth === 'bearer' ? auth : () => ({ ok: true }),
          baseLatencyMs: opts.latencyMs ?? 0,
          logger: opts.logger,
        }),
      );
    }
  } catch (err) {
    await Promise.allSettled(servers.map((s) => s.close()));
    throw err;
  }
  opts.logger?.info(
    { urls: servers.map((s) => s.url), auth: opts.auth ?? 'none' },
    'gonka simulator started',
  );

  let closing: Promise<void> | undefined;
  return {
    urls: servers.map((s) => s.url),
    nodes: servers,
    setPrice(model, pricePerToken) {
      if (pricePerToken < 0n || pricePerToken > BigInt(Number.MAX_SAFE_INTEGER))
        throw new Error('price out of range');
      models.set(model, pricePerToken);
      pricing = undefined;
      participants = undefined;
    },
    close() {
      closing ??= Promise.allSettled(servers.map((s) => s.close())).then(() => undefined);
      return closing;
    },
  };
}
