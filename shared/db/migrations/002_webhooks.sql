-- Webhooks: endpoints an owner registers, one delivery per (event, destination), and every attempt.
-- Never edit this file once landed; add a new one.

-- Unlike API keys, webhook secrets are stored as they are: the gateway must produce an HMAC with
-- the secret on every delivery, and a hash cannot sign. They are shown once in the API (at
-- creation) and never listed; treat this column like any other credential at rest.
create table webhook_endpoints (
  id text primary key,
  account_id text not null references accounts (id),
  url text not null,
  events text[] not null check (cardinality(events) > 0),
  secret text not null,
  status text not null default 'active' check (status in ('active', 'disabled')),
  disabled_reason text,
  created_at timestamptz not null default now(),
  deleted_at timestamptz
);
create index webhook_endpoints_account_idx on webhook_endpoints (account_id, created_at, id)
  where deleted_at is null;

-- The account's own signing secret for per-job `webhook_url` deliveries, used only while the
-- account has no active endpoint (otherwise the oldest active endpoint's secret is the default).
-- Created on first need; the owner reads it with GET /api/webhooks/default-secret. Stored plain
-- for the same reason as endpoint secrets.
create table webhook_account_secrets (
  account_id text primary key references accounts (id),
  secret text not null,
  created_at timestamptz not null default now()
);

-- One message to one URL. `endpoint_id` is null for a per-job `webhook_url`. The url is copied at
-- emit time so the log shows where each message went. `attempts` counts attempts started.
create table webhook_deliveries (
  id text primary key,
  endpoint_id text references webhook_endpoints (id),
  account_id text not null references accounts (id),
  url text not null,
  event_type text not null,
  payload jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed', 'disabled')),
  attempts integer not null default 0 check (attempts >= 0),
  last_status_code integer,
  last_error text,
  next_attempt_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index webhook_deliveries_endpoint_idx on webhook_deliveries (endpoint_id, created_at desc, id desc);
create index webhook_deliveries_account_idx on webhook_deliveries (account_id, created_at desc, id desc);
-- The sweeper looks for pending deliveries whose job was lost (a crash between write and enqueue).
create index webhook_deliveries_pending_idx on webhook_deliveries (next_attempt_at) where status = 'pending';

create table webhook_attempts (
  delivery_id text not null references webhook_deliveries (id),
  attempt integer not null check (attempt > 0),
  status_code integer,
  error text,
  duration_ms integer not null check (duration_ms >= 0),
  at timestamptz not null,
  primary key (delivery_id, attempt)
);
