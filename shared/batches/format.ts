import type { LineCounts } from '../db/queries/batch-lines.js';
import type { BatchRow } from '../db/queries/batches.js';
import type { FileRow } from '../db/queries/files.js';
import { unixSeconds } from '../jobs/format.js';

/** OpenAI's file object (`/v1` objects carry Unix seconds). Files are validated on upload. */
export function formatFile(f: FileRow) {
  return {
    id: f.id,
    object: 'file' as const,
    bytes: f.bytes,
    created_at: unixSeconds(f.created_at),
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed' as const,
    expires_at: unixSeconds(f.expires_at),
  };
}

/**
 * OpenAI's batch object. `request_counts` come from the lines themselves, so they move as lines
 * finish: `failed` counts lines that were tried and failed (refused for money included); lines
 * that expired or were cancelled before running count in `total` only (their outcome is in the
 * error file), so `failed` keeps meaning "the request did not work".
 */
export function formatBatch(b: BatchRow, counts: LineCounts) {
  return {
    id: b.id,
    object: 'batch' as const,
    endpoint: b.endpoint,
    errors: b.errors,
    input_file_id: b.input_file_id,
    completion_window: b.completion_window,
    status: b.status,
    output_file_id: b.output_file_id,
    error_file_id: b.error_file_id,
    created_at: unixSeconds(b.created_at),
    in_progress_at: unixSeconds(b.in_progress_at),
    expires_at: unixSeconds(b.expires_at),
    finalizing_at: unixSeconds(b.finalizing_at),
    completed_at: unixSeconds(b.completed_at),
    failed_at: unixSeconds(b.failed_at),
    expired_at: unixSeconds(b.expired_at),
    cancelling_at: unixSeconds(b.cancelling_at),
    cancelled_at: unixSeconds(b.cancelled_at),
    request_counts: { total: counts.total, completed: counts.succeeded, failed: counts.failed },
    // OpenAI's usage of the lines so far, and (ours) what they were charged: a batch's cost is
    // otherwise spread over ledger charges shared with other requests.
    usage: {
      input_tokens: Number(counts.prompt_tokens),
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: Number(counts.completion_tokens),
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: Number(counts.prompt_tokens + counts.completion_tokens),
    },
    cost_ngonka: counts.cost_ngonka.toString(),
    // null when none was given, as OpenAI's (the column keeps `{}`).
    metadata: Object.keys(b.metadata).length > 0 ? b.metadata : null,
  };
}

export type BatchObject = ReturnType<typeof formatBatch>;
