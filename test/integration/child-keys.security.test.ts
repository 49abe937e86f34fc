import { describe, expect, it } from 'vitest';
import { childKeyWorld } from '../helpers/child-key-world.js';

const w = childKeyWorld();
const { api, children, createMk, createChild, childState } = w;

/** Every child-key route on management key `mkId` (child `childId`) with `token`: each answers `status`, `type`. */
async function expectEveryRoute(mkId: string, childId: string, token: string, status: number, type: string) {
  const calls = [
    ['GET', children(mkId)],
    ['POST', children(mkId)],
    ['GET', `${children(mkId)}/${childId}`],
    ['PATCH', `${children(mkId)}/${childId}`],
    ['DELETE', `${children(mkId)}/${childId}`],
    ['POST', `${children(mkId)}/${childId}/rotate`],
  ] as const;
  for (const [method, path] of calls) {
    const res = await api(
      method,
      path,
      token,
      (method === 'POST' && !path.endsWith('/rotate')) || method === 'PATCH' ? { name: 'x' } : undefined,
    );
    expect(res.status, `${method} ${path}`).toBe(status);
    expect(res.body.error.type).toBe(type);
  }
}

describe('child keys: security', () => {
  it("refuses a gm- key on a sibling management key's children (403)", async () => {
    const mk = await createMk();
    const sibling = await createMk();
    const c = await createChild(sibling.id);
    await expectEveryRoute(sibling.id, c.id, mk.key, 403, 'permission_error');
    expect((await childState(c.id)).st).toBe('active');
  });

  it("answers a gm- key on another account's management key, or on none, with 404 (never 403)", async () => {
    const mk = await createMk(w.alice);
    const bobsMk = await createMk(w.bob);
    const bobsChild = await createChild(bobsMk.id, { name: 'c' }, w.bob.token);
    for (const id of [bobsMk.id, 'mk_doesnotexist'])
      await expectEveryRoute(id, bobsChild.id, mk.key, 404, 'not_found');
    expect(await api('GET', `${children(bobsMk.id)}/${bobsChild.id}`, w.bob.token)).toMatchObject({
      status: 200,
      body: { name: 'c', status: 'active' },
    });
  });

  it('refuses a gc- key on the child-key routes (403)', async () => {
    const mk = await createMk();
    const c = await createChild(mk.id);
    for (const [method, path] of [
      ['GET', children(mk.id)],
      ['POST', children(mk.id)],
      ['PATCH', `${children(mk.id)}/${c.id}`],
    ] as const) {
      const res = await api(method, path, c.key, method === 'GET' ? undefined : { name: 'x' });
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe('permission_error');
    }
  });

  it("hides another account's management keys and children behind 404", async () => {
    const mk = await createMk(w.alice);
    const c = await createChild(mk.id);
    const bobsMk = await createMk(w.bob);
    const paths = [
      ['GET', children(mk.id)],
      ['POST', children(mk.id)],
      ['GET', `${children(mk.id)}/${c.id}`],
      ['PATCH', `${children(mk.id)}/${c.id}`],
      ['DELETE', `${children(mk.id)}/${c.id}`],
      ['POST', `${children(mk.id)}/${c.id}/rotate`],
      // Alice's child through Bob's own management key: still not Bob's.
      ['GET', `${children(bobsMk.id)}/${c.id}`],
      ['PATCH', `${children(bobsMk.id)}/${c.id}`],
      ['DELETE', `${children(bobsMk.id)}/${c.id}`],
    ] as const;
    for (const [method, path] of paths) {
      const res = await api(
        method,
        path,
        w.bob.token,
        (method === 'POST' && !path.endsWith('/rotate')) || method === 'PATCH' ? { name: 'x' } : undefined,
      );
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
    const after = await api('GET', `${children(mk.id)}/${c.id}`, w.alice.token);
    expect(after.body).toMatchObject({ name: 'c', status: 'active' });
  });

  it('hides a child behind 404 when addressed through a different management key of the same account', async () => {
    const mk = await createMk();
    const other = await createMk();
    const c = await createChild(mk.id);
    expect((await api('GET', `${children(other.id)}/${c.id}`, w.alice.token)).status).toBe(404);
    expect((await api('GET', `${children(other.id)}/${c.id}`, other.key)).status).toBe(404);
  });

  it('a revoked or disabled gm- key answers 401 with its code', async () => {
    const revoked = await createMk();
    await api('DELETE', `/api/management/keys/${revoked.id}`, w.alice.token);
    const r1 = await api('POST', children(revoked.id), revoked.key, { name: 'x' });
    expect(r1.status).toBe(401);
    expect(r1.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_revoked' });
    const disabled = await createMk();
    const kept = await createChild(disabled.id);
    await api('PATCH', `/api/management/keys/${disabled.id}`, w.alice.token, { status: 'disabled' });
    const r2 = await api('GET', children(disabled.id), disabled.key);
    expect(r2.status).toBe(401);
    expect(r2.body.error).toMatchObject({ type: 'invalid_api_key', code: 'key_disabled' });
    // Disabling the parent stops only the gm- key; the owner still sees its children serving.
    expect((await api('GET', `${children(disabled.id)}/${kept.id}`, w.alice.token)).body.status).toBe(
      'active',
    );
  });
});
