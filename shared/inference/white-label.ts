type Json = Record<string, unknown>;

/** The id a synchronous chat completion is answered with: its hold's, so the books can name it. */
export function completionId(holdId: string): string {
  return `chatcmpl-${holdId.slice('hold_'.length)}`;
}

/** OpenAI's fields of a chat.completion and a chat.completion.chunk (system_fingerprint names the node's build). */
const COMPLETION_FIELDS = new Set(['id', 'object', 'created', 'model', 'choices', 'usage', 'service_tier']);
/** OpenAI's fields of a choice (vLLM adds `stop_reason`). */
const CHOICE_FIELDS = new Set(['index', 'message', 'delta', 'logprobs', 'finish_reason']);

/**
 * What a child key's client sees is the gateway's, not the node's: our id and the public model id
 * replace the node's, and whatever else a node adds at the top or in a choice (an executor's
 * address, its engine's own fields) is dropped: only OpenAI's fields pass. A message's own fields
 * pass as they are (content, tool calls, a reasoning model's reasoning_content). Mutates the
 * freshly parsed object.
 */
export function whiteLabel(obj: Json, label: { id: string; model: string }): Json {
  for (const k of Object.keys(obj)) if (!COMPLETION_FIELDS.has(k)) delete obj[k];
  obj.id = label.id;
  obj.model = label.model;
  const choices = obj.choices;
  if (Array.isArray(choices))
    for (const c of choices)
      if (c !== null && typeof c === 'object')
        for (const k of Object.keys(c)) if (!CHOICE_FIELDS.has(k)) delete (c as Json)[k];
  return obj;
}
