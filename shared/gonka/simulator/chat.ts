import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { promptTokens, type SimMessage } from './completion.js';
import { type NodeFaults, parseDirective, type RequestFaults, resolveFaults } from './faults.js';
import { sendJson, sendNodeError, sleep } from './http.js';
import { type AnswerShape, answerShape, applyStop, type SimAnswer, simulateAnswer } from './structured.js';

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
  /** The node's own base URL, which its capacity refusal points at. */
  publicUrl: string;
  faults: NodeFaults;
  baseLatencyMs: number;
  stats: SimStats;
}

/** A real node's words for each injected status (decentralized-api handleTransferRequest and friends). */
const FAULT_MESSAGES = {
  // Our own Gonka account cannot cover the escrow (validateRequester).
  402: 'insufficient balance',
  // This transfer agent is not on the chain's allow-list (enforceTransferAgentAccess).
  403: 'Transfer Agent not allowed',
  429: 'Transfer Agent capacity reached. Try another TA from {url}/v1/epochs/current/participants',
  500: 'Internal Server Error',
  503: 'no executors available for model',
} as const;

type Parsed = {
  model: string;
  messages: SimMessage[];
  maxTokens?: number;
  stream: boolean;
  shape: AnswerShape;
  /** Alternatives per token in logprobs (see logprobsFor). */
  topLogprobs: number;
  stop: unknown;
};

function validate(body: unknown, models: ReadonlyMap<string, bigint>, res: ServerResponse): Parsed | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    sendNodeError(res, 400, 'invalid request format');
    return null;
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string') {
    sendNodeError(res, 400, 'model is required');
    return null;
  }
  if (!models.has(b.model)) {
    sendNodeError(res, 404, 'model not found');
    return null;
  }
  const msgs = b.messages;
  if (!Array.isArray(msgs) || msgs.length === 0 || !msgs.every((m) => m && typeof m.role === 'string')) {
    sendNodeError(res, 400, 'messages must be a non-empty array of {role, content}');
    return null;
  }
  // Current nodes take text only: a null, absent or blank content, no parts, or a part that is not
  // text is refused (validateMessages: ErrUnsupportedMessageContent).
  const unsupported = msgs.findIndex((m) => !isTextContent(m.content));
  if (unsupported >= 0) {
    sendNodeError(res, 400, `unsupported message content in message ${unsupported}`);
    return null;
  }
  const max = b.max_completion_tokens ?? b.max_tokens;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && (max as number) >= 1)) {
    sendNodeError(res, 400, 'max_tokens must be a positive integer');
    return null;
  }
  return {
    model: b.model,
    messages: msgs,
    maxTokens: (max as number | null) ?? undefined,
    stream: b.stream === true,
    shape: answerShape(b, msgs),
    // Nodes force at least five; more when asked.
    topLogprobs:
      b.logprobs === true
        ? Math.max(FORCED_TOP_LOGPROBS, Number.isInteger(b.top_logprobs) ? (b.top_logprobs as number) : 0)
        : 0,
    stop: b.stop,
  };
}

/** A current node's validateMessageContent: text that is not blank, or one or more text parts (empty ones too). */
function isTextContent(content: unknown): boolean {
  if (typeof content === 'string') return content.trim() !== '';
  return (
    Array.isArray(content) &&
    content.length > 0 &&
    content.every((p) => p !== null && typeof p === 'object' && (p as { type?: unknown }).type === 'text')
  );
}

/**
 * Nodes force logprobs (and `top_logprobs: 5`, for validators to re-check): emitting them always
 * makes the gateway's stripping testable. The five alternatives per token come only when the
 * request asked for logprobs, as the gateway then passes them on (trimmed to what its client
 * asked): elsewhere it drops them whole, so the benchmark's baseline carries just the token's own.
 */
function logprobsFor(
  pieces: readonly string[],
  top: number,
): { content: { token: string; logprob: number; top_logprobs: { token: string; logprob: number }[] }[] } {
  return {
    content: pieces.map((token) => ({
      token,
      logprob: -0.25,
      top_logprobs: Array.from({ length: top }, (_, i) => ({
        token: i === 0 ? token : `${token}~${i}`,
        logprob: i === 0 ? -0.25 : -1 - i,
      })),
    })),
  };
}

/** The top alternatives a real node sends per token: its forced five, when logprobs were asked for. */
const FORCED_TOP_LOGPROBS = 5;

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
  sendNodeError(
    res,
    400,
    `Inference node response with an error. code = 400. error = ${JSON.stringify(vllm)}.`,
  );
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
    sendNodeError(res, faults.status, FAULT_MESSAGES[faults.status].replace('{url}', ctx.publicUrl));
    return;
  }
  ctx.stats.served++;
  const c = applyStop(simulateAnswer(p.shape, p.messages, p.maxTokens), p.stop);
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
      choices: [
        { index: 0, message, logprobs: logprobsFor(c.pieces, p.topLogprobs), finish_reason: c.finishReason },
      ],
      usage,
    });
    return;
  }
  if (!(await stream(res, { id, created, model: p.model, top: p.topLogprobs }, c, usage, faults)))
    ctx.stats.abandoned++;
}

async function stream(
  res: ServerResponse,
  head: { id: string; created: number; model: string; top: number },
  c: SimAnswer,
  usage: Record<string, number>,
  faults: RequestFaults,
): Promise<boolean> {
  const { id, created, model, top } = head;
  const event = (choices: unknown[], extra?: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
  const events: string[] = [];
  for (const [i, piece] of c.pieces.entries()) {
    const delta = deltaOf(c, i, piece);
    events.push(event([{ index: 0, delta, logprobs: logprobsFor([piece], top), finish_reason: null }]));
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
