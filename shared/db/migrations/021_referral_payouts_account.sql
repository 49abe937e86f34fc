-- DESIGN.md's fourth system account: referral payouts. A referral transfer now debits it (it goes
-- negative by what referrers were paid) instead of sys_revenue, so sys_revenue is the gross margin
-- and the two together the net; before, the payouts' total was only a sum over transfers. Earlier
-- referral transfers stay as they were booked (postings are immutable).
-- Never edit this file once landed; add a new one.
insert into ledger_accounts (id, kind) values ('sys_referral_payouts', 'system');
