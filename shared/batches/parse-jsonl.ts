import { z } from 'zod';
import { ApiError } from '../errors.js';
import { type ChatCompletionBody, chatCompletionBody } from '../inference/chat-request.js';
import { jsonBodyProblem } from '../json-body-check.js';
import { parse } from '../validate.js';

/** The one endpoint a batch line may call (OpenAI's `url` and the batch's `endpoint`). */
export const BATCH_ENDPOINT = '/v1/chat/completions';
/** Requests per batch input file, as in OpenAI. */
export const MAX_BATCH_LINES = 50_000;
/**
 * Characters in one line of a batch input file: a request with a whole model context of text is
 * well under a megabyte, and a line is held whole while it is checked, so a file of one endless
 * line must not become one 200 MiB string in the api.
 */
export const MAX_LINE_CHARS = 8 * 1024 * 1024;

/**
 * A line's envelope. Its `body` is a JSON object here and judged as a chat request only when the
 * line is dispatched (lineChat): as at OpenAI, one request's bad parameter fails that line,
 * in the error file, and the rest of the batch runs.
 */
const batchLine = z.strictObject({
  custom_id: z.string().min(1).max(512),
  method: z.literal('POST', 'must be "POST"'),
  url: z.literal(BATCH_ENDPOINT, `must be "${BATCH_ENDPOINT}"`),
  body: z.record(z.string(), z.unknown(), 'must be a JSON object: the chat completion request'),
});

export interface BatchInputLine {
  /** 1-based line of the file (blank lines count, so it matches what an editor shows). */
  lineNo: number;
  customId: string;
  /** The request as written; lineChat says whether it is a chat request this gateway serves. */
  body: Record<string, unknown>;
}

/**
 * A line's body as a chat completion request, or the 400 a POST /v1/chat/completions of it would
 * get (naming the field), which fails that line alone. Streaming is not for a batch.
 */
export function lineChat(body: unknown): { chat: ChatCompletionBody } | { refusal: ApiError } {
  let chat: ChatCompletionBody;
  try {
    chat = parse(chatCompletionBody, body);
  } catch (err) {
    if (err instanceof ApiError) return { refusal: err };
    throw err;
  }
  if (chat.stream) return { refusal: ApiError.invalid('stream', 'stream: batch requests cannot stream') };
  return { chat };
}

const bad = (lineNo: number, message: string) => ApiError.invalid('file', `Line ${lineNo}: ${message}`);

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field ${[...issue.path, issue.keys[0]].join('.')}`;
  const path = issue.path.join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** The bytes as text, a piece at a time; a character split between pieces is joined. */
async function* decodeUtf8(source: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (piece?: Buffer) => {
    try {
      return piece ? decoder.decode(piece, { stream: true }) : decoder.decode();
    } catch {
      throw ApiError.invalid('file', 'The file is not valid UTF-8');
    }
  };
  for await (const piece of source) yield decode(piece);
  yield decode();
}

/**
 * Validate a batch input file line by line as its bytes arrive, the way OpenAI does before
 * accepting it: every non-blank line a `{custom_id, method, url, body}` object with a unique
 * custom_id and a JSON object for a body (its parameters are judged per line, at dispatch). The first bad line is a 400 naming
 * `file` and the line; a file with no request at all is one too. Only the line being read is held
 * (and the custom_ids seen), so a file of any size costs about one line of memory.
 */
export async function* batchInputLines(source: AsyncIterable<Buffer>): AsyncGenerator<BatchInputLine> {
  const seen = new Map<string, number>();
  let lineNo = 0;
  // The line being read, in the pieces it came in: joined once, when its end arrives.
  let parts: string[] = [];
  let chars = 0;
  const add = (piece: string) => {
    chars += piece.length;
    if (chars > MAX_LINE_CHARS) throw bad(lineNo + 1, `longer than ${MAX_LINE_CHARS} characters`);
    parts.push(piece);
  };
  const take = (): BatchInputLine | null => {
    lineNo++;
    const source = parts.join('').trim();
    parts = [];
    chars = 0;
    if (source === '') return null;
    if (seen.size === MAX_BATCH_LINES)
      throw ApiError.invalid('file', `The file holds more than ${MAX_BATCH_LINES} requests`);
    let json: unknown;
    try {
      json = JSON.parse(source);
    } catch {
      throw bad(lineNo, 'not a valid JSON object');
    }
    // As for a request body: its text is stored (the line's request, the output file).
    const problem = jsonBodyProblem(json);
    if (problem) throw bad(lineNo, problem.message);
    const parsed = batchLine.safeParse(json);
    if (!parsed.success) throw bad(lineNo, describe(parsed.error.issues[0]!));
    const { custom_id, body } = parsed.data;
    const first = seen.get(custom_id);
    if (first !== undefined) throw bad(lineNo, `custom_id "${custom_id}" is already used on line ${first}`);
    seen.set(custom_id, lineNo);
    return { lineNo, customId: custom_id, body };
  };
  for await (const text of decodeUtf8(source)) {
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      add(text.slice(start, end));
      const line = take();
      if (line) yield line;
      start = end + 1;
    }
    add(text.slice(start));
  }
  const last = take();
  if (last) yield last;
  if (seen.size === 0) throw ApiError.invalid('file', 'The file holds no requests');
}
