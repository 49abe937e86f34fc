import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../shared/context.js';
import { findJob } from '../../shared/db/queries/jobs.js';
import { ApiError } from '../../shared/errors.js';
import { chatCompletionBody } from '../../shared/inference/chat-request.js';
import { cancel } from '../../shared/jobs/cancel.js';
import { formatJob } from '../../shared/jobs/format.js';
import { submitJob } from '../../shared/jobs/submit.js';
import { visibleToKey } from '../../shared/jobs/visibility.js';
import type { Queues } from '../../shared/queues.js';
import type { Upstream } from '../../shared/upstream.js';
import { assertWebhookUrl } from '../../shared/webhooks/url.js';
import { setRateLimitHeaders } from '../middleware/child-key.js';
import { parse } from '../middleware/validate.js';

export const createJobBody = z.strictObject({
  request: chatCompletionBody,
  webhook_url: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

/** /v1/jobs: async inference with polling (and webhooks on completion). */
export function v1JobsRouter(ctx: Context, deps: { upstream: Upstream; queues: Queues }): Router {
  const r = Router();

  r.post('/', async (req, res) => {
    const body = parse(createJobBody, req.body);
    // Refuse a private or unresolvable webhook_url now, not at delivery time.
    if (body.webhook_url)
      await assertWebhookUrl(body.webhook_url, ctx.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS, 'webhook_url');
    const { job, rateLimit } = await submitJob(ctx, deps, {
      key: res.locals.childKey,
      request: body.request,
      webhookUrl: body.webhook_url ?? null,
      metadata: body.metadata ?? {},
    });
    setRateLimitHeaders(res, rateLimit);
    res.status(202).json(formatJob(job));
  });

  const load: RequestHandler = async (req, res, next) => {
    const job = await findJob(ctx.sql, String(req.params.id));
    // Batch lines are reached through their batch, whose progress they drive.
    if (!job || job.batch_id || !visibleToKey(job, res.locals.childKey)) throw ApiError.notFound('Job');
    res.locals.job = job;
    next();
  };

  r.get('/:id', load, (_req, res) => {
    res.json(formatJob(res.locals.job!));
  });

  r.post('/:id/cancel', load, async (_req, res) => {
    res.json(formatJob(await cancel(ctx, deps.queues, res.locals.job!)));
  });

  return r;
}
