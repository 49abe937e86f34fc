import type { Router } from 'express';
import type { Context } from '../../shared/context.js';
import { findJob, listJobs } from '../../shared/db/queries/jobs.js';
import { formatJob } from '../../shared/jobs/format.js';
import { ownerListQuery, ownerListRouter } from './owner-list.js';

const jobStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;

export const listJobsQuery = ownerListQuery(jobStatuses);

/** GET /api/jobs: the owner's async jobs across all keys, newest first, filterable. */
export function ownerJobsRouter(ctx: Context): Router {
  return ownerListRouter(ctx, {
    query: listJobsQuery,
    holds: 'jobs',
    list: listJobs,
    find: findJob,
    toData: (rows) => rows.map(formatJob),
  });
}
