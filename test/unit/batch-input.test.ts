import { describe, expect, it } from 'vitest';
import { MAX_BATCH_LINES, parseBatchInput } from '../../shared/batches/parse-jsonl.js';
import { batchFailure, buildResultFiles } from '../../shared/batches/results.js';
import type { ResultLine } from '../../shared/db/queries/batch-lines.js';
import { ApiError } from '../../shared/errors.js';

const line = (customId: string) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
  });

function refusal(content: string | Buffer): ApiError {
  try {
    parseBatchInput(Buffer.isBuffer(content) ? content : Buffer.from(content));
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('batch input files', () => {
  it('numbers lines as an editor does, skipping blank ones and a CRLF ending', () => {
    const lines = parseBatchInput(Buffer.from(`${line('a')}\r\n\r\n${line('b')}\r\n`));
    expect(lines.map((l) => [l.lineNo, l.customId])).toEqual([
      [1, 'a'],
      [3, 'b'],
    ]);
  });

  it(`refuses more than ${MAX_BATCH_LINES} requests`, () => {
    const text = Array.from({ length: MAX_BATCH_LINES + 1 }, (_, i) => line(`r${i}`)).join('\n');
    expect(refusal(text).message).toMatch(/more than 50000 requests/);
  });

  it('refuses bytes that are not UTF-8', () => {
    const err = refusal(Buffer.from([0xff, 0xfe]));
    expect(err.extra.param).toBe('file');
    expect(err.message).toMatch(/UTF-8/);
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

  it('writes OpenAI result lines: responses for requests that ran, errors for those that did not', () => {
    const files = buildResultFiles(lines);
    expect(files.output.map((l) => JSON.parse(l))).toEqual([
      {
        id: 'batch_req_1',
        custom_id: 'a',
        response: { status_code: 200, request_id: 'job_1', body: { object: 'chat.completion' } },
        error: null,
      },
    ]);
    expect(files.errors.map((l) => JSON.parse(l))).toMatchObject([
      {
        custom_id: 'b',
        response: { status_code: 502, body: { error: { type: 'upstream_error' } } },
        error: null,
      },
      { custom_id: 'c', response: null, error: { code: 'batch_expired' } },
    ]);
  });

  it('calls a batch failed only when every line failed for a reason other than money', () => {
    expect(batchFailure(lines)).toBeNull();
    const failed = lines.slice(1, 2);
    expect(batchFailure(failed)).toMatchObject({ data: [{ code: 'upstream_error', line: 2 }] });
    expect(batchFailure([{ ...failed[0]!, error: { type: 'insufficient_balance' } }])).toBeNull();
  });
});
