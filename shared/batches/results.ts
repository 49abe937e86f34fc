import type { ResultLine } from '../db/queries/batch-lines.js';
import { type ErrorType, statusOf } from '../errors.js';
import { END_ERRORS } from './end-lines.js';

/** Refusals that mean "not now, for money": the batch carries on past them (API.md). */
export const MONEY_ERRORS: readonly string[] = ['child_key_limit', 'insufficient_balance'];

/** OpenAI's per-request id in batch results; derived from the line's job id, so stable on reruns. */
const requestId = (jobId: string) => `batch_req_${jobId.replace(/^job_/, '')}`;

function statusCode(error: Record<string, unknown> | null): number {
  const type = String(error?.type ?? 'internal_error');
  return statusOf(type as ErrorType) ?? 500;
}

/** Where a finished line goes: the output file (it succeeded) or the error file (anything else). */
export type ResultFileKind = 'output' | 'error';

/**
 * A finished line as a line of its batch's output or error file, in OpenAI's format: a request that
 * ran has a `response` (200 with the chat completion, or its error status with the same error
 * body the API would have answered); one that never ran (expired, cancelled) has an `error`.
 */
export function resultLine(l: ResultLine): { file: ResultFileKind; json: string } {
  const base = { id: requestId(l.id), custom_id: l.custom_id };
  switch (l.status) {
    case 'succeeded':
      return {
        file: 'output',
        json: JSON.stringify({
          ...base,
          response: { status_code: 200, request_id: l.id, body: l.result },
          error: null,
        }),
      };
    case 'failed':
      return {
        file: 'error',
        json: JSON.stringify({
          ...base,
          response: { status_code: statusCode(l.error), request_id: l.id, body: { error: l.error } },
          error: null,
        }),
      };
    case 'expired':
    case 'cancelled':
      return {
        file: 'error',
        json: JSON.stringify({ ...base, response: null, error: END_ERRORS[l.status] }),
      };
    default:
      // Finalization waits until no line is pending, queued or running.
      throw new Error(`batch line ${l.id} is still ${l.status}`);
  }
}

/**
 * A batch's counts and verdict, taken as its lines go by in input order. A batch where nothing
 * succeeded and every line failed for a reason other than money (an unknown model, a refused key,
 * nodes down) is `failed`, as OpenAI marks a batch that could not run; its `errors` names the first
 * failure. Money refusals keep it `completed`: the batch itself worked.
 */
export class BatchOutcome {
  completed = 0;
  failed = 0;
  private first: ResultLine | null = null;
  private allFailedNotForMoney = true;

  add(l: ResultLine): void {
    this.first ??= l;
    if (l.status === 'succeeded') this.completed++;
    if (l.status === 'failed') this.failed++;
    if (l.status !== 'failed' || MONEY_ERRORS.includes(String(l.error?.type)))
      this.allFailedNotForMoney = false;
  }

  failure(): Record<string, unknown> | null {
    const first = this.first;
    if (!first || !this.allFailedNotForMoney) return null;
    return {
      object: 'list',
      data: [
        {
          // The line's own code (`model_not_found`) when it has one, as OpenAI's errors.data does.
          code: String(first.error?.code ?? first.error?.type ?? 'internal_error'),
          message: String(first.error?.message ?? 'The request failed'),
          param: typeof first.error?.param === 'string' ? first.error.param : null,
          line: first.line_no,
        },
      ],
    };
  }
}
