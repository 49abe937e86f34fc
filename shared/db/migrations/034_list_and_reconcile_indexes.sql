-- Indexes for what a year of data made slow (scale20, on 400k jobs and 2.8M postings):
-- a jobs list filtered by child key or by a rare status read the whole jobs table (0.3–1.5 s a page:
-- with these, 8–45 ms); the reconciliation's check of the last hour's charges walked every charge
-- ever booked (4.6 s: with its index, 3 ms); its check of closed months scanned the monthly usage.
-- Built in the migration's transaction, so writes to these tables wait for the build: seconds per
-- million rows (README, Operations, "Upgrading").
-- Never edit this file once landed; add a new one.
create index jobs_key_idx on jobs (child_key_id, created_at desc, id desc) where batch_id is null;
create index jobs_account_status_idx on jobs (account_id, status, created_at desc, id desc) where batch_id is null;
create index jobs_owner_status_idx on jobs (management_key_id, status, created_at desc, id desc) where batch_id is null;
create index transfers_charge_created_idx on transfers (created_at) where kind = 'charge';
create index key_usage_monthly_month_idx on key_usage_monthly (month);
