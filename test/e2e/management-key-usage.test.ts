import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWQ_32B } from '../../shared/gonka/simulator/index.js';
import { settled } from '../helpers/books.js';
import { createCustomer, secondManagementKey } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { useTestStack } from '../helpers/stack.js';

const stack = useTestStack();

const chat = (url: string, key: string, content: string) =>
  call(url, 'POST', '/v1/chat/completions', {
    token: key,
    body: { model: SIM_MODEL_QWQ_32B, messages: [{ role: 'user', content }], max_tokens: 6 },
  });

describe('GET /api/management/keys/:id/usage', () => {
  it('gives a backend holding only its gm- key what its own child keys spent, as the account usage does', async () => {
    const { url } = stack.server;
    const c = await createCustomer(stack.env.ctx, url);
    const two = await secondManagementKey(url, c);
    expect((await chat(url, c.childKey, 'one')).status).toBe(200);
    expect((await chat(url, c.childKey, 'two words')).status).toBe(200);
    expect((await chat(url, two.childKey, 'another key of the account')).status).toBe(200);
    await settled(stack.env.ctx, c.accountId);

    const byKey = (token: string, mkId: string) =>
      call(url, 'GET', `/api/management/keys/${mkId}/usage?group_by=key`, { token });
    const mine = await byKey(c.mkKey, c.mkId);
    expect(mine.status).toBe(200);
    expect(mine.body.data).toEqual([expect.objectContaining({ key_id: c.childId, requests: 2 })]);
    // The account's own figures for that key, to the nGNK.
    const account = await call(url, 'GET', '/api/account/usage?group_by=key', { token: c.jwt });
    expect(account.body.data).toHaveLength(2);
    expect(account.body.data).toContainEqual(mine.body.data[0]);
    // The owner reads any of its management keys'; a gm- key only its own (a sibling's is a 403).
    expect((await byKey(c.jwt, two.mkId)).body.data).toEqual([expect.objectContaining({ requests: 1 })]);
    expect((await byKey(c.mkKey, two.mkId)).status).toBe(403);
    // By day: the same total, one row for today.
    const byDay = await call(url, 'GET', `/api/management/keys/${c.mkId}/usage`, { token: c.mkKey });
    expect(byDay.body.data).toEqual([
      expect.objectContaining({ requests: 2, cost_ngonka: mine.body.data[0].cost_ngonka }),
    ]);
    // Its query is the account usage's, strict.
    const bad = await call(url, 'GET', `/api/management/keys/${c.mkId}/usage?key_id=x`, { token: c.mkKey });
    expect([bad.status, bad.body.error.param]).toEqual([400, 'key_id']);
    // Another account's management key is not found.
    const other = await createCustomer(stack.env.ctx, url);
    expect((await byKey(other.jwt, c.mkId)).status).toBe(404);
    expect((await byKey(other.mkKey, c.mkId)).status).toBe(404);
  });
});
