import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { failJob } from '../../shared/db/queries/jobs.js';
import { settleHolds } from '../../shared/ledger/settle.js';
import { runReconcile } from '../../shared/reconcile/index.js';
import { loadReconcileSummary } from '../../shared/reconcile/summary.js';
import type { ReconcileReport } from '../../shared/reconcile/types.js';
import { reconcileCheck } from '../../shared/scheduler/tasks/reconcile-check.js';
import { createKeyFixture, type KeyFixture } from '../helpers/fixtures.js';
import { admitJob, hold, schedulerEnv, succeededUnsettled } from '../helpers/scheduler.js';

/** A manual clock that can jump once, right after its next read: a sweep that took that long. */
class JumpingClock extends ManualClock {
  private jump = 0;
  jumpAfterNextRead(ms: number): void {
    this.jump = ms;
  }
  override now(): Date {
    const t = super.now();
    if (this.jump) this.advance(this.jump);
    this.jump = 0;
    return t;
  }
}

const clock = new JumpingClock('2026-11-26T10:00:00.000Z');
const w = schedulerEnv(clock, { HOLD_GRACE_SECONDS: '60' });

const holdStatus = async (id: string) =>
  (await w.env.ctx.sql<{ status: string }[]>`select status from holds where id = ${id}`)[0]?.status;
const reportsHold = (r: ReconcileReport, holdId: string) =>
  r.drift.filter((d) => d.check === 'holds_vs_jobs' && d.subject.includes(holdId)).map((d) => d.message);
/** holds_vs_jobs drift of the last scheduled check, as /metrics exports it (what pages an operator). */
const scheduledHoldDrift = async () => (await loadReconcileSummary(w.env.ctx))?.checks.holds_vs_jobs;

/** A job that ended (failed or cancelled) while its worker died before handing off its settlement. */
async function endedJob(f: KeyFixture, status: 'failed' | 'cancelled') {
  const j = await admitJob(w.env.ctx, f, 300n);
  await failJob(w.env.ctx.sql, j.jobId, { status, error: { type: 'x' }, at: clock.now() });
  return j;
}

describe('reconcile: holds of ended requests the stale-hold sweeper has yet to resolve', () => {
  it('the scheduled check does not report a hold just past its grace that the sweeper voids', async () => {
    clock.set('2026-11-26T10:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 1000n });
    const j = await endedJob(f, 'failed');
    clock.set('2026-11-26T10:01:00.500Z'); // past the grace; no sweep has run since

    const check = await reconcileCheck(w.env.ctx, w.queues);
    expect(await scheduledHoldDrift()).toBe(0);
    expect(check).toMatchObject({ ok: true, drift: 0 });
    expect(await holdStatus(j.holdId)).toBe('voided');
  });

  it('judges holds as of the sweep it ran, not of a later instant', async () => {
    clock.set('2026-11-26T11:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 1000n });
    const j = await endedJob(f, 'cancelled');
    // The check starts 1 s before the hold is stale, and has read the time once, for the sweep,
    // when 2 s pass: the hold turns stale after the sweep looked at it and before the check does.
    clock.set('2026-11-26T11:00:59.000Z');
    clock.jumpAfterNextRead(2000);

    expect(await reconcileCheck(w.env.ctx, w.queues)).toMatchObject({ ok: true, drift: 0 });
    expect(await holdStatus(j.holdId)).toBe('open');
    await reconcileCheck(w.env.ctx, w.queues); // the next check's sweep voids it
    expect(await holdStatus(j.holdId)).toBe('voided');
  });

  it('does not report ended requests whose settlement message still waits, however late', async () => {
    clock.set('2026-11-26T12:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 1000n });
    const j = await endedJob(f, 'cancelled');
    const sync = await hold(w.env.ctx, f.key, 200n, { ttlMs: 15 * 60_000 });
    // Both settlements were handed off and wait for a retry (settlement retries for hours).
    const items = [
      { holdId: j.holdId, outcome: 'void' as const },
      { holdId: sync, outcome: 'post' as const, promptTokens: 40, completionTokens: 60 },
    ];
    await w.queues.add('settlement', { items, enqueuedAt: Date.now() }, { delay: 3_600_000 });
    clock.set('2026-11-26T14:00:00.000Z'); // far past the job's grace and the sync hold's deadline

    const check = await reconcileCheck(w.env.ctx, w.queues);
    expect(await scheduledHoldDrift()).toBe(0);
    expect(check).toMatchObject({ ok: true, drift: 0 });
    expect([await holdStatus(j.holdId), await holdStatus(sync)]).toEqual(['open', 'open']);
    const cli = await runReconcile(w.env.ctx, { queues: w.queues, inflightMs: 0 });
    expect([...reportsHold(cli, j.holdId), ...reportsHold(cli, sync)]).toEqual([]);

    // The message is lost after all: now nothing will settle them but the sweeper, and the report
    // (npm run reconcile, which changes nothing) names both.
    await w.queues.get('settlement').obliterate({ force: true });
    const lost = await runReconcile(w.env.ctx, { queues: w.queues, inflightMs: 0 });
    expect(reportsHold(lost, j.holdId)).toEqual([expect.stringMatching(/job that ended/)]);
    expect(reportsHold(lost, sync)).toEqual([expect.stringMatching(/past its deadline/)]);
    expect(await reconcileCheck(w.env.ctx, w.queues)).toMatchObject({ ok: true, drift: 0 });
    expect([await holdStatus(j.holdId), await holdStatus(sync)]).toEqual(['voided', 'voided']);
  });

  it('the scheduled check still reports a lost settlement the sweeper cannot resolve', async () => {
    clock.set('2026-11-26T15:00:00.000Z');
    const f = await createKeyFixture(w.env.ctx, { balance: 1000n });
    const j = await admitJob(w.env.ctx, f, 300n);
    await succeededUnsettled(w.env.ctx, j.jobId); // and its worker died before the hand-off
    // The books broken by hand: the charge would take the balance below zero, which Postgres refuses.
    await w.env.ctx.sql`update ledger_accounts set balance = 0 where id = ${f.accountId}`;
    clock.set('2026-11-26T16:00:00.000Z');

    expect((await reconcileCheck(w.env.ctx, w.queues)).ok).toBe(false);
    expect(await scheduledHoldDrift()).toBe(1);
    expect(await holdStatus(j.holdId)).toBe('open');
    const cli = await runReconcile(w.env.ctx, { queues: w.queues, inflightMs: 0 });
    expect(reportsHold(cli, j.holdId)).toEqual([expect.stringMatching(/job that ended/)]);

    await w.env.ctx.sql`update ledger_accounts set balance = 1000 where id = ${f.accountId}`;
    await settleHolds(w.env.ctx, [{ holdId: j.holdId, outcome: 'void' }]);
  });
});
