import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { promptTokens, type SimMessage } from './completion.js';
import { type NodeFaults, parseDirective, type RequestFaults, resolveFaults } from './faults.js';
import { sendError, sendJson, sleep } from './http.js';
import { type AnswerShape, answerShape, type SimAnswer, simulateAnswer } from './structured.js';

export interface SimStats {
  /** Chat completion requests that reached this node (any outcome). */
  requests: number;
  /** Answered 200 (a stream counts even if it was later cut). */
  served: number;
  /** Answered with an error status (auth, validation or an injected fault). */
  errors: number;
  /**
   * Calls the client left before the end: slow streams (`tokenDelayMs`), where generation stopped,
   * and calls closed before their answer (during `latencyMs`), which made nothing.
   */
  abandoned: number;
}

export interface ChatContext {
  models: ReadonlyMap<string, bigint>;
  faults: NodeFaults;
  baseLatencyMs: number;
  stats: SimStats;
}

const FAULT_BODIES = {
  429: { message: 'capacity reached', type: 'rate_limit_error' },
  500: { message: 'internal error', type: 'server_error' },
  503: { message: 'no executors available for the model', type: 'server_error' },
} as const;

type Parsed = {
  model: string;
  messages: SimMessage[];
  maxTokens?: number;
  stream: boolean;
  shape: AnswerShape;
};

function validate(body: unknown, models: ReadonlyMap<string, bigint>, res: ServerResponse): Parsed | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    sendError(res, 400, 'request body must be a JSON object', 'invalid_request_error');
    return null;
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string') {
    sendError(res, 400, 'model is required', 'invalid_request_error', { param: 'model' });
    return null;
  }
  if (!models.has(b.model)) {
    sendError(res, 404, `The model \`${b.model}\` does not exist.`, 'invalid_request_error', {
      param: 'model',
      code: 'model_not_found',
    });
    return null;
  }
  const msgs = b.messages;
  if (!Array.isArray(msgs) || msgs.length === 0 || !msgs.every((m) => m && typeof m.role === 'string')) {
    sendError(res, 400, 'messages must be a non-empty array of {role, content}', 'invalid_request_error', {
      param: 'messages',
    });
    return null;
  }
  const max = b.max_completion_tokens ?? b.max_tokens;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && (max as number) >= 1)) {
    sendError(res, 400, 'max_tokens must be a positive integer', 'invalid_request_error', {
      param: 'max_tokens',
    });
    return null;
  }
  return {
    model: b.model,
    messages: msgs,
    maxTokens: (max as number | null) ?? undefined,
    stream: b.stream === true,
    shape: answerShape(b, msgs),
  };
}

/** Nodes may force logprobs; emitting them always makes the gateway's stripping testable. */
function logprobsFor(pieces: readonly string[]): {
  content: { token: string; logprob: number; top_logprobs: [] }[];
} {
  return { content: pieces.map((token) => ({ token, logprob: -0.25, top_logprobs: [] })) };
}

/** Every simulated model's context window, in tokens (the Qwen models' native 32K). */
export const SIM_CONTEXT_TOKENS = 32_768;

/**
 * vLLM refuses a prompt plus max_tokens past the model's context with a 400; the Gonka node that
 * ran it answers with echo's error, whose message wraps vLLM's body (getInferenceErrorMessage).
 */
function overContext(p: Parsed, res: ServerResponse): boolean {
  const prompt = promptTokens(p.messages);
  const completion = p.maxTokens ?? 0;
  if (prompt + completion <= SIM_CONTEXT_TOKENS) return false;
  const vllm = {
    object: 'error',
    message: `This model's maximum context length is ${SIM_CONTEXT_TOKENS} tokens. However, you requested ${prompt + completion} tokens (${prompt} in the messages, ${completion} in the completion). Please reduce the length of the messages or completion.`,
    type: 'BadRequestError',
    param: 'messages',
    code: 400,
  };
  sendJson(res, 400, {
    message: `Inference node response with an error. code = 400. error = ${JSON.stringify(vllm)}.`,
  });
  return true;
}

