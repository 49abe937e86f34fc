import { api, listOrEmpty } from '../api.js';
import { spendChart } from '../components/chart.js';
import { emptyState, renderPage, section, table } from '../components/page.js';
import { pagedTable } from '../components/paged-table.js';
import { copyField } from '../components/secret.js';
import { h } from '../dom.js';
import { badge, time } from '../format.js';
import { compare, formatGnk, formatMoney, formatNgnk, gnkNumber } from '../money.js';
import { href } from '../router.js';
import { showChargeDetail } from './charge-detail.js';
import { childKeyIndex } from './key-index.js';
import { lowBalanceAlert } from './low-balance-alert.js';

const TOP_KEYS = 5;
const LEDGER_PAGE = 10;

function amountCard(label, ngnk, note) {
  return h(
    'div',
    { class: 'stat' },
    h('dt', {}, label),
    h(
      'dd',
      {},
      h('span', { class: 'stat-value' }, formatGnk(ngnk)),
      h('span', { class: 'stat-sub' }, `(${formatNgnk(ngnk)})`),
    ),
    note ? h('dd', { class: 'stat-note' }, note) : null,
  );
}

const topOf = (rows) => [...rows].sort((a, b) => compare(b.cost_ngonka, a.cost_ngonka)).slice(0, TOP_KEYS);

function topKeys(rows, index) {
  const top = topOf(rows);
  if (!top.length) return emptyState('No key has spent anything in the last 30 days.');
  return table({
    caption: 'Top child keys by spend, last 30 days',
    columns: [
      { label: 'Child key' },
      { label: 'Management key' },
      { label: 'Requests', className: 'num' },
      { label: 'Tokens', className: 'num' },
      { label: 'Spend', className: 'num' },
    ],
    rows: top.map((r) => {
      const k = index.get(r.key_id);
      return h(
        'tr',
        {},
        h('td', {}, k ? k.name : h('span', { class: 'mono' }, r.key_id)),
        h('td', {}, k ? h('a', { href: href(`/keys/${k.mk.id}`) }, k.mk.name) : '—'),
        h('td', { class: 'num' }, r.requests.toLocaleString()),
        h('td', { class: 'num' }, (r.prompt_tokens + r.completion_tokens).toLocaleString()),
        h('td', { class: 'num' }, formatMoney(r.cost_ngonka)),
      );
    }),
  });
}

function topUp(account) {
  return [
    h(
      'ol',
      { class: 'steps' },
      h('li', {}, 'Send GNK, or USDT, to the gateway operator as agreed in your plan.'),
      h(
        'li',
        {},
        'Quote your account ID (below) and your email, ',
        h('strong', {}, account.email),
        ', with the payment.',
      ),
      h(
        'li',
        {},
        'The operator credits your balance; USDT is converted to GNK at the rate of the day, recorded on the entry. The credit appears under Recent activity.',
      ),
    ),
    copyField({ label: 'Your account ID', value: account.id, what: 'account ID' }),
    h(
      'details',
      { class: 'operator' },
      h('summary', {}, 'For operators: how to credit this account'),
      h(
        'pre',
        { class: 'code' },
        `npm run topup -- --account-id ${account.id} --ngonka 5000000000 --reference <payment-id>`,
      ),
      h(
        'p',
        {},
        'or ',
        h('code', {}, 'POST /api/admin/topups'),
        ' with the admin token; both are idempotent on the reference.',
      ),
    ),
  ];
}

/**
 * What an entry's metadata adds to its reference: a charge bills every request one settlement batch
 * settled (how many, a button that lists them); a top-up paid in USDT records the amount paid and
 * the rate it was converted at.
 */
function noteOf(e, openCharge) {
  const m = e.metadata ?? {};
  const n = e.kind === 'charge' ? m.requests : undefined;
  if (typeof n === 'number')
    return [
      ' · ',
      h(
        'button',
        {
          type: 'button',
          class: 'link',
          'data-focus-key': `charge-${e.id}`,
          onClick: () => openCharge(e.id),
        },
        `${n} ${n === 1 ? 'request' : 'requests'}`,
      ),
    ];
  if (e.kind === 'topup' && typeof m.amount_usdt === 'string' && /^\d+$/.test(m.usdt_rate_ngonka ?? ''))
    return h(
      'span',
      { class: 'muted' },
      ` · ${m.amount_usdt} USDT at ${gnkNumber(m.usdt_rate_ngonka)} GNK per USDT`,
    );
  // Its ref is the referred account's charge, which this account cannot open: say what it is.
  if (e.kind === 'referral' && /^\d+$/.test(m.charge_ngonka ?? ''))
    return h(
      'span',
      { class: 'muted' },
      ` · your share of a referred account's charge of ${formatGnk(m.charge_ngonka)}`,
    );
  return null;
}

