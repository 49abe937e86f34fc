-- A hold and a job name their child key together with the account (and, for a job, the management
-- key) they are booked to, in one foreign key, where each column had a foreign key of its own.
-- The per-column keys let a hold be written against one account's child key and another account's
-- balance; the composite key refuses that. It is also one check per row instead of two (holds) or
-- three (jobs): each check locks the parent row (a child key, an account: the same hot rows for
-- every request of a busy key), and admission writes a hold per request.
-- The new keys are NOT VALID: rows already written passed the per-column keys, and validating a
-- large holds table here would block admission for the whole scan. They hold for every row written
-- or changed from now on; `alter table … validate constraint …` checks the old rows without
-- blocking writes. Never edit this file once landed; add a new one.
alter table child_keys add constraint child_keys_account_key unique (id, account_id);
alter table child_keys add constraint child_keys_owner_key unique (id, account_id, management_key_id);

alter table holds
  drop constraint holds_account_id_fkey,
  drop constraint holds_child_key_id_fkey,
  add constraint holds_child_key_fkey foreign key (child_key_id, account_id)
    references child_keys (id, account_id) not valid;

alter table jobs
  drop constraint jobs_account_id_fkey,
  drop constraint jobs_management_key_id_fkey,
  drop constraint jobs_child_key_id_fkey,
  add constraint jobs_child_key_fkey foreign key (child_key_id, account_id, management_key_id)
    references child_keys (id, account_id, management_key_id) not valid;
