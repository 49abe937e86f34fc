-- The scheduler's prune-deliveries task deletes deliveries that ended (succeeded, failed, disabled)
-- longer ago than WEBHOOK_DELIVERY_RETENTION_DAYS, oldest first: this finds them without reading
-- the pending ones or the whole table.
-- Never edit this file once landed; add a new one.
create index webhook_deliveries_ended_idx on webhook_deliveries (updated_at) where status <> 'pending';
