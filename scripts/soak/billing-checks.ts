import { actualCharge } from '../../shared/pricing.js';
import type { Books, HoldRow, JobRow } from './books.js';
import type { Journal, SyncRecord } from './journal.js';

/**
 * Each request billed as what happened to it: what was served is posted once at its actual cost,
 * what was not (failed, refused, cancelled before it ran) is not billed at all.
 */

const REFUSED_BEFORE_ADMISSION = new Set([400, 401, 402, 403, 404, 409, 429]);

function billedAsUsage(
  what: string,
  hold: HoldRow | undefined,
  usage: { prompt_tokens: number; completion_tokens: number },
  cost?: bigint | null,
): string[] {
  if (!hold) return [`${what}: served, but no hold was recorded (served for free)`];
  if (hold.status !== 'posted' || !hold.charge_ref)
    return [`${what}: served, but its hold ${hold.id} is ${hold.status}`];
  const expected = actualCharge(
    usage.prompt_tokens,
    usage.completion_tokens,
    hold.price_ngonka_per_token,
    hold.markup_bps,
    hold.amount,
  );
  const out: string[] = [];
  if (hold.posted_amount !== expected)
    out.push(`${what}: hold ${hold.id} posted ${hold.posted_amount}, its usage costs ${expected}`);
  if (hold.prompt_tokens !== usage.prompt_tokens || hold.completion_tokens !== usage.completion_tokens)
    out.push(
      `${what}: hold ${hold.id} billed ${hold.prompt_tokens}+${hold.completion_tokens} tokens, usage says ${usage.prompt_tokens}+${usage.completion_tokens}`,
    );
  if (cost !== undefined && cost !== hold.posted_amount)
    out.push(`${what}: cost_ngonka ${cost}, hold ${hold.id} posted ${hold.posted_amount}`);
  return out;
}

function notBilled(what: string, hold: HoldRow | undefined, cost: bigint | null): string[] {
  const out: string[] = [];
  if (hold && (hold.status !== 'voided' || (hold.posted_amount ?? 0n) !== 0n))
    out.push(`${what}: not served, but its hold ${hold.id} is ${hold.status} at ${hold.posted_amount}`);
  if (cost !== null && cost !== 0n) out.push(`${what}: not served, but cost_ngonka is ${cost}`);
  return out;
}

/** Jobs and batch lines: succeeded (or cancelled with a result) billed once, the others not at all. */
export function jobBilling(books: Books): string[] {
  const holds = new Map(books.holds.map((h) => [h.id, h]));
  const out: string[] = [];
  for (const j of books.jobs) {
    const what = `${j.batch_id ? `line of ${j.batch_id}` : 'job'} ${j.id} (${j.status})`;
    const hold = j.hold_id ? holds.get(j.hold_id) : undefined;
    if (j.status === 'succeeded' || (j.status === 'cancelled' && j.has_result)) {
      if (!j.usage) out.push(`${what}: no usage`);
      else out.push(...billedAsUsage(what, hold, j.usage, j.cost_ngonka));
    } else if (['failed', 'expired', 'cancelled'].includes(j.status)) {
      out.push(...notBilled(what, hold, j.cost_ngonka));
    }
  }
  return out;
}

/** How far the client's and the gateway's instants of one answer may be apart. */
const ANSWER_SLACK_MS = 1000;

/**
 * Whether a sync answer's settlement died in a crash the soak caused, as docs/operations.md ("What a crash
 * costs") says it may, so that the request was not billed: the api was SIGKILLed within `handoffMs`
 * (SETTLEMENT_HANDOFF_WAIT_MS) after the answer, while its settlement waited in the api to be
 * handed off (its hold voided at its deadline, or never written: the answer does not wait for that
 * write); or Redis lost its data after the answer while the hold was still open (its settlement
 * message waited in Redis; the hold was written, and voided at its deadline). Only a hold voided
 * after the crash, or missing, is excused: one posted must still be posted right, one voided
 * before it is a real loss.
 */
