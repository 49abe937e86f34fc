-- Management key rotation (POST /api/management/keys/:id/rotate): a new `gm-` secret for the same
-- key and children. The secret it replaced is kept to be told apart (401 key_revoked, not
-- key_unknown); it never works again. Nullable without a default: adding it rewrites nothing.
-- Never edit this file once landed; add a new one.
alter table management_keys add column previous_key_hash bytea unique;
