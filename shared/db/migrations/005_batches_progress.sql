-- Batch progress reads a batch's lines by status: the dispatcher counts the lines in flight on every
-- run (one per finished line) and request_counts groups them on every poll, so neither may scan
-- all 50,000 lines of a large batch.
create index jobs_batch_status_idx on jobs (batch_id, status) where batch_id is not null;

-- GET /api/batches lists an owner's batches across management keys, newest first.
create index batches_account_idx on batches (account_id, created_at desc);