function settlementLostInCrash(
  s: SyncRecord,
  hold: HoldRow | undefined,
  journal: Journal,
  handoffMs: number,
): boolean {
  if (hold && (hold.status !== 'voided' || !hold.resolved_at)) return false;
  const resolved = hold?.resolved_at?.getTime() ?? Number.POSITIVE_INFINITY;
  return journal.disruptions.some(
    (d) =>
      resolved > d.at &&
      s.answeredAt <= d.at + ANSWER_SLACK_MS &&
      (d.kind === 'redis'
        ? hold !== undefined
        : d.kind === 'api' && s.answeredAt > d.at - handoffMs - ANSWER_SLACK_MS),
  );
}

/**
 * A stream the api's SIGKILL cut before its hold was written: a request it was serving, which docs/operations.md
 * says goes unbilled.
 */
const cutByApiKill = (s: SyncRecord, journal: Journal) =>
  s.usage === null &&
  journal.disruptions.some((d) => d.kind === 'api' && Math.abs(s.answeredAt - d.at) <= ANSWER_SLACK_MS);

/** The sync answers a crash left unbilled (settlementLostInCrash): reported, not failed. */
export function unbilledByCrash(books: Books, journal: Journal, handoffMs: number): number {
  const holds = new Map(books.holds.map((h) => [h.id, h]));
  return journal.sync.filter((s) => {
    const hold = s.holdId ? holds.get(s.holdId) : undefined;
    return s.usage && settlementLostInCrash(s, hold, journal, handoffMs);
  }).length;
}

/**
 * Sync chat: an answer that named its hold is billed at the usage it showed, unless a crash took
 * its settlement (settlementLostInCrash).
 */
export function syncBilling(books: Books, journal: Journal, handoffMs: number): string[] {
  const holds = new Map(books.holds.map((h) => [h.id, h]));
  const out: string[] = [];
  for (const s of journal.sync) {
    if (!s.holdId) continue;
    const what = `sync chat ${s.holdId}`;
    const hold = holds.get(s.holdId);
    if (s.usage && settlementLostInCrash(s, hold, journal, handoffMs)) continue;
    if (s.usage) out.push(...billedAsUsage(what, hold, s.usage));
    else if (!hold && !cutByApiKill(s, journal))
      out.push(`${what}: streamed, but no hold was recorded (served for free)`);
  }
  return out;
}

/**
 * A refused request (402, 429, 401…) takes no hold: the sync holds no answer named are at most the
 * answers that named none although admitted (a node error, a stream cut before its first chunk, a
 * timeout), and only those whose answer never came may be billed.
 */
export function refusedCostNothing(books: Books, journal: Journal): string[] {
  const ofJobs = new Set(books.jobs.map((j: JobRow) => j.hold_id));
  const named = new Set(journal.sync.map((s) => s.holdId));
  const unnamed = books.holds.filter((h) => !ofJobs.has(h.id) && !named.has(h.id));
  const unnamedAnswers = journal.sync.filter((s) => !s.holdId && !REFUSED_BEFORE_ADMISSION.has(s.status));
  const noAnswer = unnamedAnswers.filter((s) => s.status === 0).length;
  const billed = unnamed.filter((h) => (h.posted_amount ?? 0n) > 0n);
  const out: string[] = [];
  if (unnamed.length > unnamedAnswers.length)
    out.push(
      `${unnamed.length} sync holds no answer named, but only ${unnamedAnswers.length} admitted answers named none (${unnamed
        .slice(0, 5)
        .map((h) => h.id)
        .join(', ')}…)`,
    );
  if (billed.length > noAnswer)
    out.push(`${billed.length} unnamed sync holds were billed (${billed.map((h) => h.id).join(', ')})`);
  return out;
}

/** One Idempotency-Key, one job: every 202 named the same job, and only one exists. */
export function idempotency(books: Books, journal: Journal): string[] {
  const out: string[] = [];
  for (const [ik, ids] of journal.idempotent)
    if (ids.size > 1) out.push(`${ik}: answered with ${ids.size} different jobs (${[...ids].join(', ')})`);
  const made = new Map<string, number>();
  for (const j of books.jobs) if (j.ik) made.set(j.ik, (made.get(j.ik) ?? 0) + 1);
  for (const [ik, n] of made) if (n > 1) out.push(`${ik}: ${n} jobs were made`);
  return out;
}
