-- A file's bytes move from one `files.content` value to rows of at most 256 KiB each (the gateway
-- writes them that size; see shared/batches/file-store.ts), so no process ever holds a whole file: an upload is checked and stored a chunk at a time, a batch reads
-- its input and writes its output and error files the same way, and a download streams.
-- (One bytea value of 100 MB was, on its way in or out, a 200 MB hex string beside the buffer.)
-- The key to `files` is checked at commit: a file's chunks are written as it is read, and its row,
-- which records the size and line count, only once all of it has been checked.
-- Never edit this file once landed; add a new one.
create table file_chunks (
  file_id text not null references files (id) on delete cascade deferrable initially deferred,
  seq integer not null check (seq >= 0),
  data bytea not null,
  primary key (file_id, seq)
);

insert into file_chunks (file_id, seq, data)
select id, 0, content from files where length(content) > 0;

alter table files drop column content;
