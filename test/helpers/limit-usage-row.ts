import type { KeyLimitUsageRow } from '../../shared/db/queries/limit-usage.js';

/** A key's limit usage as the limit-alerts task reads it: no limits, nothing used, unless said. */
export const limitUsageRow = (o: Partial<KeyLimitUsageRow> = {}): KeyLimitUsageRow => ({
  id: 'ck_1',
  account_id: 'acct_1',
  management_key_id: 'mk_1',
  name: 'ck',
  metadata: {},
  limit_daily_ngonka: null,
  limit_monthly_ngonka: null,
  day_settled: 0n,
  month_settled: 0n,
  day_reserved: 0n,
  month_reserved: 0n,
  ...o,
});
