-- 034's status indexes took every job's writes: a job changes status three times, and each change
-- (not a HOT update: status is indexed) wrote to both, ~8% more Postgres time per job end to end
-- (npm run bench:jobs). Lists by status need them for the rare statuses only: the common ones are
-- dense in the account's own index (newest first), or in jobs_live_idx.
-- Never edit this file once landed; add a new one.
drop index jobs_account_status_idx;
drop index jobs_owner_status_idx;
create index jobs_account_rare_status_idx on jobs (account_id, status, created_at desc, id desc)
  where batch_id is null and status in ('failed', 'cancelled', 'expired');
create index jobs_owner_rare_status_idx on jobs (management_key_id, status, created_at desc, id desc)
  where batch_id is null and status in ('failed', 'cancelled', 'expired');
