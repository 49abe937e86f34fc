-- A child key's holds by creation time: when Redis lost a key's RPM window, admission and
-- reconcile --fix rebuild it from the key's holds of the last 60 s (shared/admission/rpm-window.ts).
-- Resolved holds count as much as open ones there (the requests were admitted), so the open-only
-- partial indexes of 001 cannot serve it. Never edit this file once landed; add a new one.
create index holds_key_created_idx on holds (child_key_id, created_at);
