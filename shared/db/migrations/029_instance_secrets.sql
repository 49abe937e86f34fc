-- Secrets of this deployment that must outlive every restart and be the same in every process,
-- made once here rather than configured: the key that turns ledger posting ids into opaque entry
-- ids (shared/ledger/entry-ids.ts). gen_random_uuid() is Postgres's own strong random (v13+).
-- Never edit this file once landed; add a new one.
create table instance_secrets (
  name text primary key,
  value text not null
);
insert into instance_secrets (name, value)
values ('ledger_entry_ids', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
