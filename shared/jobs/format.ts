import type { JobRow } from '../db/queries/jobs.js';

/** A time as `/v1` objects carry it: Unix seconds. */
export const unixSeconds = (d: Date | null) => (d ? Math.floor(d.getTime() / 1000) : null);

/** The job object of API.md (`/v1` objects carry Unix seconds). */
export function formatJob(j: JobRow) {
  return {
    id: j.id,
    object: 'job' as const,
    status: j.status === 'pending' ? ('queued' as const) : j.status,
    model: j.model,
    created_at: unixSeconds(j.created_at),
    started_at: unixSeconds(j.started_at),
    completed_at: unixSeconds(j.completed_at),
    result: j.result,
    error: j.error,
    usage: j.usage,
    cost_ngonka: j.cost_ngonka === null ? null : j.cost_ngonka.toString(),
    attempts: j.attempts,
    webhook_url: j.webhook_url,
    metadata: j.metadata,
    key_id: j.child_key_id,
    batch_id: j.batch_id,
  };
}
