-- Referral shares carry their fraction from one charge to the next. A referrer earns 10% (L1) and 3%
-- (L2) of what the account it referred is charged; a charge is one settlement batch, and rounding
-- each charge's share down lost up to 1 nGNK per charge, so what a referrer got depended on how
-- requests happened to be grouped (20 charges of 12 nGNK paid the 3% referrer nothing). Each
-- referred account keeps what its shares were not paid, in 1/10,000ths of an nGNK (charge × basis
-- points): the fraction they were rounded down by, and whatever a charge's margin was too small
-- to pay; the next charge pays it. Over any run of charges the shares add up to the total's share
-- rounded down once. Defaults to 0: adding the columns rewrites nothing.
-- Never edit this file once landed; add a new one.
alter table accounts
  add column referral_carry_l1 int8 not null default 0 check (referral_carry_l1 >= 0),
  add column referral_carry_l2 int8 not null default 0 check (referral_carry_l2 >= 0);
