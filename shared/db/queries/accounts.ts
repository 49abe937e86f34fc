import type { Db } from '../client.js';

export interface AccountRow {
  id: string;
  email: string;
  referral_code: string;
  referred_by: string | null;
  created_at: Date;
  /** Below this balance `account.low_balance` is sent (null: no alert). */
  low_balance_alert_ngonka: bigint | null;
}

/** Only login reads the hash; every other lookup leaves it in the database. */
export interface AccountCredentialsRow {
  id: string;
  password_hash: string;
}

export interface NewAccount {
  id: string;
  email: string;
  passwordHash: string;
  referralCode: string;
  referredBy: string | null;
  createdAt: Date;
}

export async function insertAccount(db: Db, a: NewAccount): Promise<AccountRow> {
  const [row] = await db<AccountRow[]>`
    insert into accounts (id, email, password_hash, referral_code, referred_by, created_at)
    values (${a.id}, ${a.email}, ${a.passwordHash}, ${a.referralCode}, ${a.referredBy}, ${a.createdAt})
    returning id, email, referral_code, referred_by, created_at, low_balance_alert_ngonka`;
  if (!row) throw new Error('insert into accounts returned no row');
  return row;
}

export async function findAccountById(db: Db, id: string): Promise<AccountRow | null> {
  const [row] = await db<AccountRow[]>`
    select id, email, referral_code, referred_by, created_at, low_balance_alert_ngonka from accounts where id = ${id}`;
  return row ?? null;
}

export async function findAccountByEmail(db: Db, email: string): Promise<AccountRow | null> {
  const [row] = await db<AccountRow[]>`
    select id, email, referral_code, referred_by, created_at, low_balance_alert_ngonka from accounts where email = ${email}`;
  return row ?? null;
}

export async function findAccountCredentials(db: Db, email: string): Promise<AccountCredentialsRow | null> {
  const [row] = await db<AccountCredentialsRow[]>`
    select id, password_hash from accounts where email = ${email}`;
  return row ?? null;
}

export async function findAccountIdByReferralCode(db: Db, code: string): Promise<string | null> {
  const [row] = await db<{ id: string }[]>`select id from accounts where referral_code = ${code}`;
  return row?.id ?? null;
}
