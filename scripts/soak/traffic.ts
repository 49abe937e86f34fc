import { randomBytes } from 'node:crypto';
import { SIM_MODEL_QWEN3_235B, SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { call, stream } from './http.js';
import type { Random } from './random.js';
import type { SoakKey, World } from './world.js';

/** Inference traffic on a child key: sync chat (plain and streamed), async jobs and batches. */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The hold a completion id names (white-label.ts: `chatcmpl-` + the hold id's tail). */
export const holdOfCompletion = (id: string) => `hold_${id.slice('chatcmpl-'.length)}`;

/**
 * A small chat request, now and then with a simulator fault directive (latency, an error status on
 * every node; for streams a cut, an error event or slow tokens).
 */
function chatBody(r: Random, opts: { stream?: boolean } = {}) {
  const faults: string[] = [];
  if (r.chance(0.25)) faults.push(`latency=${r.int(20, 400)}`);
  if (r.chance(0.08)) faults.push(`status=${r.pick([429, 500, 503])}`);
  if (opts.stream) {
    if (r.chance(0.15)) faults.push(`cut=${r.int(1, 6)}`);
    else if (r.chance(0.1)) faults.push(`error=${r.int(1, 6)}`);
    if (r.chance(0.6)) faults.push(`delay=${r.int(5, 25)}`);
  }
  const directive = faults.length ? ` [[sim ${faults.join(' ')}]]` : '';
  return {
    model: r.pick([SIM_MODEL_QWQ_32B, SIM_MODEL_QWEN3_235B]),
    messages: [{ role: 'user', content: `soak ${r.int(0, 1e9)} tell me a story${directive}` }],
    max_tokens: r.int(4, 40),
  };
}

export async function syncChat(w: World, key: SoakKey): Promise<void> {
  const sentAt = Date.now();
  const res = await call<{ id?: string; usage?: { prompt_tokens: number; completion_tokens: number } }>(
    w.base,
    'POST',
    '/v1/chat/completions',
    { token: key.token, body: chatBody(w.random) },
  );
  w.journal.count('chat', res.status);
  w.journal.refused(key.id, res.status, res.body, sentAt);
  const ok = res.status === 200 && res.body?.id;
  w.journal.sync.push({
    keyId: key.id,
    status: res.status,
    answeredAt: Date.now(),
    holdId: ok ? holdOfCompletion(res.body.id!) : null,
    usage: ok ? (res.body.usage ?? null) : null,
  });
}

/** A streamed chat; some clients hang up after a few chunks. */
export async function streamChat(w: World, key: SoakKey): Promise<void> {
  const r = w.random;
  const includeUsage = r.chance(0.6);
  const body = {
    ...chatBody(r, { stream: true }),
    stream: true,
    ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
  };
  const sentAt = Date.now();
  const out = await stream(w.base, key.token, body, r.chance(0.3) ? r.int(1, 5) : null);
  const outcome =
    out.status !== 200
      ? out.status
      : out.hungUp
        ? 'hangup'
        : out.errored
          ? 'error-event'
          : out.done
            ? 'done'
            : 'cut';
  w.journal.count('stream', outcome);
  w.journal.refused(key.id, out.status, out.refusal, sentAt);
  w.journal.sync.push({
    keyId: key.id,
    status: out.status,
    answeredAt: Date.now(),
    holdId: out.id ? holdOfCompletion(out.id) : null,
    // Exact only for a stream read to its end with the usage chunk.
    usage: outcome === 'done' && includeUsage ? out.usage : null,
  });
}

/**
 * POST /v1/jobs; some with an Idempotency-Key sent twice at once and/or again a little later, some
 * cancelled at a random moment.
 */
export async function asyncJob(w: World, key: SoakKey): Promise<void> {
  const r = w.random;
  const ik = r.chance(0.3) ? `soak-${randomBytes(8).toString('hex')}` : null;
  const body = { request: chatBody(r), metadata: ik ? { soak_ik: ik } : { soak: '1' } };
  const submit = async () => {
    const sentAt = Date.now();
    const res = await call<{ id?: string }>(w.base, 'POST', '/v1/jobs', {
      token: key.token,
      body,
      headers: ik ? { 'idempotency-key': ik } : {},
    });
    w.journal.count(ik ? 'job-ik' : 'job', res.status);
    w.journal.refused(key.id, res.status, res.body, sentAt);
    if (res.status === 202 && ik && res.body?.id) {
      const seen = w.journal.idempotent.get(ik) ?? new Set<string>();
      seen.add(res.body.id);
      w.journal.idempotent.set(ik, seen);
    }
    return res.status === 202 ? (res.body?.id ?? null) : null;
  };
  const ids = ik && r.chance(0.5) ? await Promise.all([submit(), submit()]) : [await submit()];
  if (ik && r.chance(0.5)) {
    await sleep(r.int(0, 800));
    ids.push(await submit());
  }
  const jobId = ids.find(Boolean);
  if (!jobId || !r.chance(0.25)) return;
  await sleep(r.int(0, 2000));
  const res = await call(w.base, 'POST', `/v1/jobs/${jobId}/cancel`, { token: key.token });
  w.journal.count('job-cancel', res.status);
}

/** A small batch (some lines with faults); some are cancelled at a random moment. */
export async function batch(w: World, key: SoakKey): Promise<void> {
  const r = w.random;
  const jsonl = Array.from({ length: r.int(2, 6) }, (_, i) =>
    JSON.stringify({ custom_id: `l${i}`, method: 'POST', url: '/v1/chat/completions', body: chatBody(r) }),
  ).join('\n');
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([jsonl]), 'soak.jsonl');
  const file = await call<{ id?: string }>(w.base, 'POST', '/v1/files', { token: key.token, form });
  w.journal.count('file', file.status);
  if (file.status !== 200 || !file.body?.id) return;
  w.journal.batchKeys.add(key.id);
  const created = await call<{ id?: string }>(w.base, 'POST', '/v1/batches', {
    token: key.token,
    body: { input_file_id: file.body.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
  });
  w.journal.count('batch', created.status);
  if (created.status !== 200 || !created.body?.id) return;
  if (!r.chance(0.3)) return;
  await sleep(r.int(0, 3000));
  const res = await call(w.base, 'POST', `/v1/batches/${created.body.id}/cancel`, { token: key.token });
  w.journal.count('batch-cancel', res.status);
}
