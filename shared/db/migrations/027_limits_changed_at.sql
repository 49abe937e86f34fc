-- When a child key's limits or status last changed (PATCH): the limit-alerts task reads keys whose
-- use may have crossed a threshold, and a limit lowered below what a key already used crosses one
-- without any new spend. Nullable without a default: adding it rewrites nothing.
-- Never edit this file once landed; add a new one.
alter table child_keys add column limits_changed_at timestamptz;
