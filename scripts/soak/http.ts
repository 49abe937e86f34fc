/**
 * The scripts' HTTP client (the soak, seed-demo): JSON calls and SSE streams the way a client sends
 * them, over fetch.
 */

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A network failure or a client-side timeout: the answer never came (status 0). */
export const NO_ANSWER = 0;

export async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    form?: FormData;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | FormData | undefined = opts.form;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await fetch(base + path, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = { raw: text };
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  } catch {
    return { status: NO_ANSWER, body: null as T, headers: new Headers() };
  }
}

export interface StreamOutcome {
  status: number;
  /** The completion id of the chunks (chatcmpl-…), once one arrived. */
  id: string | null;
  chunks: number;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  /** `[DONE]` arrived. */
  done: boolean;
  /** An error event arrived mid-stream. */
  errored: boolean;
  /** The client hung up after `hangUpAfter` chunks. */
  hungUp: boolean;
  /** The JSON body of an answer other than 200 (a refusal's error envelope). */
  refusal: unknown;
}

/**
 * POST a streaming chat completion and read its SSE; with `hangUpAfter`, abort the connection after
 * that many chunks (a client that leaves mid-stream).
 */
export async function stream(
  base: string,
  token: string,
  body: unknown,
  hangUpAfter: number | null,
): Promise<StreamOutcome> {
  const out: StreamOutcome = {
    status: NO_ANSWER,
    id: null,
    chunks: 0,
    usage: null,
    done: false,
    errored: false,
    hungUp: false,
    refusal: null,
  };
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 60_000);
  try {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    out.status = res.status;
    if (res.status !== 200 || !res.body) {
      out.refusal = await res.json().catch(() => null);
      return out;
    }
    const decoder = new TextDecoder();
    let buffered = '';
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let end = buffered.indexOf('\n\n');
      while (end >= 0) {
        readEvent(buffered.slice(0, end), out);
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf('\n\n');
      }
      if (hangUpAfter !== null && out.chunks >= hangUpAfter && !out.done) {
        out.hungUp = true;
        abort.abort();
        break;
      }
    }
  } catch {
    // the connection ended (a hang-up of ours, a cut, a timeout): what was read is the outcome
  } finally {
    clearTimeout(timer);
  }
  return out;
}

function readEvent(event: string, out: StreamOutcome): void {
  for (const line of event.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (data === '[DONE]') {
      out.done = true;
      continue;
    }
    try {
      const chunk = JSON.parse(data) as {
        id?: string;
        error?: unknown;
        usage?: StreamOutcome['usage'];
        choices?: unknown[];
      };
      if (chunk.error) out.errored = true;
      if (chunk.id) out.id ??= chunk.id;
      if (chunk.usage) out.usage = chunk.usage;
      if (chunk.choices?.length) out.chunks++;
    } catch {
      out.errored = true;
    }
  }
}
