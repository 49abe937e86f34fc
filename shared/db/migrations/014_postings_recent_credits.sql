-- The credits an account received lately (top-ups, referral payouts): loading its balance into
-- Redis marks those the load counted (shared/admission/load-state.ts), found by this index.
-- Never edit this file once landed; add a new one.
create index postings_account_credits_idx on postings (ledger_account_id, created_at) where amount > 0;
