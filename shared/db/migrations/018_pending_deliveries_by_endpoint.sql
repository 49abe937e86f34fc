-- An endpoint disabled by a 410 or deleted has its pending deliveries ended in the same
-- transaction (closeEndpointDeliveries): found through its pending ones only, not its whole
-- delivery history (which is never pruned).
-- Never edit this file once landed; add a new one.
create index webhook_deliveries_endpoint_pending_idx on webhook_deliveries (endpoint_id) where status = 'pending';
