import { isJsonObject, type JsonObject } from '../json-object.js';

/** The id a synchronous chat completion is answered with: its hold's, so the books can name it. */
export function completionId(holdId: string): string {
  return `chatcmpl-${holdId.slice('hold_'.length)}`;
}

/** OpenAI's fields of a chat.completion and a chat.completion.chunk (system_fingerprint names the node's build). */
const COMPLETION_FIELDS = new Set(['id', 'object', 'created', 'model', 'choices', 'usage', 'service_tier']);
/** OpenAI's fields of a choice (vLLM adds `stop_reason`). */
const CHOICE_FIELDS = new Set(['index', 'message', 'delta', 'logprobs', 'finish_reason']);
/** OpenAI's fields of a message or a stream's delta, and a reasoning model's reasoning (vLLM's two names). */
const MESSAGE_FIELDS = new Set([
  'role',
  'content',
  'refusal',
  'tool_calls',
  'function_call',
  'audio',
  'annotations',
  'reasoning_content',
  'reasoning',
]);
/** OpenAI's fields of a tool call (`index` in a stream's delta). */
const TOOL_CALL_FIELDS = new Set(['index', 'id', 'type', 'function']);

/**
 * What a child key's client sees is the gateway's, not the node's: our id and the public model id
 * replace the node's, and whatever else a node adds at the top, in a choice, in its message or
 * delta or in a tool call (an executor's address, its engine's own fields) is dropped: only
 * OpenAI's fields pass (and a reasoning model's reasoning). Mutates the freshly parsed object.
 */
export function whiteLabel(obj: JsonObject, label: { id: string; model: string }): JsonObject {
  keepOnly(obj, COMPLETION_FIELDS);
  obj.id = label.id;
  obj.model = label.model;
  const choices = obj.choices;
  if (Array.isArray(choices))
    for (const c of choices) {
      if (!isJsonObject(c)) continue;
      keepOnly(c, CHOICE_FIELDS);
      const message = isJsonObject(c.message) ? c.message : isJsonObject(c.delta) ? c.delta : null;
      if (!message) continue;
      keepOnly(message, MESSAGE_FIELDS);
      if (Array.isArray(message.tool_calls))
        for (const call of message.tool_calls) if (isJsonObject(call)) keepOnly(call, TOOL_CALL_FIELDS);
    }
  return obj;
}

function keepOnly(obj: JsonObject, fields: Set<string>): void {
  for (const k in obj) if (!fields.has(k)) delete obj[k];
}
