import { describe, expect, it } from 'vitest';
import {
  type BatchInputLine,
  batchInputLines,
  MAX_BATCH_LINES,
  MAX_LINE_CHARS,
} from '../../shared/batches/parse-jsonl.js';
import { BatchOutcome, resultLine } from '../../shared/batches/results.js';
import type { ResultLine } from '../../shared/db/queries/batch-lines.js';
import { ApiError } from '../../shared/errors.js';

const line = (customId: string, content = 'hi') =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'm', messages: [{ role: 'user', content }] },
  });

/** The file's bytes as an upload or a stored file delivers them: in pieces of `pieceBytes`. */
async function* pieces(content: Buffer, pieceBytes: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < content.length; at += pieceBytes) yield content.subarray(at, at + pieceBytes);
}

async function parse(
  content: string | Buffer,
  pieceBytes = Number.MAX_SAFE_INTEGER,
): Promise<BatchInputLine[]> {
  const lines: BatchInputLine[] = [];
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  for await (const l of batchInputLines(pieces(bytes, pieceBytes))) lines.push(l);
  return lines;
}

async function refusal(content: string | Buffer, pieceBytes?: number): Promise<ApiError> {
  try {
    await parse(content, pieceBytes);
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('batch input files', () => {
  it('numbers lines as an editor does, skipping blank ones and a CRLF ending', async () => {
    const lines = await parse(`${line('a')}\r\n\r\n${line('b')}\r\n`);
    expect(lines.map((l) => [l.lineNo, l.customId])).toEqual([
      [1, 'a'],
      [3, 'b'],
    ]);
  });

  it('reads the same lines whatever the pieces, a character split between two included', async () => {
    // "é" and "🌊" are 2 and 4 bytes: pieces of 1, 3 and 7 bytes cut them, and lines, anywhere.
    const text = `${line('a', 'rivière')}\n\n${line('b', 'wave 🌊')}\n${line('c')}`;
    const whole = await parse(text);
    expect(whole.map((l) => [l.lineNo, l.customId, l.body.messages])).toEqual([
      [1, 'a', [{ role: 'user', content: 'rivière' }]],
      [3, 'b', [{ role: 'user', content: 'wave 🌊' }]],
      [4, 'c', [{ role: 'user', content: 'hi' }]],
    ]);
    for (const size of [1, 3, 7]) expect(await parse(text, size)).toEqual(whole);
  });

  it('names the first bad line, wherever the pieces fall', async () => {
    const text = `${line('a')}\n${line('b')}\n{"custom_id": "c"\n`;
    for (const size of [1, 5, Number.MAX_SAFE_INTEGER])
      expect((await refusal(text, size)).message).toMatch(/^Line 3: not a valid JSON object/);
    expect((await refusal(`${line('a')}\n${line('a')}`, 4)).message).toMatch(/already used on line 1/);
  });

  it(`refuses a line longer than ${MAX_LINE_CHARS} characters, naming it, before holding it whole`, async () => {
    const text = `${line('a')}\n\n${'x'.repeat(MAX_LINE_CHARS + 1)}\n${line('b')}`;
    expect((await refusal(text, 64 * 1024)).message).toMatch(/^Line 3: longer than 8388608 characters/);
    // Just under the limit is read (and then judged as JSON).
    const long = `${line('a')}\n${'x'.repeat(MAX_LINE_CHARS)}`;
    expect((await refusal(long, 64 * 1024)).message).toMatch(/^Line 2: not a valid JSON object/);
  });

  it('refuses a file with no request', async () => {
    expect((await refusal('\n \n')).message).toMatch(/no requests/);
  });

  it(`refuses more than ${MAX_BATCH_LINES} requests`, async () => {
    const text = Array.from({ length: MAX_BATCH_LINES + 1 }, (_, i) => line(`r${i}`)).join('\n');
    expect((await refusal(text, 64 * 1024)).message).toMatch(/more than 50000 requests/);
  });

  it('refuses bytes that are not UTF-8, and a character cut off at the end', async () => {
    const err = await refusal(Buffer.from([0xff, 0xfe]));
    expect(err.extra.param).toBe('file');
    expect(err.message).toMatch(/UTF-8/);
    const cut = Buffer.from(`${line('a', 'rivière')}\n${line('b', 'é')}`).subarray(0, -10);
    const truncated = Buffer.concat([Buffer.from(`${line('a')}\n`), Buffer.from('🌊').subarray(0, 3)]);
    expect((await refusal(cut)).message).toMatch(/^Line 2/);
    expect((await refusal(truncated, 2)).message).toMatch(/UTF-8/);
  });
});

describe('batch result files', () => {
  const base = { result: null, error: null } as const;
  const lines: ResultLine[] = [
    {
      ...base,
      id: 'job_1',
      custom_id: 'a',
      line_no: 1,
      status: 'succeeded',
      result: { object: 'chat.completion' },
    },
    {
      ...base,
      id: 'job_2',
      custom_id: 'b',
      line_no: 2,
      status: 'failed',
      error: { type: 'upstream_error', message: 'x' },
    },
    { ...base, id: 'job_3', custom_id: 'c', line_no: 3, status: 'expired' },
  ];

  const fileOf = (kind: 'output' | 'error', of: ResultLine[]) =>
    of.map(resultLine).flatMap((r) => (r.file === kind ? [JSON.parse(r.json)] : []));
  const outcome = (of: ResultLine[]) => {
    const o = new BatchOutcome();
    for (const l of of) o.add(l);
    return o;
  };

  it('writes OpenAI result lines: responses for requests that ran, errors for those that did not', () => {
    expect(fileOf('output', lines)).toEqual([
      {
        id: 'batch_req_1',
        custom_id: 'a',
        response: { status_code: 200, request_id: 'job_1', body: { object: 'chat.completion' } },
        error: null,
      },
    ]);
    expect(fileOf('error', lines)).toMatchObject([
      {
        custom_id: 'b',
        response: { status_code: 502, body: { error: { type: 'upstream_error' } } },
        error: null,
      },
      { custom_id: 'c', response: null, error: { code: 'batch_expired' } },
    ]);
  });

  it('calls a batch failed only when every line failed for a reason other than money', () => {
    expect(outcome(lines).failure()).toBeNull();
    expect(outcome(lines)).toMatchObject({ completed: 1, failed: 1 });
    const failed = lines.slice(1, 2);
    expect(outcome(failed).failure()).toMatchObject({
      data: [{ code: 'upstream_error', param: null, line: 2 }],
    });
    // The line's own code and param go with it (an unknown model: `model_not_found`, `model`).
    const unknownModel = {
      ...failed[0]!,
      error: { type: 'invalid_request_error', code: 'model_not_found', message: 'no', param: 'model' },
    };
    expect(outcome([unknownModel]).failure()).toMatchObject({
      data: [{ code: 'model_not_found', param: 'model' }],
    });
    expect(outcome([{ ...failed[0]!, error: { type: 'insufficient_balance' } }]).failure()).toBeNull();
    expect(outcome([]).failure()).toBeNull();
  });
});
