-- Secret rotation (POST /api/webhooks/:id/rotate-secret, /api/webhooks/default-secret/rotate): the
-- secret a rotation replaced keeps signing beside the new one until `previous_secret_expires_at`,
-- so a receiver can switch secrets without a window in which it rejects genuine deliveries
-- (Standard Webhooks: one `v1,…` signature per secret, space-separated). Nullable without a
-- default: adding them rewrites nothing.
-- Never edit this file once landed; add a new one.
alter table webhook_endpoints
  add column previous_secret text,
  add column previous_secret_expires_at timestamptz;
alter table webhook_account_secrets
  add column previous_secret text,
  add column previous_secret_expires_at timestamptz;
