-- Ledger entry ids before 029 were `le_` and the posting's serial in decimal. They are still read
-- (stored ones keep working), but only up to the last posting there was when this ran: any decimal
-- id, as a cursor, told an account the gateway-wide count of postings by bisection. On a database
-- made after 029 this is 0, and no decimal id is read at all.
-- Never edit this file once landed; add a new one.
insert into instance_secrets (name, value)
select 'legacy_entry_ids_below', (coalesce(max(id), 0) + 1)::text from postings;
