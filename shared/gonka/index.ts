/** The Gonka client the gateway uses. The simulator lives apart in `./simulator/index.js`. */
export type { ChatStream } from './chat-stream.js';
export { type BreakerOptions, type BreakerState, CircuitBreaker } from './circuit-breaker.js';
export {
  type CallOptions,
  type ChatResult,
  type GonkaAuthMode,
  GonkaClient,
  type GonkaClientOptions,
} from './client.js';
export { discoverNodes, fetchParticipants, type NodeInfo } from './discovery.js';
export { GonkaStreamError, GonkaUnavailableError, GonkaUpstreamError, networkCannotServe } from './errors.js';
export {
  countContentChunks,
  isAnswerChunk,
  isContentChunk,
  readUsage,
  stripForcedFields,
} from './forced-fields.js';
export { NodePool, type NodePoolOptions, type NodeStatus } from './node-pool.js';
export { PricingCache, type PricingCacheOptions } from './pricing-cache.js';
export {
  CHAT_PATH,
  MODELS_PATH,
  normalizeNodeUrl,
  PARTICIPANTS_PATH,
  PRICING_PATH,
  type TokenUsage,
} from './protocol.js';
export {
  addressFromPrivateKey,
  addressFromPublicKey,
  createNanoTimestamps,
  DEFAULT_MAX_SKEW_NS,
  type SignedHeaders,
  signRequest,
  type VerifyResult,
  verifySignedRequest,
} from './signing.js';
