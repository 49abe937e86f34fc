/**
 * What a node said when it answered an error (the client reads it to tell a refusal of the gateway from one of
 * the request; a 4xx of the request is passed on by upstream-errors.ts), from the shapes its answer comes in:
 * - OpenAI's (and newer vLLM's): `{"error": {"message", "param", "code"}}`;
 * - older vLLM's: `{"object": "error", "message", "param", "code": 400}`;
 * - a Gonka node's own (echo's HTTPError through its TransparentErrorHandler): `{"error": "…"}`,
 *   older nodes' `{"message": "…"}`, where the executor wraps what vLLM answered as
 *   `Inference node response with an error. code = 400. error = <vLLM's body>.`;
 * - FastAPI's 422: `{"detail": [{"loc": [...], "msg": "…"}]}`.
 * Null when none of them says anything. `param` only where it names a request field, and `code`
 * only where it is a word (vLLM's is the HTTP status).
 */
export interface NodeRefusal {
  message: string;
  param: string | null;
  code: string | null;
  /**
   * Said by the model's server (vLLM, also as a node's executor wraps it), not by the node's own
   * software, whose words may name its hosts (upstream-errors.ts passes few of those on).
   */
  byModel: boolean;
}

const EXECUTOR_WRAP = /^Inference node response with an error\. code = \d+\. error = ([\s\S]*?)\.?$/;
const FIELD = /^[A-Za-z_][\w.[\]]{0,99}$/;
const WORD = /^[a-z][a-z0-9_]{0,63}$/;

export function nodeRefusal(body: unknown, depth = 0): NodeRefusal | null {
  if (typeof body === 'string') return fromText(body, depth);
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  if (typeof b.error === 'string') return fromText(b.error, depth);
  const nested = b.error && typeof b.error === 'object';
  const inner = nested ? (b.error as Record<string, unknown>) : b;
  if (typeof inner.message === 'string') {
    // A Gonka node's wrapper holds vLLM's own answer: read that, it has the param.
    const wrapped = depth === 0 ? fromText(inner.message, depth) : null;
    if (wrapped && wrapped.message !== inner.message) return wrapped;
    return {
      message: inner.message,
      param: typeof inner.param === 'string' && FIELD.test(inner.param) ? inner.param : null,
      code: typeof inner.code === 'string' && WORD.test(inner.code) ? inner.code : null,
      // OpenAI's and vLLM's shapes, or anything inside an executor's wrap; a bare {"message"} is an older node's own.
      byModel: Boolean(nested) || b.object === 'error' || depth > 0,
    };
  }
  const detail = Array.isArray(b.detail) ? (b.detail[0] as Record<string, unknown> | undefined) : undefined;
  if (detail && typeof detail.msg === 'string') {
    // loc is ["body", "messages", 0, "content"]: the field is what follows "body".
    const loc = Array.isArray(detail.loc) ? detail.loc.filter((p) => p !== 'body').join('.') : '';
    return {
      message: loc ? `${loc}: ${detail.msg}` : detail.msg,
      param: FIELD.test(loc) ? loc : null,
      code: null,
      byModel: true,
    };
  }
  return null;
}

function fromText(text: string, depth: number): NodeRefusal | null {
  const m = EXECUTOR_WRAP.exec(text.trim());
  if (!m) return text.trim() ? { message: text.trim(), param: null, code: null, byModel: depth > 0 } : null;
  const said = (m[1] ?? '').trim();
  try {
    return (
      nodeRefusal(JSON.parse(said), depth + 1) ?? { message: said, param: null, code: null, byModel: true }
    );
  } catch {
    return said ? { message: said, param: null, code: null, byModel: true } : null;
  }
}

/** OpenAI's code for a prompt (plus max_tokens) past the model's context, which clients act on. */
export function refusalCode(r: NodeRefusal): string | null {
  if (r.code) return r.code;
  return /maximum context length|context length (?:is|of)|context window/i.test(r.message)
    ? 'context_length_exceeded'
    : null;
}
