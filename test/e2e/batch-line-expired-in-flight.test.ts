import { describe, it } from 'vitest';
import { expireBatch } from '../../shared/batches/expire.js';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { expectNoLedgerDrift } from '../helpers/books.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A batch line whose node call is under way but not yet marked running (calls shorter than
 * INFERENCE_RUNNING_MARK_MS never are; here the mark is pushed past the call) is expired with its
 * batch. The node did the work, so the worker bills it; the line must then show that bill, not 0.
 */
// The expiry's void of the line's hold goes through settlement's groups; a long group wait lets the
// node's answer (1 s) come first, as it does whenever the node beats settlement.
const stack = useTestStack({ env: { INFERENCE_RUNNING_MARK_MS: '60000', SETTLEMENT_GROUP_WAIT_MS: '3000' } });

describe('a batch line expired while its node call ran', () => {
  it('shows the cost it was billed, whichever of the bill and the void came first', async () => {
    const { ctx } = stack.env;
    const c = await createCustomer(ctx, stack.server.url);
    const line = JSON.stringify({
      custom_id: 'slow',
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: SIM_MODEL_QWQ_32B,
        messages: [{ role: 'user', content: 'hi [[sim latency=1000]]' }],
        max_tokens: 8,
      },
    });
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob([line]), 'in.jsonl');
    const auth = { authorization: `Bearer ${c.childKey}` };
    const file = (await (
      await fetch(`${stack.server.url}/v1/files`, { method: 'POST', headers: auth, body: form })
    ).json()) as { id: string };
    const batch = await call(stack.server.url, 'POST', '/v1/batches', {
      token: c.childKey,
      body: { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
    });
    const served = () => stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0);
    const before = served();
    await waitFor('the node has the line', async () => served() > before);

    await expireBatch(ctx, stack.deps.queues, batch.body.id);
    const [row] = await ctx.sql<{ id: string }[]>`select id from jobs where batch_id = ${batch.body.id}`;
    await waitFor('its hold settled', async () => {
      const [h] = await ctx.sql<{ status: string }[]>`
        select h.status from holds h join jobs j on j.hold_id = h.id where j.id = ${row!.id}`;
      return h?.status !== 'open';
    });
    await waitFor('the line shows its bill', async () => {
      const [j] = await ctx.sql<{ status: string; cost_ngonka: bigint | null; posted: bigint | null }[]>`
        select j.status, j.cost_ngonka, h.posted_amount as posted from jobs j join holds h on h.id = j.hold_id
        where j.id = ${row!.id}`;
      return j?.status === 'expired' && (j.posted ?? 0n) > 0n && j.cost_ngonka === j.posted;
    });
    await expectNoLedgerDrift(ctx);
  });
});
