import { api, listOrEmpty } from '../api.js';
import { openDialog } from '../components/dialog.js';
import { emptyState, table } from '../components/page.js';
import { h } from '../dom.js';
import { badge, time } from '../format.js';

function deliveriesTable(deliveries) {
  if (!deliveries.length) return emptyState('Nothing delivered yet. Events are sent here as they happen.');
  return table({
    caption: 'Deliveries, newest first',
    columns: [
      { label: 'Event' },
      { label: 'Status' },
      { label: 'Attempts', className: 'num' },
      { label: 'Last response' },
      { label: 'Next retry' },
      { label: 'Created' },
    ],
    rows: deliveries.map((d) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, d.event_type, h('span', { class: 'usage-sub mono' }, d.id)),
        h('td', {}, badge(d.status)),
        h('td', { class: 'num' }, String(d.attempts)),
        h('td', {}, d.last_status_code ? `HTTP ${d.last_status_code}` : (d.last_error ?? '—')),
        h('td', {}, time(d.next_attempt_at)),
        h('td', {}, time(d.created_at)),
      ),
    ),
  });
}

/** The delivery log of one endpoint, in a dialog: attempts, last response, next retry. */
export async function showDeliveries(endpoint) {
  const dlg = openDialog({
    title: `Deliveries to ${endpoint.url}`,
    content: h('p', { class: 'loading' }, 'Loading…'),
    wide: true,
  });
  try {
    const deliveries = await listOrEmpty(api.webhookDeliveries(endpoint.id));
    dlg.replace(`Deliveries to ${endpoint.url}`, deliveriesTable(deliveries));
  } catch (err) {
    dlg.replace('Deliveries', h('p', { role: 'alert', class: 'form-alert' }, err.message));
  }
}
