import type { ResultLine } from '../db/queries/batch-lines.js';
import { type ErrorType, statusOf } from '../errors.js';
import { END_ERRORS } from './end-lines.js';

/** Refusals that mean "not now, for money": the batch carries on past them (API.md). */
export const MONEY_ERRORS: readonly string[] = ['child_key_limit', 'insufficient_balance'];

export interface ResultFiles {
  /** JSONL lines of the output file: every succeeded request. */
  output: string[];
  /** JSONL lines of the error file: failed, expired and cancelled requests. */
  errors: string[];
}

/** OpenAI's per-request id in batch results; derived from the line's job id, so stable on reruns. */
const requestId = (jobId: string) => `batch_req_${jobId.replace(/^job_/, '')}`;

function statusCode(error: Record<string, unknown> | null): number {
  const type = String(error?.type ?? 'internal_error');
  return statusOf(type as ErrorType) ?? 500;
}

/**
 * The output and error files of a batch, in input order, in OpenAI's format: a request that ran
 * has a `response` (200 with the chat completion, or its error status with the same error body the
 * API would have answered); one that never ran (expired, cancelled) has an `error` instead.
 */
export function buildResultFiles(lines: ResultLine[]): ResultFiles {
  const files: ResultFiles = { output: [], errors: [] };
  for (const l of lines) {
    const base = { id: requestId(l.id), custom_id: l.custom_id };
    switch (l.status) {
      case 'succeeded':
        files.output.push(
          JSON.stringify({
            ...base,
            response: { status_code: 200, request_id: l.id, body: l.result },
            error: null,
          }),
        );
        break;
      case 'failed':
        files.errors.push(
          JSON.stringify({
            ...base,
            response: { status_code: statusCode(l.error), request_id: l.id, body: { error: l.error } },
            error: null,
          }),
        );
        break;
      case 'expired':
      case 'cancelled':
        files.errors.push(JSON.stringify({ ...base, response: null, error: END_ERRORS[l.status] }));
        break;
      default:
        // Finalization waits until no line is pending, queued or running.
        throw new Error(`batch line ${l.id} is still ${l.status}`);
    }
  }
  return files;
}

/**
 * A batch where nothing succeeded and every line failed for a reason other than money (an unknown
 * model, a refused key, nodes down) is `failed`, as OpenAI marks a batch that could not run; its
 * `errors` names the first failure. Money refusals keep it `completed`: the batch itself worked.
 */
export function batchFailure(lines: ResultLine[]): Record<string, unknown> | null {
  if (lines.length === 0) return null;
  if (!lines.every((l) => l.status === 'failed' && !MONEY_ERRORS.includes(String(l.error?.type))))
    return null;
  const first = lines[0]!;
  return {
    object: 'list',
    data: [
      {
        code: String(first.error?.type ?? 'internal_error'),
        message: String(first.error?.message ?? 'The request failed'),
        param: null,
        line: first.line_no,
      },
    ],
  };
}
