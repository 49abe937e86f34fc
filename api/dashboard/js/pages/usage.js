import { api, listOrEmpty } from '../api.js';
import { filterSelect } from '../components/filter-select.js';
import { messageOf, showAlert } from '../components/notify.js';
import { emptyState, renderPage, section, table } from '../components/page.js';
import { h, mount, uid } from '../dom.js';
import { formatMoney } from '../money.js';
import { href, setQuery } from '../router.js';
import { childKeyIndex } from './key-index.js';

const GROUPS = { day: 'Day', key: 'Child key', model: 'Model' };
/** Rows grouped by key: those that cost most (an account may have tens of thousands of keys). */
const KEY_ROWS = 200;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Settled usage over a range of UTC days, by day, child key or model, for the account or one
 * management key (what a builder bills its customers from), with its totals and as CSV.
 */
export async function renderUsage(main, _params, ctx) {
  // From the URL (`#/usage?group_by=key&from=…`), so a refresh or a shared link keeps them.
  const fromUrl = (k) => ctx.query?.get(k) ?? '';
  const filters = {
    from: DAY.test(fromUrl('from')) ? fromUrl('from') : '',
    to: DAY.test(fromUrl('to')) ? fromUrl('to') : '',
    group_by: Object.hasOwn(GROUPS, fromUrl('group_by')) ? fromUrl('group_by') : 'day',
    mk: fromUrl('mk'),
  };
  const mks = await listOrEmpty(api.managementKeys());
  if (!ctx.isCurrent()) return;
  if (!mks.some((mk) => mk.id === filters.mk)) filters.mk = '';

  const results = h('div', { 'aria-live': 'polite' });
  let asked = 0;
  const load = async () => {
    const mine = ++asked;
    const params = {
      from: filters.from,
      to: filters.to,
      group_by: filters.group_by,
      ...(filters.group_by === 'key' ? { limit: KEY_ROWS } : {}),
    };
    try {
      const report = filters.mk ? await api.managementKeyUsage(filters.mk, params) : await api.usage(params);
      const index =
        filters.group_by === 'key'
          ? await childKeyIndex(
              mks,
              report.data.map((r) => r.key_id),
            )
          : new Map();
      if (mine !== asked || !results.isConnected) return; // a newer choice has its own answer
      // The range the server used (its defaults filled in), so the fields say what is shown.
      fromInput.value = report.from;
      toInput.value = report.to;
      mount(results, usageReport(report, index));
    } catch (err) {
      if (mine === asked) showAlert(messageOf(err));
    }
  };
  const choose = (name) => (value) => {
    filters[name] = value;
    setQuery(filters);
    load();
  };
  const dateField = (label, name) => {
    const id = uid(name);
    const input = h('input', {
      id,
      type: 'date',
      value: filters[name],
      onChange: (e) => choose(name)(e.target.value),
    });
    return [input, h('div', { class: 'inline-field' }, h('label', { for: id }, label), input)];
  };
  const [fromInput, fromField] = dateField('From (UTC)', 'from');
  const [toInput, toField] = dateField('To (UTC)', 'to');
  const groupOptions = Object.entries(GROUPS).map(([v, label]) => h('option', { value: v }, label));
  const mkOptions = mks.map((mk) => h('option', { value: mk.id }, mk.name));

  renderPage(
    main,
    {
      title: 'Usage',
      intro:
        'Settled requests, tokens and what they cost, per UTC day. Bill your customers from the cost: it is what the gateway charged.',
    },
    section(
      'Usage',
      {
        actions: [
          fromField,
          toField,
          filterSelect('Group by', groupOptions, filters.group_by, choose('group_by'), { allLabel: null }),
          filterSelect('Management key', mkOptions, filters.mk, choose('mk'), { allLabel: 'All keys' }),
        ],
      },
      results,
    ),
  );
  await load();
}

function usageReport(report, index) {
  const by = report.group_by;
  const rows = report.data;
  if (!rows.length) return emptyState(`Nothing was settled from ${report.from} to ${report.to}.`);
  const label = (r) => {
    if (by === 'day') return r.day;
    if (by === 'model') return r.model;
    const k = index.get(r.key_id);
    return k ? `${k.name} (${k.mk.name})` : r.key_id;
  };
  const total = {
    requests: rows.reduce((n, r) => n + r.requests, 0),
    prompt: rows.reduce((n, r) => n + r.prompt_tokens, 0),
    completion: rows.reduce((n, r) => n + r.completion_tokens, 0),
    cost: rows.reduce((n, r) => n + BigInt(r.cost_ngonka), 0n),
  };
  const cells = (first, requests, prompt, completion, cost) => [
    first,
    h('td', { class: 'num' }, requests.toLocaleString()),
    h('td', { class: 'num' }, prompt.toLocaleString()),
    h('td', { class: 'num' }, completion.toLocaleString()),
    h('td', { class: 'num' }, formatMoney(cost)),
  ];
  const keyLink = (r) => {
    const k = index.get(r.key_id);
    return k ? h('a', { href: href(`/keys/${k.mk.id}`) }, label(r)) : h('span', { class: 'mono' }, r.key_id);
  };
  return [
    table({
      caption: `Usage by ${GROUPS[by].toLowerCase()}, ${report.from} to ${report.to}`,
      columns: [
        { label: GROUPS[by] },
        { label: 'Requests', className: 'num' },
        { label: 'Prompt tokens', className: 'num' },
        { label: 'Completion tokens', className: 'num' },
        { label: 'Cost', className: 'num' },
      ],
      rows: [
        ...rows.map((r) =>
          h(
            'tr',
            {},
            cells(
              h('td', {}, by === 'key' ? keyLink(r) : label(r)),
              r.requests,
              r.prompt_tokens,
              r.completion_tokens,
              r.cost_ngonka,
            ),
          ),
        ),
        h(
          'tr',
          { class: 'total' },
          cells(
            h('th', { scope: 'row' }, 'Total'),
            total.requests,
            total.prompt,
            total.completion,
            total.cost,
          ),
        ),
      ],
    }),
    by === 'key' && rows.length === KEY_ROWS
      ? h('p', { class: 'muted small' }, `The ${KEY_ROWS} child keys that cost most; the total is theirs.`)
      : null,
    h(
      'p',
      {},
      h(
        'button',
        {
          type: 'button',
          onClick: () => download(`usage-${by}-${report.from}-${report.to}.csv`, csv(report, label)),
        },
        'Download CSV',
      ),
    ),
  ];
}

/** Save `text` as a file: a link to it, clicked, then let go. */
function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** The rows as CSV, money in nGNK (exact): a spreadsheet or a billing script reads it as is. */
function csv(report, label) {
  const by = report.group_by;
  const head = [
    by === 'key' ? 'key_id,key_name' : by,
    'requests,prompt_tokens,completion_tokens,cost_ngonka',
  ];
  const quote = (v) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = report.data.map((r) =>
    [
      ...(by === 'key' ? [r.key_id, quote(label(r))] : [quote(label(r))]),
      r.requests,
      r.prompt_tokens,
      r.completion_tokens,
      r.cost_ngonka,
    ].join(','),
  );
  return `${[head.join(','), ...lines].join('\n')}\n`;
}
