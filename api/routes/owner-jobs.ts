import type { Router } from 'express';
import type { Context } from '../../shared/context.js';
import { findJob, JOB_LIST_STATUSES, type JobRow, listJobs } from '../../shared/db/queries/jobs.js';
import { cancel } from '../../shared/jobs/cancel.js';
import { formatJob } from '../../shared/jobs/format.js';
import type { Queues } from '../../shared/queues.js';
import { ownerListQuery, ownerListRouter } from './owner-list.js';

export const listJobsQuery = ownerListQuery(JOB_LIST_STATUSES);

/**
 * GET /api/jobs: the owner's async jobs across all keys, newest first, filterable; and, with the
 * queues at hand, POST /api/jobs/:id/cancel, exactly as the job's own key would cancel it.
 */
export function ownerJobsRouter(ctx: Context, queues?: Queues): Router {
  return ownerListRouter<typeof listJobsQuery, JobRow>(ctx, {
    query: listJobsQuery,
    holds: 'jobs',
    noun: 'Job',
    list: listJobs,
    find: findJob,
    // Batch lines are reached through their batch, whose progress they drive.
    shows: (job) => job.batch_id === null,
    toData: (rows) => rows.map(formatJob),
    ...(queues ? { cancel: (job, rctx) => cancel(rctx, queues, job) } : {}),
  });
}
