import type { Context } from '../../shared/context.js';
import { groupBy } from '../../shared/group-by.js';
import { dayKey, isoDay, monthKey } from '../../shared/periods.js';
import type { Queues } from '../../shared/queues.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { idempotency, jobBilling, refusedCostNothing, syncBilling } from './billing-checks.js';
import { type Books, type HoldRow, readBooks } from './books.js';
import { crashOrphans, explainedByOrphans, orphanSums } from './crash-orphans.js';
import { call } from './http.js';
import type { Journal } from './journal.js';
import {
  balanceOvershoots,
  holdsWhileStopped,
  limitOvershoots,
  rpmOvershoots,
  unfounded429s,
} from './timeline.js';
import type { World } from './world.js';

/** The invariants a soak ends with (DESIGN.md "Money: the invariants"), each a list of violations. */

export interface CheckResult {
  name: string;
  failures: string[];
}

/** How long after its clock read a hold's Lua step may run; see timeline.ts. */
const SLACK_MS = 1000;

const FINAL_JOB = new Set(['succeeded', 'failed', 'cancelled', 'expired']);
const FINAL_BATCH = new Set(['completed', 'failed', 'expired', 'cancelled']);

export async function runChecks(
  ctx: Context,
  queues: Queues,
  world: World,
  journal: Journal,
): Promise<CheckResult[]> {
  const reconcile = await runReconcile(ctx, { queues });
  const books = await readBooks(ctx.sql);
  const { orphans, lost, unexplained } = await crashOrphans(ctx, books, world, journal);
  // The requests a killed api admitted whose hold never reached Postgres may hold an RPM slot: those
  // that got no answer, and sync answers whose hold was never recorded (counted from their answer);
  // so may the batch lines killed workers admitted without writing them (from their records, until
  // a Redis loss deleted the record and the slot with it).
  const recorded = new Set(books.holds.map((h) => h.id));
  const maybeSlots = (keyId: string) => [
    ...journal.unanswered.filter((u) => u.keyId === keyId),
    ...journal.sync
      .filter((s) => s.keyId === keyId && s.holdId && !recorded.has(s.holdId))
      .map((s) => ({ sentAt: s.answeredAt })),
    ...[...orphans, ...lost]
      .filter((o) => o.keyId === keyId && o.cause === 'workers' && o.admittedAt !== null)
      .map((o) => ({ sentAt: o.admittedAt!, until: 'lostAt' in o ? o.lostAt : undefined })),
  ];
  const byKey = (holds: HoldRow[]) => (id: string) => holds.filter((h) => h.child_key_id === id);
  const keyHolds = byKey(books.holds);
  const perKey = (f: (holds: HoldRow[], key: string) => string[]) =>
    [...journal.keys.keys()].flatMap((id) => f(keyHolds(id), id));
  const history = (id: string) => journal.keys.get(id)!.history;
  // A batch line takes no RPM slot (its batch paces it: BATCH_LINES_IN_FLIGHT), so the RPM checks
  // count every other hold of the key (a line counted made 299 false overshoots in one run).
  const lineHolds = new Set(books.jobs.filter((j) => j.batch_id && j.hold_id).map((j) => j.hold_id));
  const slotHolds = (holds: HoldRow[]) => holds.filter((h) => !lineHolds.has(h.id));
  const redisLosses = journal.disruptions.filter((d) => d.kind === 'redis').map((d) => d.at);
  return [
    {
      name: 'reconciliation (npm run reconcile) reports no drift',
      failures: [
        ...unexplained,
        ...reconcile.drift
          .filter((d) => !explainedByOrphans(d, orphans))
          .map(
            (d) =>
              `[${d.check}] ${d.subject}: ${d.message}${d.expected !== undefined || d.actual !== undefined ? ` (expected ${d.expected ?? '?'}, actual ${d.actual ?? '?'})` : ''}`,
          ),
      ],
    },
    {
      name: 'referrers are paid their share of every charge, less only what is carried (migration 025)',
      failures: referralShares(books, ctx.config),
    },
    {
      name: 'no hold is open',
      failures: books.holds
        .filter((h) => h.status === 'open')
        .map((h) => `${h.id} open since ${h.created_at.toISOString()}`),
    },
    {
      name: 'every job, batch line and batch is in a final state',
      failures: [
        ...books.jobs.filter((j) => !FINAL_JOB.has(j.status)).map((j) => `job ${j.id} ${j.status}`),
        ...books.batches.filter((b) => !FINAL_BATCH.has(b.status)).map((b) => `batch ${b.id} ${b.status}`),
      ],
    },
    {
      name: "every transfer's postings sum to zero",
      failures: books.unbalancedTransfers.map((t) => `transfer ${t.id} sums to ${t.sum}`),
    },
    {
      name: "each account's balance = its top-ups − its posted charges",
      failures: balances(books, world, journal),
    },
    {
      name: 'per child key, the day and month spent counters = its posted charges',
      failures: await spentCounters(ctx, books, world, orphanSums(orphans).byKey),
    },
    {
      name: 'no child key went past its daily or monthly limit',
      failures: perKey((holds, id) => limitOvershoots(holds, history(id), SLACK_MS)),
    },
    {
      name: 'no account went below zero',
      failures: [
        ...books.postings
          .filter((p) => p.balance_after < 0n)
          .map((p) => `${p.account_id} at ${p.balance_after}`),
        ...world.accounts.flatMap((a) =>
          balanceOvershoots(
            books.holds.filter((h) => h.account_id === a.id),
            books.postings.filter(
              (p) => p.account_id === a.id && (p.kind === 'topup' || p.kind === 'referral'),
            ),
            SLACK_MS,
          ),
        ),
      ],
    },
    {
      name: 'no child key admitted past its RPM limit',
      failures: perKey((holds, id) =>
        rpmOvershoots(
          slotHolds(holds),
          history(id),
          SLACK_MS,
          journal.sync.filter((s) => s.keyId === id && s.status === 503).map((s) => s.answeredAt),
        ),
      ),
    },
    {
      name: 'no request admitted on a disabled, deleted or expired key',
      failures: perKey((holds, id) => holdsWhileStopped(holds, history(id), SLACK_MS)),
    },
    {
      name: 'every 402/429 cost nothing (no hold, no RPM slot)',
      failures: [
        ...refusedCostNothing(books, journal),
        ...perKey((holds, id) =>
          unfounded429s(
            journal.refusals.filter((r) => r.keyId === id && r.type === 'rate_limit_exceeded'),
            slotHolds(holds),
            history(id),
            SLACK_MS,
            redisLosses,
            maybeSlots(id),
          ),
        ),
      ],
    },
    {
      name: 'every succeeded job, line and answer billed exactly once; failed or cancelled-before-run not at all',
      failures: [...jobBilling(books), ...syncBilling(books, journal, ctx.config.SETTLEMENT_HANDOFF_WAIT_MS)],
    },
    { name: 'one Idempotency-Key, one job', failures: idempotency(books, journal) },
    {
      name: 'every crash was recovered from (a killed leader’s lock passed on)',
      failures: journal.crashFailures,
    },
  ];
}