/**
 * The ledger, newest first, a few entries at a time (it pages with `cursor` / `next_cursor`);
 * `openCharge(id)` shows the requests a charge billed.
 */
function activity(openCharge) {
  return pagedTable({
    noun: { one: 'entry', many: 'entries' },
    caption: 'Ledger entries, newest first',
    columns: [
      { label: 'When' },
      { label: 'Kind' },
      { label: 'Amount', className: 'num' },
      { label: 'Balance after', className: 'num' },
      { label: 'Reference' },
    ],
    row: (e) =>
      h(
        'tr',
        {},
        h('td', {}, time(e.created_at)),
        h('td', {}, badge(e.kind)),
        h('td', { class: 'num' }, `${e.direction === 'debit' ? '−' : '+'}${formatMoney(e.amount_ngonka)}`),
        h('td', { class: 'num' }, formatGnk(e.balance_after_ngonka)),
        h('td', { class: 'mono small' }, e.ref, noteOf(e, openCharge)),
      ),
    empty: () => emptyState('No activity yet: top-ups and charges will be listed here.'),
    fetchPage: async (cursor) => {
      const page = await api.ledger({ limit: LEDGER_PAGE, ...(cursor ? { cursor } : {}) });
      return { data: page.data, hasMore: page.next_cursor !== null, lastId: page.next_cursor };
    },
  });
}

function referral(account) {
  return [
    h(
      'p',
      { class: 'intro' },
      'An account that signs up with your code earns you a share of every charge it pays. The share comes from the gateway’s revenue, never from that account’s balance, and is credited here as a referral entry.',
    ),
    copyField({ label: 'Your referral code', value: account.referral_code, what: 'referral code' }),
  ];
}

export async function renderOverview(main, _params, ctx) {
  // A charge's detail names its requests' keys under these management keys (known once loaded).
  let mks = [];
  const ledger = activity((id) => showChargeDetail(id, mks));
  const [account, byDay, byKey, firstEntries, managementKeys] = await Promise.all([
    api.account(),
    api.usage({ group_by: 'day' }),
    api.usage({ group_by: 'key', limit: TOP_KEYS }),
    ledger.fetchPage(null),
    listOrEmpty(api.managementKeys()),
  ]);
  mks = managementKeys;
  // Only the keys shown: the names of the top spenders.
  const index = await childKeyIndex(
    mks,
    topOf(byKey.data).map((r) => r.key_id),
  );
  if (!ctx.isCurrent()) return;
  const empty = BigInt(account.available_ngonka) === 0n;
  renderPage(
    main,
    { title: 'Overview', intro: `Signed in as ${account.email}` },
    h(
      'dl',
      { class: 'stats', 'aria-label': 'Balance' },
      amountCard('Balance', account.balance_ngonka),
      amountCard('Held', account.held_ngonka, 'Reserved for requests in flight'),
      amountCard('Available', account.available_ngonka, 'Balance minus held'),
    ),
    empty
      ? h(
          'p',
          { class: 'callout warning' },
          'Your available balance is empty: your child keys are refused with ',
          h('code', {}, 'insufficient_balance'),
          ' until you top up.',
        )
      : null,
    section(
      'Spend per day',
      { intro: `Settled charges per UTC day, ${byDay.from} to ${byDay.to}.` },
      spendChart({ rows: byDay.data, from: byDay.from, to: byDay.to }),
    ),
    h(
      'div',
      { class: 'grid-2' },
      section(
        'Top keys',
        { intro: 'The child keys that spent the most in the last 30 days.' },
        topKeys(byKey.data, index),
      ),
      section(
        'Top up',
        { intro: 'Your balance is prepaid; every request is charged from it.' },
        topUp(account),
        lowBalanceAlert(account),
      ),
    ),
    section('Recent activity', {}, ledger.el),
    section('Refer a customer', {}, referral(account)),
  );
  ledger.show(firstEntries);
}
