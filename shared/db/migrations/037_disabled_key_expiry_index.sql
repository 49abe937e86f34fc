-- The expiry task announces (key.expired) a disabled key's expiry without flipping its status
-- (shared/scheduler/tasks/expire-keys.ts): it looks among disabled keys past expires_at, this index.
-- Never edit this file once landed; add a new one.
create index child_keys_disabled_expiry_idx on child_keys (expires_at) where status = 'disabled' and expires_at is not null;