export async function handleChat(res: ServerResponse, body: unknown, ctx: ChatContext): Promise<void> {
  const p = validate(body, ctx.models, res);
  if (!p || overContext(p, res)) {
    ctx.stats.errors++;
    return;
  }
  const faults = resolveFaults(ctx.faults, parseDirective(p.messages));
  const latency = faults.latencyMs || ctx.baseLatencyMs;
  // A client that leaves while the node works (an aborted call) gets nothing made: as a real node
  // stops generating when its connection closes.
  let left = false;
  res.once('close', () => {
    left = !res.writableEnded;
  });
  await sleep(latency);
  if (left) {
    ctx.stats.abandoned++;
    return;
  }
  if (faults.status) {
    ctx.stats.errors++;
    const f = FAULT_BODIES[faults.status];
    sendError(res, faults.status, f.message, f.type);
    return;
  }
  ctx.stats.served++;
  const c = simulateAnswer(p.shape, p.messages, p.maxTokens);
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = {
    prompt_tokens: c.promptTokens,
    completion_tokens: c.completionTokens,
    total_tokens: c.promptTokens + c.completionTokens,
  };
  if (!p.stream) {
    const text = c.pieces.join('');
    const message = c.toolCall
      ? {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: c.toolCall.id, type: 'function', function: { name: c.toolCall.name, arguments: text } },
          ],
        }
      : { role: 'assistant', content: text };
    sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model: p.model,
      choices: [{ index: 0, message, logprobs: logprobsFor(c.pieces), finish_reason: c.finishReason }],
      usage,
    });
    return;
  }
  if (!(await stream(res, { id, created, model: p.model }, c, usage, faults))) ctx.stats.abandoned++;
}

async function stream(
  res: ServerResponse,
  head: { id: string; created: number; model: string },
  c: SimAnswer,
  usage: Record<string, number>,
  faults: RequestFaults,
): Promise<boolean> {
  const { id, created, model } = head;
  const event = (choices: unknown[], extra?: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
  const events: string[] = [];
  for (const [i, piece] of c.pieces.entries()) {
    const delta = deltaOf(c, i, piece);
    events.push(event([{ index: 0, delta, logprobs: logprobsFor([piece]), finish_reason: null }]));
  }
  // A cut lands inside the content at the latest, so a cut stream never carries usage.
  const cutAt =
    faults.cutAfterChunks === undefined ? undefined : Math.min(faults.cutAfterChunks, events.length);
  if (faults.errorAfterChunks !== undefined) {
    events.length = Math.min(faults.errorAfterChunks, events.length);
    const error = {
      message: 'CUDA out of memory on executor http://10.1.2.3:5000',
      type: 'server_error',
      code: 500,
    };
    events.push(`data: ${JSON.stringify({ error })}\n\n`);
  } else {
    events.push(event([{ index: 0, delta: {}, logprobs: null, finish_reason: c.finishReason }]));
    // Real nodes force the usage chunk whatever the client asked for.
    if (!faults.noUsage) events.push(event([], { usage }));
  }
  events.push('data: [DONE]\n\n');

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const upTo = cutAt ?? events.length;
  if (faults.tokenDelayMs === 0) {
    // One write for the whole answer: this is the benchmark baseline, keep syscalls out of it.
    const text = events.slice(0, upTo).join('');
    if (cutAt === undefined) res.end(text);
    else cut(res, text);
    return true;
  }
  let gone = false;
  res.on('close', () => {
    gone = !res.writableFinished;
  });
  for (let i = 0; i < upTo; i++) {
    if (gone || res.destroyed) return false; // the client went away: stop generating, like a node would
    res.write(events[i] ?? '');
    if (i < upTo - 1) await sleep(faults.tokenDelayMs);
  }
  if (cutAt === undefined) res.end();
  else cut(res, '');
  return true;
}

/** A chunk's delta: a piece of the text, or of the tool call's arguments (its id and name come first). */
function deltaOf(c: SimAnswer, i: number, piece: string): Record<string, unknown> {
  if (!c.toolCall) return i === 0 ? { role: 'assistant', content: piece } : { content: piece };
  if (i > 0) return { tool_calls: [{ index: 0, function: { arguments: piece } }] };
  const { id, name } = c.toolCall;
  return {
    role: 'assistant',
    content: null,
    tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: piece } }],
  };
}

/** Send what was generated, then drop the connection without ending the chunked body. */
function cut(res: ServerResponse, text: string): void {
  res.flushHeaders();
  // Destroy only once the bytes left userland, or the client would never see the partial stream.
  res.write(text, () => res.destroy());
}
