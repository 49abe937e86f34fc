import { api } from '../api.js';
import { openDialog } from '../components/dialog.js';
import { messageOf, showAlert } from '../components/notify.js';
import { table } from '../components/page.js';
import { h } from '../dom.js';
import { plural, time } from '../format.js';
import { formatMoney, formatNgnk } from '../money.js';
import { childKeyIndex } from './key-index.js';

const tokens = (n) => (n === null ? '—' : n.toLocaleString());

/**
 * One charge as GET /api/account/ledger/{id} gives it: the requests its settlement batch billed,
 * each with its child key, model, tokens and cost, so the owner can see what a charge was for.
 * Its child keys are named by looking up those ids under the account's management keys (`mks`);
 * a key deleted since shows its id.
 */
export async function showChargeDetail(entryId, mks) {
  let entry;
  let index;
  try {
    entry = await api.ledgerEntry(entryId);
    index = await childKeyIndex(
      mks,
      (entry.requests ?? []).map((r) => r.key_id),
    );
  } catch (err) {
    showAlert(messageOf(err));
    return;
  }
  const requests = entry.requests ?? [];
  openDialog({
    // The charge's own id (`chg_…`), as its ledger row shows it.
    title: `Charge ${entry.ref ?? entry.id}`,
    wide: true,
    content: [
      h(
        'p',
        { class: 'intro' },
        `${formatMoney(entry.amount_ngonka)} for ${plural(requests.length, 'request')}, settled `,
        time(entry.created_at),
        '.',
      ),
      table({
        caption: 'Requests billed by this charge',
        columns: [
          { label: 'Request' },
          { label: 'Child key' },
          { label: 'Model' },
          { label: 'Prompt tokens', className: 'num' },
          { label: 'Completion tokens', className: 'num' },
          { label: 'Cost', className: 'num' },
        ],
        rows: requests.map((r) =>
          h(
            'tr',
            {},
            h('td', { class: 'mono small' }, r.id),
            h('td', {}, index.get(r.key_id)?.name ?? h('span', { class: 'mono small' }, r.key_id)),
            h('td', {}, r.model),
            h('td', { class: 'num' }, tokens(r.prompt_tokens)),
            h('td', { class: 'num' }, tokens(r.completion_tokens)),
            h('td', { class: 'num' }, formatNgnk(r.cost_ngonka)),
          ),
        ),
      }),
    ],
  });
}
