-- When a child key's RPM limit was last cleared (set to null). Live, the RPM window keeps the
-- requests admitted under the old limit for their 60 s, and a limit set again within them still
-- counts them; a window rebuilt after Redis lost it must too (readRpmWindow), while a key that has
-- had no limit for a minute needs no window at all (admission keeps none without a limit).
-- Nullable without a default: adding it rewrites nothing.
-- Never edit this file once landed; add a new one.
alter table child_keys add column rpm_limit_cleared_at timestamptz;
