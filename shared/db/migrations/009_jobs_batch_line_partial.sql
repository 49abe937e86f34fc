-- A batch line's (batch_id, line_no) stays unique, now through a partial index: the table-wide
-- unique constraint of 003 also took an entry for every job outside a batch (batch_id null) at
-- admission and again when it finished (a job's update cannot be HOT: its status is indexed), a
-- tenth of a job's index writes for rows it can never constrain. Never edit this file once landed;
-- add a new one.
alter table jobs drop constraint jobs_batch_id_line_no_key;
create unique index jobs_batch_line_key on jobs (batch_id, line_no) where batch_id is not null;
