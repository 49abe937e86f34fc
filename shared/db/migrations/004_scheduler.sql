-- Scheduler: closed usage periods, monthly usage rows, and an outbox for the events it raises.
-- Never edit this file once landed; add a new one.

-- One row per UTC day or month the rollover has looked at. A period is `closing` while holds
-- admitted in it are still open (their settlement still lands in it) and `closed` once none are:
-- its usage rows are final from then on and its Redis counters may be pruned.
create table usage_periods (
  kind text not null check (kind in ('day', 'month')),
  period date not null, -- the day, or the 1st of the month
  status text not null check (status in ('closing', 'closed')),
  keys integer not null default 0,
  requests bigint not null default 0,
  cost_ngonka bigint not null default 0,
  first_closed_at timestamptz not null,
  closed_at timestamptz,
  primary key (kind, period)
);
create index usage_periods_closing_idx on usage_periods (kind, period) where status = 'closing';

-- Settled usage per child key per closed UTC month (the sum of its key_usage_daily rows), written
-- by the month rollover: the statement of a month that no longer changes.
create table key_usage_monthly (
  child_key_id text not null references child_keys (id),
  month date not null, -- the 1st of the month
  model text not null default '',
  account_id text not null references accounts (id),
  requests bigint not null default 0,
  prompt_tokens bigint not null default 0,
  completion_tokens bigint not null default 0,
  cost_ngonka bigint not null default 0,
  primary key (child_key_id, month, model)
);
create index key_usage_monthly_account_idx on key_usage_monthly (account_id, month);

-- Webhook events raised by scheduled tasks (key.expired, key.limit_threshold). The row is written in
-- the same transaction as the change it reports, and `dedupe_key` makes an event happen once (once
-- per key expiry, once per key, limit, period and threshold) however often a task runs. A flush
-- hands pending rows to the webhook emitter and stamps them.
create table scheduler_events (
  dedupe_key text primary key,
  account_id text not null references accounts (id),
  type text not null,
  data jsonb not null,
  created_at timestamptz not null,
  emitted_at timestamptz
);
create index scheduler_events_pending_idx on scheduler_events (created_at) where emitted_at is null;

-- Closing a period and checking a closed one read key_usage_daily by day across all keys.
create index key_usage_daily_day_idx on key_usage_daily (day);
