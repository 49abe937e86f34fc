import { z } from 'zod';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { ModelCatalog, ServedModel } from '../models.js';
import { noCapacity } from './upstream-errors.js';

/** A field whose every value but null is refused with `message`. */
const notServed = (message: string) => z.null(message).optional();

/** A content part: `{type, …}`, a text part's `text` a string. */
const contentPart = z.looseObject({ type: z.string().min(1) }).superRefine((part, check) => {
  if (part.type === 'text' && typeof part.text !== 'string')
    check.addIssue({ code: 'custom', path: ['text'], message: 'must be a string in a text part' });
});

/**
 * The OpenAI chat completion body's fields, checked where the gateway relies on them (model,
 * messages, token caps, stream); every other OpenAI field passes through to the node untouched.
 */
const chatFields = z.looseObject({
  model: z.string().min(1).max(200),
  // OpenAI's roles, and content as text, an array of parts ({type, …}) or null (an assistant's
  // tool call): anything else would be a node's refusal naming no field, or a job failing late.
  messages: z
    .array(
      z
        .looseObject({
          role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function'], {
            error: 'must be one of system, developer, user, assistant, tool, function',
          }),
          content: z
            .union([z.string(), z.array(contentPart), z.null()], {
              error: 'must be a string, an array of content parts ({"type": …}) or null',
            })
            .optional(),
        })
        .superRefine((m, check) => {
          // Only an assistant's message (its tool calls are the message) or a legacy function
          // result may go without content, as OpenAI's types have it.
          if (
            m.role !== 'assistant' &&
            m.role !== 'function' &&
            (m.content === undefined || m.content === null)
          )
            check.addIssue({
              code: 'custom',
              path: ['content'],
              message: `is required in a ${m.role} message`,
            });
        }),
    )
    .min(1, 'must hold at least one message'),
  max_tokens: z.number().int().positive().max(1_000_000).nullish(),
  max_completion_tokens: z.number().int().positive().max(1_000_000).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  logprobs: z.boolean().nullish(),
  // The meta: JSON Schema's enum applies to null too, so it must list it.
  n: z
    .literal(1, 'only n = 1 is supported')
    .nullish()
    .meta({ enum: [1, null] }),
  // OpenAI's own types and ranges for the sampling fields, checked here so a bad value is refused
  // naming its field; a node's refusal of it would name none. Other fields pass through as sent.
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  seed: z.number().int().nullish(),
  // The length checked apart from the union: zod names no branch when none fits ("Invalid input").
  stop: z
    .union([z.string(), z.array(z.string())], { error: 'must be a string or an array of strings' })
    .refine((v) => !Array.isArray(v) || v.length <= 4, 'must hold at most 4 stop sequences')
    .nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  // The other OpenAI fields, by their types. Fields OpenAI does not have pass through unchecked:
  // nodes run vLLM, whose own (top_k, min_p, repetition_penalty, …) clients send on purpose.
  tools: z
    .array(
      z.looseObject({
        type: z.string().min(1),
        function: z.looseObject({ name: z.string().min(1).max(64) }).optional(),
      }),
    )
    .nullish(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.string().min(1) })], {
      error: 'must be none, auto, required or an object naming a tool',
    })
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  // OpenAI's types (text, json_object, json_schema) and vLLM's own (structural_tag) alike.
  response_format: z.looseObject({ type: z.string().min(1) }).nullish(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  user: z.string().max(512).nullish(),
  // OpenAI features the network cannot give, refused naming them (as n > 1 is) rather than
  // answered with plain text as if they had been honoured.
  modalities: z.array(z.literal('text', 'only text output is served')).nullish(),
  audio: notServed('audio output is not served'),
  prediction: notServed('predicted outputs are not served'),
  web_search_options: notServed('web search is not served'),
  functions: notServed('legacy functions are not served; use tools'),
  function_call: notServed('legacy function_call is not served; use tool_choice'),
  store: z.literal(false, 'stored completions are not served; omit store').nullish(),
});

