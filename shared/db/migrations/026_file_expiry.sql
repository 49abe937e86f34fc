-- OpenAI's file expiry: POST /v1/files takes `expires_after` ({anchor: "created_at", seconds}) and
-- POST /v1/batches `output_expires_after` for its output and error files. A file past `expires_at`
-- is deleted as DELETE /v1/files/:id deletes it (its bytes go, its record stays marked) by the
-- scheduler's expire-files task; null never expires. The batch keeps the seconds asked for its
-- result files, which are written when it ends. Nullable: adding them rewrites nothing.
-- Never edit this file once landed; add a new one.
alter table files add column expires_at timestamptz;
create index files_expiry_idx on files (expires_at) where deleted_at is null and expires_at is not null;
alter table batches add column output_expires_after_seconds int4;
