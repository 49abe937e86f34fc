-- Async inference: jobs (one admitted request each), files and OpenAI-style batches of jobs.

create table files (
  id text primary key,
  account_id text not null references accounts (id),
  management_key_id text references management_keys (id),
  purpose text not null check (purpose in ('batch', 'batch_output')),
  filename text not null,
  bytes integer not null,
  -- Batch inputs are at most a few hundred MB in OpenAI; ours are bounded by the upload limit, so
  -- Postgres holds them (one store to back up, transactional with the batch that reads them).
  content bytea not null,
  line_count integer not null default 0,
  created_at timestamptz not null default now()
);
create index files_owner_idx on files (account_id, created_at desc);

create table batches (
  id text primary key,
  account_id text not null references accounts (id),
  management_key_id text not null references management_keys (id),
  child_key_id text not null references child_keys (id),
  input_file_id text not null references files (id),
  endpoint text not null,
  completion_window text not null,
  status text not null default 'validating' check (status in
    ('validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled')),
  total integer not null default 0,
  completed integer not null default 0,
  failed integer not null default 0,
  output_file_id text references files (id),
  error_file_id text references files (id),
  errors jsonb,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  in_progress_at timestamptz,
  expires_at timestamptz not null,
  finalizing_at timestamptz,
  completed_at timestamptz,
  failed_at timestamptz,
  expired_at timestamptz,
  cancelling_at timestamptz,
  cancelled_at timestamptz
);
create index batches_owner_idx on batches (management_key_id, created_at desc);
create index batches_active_idx on batches (expires_at) where status in ('in_progress', 'validating', 'finalizing', 'cancelling');

create table jobs (
  id text primary key,
  account_id text not null references accounts (id),
  management_key_id text not null references management_keys (id),
  child_key_id text not null references child_keys (id),
  -- Null for a batch line not yet dispatched (lines are admitted when dispatched).
  hold_id text unique references holds (id),
  batch_id text references batches (id),
  custom_id text,
  line_no integer,
  status text not null default 'queued' check (status in
    ('pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
  model text not null,
  request jsonb not null,
  result jsonb,
  error jsonb,
  usage jsonb,
  cost_ngonka bigint,
  webhook_url text,
  metadata jsonb not null default '{}',
  attempts integer not null default 0,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  unique (batch_id, line_no)
);
create index jobs_owner_idx on jobs (management_key_id, created_at desc) where batch_id is null;
create index jobs_account_idx on jobs (account_id, created_at desc) where batch_id is null;
create index jobs_batch_pending_idx on jobs (batch_id, line_no) where status = 'pending';
create index jobs_live_idx on jobs (status) where status in ('queued', 'running');
