-- A grace for a management key's rotation, as child keys have (023): the secret a rotation replaced
-- keeps working until `previous_key_expires_at`, so an owner's services can switch to the new `gm-`
-- secret without downtime. Null (every rotation before this) means it stopped at once.
-- Never edit this file once landed; add a new one.
alter table management_keys add column previous_key_expires_at timestamptz;
