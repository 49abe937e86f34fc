import { api, pageOrEmpty } from '../api.js';
import { openDialog } from '../components/dialog.js';
import { emptyState } from '../components/page.js';
import { pagedTable } from '../components/paged-table.js';
import { h } from '../dom.js';
import { badge, time } from '../format.js';

/**
 * Deliveries, newest first, a page at a time (the API's 20), then "Load more deliveries" while
 * older ones follow: a busy endpoint's log is longer than one page. `fetchPage(after)` reads one.
 * Those to jobs' own webhook_url (`perJob`) belong to no endpoint, so each shows its URL and job.
 */
function deliveriesTable(fetchPage, { perJob = false } = {}) {
  return pagedTable({
    noun: { one: 'delivery', many: 'deliveries' },
    caption: 'Deliveries, newest first',
    columns: [
      { label: 'Event' },
      ...(perJob ? [{ label: 'Job and URL' }] : []),
      { label: 'Status' },
      { label: 'Attempts', className: 'num' },
      { label: 'Last response' },
      { label: 'Next retry' },
      { label: 'Created' },
    ],
    row: (d) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, d.event_type, h('span', { class: 'usage-sub mono' }, d.id)),
        perJob
          ? h(
              'td',
              {},
              h('span', { class: 'mono' }, d.job_id ?? '—'),
              h('span', { class: 'usage-sub mono break' }, d.url),
            )
          : null,
        h('td', {}, badge(d.status)),
        h('td', { class: 'num' }, String(d.attempts)),
        h(
          'td',
          {},
          d.last_status_code ? `HTTP ${d.last_status_code}` : (d.last_error ?? '—'),
          attemptsLog(d),
        ),
        h('td', {}, time(d.next_attempt_at)),
        h('td', {}, time(d.created_at)),
      ),
    empty: () =>
      emptyState(
        perJob
          ? 'Nothing delivered yet. Jobs submitted with a webhook_url are reported to it here.'
          : 'Nothing delivered yet. Events are sent here as they happen.',
      ),
    fetchPage: (after) => pageOrEmpty(fetchPage(after)),
  });
}

/** Every attempt of a delivery tried more than once: when, what came back, how long it took. */
function attemptsLog(d) {
  const log = d.attempts_log ?? [];
  if (log.length < 2) return null;
  return h(
    'details',
    { class: 'attempts' },
    h('summary', {}, `All ${log.length} attempts`),
    h(
      'ol',
      {},
      log.map((a) =>
        h(
          'li',
          {},
          time(a.at),
          ` · ${a.status_code ? `HTTP ${a.status_code}` : (a.error ?? 'no answer')}`,
          a.duration_ms === null || a.duration_ms === undefined ? '' : ` · ${a.duration_ms} ms`,
        ),
      ),
    ),
  );
}

/** A delivery log in a dialog: loading, then its first page or what went wrong. */
async function showLog(title, fetchPage, opts) {
  const dlg = openDialog({ title, content: h('p', { class: 'loading' }, 'Loading…'), wide: true });
  const log = deliveriesTable(fetchPage, opts);
  try {
    const first = await log.fetchPage(null);
    dlg.replace(title, log.el);
    log.show(first);
  } catch (err) {
    dlg.replace('Deliveries', h('p', { role: 'alert', class: 'form-alert' }, err.message));
  }
}

/** The delivery log of one endpoint: attempts, last response, next retry. */
export function showDeliveries(endpoint) {
  return showLog(`Deliveries to ${endpoint.url}`, (after) => api.webhookDeliveries(endpoint.id, { after }));
}

/** The delivery log of jobs' own webhook_url, which belong to no endpoint. */
export function showJobDeliveries() {
  return showLog('Deliveries to job webhook URLs', (after) => api.jobWebhookDeliveries({ after }), {
    perJob: true,
  });
}