/** paid × 10,000 + carried = charged × basis points, per referred account and level: exactly. */
function referralShares(
  books: Books,
  config: { REFERRAL_L1_BPS: number; REFERRAL_L2_BPS: number },
): string[] {
  const out: string[] = [];
  for (const r of books.referrals) {
    const levels = [
      ['L1', r.l1_paid, r.carry_l1, BigInt(config.REFERRAL_L1_BPS)],
      ['L2', r.l2_paid, r.carry_l2, r.l2 ? BigInt(config.REFERRAL_L2_BPS) : 0n],
    ] as const;
    for (const [level, paid, carry, bps] of levels)
      if (paid * 10_000n + carry !== r.charged * bps)
        out.push(
          `${r.account_id} ${level}: paid ${paid} + carried ${carry}/10000 for ${r.charged} charged at ${bps} bps`,
        );
  }
  return out;
}

function balances(books: Books, world: World, journal: Journal): string[] {
  const out: string[] = [];
  for (const a of world.accounts) {
    const postings = books.postings.filter((p) => p.account_id === a.id);
    const sum = (kind: string) => postings.filter((p) => p.kind === kind).reduce((s, p) => s + p.amount, 0n);
    const topups = sum('topup');
    const referrals = sum('referral'); // paid to this account from those it referred
    const charges = -sum('charge');
    const posted = books.holds
      .filter((h) => h.account_id === a.id)
      .reduce((s, h) => s + (h.posted_amount ?? 0n), 0n);
    const balance = books.balances.get(a.id) ?? 0n;
    const sent = journal.toppedUp.get(a.id) ?? 0n;
    const maybe = journal.toppedUpMaybe.get(a.id) ?? 0n;
    if (balance !== topups + referrals - posted)
      out.push(
        `${a.id}: balance ${balance}, top-ups ${topups} + referral shares ${referrals} − posted holds ${posted} = ${topups + referrals - posted}`,
      );
    if (charges !== posted) out.push(`${a.id}: charges ${charges}, posted holds ${posted}`);
    if (topups < sent || topups > sent + maybe)
      out.push(`${a.id}: top-ups booked ${topups}, answered 201 ${sent}`);
  }
  return out;
}

