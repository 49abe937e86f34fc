import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { createTestAccount, type TestAccount } from './accounts.js';
import { createTestEnv, type TestEnv } from './context.js';
import { call, startTestServer, type TestServer } from './http.js';

export const NOW = '2026-11-26T12:00:00.000Z';

/**
 * The world of the child-key route tests (one per test file): a database, the api, two accounts
 * (alice and bob) and a clock pinned at NOW before each test.
 */
export function childKeyWorld() {
  const clock = new ManualClock(NOW);
  const w = {
    clock,
    env: undefined as unknown as TestEnv,
    server: undefined as unknown as TestServer,
    alice: undefined as unknown as TestAccount,
    bob: undefined as unknown as TestAccount,
    api: (method: string, path: string, token?: string, body?: unknown) =>
      call(w.server.url, method, path, { token, body }),
    children: (mkId: string) => `/api/management/keys/${mkId}/children`,
    async createMk(owner?: TestAccount) {
      const res = await w.api('POST', '/api/management/keys', (owner ?? w.alice).token, { name: 'My SaaS' });
      expect(res.status).toBe(201);
      return res.body as { id: string; key: string };
    },
    async createChild(mkId: string, body: Record<string, unknown> = { name: 'c' }, token?: string) {
      const res = await w.api('POST', w.children(mkId), token ?? w.alice.token, body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body;
    },
    childState: (id: string, acct?: TestAccount) =>
      w.env.ctx.redis.hgetall(w.env.ctx.keys.childKey((acct ?? w.alice).id, id)),
  };
  beforeAll(async () => {
    w.env = await createTestEnv({ clock });
    w.server = await startTestServer(w.env.ctx);
    w.alice = await createTestAccount(w.env.ctx);
    w.bob = await createTestAccount(w.env.ctx);
  });
  beforeEach(() => clock.set(NOW));
  afterAll(async () => {
    await w.server?.close();
    await w.env?.close();
  });
  return w;
}
