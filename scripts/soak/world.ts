import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, NO_ANSWER } from './http.js';
import { type Journal, KeyHistory, type KeySettings } from './journal.js';
import type { Random } from './random.js';

/** The soak's customers: accounts with low balances, each with a management key and child keys. */

export interface SoakAccount {
  id: string;
  jwt: string;
  mkId: string;
  mkKey: string;
  referralCode: string;
}

export interface SoakKey {
  id: string;
  token: string;
  account: SoakAccount;
  /** Deleted: still used now and then (every answer must be a 401). */
  deleted: boolean;
  /** Its expiry (ms), once set: no more changes, it ends by itself. */
  expiresAt: number | null;
  disabled: boolean;
  /** Changes to one key run one at a time, so the journal knows their order. */
  lock: Promise<unknown>;
}

export class World {
  readonly accounts: SoakAccount[] = [];
  readonly keys: SoakKey[] = [];
  /** While the api is down (--kill-api): settled once a new one serves. Clients wait for it. */
  down: Promise<void> | null = null;

  constructor(
    readonly base: string,
    readonly adminToken: string,
    readonly journal: Journal,
    readonly random: Random,
  ) {}

  async addAccount(): Promise<SoakAccount> {
    const tag = randomBytes(6).toString('hex');
    // Each account referred by the one before: referral shares (L1 and L2) are paid, and carried,
    // under the same crashes as the charges they come from.
    const referrer = this.accounts.at(-1);
    const reg = await this.must(201, 'POST', '/api/auth/register', '', {
      email: `soak-${tag}@soak.example`,
      password: randomBytes(12).toString('hex'),
      ...(referrer ? { referral_code: referrer.referralCode } : {}),
    });
    const jwt = reg.token as string;
    const { id, referral_code } = reg.account as { id: string; referral_code: string };
    const mk = await this.must(201, 'POST', '/api/management/keys', jwt, { name: 'soak' });
    const account = { id, jwt, mkId: mk.id as string, mkKey: mk.key as string, referralCode: referral_code };
    this.accounts.push(account);
    await this.topup(account, BigInt(this.random.int(60, 200)) * 1000n);
    return account;
  }

  /** A child key with tight, random limits (some unset). */
  async addKey(account: SoakAccount): Promise<SoakKey> {
    const r = this.random;
    const settings: KeySettings = {
      limit_daily_ngonka: r.chance(0.6) ? BigInt(r.int(15, 60)) * 1000n : null,
      limit_monthly_ngonka: r.chance(0.5) ? BigInt(r.int(20, 100)) * 1000n : null,
      rate_limit_rpm: r.chance(0.5) ? r.int(8, 40) : null,
      usable: true,
    };
    const body = {
      name: `soak-${this.keys.length}`,
      limit_daily_ngonka: settings.limit_daily_ngonka?.toString() ?? null,
      limit_monthly_ngonka: settings.limit_monthly_ngonka?.toString() ?? null,
      rate_limit_rpm: settings.rate_limit_rpm,
    };
    // A deleted key's replacement may meet an api kill: asked again once it is back (a key the lost
    // answer created carries no traffic), rather than leave the account a key short.
    const child = await this.must(
      201,
      'POST',
      `/api/management/keys/${account.mkId}/children`,
      account.mkKey,
      body,
      {
        againIfUnanswered: true,
      },
    );
    const key: SoakKey = {
      id: child.id as string,
      token: child.key as string,
      account,
      deleted: false,
      expiresAt: null,
      disabled: false,
      lock: Promise.resolve(),
    };
    this.keys.push(key);
    this.journal.keys.set(key.id, { id: key.id, accountId: account.id, history: new KeyHistory(settings) });
    return key;
  }

  /** Credit the account (an admin top-up); the journal learns what was credited. */
  async topup(account: SoakAccount, amount: bigint): Promise<number> {
    const res = await call(this.base, 'POST', '/api/admin/topups', {
      token: this.adminToken,
      body: {
        account_id: account.id,
        amount_ngonka: amount.toString(),
        reference: `soak-${randomBytes(8).toString('hex')}`,
      },
    });
    if (res.status === 201 || res.status === 0) this.journal.topup(account.id, amount, res.status === 201);
    return res.status;
  }

  /**
   * A key to send traffic on: mostly usable ones (an expired key for a few seconds more, to meet
   * its expiry at request time), now and then any (all its answers must be 401s).
   */
  trafficKey(): SoakKey {
    const now = Date.now();
    const usable = this.keys.filter(
      (k) => !k.deleted && !k.disabled && (k.expiresAt === null || now < k.expiresAt + 3000),
    );
    if (usable.length === 0 || this.random.chance(0.05)) return this.random.pick(this.keys);
    // A quarter of the traffic on the first two usable keys: races on one key and one balance.
    if (this.random.chance(0.25)) return this.random.pick(usable.slice(0, 2));
    return this.random.pick(usable);
  }

  /** A key its owner may still change: not deleted, no expiry set. */
  changeableKey(): SoakKey | undefined {
    const keys = this.keys.filter((k) => !k.deleted && k.expiresAt === null);
    return keys.length ? this.random.pick(keys) : undefined;
  }

  async apiUp(): Promise<void> {
    while (this.down) await this.down;
  }

  /** Run `change` on the key after any change to it still under way. */
  withKeyLock<T>(key: SoakKey, change: () => Promise<T>): Promise<T> {
    const run = key.lock.then(change, change);
    key.lock = run.catch(() => {});
    return run;
  }

  private async must(
    status: number,
    method: string,
    path: string,
    token: string,
    body: unknown,
    opts: { againIfUnanswered?: boolean } = {},
  ) {
    let res = await call(this.base, method, path, { token, body });
    while (opts.againIfUnanswered && res.status === NO_ANSWER) {
      await sleep(200);
      await this.apiUp();
      res = await call(this.base, method, path, { token, body });
    }
    if (res.status !== status)
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }
}
