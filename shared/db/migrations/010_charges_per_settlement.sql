-- Settlement books one charge per account per settlement batch (one transfer: the customer pays the
-- batch's total, the upstream cost and the margin are booked), where it booked one transfer with
-- three postings per request. Those four rows per request were half of the database's work on the
-- request path, and a ledger that grows by four rows a request is no statement anyone can read.
-- Each request's own bill stays on its hold, which resolves exactly once as before: what it was
-- posted at (posted_amount), the node's token counts, and the charge that billed it (charge_ref, the
-- ref of a 'charge' transfer). Reconciliation checks that every charge equals the sum of its holds.
-- Charges booked before this migration are one per request (ref = the request id) and their holds
-- have no charge_ref. Never edit this file once landed; add a new one.
alter table holds
  add column charge_ref text,
  add column prompt_tokens integer check (prompt_tokens >= 0),
  add column completion_tokens integer check (completion_tokens >= 0);

-- Reconciliation reads the last day's charges: transfers are written in created_at order.
create index transfers_created_brin on transfers using brin (created_at);

-- The holds a charge billed, for reconciliation (settlement's hold update writes every index of
-- the row anyway: its status is in the open-hold indexes).
create index holds_charge_ref_idx on holds (charge_ref) where charge_ref is not null;
