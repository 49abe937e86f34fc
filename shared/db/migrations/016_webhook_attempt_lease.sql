-- A pending delivery's next_attempt_at is never null any more: an attempt in flight holds it at
-- the end of its lease (shared/webhooks/deliver.ts), and attempts are claimed only where
-- next_attempt_at <= now. Attempts left in flight by earlier versions (null, since updated_at)
-- become due from then, so the sweeper takes them up as before.
-- Never edit this file once landed; add a new one.
update webhook_deliveries set next_attempt_at = updated_at
where status = 'pending' and next_attempt_at is null;
