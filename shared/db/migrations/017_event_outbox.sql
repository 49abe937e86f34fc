-- The webhook event of a job's or batch's end (job.succeeded, job.failed, batch.<status>) is
-- recorded by the statement that writes that end, so a crash or an error between the commit and
-- the emit no longer loses it. The row names the job or batch (each ends once, so it has one
-- event; its data is read back when emitted) and is deleted once emitted; a scheduler sweep emits
-- the rows left behind (shared/scheduler/tasks/missed-events.ts).
-- Never edit this file once landed; add a new one.
create table event_outbox (
  subject_id text primary key, -- a job_… or batch_… id
  created_at timestamptz not null
);
create index event_outbox_created_idx on event_outbox (created_at);

-- Which event a delivery is for (`job.failed:job_…`, a scheduler event's dedupe key), so emitting
-- one event again (the sweep meeting the worker, a retry after an error) adds no second delivery to
-- the same destination. Null for deliveries made before this column.
alter table webhook_deliveries add column event_key text;
create unique index webhook_deliveries_event_key_idx
  on webhook_deliveries (event_key, (coalesce(endpoint_id, url))) where event_key is not null;
