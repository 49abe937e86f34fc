import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { checkKeyAccess } from '../../shared/admission/key-access.js';
import type { Context } from '../../shared/context.js';
import type { ChildKeyIdentity } from '../../shared/db/queries/admission-state.js';
import { findJob, JOB_LIST_STATUSES, type JobRow, listJobs } from '../../shared/db/queries/jobs.js';
import { ApiError, statusOf } from '../../shared/errors.js';
import {
  claimSubmission,
  type IdempotentSubmission,
  idempotencyKeyOf,
  inProgress,
  MadeElsewhere,
} from '../../shared/idempotency.js';
import { jobChatBody, type PreparedChat, prepareChat } from '../../shared/inference/chat-request.js';
import { cancel } from '../../shared/jobs/cancel.js';
import { formatJob } from '../../shared/jobs/format.js';
import { jobSubmission, submitJob } from '../../shared/jobs/submit.js';
import { visibleToKey } from '../../shared/jobs/visibility.js';
import { sendJson } from '../../shared/json-response.js';
import type { Queues } from '../../shared/queues.js';
import type { Upstream } from '../../shared/upstream.js';
import { parse } from '../../shared/validate.js';
import { assertWebhookUrl } from '../../shared/webhooks/url.js';
import { listPage, refuseHiddenCursor } from '../list-page.js';
import { refusedBeforeAdmission, setRateLimitHeaders } from '../middleware/child-key.js';
import { requestContext } from '../request-context.js';
import { metadataInput, queryLimit } from '../schemas/common.js';

export const createJobBody = z.strictObject({
  request: jobChatBody,
  // Checked by assertWebhookUrl, which says what is wrong (scheme, credentials, address), as for
  // an endpoint's url.
  webhook_url: z.string().max(2000).nullish(),
  // The same bound as a child key's (16 KiB as JSON): it is echoed on every get, list page and webhook.
  metadata: metadataInput.nullish(),
});

/**
 * POST /v1/jobs (the api's fast path serves it too: fast-v1.ts): admit, record, enqueue, 202. With
 * an `Idempotency-Key`, a retry of the same submission gets the job the first one made.
 */
export async function serveJobSubmission(
  ctx: Context,
  deps: { upstream: Upstream; queues: Queues },
  key: ChildKeyIdentity,
  input: unknown,
  res: ServerResponse,
  headers: IncomingHttpHeaders = {},
): Promise<void> {
  let body: z.output<typeof createJobBody>;
  let chat: PreparedChat;
  let claim: IdempotentSubmission<JobRow> | null = null;
  try {
    const idempotencyKey = idempotencyKeyOf(headers['idempotency-key']);
    body = parse(createJobBody, input);
    chat = prepareChat(body.request, deps.upstream.models, ctx.config, 'request.');
    // Refuse a private or unresolvable webhook_url now, not at delivery time.
    if (body.webhook_url != null)
      await assertWebhookUrl(body.webhook_url, {
        allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
        param: 'webhook_url',
        lookup: ctx.lookupHost,
      });
    if (idempotencyKey) claim = await claimSubmission(ctx, key, jobSubmission, idempotencyKey, input);
  } catch (err) {
    throw await refusedBeforeAdmission(ctx, key, res, err); // a claim's 409 carries the RPM headers too
  }
  if (claim && 'replay' in claim) return replaySubmission(ctx, key, claim.replay, res);

  let submitted: Awaited<ReturnType<typeof submitJob>>;
  try {
    submitted = await submitJob(ctx, deps, {
      key,
      chat,
      webhookUrl: body.webhook_url ?? null,
      metadata: body.metadata ?? {},
      ...(claim ? { jobId: claim.id } : {}),
    });
  } catch (err) {
    // The submission whose claim this one took over was only slow, and wrote the job first: the
    // claim stays (it names that job) and the client gets the job, as a retry would.
    if (err instanceof MadeElsewhere) {
      const made = await findJob(ctx.sql, err.id);
      if (made) return replaySubmission(ctx, key, made, res);
      throw await refusedBeforeAdmission(ctx, key, res, inProgress());
    }
    // Refused (a limit, the balance, the key): nothing was written, so a retry may try again, with
    // this request or another. Any other failure may have written the job: the claim is left to
    // the next retry under the same key, which gets the job or makes it under the same id.
    if (err instanceof ApiError && statusOf(err.type) < 500) await claim?.release().catch(() => {});
    else await claim?.abandon().catch(() => {});
    throw err;
  }
  const { job, rateLimit, handedOff } = submitted;
  setRateLimitHeaders(res, rateLimit);
  sendJson(res, 202, formatJob(job));
  await handedOff;
}

/** The answer to a retried submission: the job its Idempotency-Key made, as it is now. */
async function replaySubmission(
  ctx: Context,
  key: ChildKeyIdentity,
  job: JobRow,
  res: ServerResponse,
): Promise<void> {
  setRateLimitHeaders(res, await checkKeyAccess(ctx, key)); // a key disabled since is refused
  res.setHeader('idempotent-replayed', 'true');
  sendJson(res, 202, formatJob(job));
}

/**
 * A job the key may see through /v1/jobs: one of its management key's, and not a batch line (those
 * are reached through their batch, whose progress they drive).
 */
const listedForKey = (job: JobRow, key: ChildKeyIdentity) => job.batch_id === null && visibleToKey(job, key);

export const listKeyJobsQuery = z.strictObject({
  limit: queryLimit(100, 20),
  after: z.string().max(100).optional(),
  status: z.enum(JOB_LIST_STATUSES).optional(),
});

/**
 * GET /v1/jobs (the list), /v1/jobs/:id: polling and cancelling (the submission, POST /v1/jobs, is an admitting route of the
 * /v1 router: v1.ts).
 */
export function v1JobsRouter(ctx: Context, deps: { queues: Queues }): Router {
  const r = Router();

  // The jobs of the key's management key (API.md: visible to every child key of it), newest first,
  // paged like /v1/batches (a cursor the key cannot list is a 400, as there).
  r.get('/', async (req, res) => {
    const q = parse(listKeyJobsQuery, req.query);
    const key: ChildKeyIdentity = res.locals.childKey;
    await refuseHiddenCursor(
      q.after,
      (id) => findJob(ctx.sql, id),
      (j) => listedForKey(j, key),
      'a job this key can list',
    );
    const rows = await listJobs(ctx.sql, {
      accountId: key.account_id,
      managementKeyId: key.management_key_id,
      status: q.status,
      afterId: q.after,
      limit: q.limit + 1,
    });
    res.json(listPage(rows.slice(0, q.limit).map(formatJob), rows.length, q.limit));
  });

  const load: RequestHandler = async (req, res, next) => {
    const job = await findJob(ctx.sql, String(req.params.id));
    if (!job || !listedForKey(job, res.locals.childKey)) throw ApiError.notFound('Job');
    res.locals.job = job;
    next();
  };

  r.get('/:id', load, (_req, res) => {
    res.json(formatJob(res.locals.job!));
  });

  r.post('/:id/cancel', load, async (_req, res) => {
    res.json(formatJob(await cancel(requestContext(ctx, res), deps.queues, res.locals.job!)));
  });

  return r;
}
