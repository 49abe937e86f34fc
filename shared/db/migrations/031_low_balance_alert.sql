-- An account's low-balance alert (PATCH /api/account): `account.low_balance` is sent once when its
-- balance falls below `low_balance_alert_ngonka`, and again only after the balance is back at or
-- above it (`low_balance_alerted_at` set in between). Null: no alert.
-- Never edit this file once landed; add a new one.
alter table accounts
  add column low_balance_alert_ngonka bigint check (low_balance_alert_ngonka >= 0),
  add column low_balance_alerted_at timestamptz;
create index accounts_low_balance_alert_idx on accounts (id) where low_balance_alert_ngonka is not null;
