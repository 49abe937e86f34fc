import { call, NO_ANSWER } from './http.js';
import type { KeySettings } from './journal.js';
import type { SoakKey, World } from './world.js';

/**
 * What an owner does to its keys while they are used: limits lowered, raised or cleared, the RPM
 * limit changed, the key disabled and enabled again, an expiry a few seconds away, a delete (and a
 * new key in its place); and top-ups. Each change the gateway answered goes into the journal with
 * the instants between which it took effect.
 */

type Patch = { body: Record<string, unknown>; settings: Partial<KeySettings> };

function randomPatch(w: World, key: SoakKey): Patch {
  const r = w.random;
  const kind = r.weighted({ limit: 5, rpm: 2, toggle: 2, expire: 1 });
  if (kind === 'limit') {
    const field = r.pick(['limit_daily_ngonka', 'limit_monthly_ngonka'] as const);
    const value = r.chance(0.25) ? null : BigInt(r.int(2, 60)) * 1000n;
    return { body: { [field]: value?.toString() ?? null }, settings: { [field]: value } };
  }
  if (kind === 'rpm') {
    const value = r.chance(0.3) ? null : r.int(3, 40);
    return { body: { rate_limit_rpm: value }, settings: { rate_limit_rpm: value } };
  }
  if (kind === 'toggle') {
    const disable = !key.disabled;
    return { body: { status: disable ? 'disabled' : 'active' }, settings: { usable: !disable } };
  }
  return { body: { expires_at: new Date(Date.now() + r.int(2000, 10_000)).toISOString() }, settings: {} };
}

/**
 * The key as its owner reads it now, after a change whose answer never came (the api was killed
 * mid-change): once a new api answers, whether the change committed shows. Null if it cannot tell.
 */
async function keyAfterLostAnswer(w: World, key: SoakKey): Promise<Record<string, unknown> | null> {
  await w.apiUp();
  const res = await call(w.base, 'GET', `/api/management/keys/${key.account.mkId}/children/${key.id}`, {
    token: key.account.jwt,
  });
  return res.status === 200 ? res.body : null;
}

const same = (field: string, sent: unknown, read: unknown) =>
  field === 'expires_at'
    ? typeof read === 'string' && Date.parse(read) === Date.parse(sent as string)
    : String(sent) === String(read);

export async function patchKey(w: World): Promise<void> {
  const key = w.changeableKey();
  if (!key) return;
  let expiring = false;
  await w.withKeyLock(key, async () => {
    // A deleted key answers 409 and an expiring one ends by itself: no more changes to either.
    if (key.deleted || key.expiresAt !== null) return;
    const patch = randomPatch(w, key);
    const sentAt = Date.now();
    const res = await call(w.base, 'PATCH', `/api/management/keys/${key.account.mkId}/children/${key.id}`, {
      token: key.account.mkKey,
      body: patch.body,
    });
    let answeredAt = Date.now();
    w.journal.count('patch', res.status);
    if (res.status === NO_ANSWER) {
      // It took effect, if it did, at some instant before the key was read back.
      const now = await keyAfterLostAnswer(w, key);
      answeredAt = Date.now();
      if (!now || !Object.entries(patch.body).every(([f, v]) => same(f, v, now[f]))) return;
    } else if (res.status !== 200) return;
    const history = w.journal.keys.get(key.id)!.history;
    for (const [setting, value] of Object.entries(patch.settings))
      history.record(setting as keyof KeySettings, value as never, sentAt, answeredAt);
    if ('usable' in patch.settings) key.disabled = !patch.settings.usable;
    if (typeof patch.body.expires_at === 'string') {
      key.expiresAt = Date.parse(patch.body.expires_at);
      history.record('usable', false, key.expiresAt, Math.max(key.expiresAt, answeredAt));
      expiring = true;
    }
  });
  // Its account gets a key in place of the one that is ending.
  if (expiring) await w.addKey(key.account);
}

/** DELETE a child key and give its account a new one. */
export async function deleteKey(w: World): Promise<void> {
  const key = w.changeableKey();
  if (!key) return;
  await w.withKeyLock(key, async () => {
    if (key.deleted) return;
    const sentAt = Date.now();
    const res = await call(w.base, 'DELETE', `/api/management/keys/${key.account.mkId}/children/${key.id}`, {
      token: key.account.mkKey,
    });
    w.journal.count('delete', res.status);
    if (res.status === NO_ANSWER && (await keyAfterLostAnswer(w, key))?.status !== 'deleted') return;
    if (res.status !== 200 && res.status !== NO_ANSWER) return;
    key.deleted = true;
    w.journal.keys.get(key.id)!.history.record('usable', false, sentAt, Date.now());
  });
  await w.addKey(key.account);
}

export async function topup(w: World): Promise<void> {
  const status = await w.topup(w.random.pick(w.accounts), BigInt(w.random.int(10, 80)) * 1000n);
  w.journal.count('topup', status);
}
