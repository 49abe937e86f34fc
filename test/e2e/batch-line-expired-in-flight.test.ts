import { describe, expect, it } from 'vitest';
import { expireBatch } from '../../shared/batches/expire.js';
import { resultFileLines, startBatch } from '../helpers/batches.js';
import { expectNoLedgerDrift, settled } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Batch lines whose node calls are under way but not yet marked running (calls shorter than
 * INFERENCE_RUNNING_MARK_MS never are; here the mark is pushed past the calls) when their batch is
 * cancelled or expires. The node is doing the work: the lines finish, are billed and land in the
 * output file, as OpenAI's in-flight requests do, and the batch ends once they have.
 */
// Two lines in flight at a time; the expiry's void of a line's hold goes through settlement's groups,
// and a long group wait lets the node's answer (1 s) come first, as it does whenever the node beats
// settlement.
const stack = useTestStack({
  env: { INFERENCE_RUNNING_MARK_MS: '60000', SETTLEMENT_GROUP_WAIT_MS: '3000', BATCH_LINES_IN_FLIGHT: '2' },
});
const SLOW = ' [[sim latency=1000]]';

const served = () => stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0);

async function batchUnderWay(lines: number, suffix = SLOW) {
  const c = await createCustomer(stack.env.ctx, stack.server.url);
  const before = served();
  const id = await startBatch(stack.server.url, c.childKey, lines, suffix);
  await waitFor('the node has two lines', async () => served() >= before + 2);
  return { c, id };
}

async function batchWhenEnded(key: string, id: string) {
  let batch: any;
  await waitFor('the batch ended', async () => {
    batch = (await call(stack.server.url, 'GET', `/v1/batches/${id}`, { token: key })).body;
    return batch.status === 'cancelled' || batch.status === 'expired';
  });
  return batch;
}

describe('batch lines in flight when their batch ends', () => {
  it('finish and land in the output file of a cancelled batch; the rest are cancelled', async () => {
    const { c, id } = await batchUnderWay(5);
    const cancel = await call(stack.server.url, 'POST', `/v1/batches/${id}/cancel`, { token: c.childKey });
    expect(cancel.body.status).toBe('cancelling');

    const batch = await batchWhenEnded(c.childKey, id);
    expect(batch.status).toBe('cancelled');
    expect(batch.request_counts).toMatchObject({ total: 5, completed: 2 });
    const output = await resultFileLines(stack.server.url, c.childKey, batch.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual(['l0', 'l1']);
    for (const l of output) {
      expect(l.response.status_code).toBe(200);
      expect(l.response.body.choices[0].message.content).toEqual(expect.any(String));
    }
    const errors = await resultFileLines(stack.server.url, c.childKey, batch.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.error.code]).sort()).toEqual([
      ['l2', 'batch_cancelled'],
      ['l3', 'batch_cancelled'],
      ['l4', 'batch_cancelled'],
    ]);
    // Billed for exactly the two answers delivered, nothing held.
    const holds = await settled(stack.env.ctx, c.accountId);
    expect(holds.filter((h) => h.status === 'posted')).toHaveLength(2);
    expect(holds.every((h) => h.status !== 'open')).toBe(true);
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('finish and land in the output file of a batch that expires', async () => {
    const { c, id } = await batchUnderWay(3);
    await expireBatch(stack.env.ctx, stack.deps.queues, id);

    const batch = await batchWhenEnded(c.childKey, id);
    expect(batch.status).toBe('expired');
    expect(batch.request_counts).toMatchObject({ total: 3, completed: 2 });
    const output = await resultFileLines(stack.server.url, c.childKey, batch.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual(['l0', 'l1']);
    const errors = await resultFileLines(stack.server.url, c.childKey, batch.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.error.code])).toEqual([['l2', 'batch_expired']]);
    await expectNoLedgerDrift(stack.env.ctx);
  });

  it('a line ended as its worker picked it up shows the cost it was billed, whichever of the bill and the void came first', async () => {
    const { ctx } = stack.env;
    const { c, id } = await batchUnderWay(2);
    // No dispatcher run until the batch is expired below: with both lines ended, one would finalize
    // it as completed first (it did once, on a loaded machine), where this test expires it.
    const batches = stack.deps.queues.get('batches');
    await batches.pause();
    // A line ended under a worker whose node call is under way (endBatch no longer does this: it
    // reads the lines in flight after its end commits; a job's own cancel still can): the row says
    // expired while the node works.
    const rows = await ctx.sql<{ id: string }[]>`
      update jobs set status = 'expired', completed_at = now(), cost_ngonka = 0
      where batch_id = ${id} and status = 'queued' returning id`;
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      await waitFor('the line shows its bill', async () => {
        const [j] = await ctx.sql<{ status: string; cost_ngonka: bigint | null; posted: bigint | null }[]>`
          select j.status, j.cost_ngonka, h.posted_amount as posted from jobs j join holds h on h.id = j.hold_id
          where j.id = ${row.id}`;
        return j?.status === 'expired' && (j.posted ?? 0n) > 0n && j.cost_ngonka === j.posted;
      });
    }
    await expireBatch(ctx, stack.deps.queues, id);
    await batches.resume();
    expect((await batchWhenEnded(c.childKey, id)).status).toBe('expired');
    await expectNoLedgerDrift(ctx);
  });

  it('are not tried again when their calls fail after the batch was cancelled', async () => {
    const { ctx } = stack.env;
    const { c, id } = await batchUnderWay(3, ' [[sim latency=1000 status=503]]');
    await call(stack.server.url, 'POST', `/v1/batches/${id}/cancel`, { token: c.childKey });

    const batch = await batchWhenEnded(c.childKey, id);
    expect(batch.status).toBe('cancelled');
    await settled(ctx, c.accountId);
    const lines = await ctx.sql<
      { custom_id: string; status: string; attempts: number; hold: string | null }[]
    >`
      select j.custom_id, j.status, j.attempts, h.status as hold from jobs j left join holds h on h.id = j.hold_id
      where j.batch_id = ${id} order by j.line_no`;
    expect(lines).toEqual([
      { custom_id: 'l0', status: 'cancelled', attempts: 1, hold: 'voided' },
      { custom_id: 'l1', status: 'cancelled', attempts: 1, hold: 'voided' },
      { custom_id: 'l2', status: 'cancelled', attempts: 0, hold: null },
    ]);
    const errors = await resultFileLines(stack.server.url, c.childKey, batch.error_file_id);
    expect(errors.map((l) => l.error.code)).toEqual([
      'batch_cancelled',
      'batch_cancelled',
      'batch_cancelled',
    ]);
    await expectNoLedgerDrift(ctx);
  });
});
