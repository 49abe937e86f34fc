import { z } from 'zod';
import { ApiError } from '../errors.js';
import { type ChatCompletionBody, chatCompletionBody } from '../inference/chat-request.js';

/** The one endpoint a batch line may call (OpenAI's `url` and the batch's `endpoint`). */
export const BATCH_ENDPOINT = '/v1/chat/completions';
/** Upload size limit: files are kept in Postgres, which is why this is well below OpenAI's. */
export const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** Requests per batch input file, as in OpenAI. */
export const MAX_BATCH_LINES = 50_000;

const batchLine = z.strictObject({
  custom_id: z.string().min(1).max(512),
  method: z.literal('POST', 'must be "POST"'),
  url: z.literal(BATCH_ENDPOINT, `must be "${BATCH_ENDPOINT}"`),
  body: chatCompletionBody,
});

export interface BatchInputLine {
  /** 1-based line of the file (blank lines count, so it matches what an editor shows). */
  lineNo: number;
  customId: string;
  body: ChatCompletionBody;
}

const bad = (lineNo: number, message: string) => ApiError.invalid('file', `Line ${lineNo}: ${message}`);

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field ${[...issue.path, issue.keys[0]].join('.')}`;
  const path = issue.path.join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Validate a batch input file line by line, the way OpenAI does before accepting it: every
 * non-blank line a `{custom_id, method, url, body}` object with a unique custom_id and a chat
 * completion body that does not stream. The first bad line is a 400 naming `file` and the line.
 */
export function parseBatchInput(content: Buffer): BatchInputLine[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    throw ApiError.invalid('file', 'The file is not valid UTF-8');
  }
  const lines: BatchInputLine[] = [];
  const seen = new Map<string, number>();
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const source = raw[i]!.trim();
    if (source === '') continue;
    const lineNo = i + 1;
    if (lines.length === MAX_BATCH_LINES)
      throw ApiError.invalid('file', `The file holds more than ${MAX_BATCH_LINES} requests`);
    let json: unknown;
    try {
      json = JSON.parse(source);
    } catch {
      throw bad(lineNo, 'not a valid JSON object');
    }
    const parsed = batchLine.safeParse(json);
    if (!parsed.success) throw bad(lineNo, describe(parsed.error.issues[0]!));
    const { custom_id, body } = parsed.data;
    if (body.stream) throw bad(lineNo, 'body.stream: batch requests cannot stream');
    const first = seen.get(custom_id);
    if (first !== undefined) throw bad(lineNo, `custom_id "${custom_id}" is already used on line ${first}`);
    seen.set(custom_id, lineNo);
    lines.push({ lineNo, customId: custom_id, body });
  }
  if (lines.length === 0) throw ApiError.invalid('file', 'The file holds no requests');
  return lines;
}
