-- Child key rotation (POST /api/management/keys/:id/children/:childId/rotate): a key gets a new
-- secret and keeps its id, limits, usage and metadata. The secret it replaced may keep working
-- until `previous_key_expires_at` (a grace for the customer to switch), found by its hash as the
-- current one is. Nullable without a default: adding them rewrites nothing.
-- Never edit this file once landed; add a new one.
alter table child_keys
  add column previous_key_hash bytea unique,
  add column previous_key_expires_at timestamptz;
