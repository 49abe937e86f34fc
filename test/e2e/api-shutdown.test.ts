import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/bench/processes.js';
import { SIM_MODEL_QWQ_32B, simulateCompletion } from '../../shared/gonka/simulator/index.js';
import { startWorkers } from '../../workers/index.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { processExit, spawnRoleProcess, stopProcess } from '../helpers/worker-process.js';

// No workers until the api process is gone: what it handed off must be in the queue by then.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ workers: false });
});
afterAll(async () => {
  await stack?.close();
});

/** An api process whose Redis is behind a proxy the test can cut, with a 1.5 s shutdown hand-off wait. */
async function apiBehindRedisProxy(extra: Record<string, string> = {}) {
  const redis = new URL(stack.env.config.REDIS_URL);
  const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  const port = await freePort();
  const api = spawnRoleProcess(stack.env, 'api', stack.sim.urls, {
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    SHUTDOWN_HANDOFF_WAIT_MS: '1500',
    ...extra,
  });
  return { proxy, port, api };
}

/** The account's holds' statuses, oldest first. */
async function holdStatuses(accountId: string): Promise<string[]> {
  const rows = await stack.env.ctx.sql<{ status: string }[]>`
    select status from holds where account_id = ${accountId} order by created_at`;
  return rows.map((r) => r.status);
}

/** Once the api process on `port` listens, one sync chat it answers (its settlement hand-off then waits). */
async function servesOneChat(port: number, childKey: string): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  await waitFor('api listening', async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok === true);
  const res = await call(base, 'POST', '/v1/chat/completions', {
    token: childKey,
    body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 },
  });
  expect(res.status).toBe(200);
}

/**
 * One request through `agent`'s kept-alive socket (a load balancer's pool keeps one so): the answer's
 * status and its Connection header.
 */
