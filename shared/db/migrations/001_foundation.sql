-- Foundation: accounts, the double-entry ledger, holds, management and child keys.
-- Money is integer nGNK (bigint) everywhere. Never edit this file once landed; add a new one.

create table accounts (
  id text primary key,
  email text not null unique,
  password_hash text not null,
  referral_code text not null unique,
  referred_by text references accounts (id),
  created_at timestamptz not null default now()
);

-- One ledger account per customer account (same id) plus the system accounts.
-- `balance` is maintained in the same transaction as the postings; reconciliation proves it.
create table ledger_accounts (
  id text primary key,
  kind text not null check (kind in ('customer', 'system')),
  balance bigint not null default 0,
  constraint customer_balance_non_negative check (kind = 'system' or balance >= 0)
);

insert into ledger_accounts (id, kind) values
  ('sys_topups', 'system'),        -- where top-ups come from (goes negative by what was sold)
  ('sys_revenue', 'system'),       -- the gateway's margin; referral payouts are paid from it
  ('sys_upstream_cost', 'system'); -- owed to the Gonka network for tokens served

-- A transfer is one economic event; its postings sum to zero (checked by a deferred trigger).
create table transfers (
  id bigint generated always as identity primary key,
  kind text not null check (kind in ('topup', 'charge', 'referral', 'adjustment')),
  ref text not null,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  unique (kind, ref)
);

create table postings (
  id bigint generated always as identity primary key,
  transfer_id bigint not null references transfers (id),
  ledger_account_id text not null references ledger_accounts (id),
  amount bigint not null check (amount <> 0), -- signed: positive credits the account
  balance_after bigint not null,
  created_at timestamptz not null default now()
);
create index postings_account_idx on postings (ledger_account_id, id desc);
create index postings_transfer_idx on postings (transfer_id);

-- Entries are immutable: corrections are new transfers.
create function forbid_mutation() returns trigger language plpgsql as $$
begin
  raise exception '% rows are immutable', tg_table_name;
end $$;
create trigger transfers_immutable before update or delete on transfers
  for each row execute function forbid_mutation();
create trigger postings_immutable before update or delete on postings
  for each row execute function forbid_mutation();

-- Every transfer must balance by the end of the transaction that wrote it.
create function check_transfer_balanced() returns trigger language plpgsql as $$
declare total numeric;
begin
  select coalesce(sum(amount), 0) into total from postings where transfer_id = new.transfer_id;
  if total <> 0 then
    raise exception 'transfer % does not sum to zero (%)', new.transfer_id, total;
  end if;
  return null;
end $$;
create constraint trigger postings_balanced after insert on postings
  deferrable initially deferred for each row execute function check_transfer_balanced();

create table management_keys (
  id text primary key,
  account_id text not null references accounts (id),
  name text not null,
  key_hash bytea not null unique,
  key_prefix text not null,
  status text not null default 'active' check (status in ('active', 'disabled', 'revoked')),
  -- Bumped on every change; Redis copies of the key's state only ever move to a newer version.
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index management_keys_account_idx on management_keys (account_id, created_at);

create table child_keys (
  id text primary key,
  account_id text not null references accounts (id),
  management_key_id text not null references management_keys (id),
  name text not null,
  key_hash bytea not null unique,
  key_prefix text not null,
  status text not null default 'active' check (status in ('active', 'disabled', 'expired', 'deleted')),
  limit_daily_ngonka bigint check (limit_daily_ngonka >= 0),
  limit_monthly_ngonka bigint check (limit_monthly_ngonka >= 0),
  rate_limit_rpm integer check (rate_limit_rpm > 0),
  expires_at timestamptz,
  metadata jsonb not null default '{}',
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  deleted_at timestamptz
);
create index child_keys_parent_idx on child_keys (management_key_id, created_at);
create index child_keys_expiry_idx on child_keys (expires_at) where status = 'active' and expires_at is not null;

-- A hold reserves the worst-case cost of one request. It resolves exactly once: open → posted
-- (actual cost charged, the rest released) or open → voided (all released).
create table holds (
  id text primary key,
  request_id text not null unique,
  account_id text not null references accounts (id),
  child_key_id text not null references child_keys (id),
  amount bigint not null check (amount >= 0),
  -- Period the hold counts against, fixed at admission so settlement after midnight still lands
  -- in the day that admitted it.
  period_day date not null,
  model text not null,
  price_ngonka_per_token bigint not null check (price_ngonka_per_token >= 0),
  markup_bps integer not null,
  status text not null default 'open' check (status in ('open', 'posted', 'voided')),
  posted_amount bigint check (posted_amount >= 0 and posted_amount <= amount),
  created_at timestamptz not null default now(),
  deadline timestamptz not null,
  resolved_at timestamptz
);
create index holds_open_account_idx on holds (account_id) where status = 'open';
create index holds_open_key_idx on holds (child_key_id, period_day) where status = 'open';
create index holds_deadline_idx on holds (deadline) where status = 'open';

create function guard_hold_transition() returns trigger language plpgsql as $$
begin
  if old.status <> 'open' then
    raise exception 'hold % is already %', old.id, old.status;
  end if;
  if new.amount <> old.amount or new.account_id <> old.account_id or new.child_key_id <> old.child_key_id then
    raise exception 'hold % terms are immutable', old.id;
  end if;
  return new;
end $$;
create trigger holds_resolve_once before update on holds
  for each row execute function guard_hold_transition();

-- Settled usage per child key per UTC day, written in the settlement transaction (the aggregate
-- behind `usage` and GET /api/account/usage; months are sums of days).
create table key_usage_daily (
  child_key_id text not null references child_keys (id),
  day date not null,
  model text not null default '',
  account_id text not null references accounts (id),
  requests bigint not null default 0,
  prompt_tokens bigint not null default 0,
  completion_tokens bigint not null default 0,
  cost_ngonka bigint not null default 0,
  primary key (child_key_id, day, model)
);
create index key_usage_daily_account_idx on key_usage_daily (account_id, day);
