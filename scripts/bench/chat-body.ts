import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';

/** The chat request the benches send (bench:jobs wraps it as a job): a short prompt, a 32-token cap. */
export const CHAT_BODY = JSON.stringify({
  model: SIM_MODEL_QWEN3_235B,
  messages: [{ role: 'user', content: 'Write one short sentence about rivers.' }],
  max_tokens: 32,
});
