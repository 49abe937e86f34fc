-- Every transfer must balance: checked once per INSERT statement instead of once per posting row at
-- commit. The row-level deferred check ran a sum over the transfer's postings for each of its rows
-- (three or four per charge), a quarter of the database's work in a settlement batch. Never edit
-- this file once landed; add a new one.
--
-- The new check only sums the statement's own rows per transfer. That is enough: postings are
-- immutable (no update or delete), every transfer balanced before this migration (the old check),
-- and every statement since adds rows that sum to zero per transfer, so every transfer's total stays
-- zero. It is stricter than before in one way only: a transfer's postings must now arrive in one
-- statement (insertPostings writes a whole batch in one).
drop trigger postings_balanced on postings;
drop function check_transfer_balanced();

create function check_transfers_balanced() returns trigger language plpgsql as $$
declare bad record;
begin
  select transfer_id, sum(amount) as total into bad
  from new_postings group by transfer_id having sum(amount) <> 0 limit 1;
  if found then
    raise exception 'transfer % does not sum to zero (%)', bad.transfer_id, bad.total;
  end if;
  return null;
end $$;

create trigger postings_balanced after insert on postings
  referencing new table as new_postings
  for each statement execute function check_transfers_balanced();
