-- DELETE /v1/files/:id, as in OpenAI: a deleted file's bytes (its chunks) go at once; its record
-- stays, marked, because batches name their input, output and error files by id. A deleted file is
-- gone for the API (404, not listed, no batch made from it).
-- Never edit this file once landed; add a new one.
alter table files add column deleted_at timestamptz;

-- GET /v1/files lists a management key's files, newest first.
create index files_management_key_idx on files (management_key_id, created_at desc, id desc)
  where deleted_at is null;
