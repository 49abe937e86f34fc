-- The expiry task announces (key.expired) a disabled key's expiry without flipping its status
-- (shared/scheduler/tasks/expire-keys.ts): it looks among disabled keys past expires_at, this index.
-- Never edit this file once landed; add a new one.
create index child_keys_disabled_expiry_idx on child_keys (expires_at) where status = 'disabled' and expires_at is not null;

-- Disabled keys that expired before this release are recorded as announced (emitted_at set, so never
-- sent): their owners are not sent a burst of old expiries on the upgrade.
insert into scheduler_events (dedupe_key, account_id, type, data, created_at, emitted_at)
select 'key.expired:' || id || ':' || floor(extract(epoch from expires_at) * 1000)::bigint,
       account_id, 'key.expired', jsonb_build_object('key_id', id, 'not_sent', 'expired before 037'), now(), now()
from child_keys
where status = 'disabled' and expires_at is not null and expires_at <= now()
on conflict (dedupe_key) do nothing;