/** The API's usage, key_usage_daily and the Redis counters against the key's posted holds. */
/** `reserved`: what crash orphans (crash-orphans.ts) still hold on each key's Redis counters. */
async function spentCounters(
  ctx: Context,
  books: Books,
  world: World,
  reserved: ReadonlyMap<string, bigint>,
): Promise<string[]> {
  const out: string[] = [];
  const now = new Date();
  const today = isoDay(now);
  const month = today.slice(0, 7);
  for (const key of world.keys) {
    const holds = books.holds.filter((h) => h.child_key_id === key.id);
    const posted = (hs: HoldRow[]) => hs.reduce((s, h) => s + (h.posted_amount ?? 0n), 0n);
    const day = posted(holds.filter((h) => h.period_day === today));
    const mon = posted(holds.filter((h) => h.period_day.startsWith(month)));
    for (const [d, hs] of groupBy(holds, (h) => h.period_day)) {
      const recorded = books.usage.get(`${key.id}|${d}`) ?? 0n;
      if (recorded !== posted(hs))
        out.push(`${key.id} ${d}: key_usage_daily ${recorded}, posted ${posted(hs)}`);
    }
    const res = await call<{ usage: Record<string, string> }>(
      world.base,
      'GET',
      `/api/management/keys/${key.account.mkId}/children/${key.id}`,
      { token: key.account.jwt },
    );
    const u = res.body?.usage;
    if (!u) out.push(`${key.id}: GET answered ${res.status}`);
    else {
      if (u.daily_spent_ngonka !== day.toString())
        out.push(`${key.id}: daily_spent ${u.daily_spent_ngonka}, posted ${day}`);
      if (u.monthly_spent_ngonka !== mon.toString())
        out.push(`${key.id}: monthly_spent ${u.monthly_spent_ngonka}, posted ${mon}`);
      if (u.daily_reserved_ngonka !== '0' || u.monthly_reserved_ngonka !== '0')
        out.push(`${key.id}: still reserved ${u.daily_reserved_ngonka}/${u.monthly_reserved_ngonka}`);
    }
    // Redis counts spent + reserved; with nothing open, what was posted and what crash orphans
    // still hold: exactly, or, on a key an orphan holds, at least (the repair waits for the orphan
    // to be given back, explainedByOrphans). Absent: loaded when next used.
    const [redisDay, redisMonth] = await Promise.all([
      ctx.redis.get(ctx.keys.day(key.account.id, key.id, dayKey(now))),
      ctx.redis.get(ctx.keys.month(key.account.id, key.id, monthKey(now))),
    ]);
    const held = reserved.get(key.id) ?? 0n;
    const wrong = (counter: string | null, posted: bigint) =>
      counter !== null && (held > 0n ? BigInt(counter) < posted + held : BigInt(counter) !== posted);
    if (wrong(redisDay, day))
      out.push(`${key.id}: Redis day counter ${redisDay}, posted ${day}, held by crash orphans ${held}`);
    if (wrong(redisMonth, mon))
      out.push(`${key.id}: Redis month counter ${redisMonth}, posted ${mon}, held by crash orphans ${held}`);
  }
  return out;
}