function onPooledSocket(
  agent: Agent,
  port: number,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent,
        method: body ? 'POST' : 'GET',
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          'content-type': 'application/json',
        },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      },
    );
    req.once('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

describe('api process shutdown', () => {
  it('hands finished requests to settlement before it exits, however long they would have waited for company', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const port = await freePort();
    const api = spawnRoleProcess(stack.env, 'api', stack.sim.urls, {
      PORT: String(port),
      HOST: '127.0.0.1',
      // Far longer than the test: only the shutdown can send this group.
      SETTLEMENT_HANDOFF_WAIT_MS: '600000',
    });
    try {
      await servesOneChat(port, c.childKey);
      await stopProcess(api, 'SIGTERM');
      expect(api.exitCode).toBe(0);
    } finally {
      await stopProcess(api, 'SIGKILL');
    }

    const settlement = stack.deps.queues.get('settlement');
    expect(await settlement.getJobCountByTypes('wait', 'prioritized', 'delayed')).toBe(1);
    const stop = startWorkers(stack.env.ctx, stack.deps);
    try {
      await waitFor('request settled', async () => {
        const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
        return a.body.held_ngonka === '0' && BigInt(a.body.balance_ngonka) < 1_000_000_000n;
      });
    } finally {
      await stop();
    }
  });

  it('stops the node calls still running after SHUTDOWN_STREAM_DRAIN_MS: a stream ends with an error event and is billed what was sent, a sync call is a 503; then it exits', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const port = await freePort();
    const api = spawnRoleProcess(stack.env, 'api', stack.sim.urls, {
      PORT: String(port),
      HOST: '127.0.0.1',
      SHUTDOWN_STREAM_DRAIN_MS: '1000',
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(
        'api listening',
        async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok === true,
      );
      // A token every 200 ms: seconds past the drain.
      const messages = [{ role: 'user' as const, content: 'a long story [[sim delay=200]]' }];
      const whole = simulateCompletion(messages, 200).completionTokens;
      expect(whole).toBeGreaterThan(15);
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.childKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: SIM_MODEL_QWQ_32B, messages, max_tokens: 200, stream: true }),
      });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = '';
      const first = await reader.read(); // the stream is running
      const nodeCalls = () => stack.sim.nodes.reduce((n, node) => n + node.stats.requests, 0);
      const before = nodeCalls();
      const slowCall = call(base, 'POST', '/v1/chat/completions', {
        token: c.childKey,
        body: {
          model: SIM_MODEL_QWQ_32B,
          messages: [{ role: 'user', content: 'slow [[sim latency=20000]]' }],
        },
      });
      await waitFor('the slow call at its node', async () => nodeCalls() > before);
      text += new TextDecoder().decode(first.value);
      await stopProcess(api, 'SIGTERM');
      expect(api.exitCode).toBe(0);
      for (let r = await reader.read(); !r.done; r = await reader.read())
        text += new TextDecoder().decode(r.value);
      const events = text.split('\n\n').filter(Boolean);
      const last = JSON.parse(events.at(-1)!.replace(/^data: /, ''));
      expect(last).toMatchObject({ error: { type: 'service_unavailable' } });
      expect(last.error.message).toMatch(/restarting/);
      const sent = events.filter((e) => e.includes('"delta"')).length;
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(whole);
      // A non-stream call still waiting on its node is stopped too: a 503 to retry, nothing billed.
      expect(await slowCall).toMatchObject({
        status: 503,
        body: { error: { type: 'service_unavailable', message: expect.stringMatching(/restarting/) } },
      });
    } finally {
      await stopProcess(api, 'SIGKILL');
    }
    // Handed to settlement before it exited: billed for what was sent.
    const stop = startWorkers(stack.env.ctx, stack.deps);
    try {
      await waitFor('stream settled', async () => {
        const a = await call(stack.server.url, 'GET', '/api/account', { token: c.jwt });
        return a.body.held_ngonka === '0' && BigInt(a.body.balance_ngonka) < 1_000_000_000n;
      });
    } finally {
      await stop();
    }
  }, 40_000);

  it('ends its kept-alive connections once their requests are answered, so a busy client cannot hold it open', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const port = await freePort();
    const api = spawnRoleProcess(stack.env, 'api', stack.sim.urls, { PORT: String(port), HOST: '127.0.0.1' });
    // One socket, kept alive between requests, as a load balancer's pool keeps it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string, body?: unknown) => onPooledSocket(agent, port, path, c.childKey, body);
    try {
      await waitFor('api listening', async () => (await get('/healthz').catch(() => null))?.status === 200);
      const slow = get('/v1/chat/completions', {
        model: SIM_MODEL_QWQ_32B,
        messages: [{ role: 'user', content: 'hello [[sim latency=1500]]' }],
        max_tokens: 16,
      });
      await new Promise((r) => setTimeout(r, 500));
      const exited = new Promise<void>((r) => api.once('exit', () => r()));
      api.kill('SIGTERM');
      // The request in flight is answered in full, and told the connection ends with it.
      expect(await slow).toEqual({ status: 200, connection: 'close' });
      // A client that keeps sending on its pooled connection does not keep the process from exiting.
      let gone = false;
      void exited.then(() => {
        gone = true;
      });
      const until = Date.now() + 10_000;
      while (!gone && Date.now() < until) {
        await get('/healthz').catch(() => null);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(gone).toBe(true);
      expect(api.exitCode).toBe(0);
    } finally {
      agent.destroy();
      await stopProcess(api, 'SIGKILL');
    }
  });

  it('serves a request sent on an idle kept-alive connection just after SIGTERM, rather than resetting it', async () => {
    const port = await freePort();
    const api = spawnRoleProcess(stack.env, 'api', stack.sim.urls, { PORT: String(port), HOST: '127.0.0.1' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () => onPooledSocket(agent, port, '/healthz');
    try {
      await waitFor('api listening', async () => (await get().catch(() => null))?.status === 200);
      expect(await get()).toEqual({ status: 200, connection: 'keep-alive' }); // the pooled socket, idle now
      api.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300)); // it has stopped listening by now
      // Its next request comes on the idle socket (a new connection would be refused): answered,
      // and told the connection ends, not reset mid-send with no answer.
      expect(await get()).toEqual({ status: 200, connection: 'close' });
      await processExit(api); // the one SIGTERM's drain ends it (a second would stop it at once)
      expect(api.exitCode).toBe(0);
    } finally {
      agent.destroy();
      await stopProcess(api, 'SIGKILL');
    }
  });

  it('exits when Redis is gone with a hand-off still waiting, once SHUTDOWN_HANDOFF_WAIT_MS has passed', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    // Only the shutdown sends the hand-off.
    const { proxy, port, api } = await apiBehindRedisProxy({ SETTLEMENT_HANDOFF_WAIT_MS: '600000' });
    try {
      await servesOneChat(port, c.childKey);
      await proxy.cut();
      const started = Date.now();
      await stopProcess(api, 'SIGTERM');
      // Bounded: the hand-off's wait, and the readiness waits of the queues and workers.
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await stopProcess(api, 'SIGKILL');
      await proxy.close();
    }
    // What Redis did not take it settled itself in Postgres (ops31: it was left to the sweeper,
    // which voided it, served and never billed), and never hung to end in SIGKILL mid-request.
    expect(await holdStatuses(c.accountId)).toEqual(['posted']);
  }, 30_000);
});

describe('api process shutdown with Redis gone under a request in flight', () => {
  it('still exits once SHUTDOWN_HANDOFF_WAIT_MS has passed, though the hand-off waits in the Redis client', async () => {
    const c = await createCustomer(stack.env.ctx, stack.server.url);
    const { proxy, port, api } = await apiBehindRedisProxy();
    try {
      await servesOneChat(port, c.childKey);
      // Admitted while Redis is up, answered after it went: its settlement's hand-off waits in the
      // Redis client's offline queue (ops17: the api then stayed up until Redis came back).
      const inFlight = call(`http://127.0.0.1:${port}`, 'POST', '/v1/chat/completions', {
        token: c.childKey,
        body: {
          model: SIM_MODEL_QWQ_32B,
          messages: [{ role: 'user', content: 'hi [[sim latency=1500]]' }],
          max_tokens: 8,
        },
      });
      await new Promise((r) => setTimeout(r, 500));
      await proxy.cut();
      const stopped = stopProcess(api, 'SIGTERM');
      expect((await inFlight).status).toBe(200);
      await stopped; // stopProcess gives up (and the test fails) past its own wait
      expect(api.exitCode).toBe(0);
    } finally {
      await stopProcess(api, 'SIGKILL');
      await proxy.close();
    }
    // The first answer is in the settlement queue (no workers run here); the one answered after
    // Redis went was settled in Postgres at exit, billed.
    expect(await holdStatuses(c.accountId)).toEqual(['open', 'posted']);
  }, 60_000);
});