// As OpenAI: top_logprobs asks for what only logprobs: true returns.
const topLogprobsNeedLogprobs: [
  (b: { top_logprobs?: unknown; logprobs?: unknown }) => boolean,
  { message: string; path: string[] },
] = [
  (b) => b.top_logprobs == null || b.logprobs === true,
  { message: 'top_logprobs is only allowed with logprobs: true', path: ['top_logprobs'] },
];

/** The body of POST /v1/chat/completions. */
export const chatCompletionBody = chatFields
  .refine((b) => b.stream_options == null || b.stream === true, {
    message: 'stream_options is only allowed with stream: true',
    path: ['stream_options'],
  })
  .refine(...topLogprobsNeedLogprobs);

/**
 * A job's `request` (POST /v1/jobs): a chat body that does not stream, its answer polled or
 * delivered. In the schema rather than checked after it, so /openapi.json says so too.
 */
export const jobChatBody = chatFields
  .extend({
    stream: z.literal(false, 'async jobs cannot stream; omit stream').nullish(),
    stream_options: z.null('async jobs cannot stream; omit stream_options').optional(),
  })
  .refine(...topLogprobsNeedLogprobs);

export type ChatCompletionBody = z.infer<typeof chatCompletionBody>;

export interface PreparedChat {
  model: ServedModel;
  /** The completion cap the hold was sized for; the node is held to it. */
  maxTokens: number;
  /** What is sent to the node: the upstream model id and an explicit cap. */
  upstreamBody: Record<string, unknown>;
}

/**
 * Map the client's request onto a node request. The node always gets an explicit `max_tokens`, so
 * it can never generate past what the hold covers.
 */
export function prepareChat(
  body: ChatCompletionBody,
  models: Pick<ModelCatalog, 'resolve' | 'unpriced'>,
  config: Config,
  /** Where the body sits in the request, for the error's `param` (`request.` in POST /v1/jobs). */
  paramPrefix = '',
): PreparedChat {
  const model = models.resolve(body.model);
  if (!model) {
    if (models.unpriced(body.model)) throw noCapacity(body.model);
    throw new ApiError('invalid_request_error', `The model '${body.model}' does not exist`, {
      param: `${paramPrefix}model`,
      code: 'model_not_found',
    });
  }
  // The smaller of the two caps the client set, else the default.
  const cap = Math.min(
    body.max_tokens ?? Number.POSITIVE_INFINITY,
    body.max_completion_tokens ?? Number.POSITIVE_INFINITY,
  );
  const maxTokens = Number.isFinite(cap) ? cap : config.DEFAULT_MAX_TOKENS;
  // The caller's end-user ids (OpenAI's abuse and cache hints) are for no node: third parties run them.
  const {
    max_completion_tokens: _cap,
    user: _user,
    metadata: _metadata,
    safety_identifier: _safety,
    prompt_cache_key: _cacheKey,
    ...rest
  } = body;
  return {
    model,
    maxTokens,
    upstreamBody: {
      ...rest,
      model: model.upstream,
      max_tokens: maxTokens,
      messages: withTextContent(body.messages),
    },
  };
}

/**
 * Gonka nodes refuse a message whose content is null, absent, blank text or no parts
 * (validateMessages: validateMessageContent trims), which is how OpenAI clients send back an
 * assistant's tool call in the standard tool loop (the openai SDK and the Vercel AI SDK null,
 * LangChain ""), and a tool's empty result. One empty text
 * part passes their check and is the same message to the model: chat templates join a message's
 * text parts, so it renders as the null or "" would. (Read from the node's source; no live node was
 * at hand to try it on.)
 */
const EMPTY_TEXT = [{ type: 'text', text: '' }];

function withTextContent<M extends { content?: unknown }>(messages: M[]): M[] {
  if (!messages.some(isBlank)) return messages;
  return messages.map((m) => (isBlank(m) ? { ...m, content: EMPTY_TEXT } : m));
}

/** Any blank message OpenAI takes (a tool call's, an empty tool result, "" or [] from any role). */
function isBlank({ content }: { content?: unknown }): boolean {
  return (
    content === null ||
    content === undefined ||
    (typeof content === 'string' && content.trim() === '') ||
    (Array.isArray(content) && content.length === 0)
  );
}
