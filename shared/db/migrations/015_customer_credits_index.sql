-- 014's index, narrowed to customers' accounts: the system accounts' positive legs (revenue and
-- upstream cost of every charge) are most positive postings, and no load or repair asks for them.
-- Queries that use it repeat its predicate (`left(ledger_account_id, 4) <> 'sys_'`). Built in the
-- migration's transaction, it blocks writes to postings while it builds: on a large table, create
-- it CONCURRENTLY by hand first (same name) and this statement then does nothing.
-- Never edit this file once landed; add a new one.
drop index if exists postings_account_credits_idx;
create index if not exists postings_customer_credits_idx on postings (ledger_account_id, created_at)
  where amount > 0 and left(ledger_account_id, 4) <> 'sys_';
