import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { submitJob } from '../helpers/jobs.js';
import { capturedLogger } from '../helpers/logs.js';
import { useTestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const { logger, lines } = capturedLogger('debug');
const stack = useTestStack({ env: { INFERENCE_ATTEMPTS: '2', INFERENCE_BACKOFF_MS: '50' }, logger });

describe('a job every node failed', () => {
  it('is logged once, as a warning with its id, and its failed-over nodes name it too', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    for (const n of stack.sim.nodes) n.setFaults({ status: 503 });
    try {
      const jobId = await submitJob(stack.server.url, c.childKey, {
        model: SIM_MODEL_QWQ_32B,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 8,
      });
      await waitFor('the job failed', async () => {
        const job = await call(stack.server.url, 'GET', `/v1/jobs/${jobId}`, { token: c.childKey });
        return job.body.status === 'failed';
      });
      await waitFor('its line', () => lines.some((l) => l.msg === 'job failed'));
      expect(lines.filter((l) => l.msg === 'job failed')).toMatchObject([
        { level: 40, jobId, attempts: 2, error: { type: 'upstream_unavailable' } },
      ]);
      const nodes = lines.filter((l) => l.msg === 'gonka node failed');
      expect(nodes.length).toBeGreaterThan(0);
      expect(nodes.every((l) => l.jobId === jobId && l.level === 40)).toBe(true);
      // The nodes' 503s are the job's outcome, not the gateway's fault.
      expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    } finally {
      for (const n of stack.sim.nodes) n.setFaults({});
    }
  });
});
