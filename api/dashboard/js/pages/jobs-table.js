import { api } from '../api.js';
import { emptyList } from '../components/page.js';
import { pagedTable } from '../components/paged-table.js';
import { h } from '../dom.js';
import { badge, time } from '../format.js';
import { formatMoney } from '../money.js';
import { showJobDetail } from './job-detail.js';
import { cancelCell, cancelling, keyCell } from './row-actions.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];
const LIVE = new Set(['queued', 'running']);

function jobRow(j, index, onCancel) {
  return h(
    'tr',
    {},
    h(
      'th',
      { scope: 'row', class: 'mono small' },
      h(
        'button',
        {
          type: 'button',
          class: 'link',
          'data-focus-key': `job-${j.id}`,
          'aria-label': `Details of job ${j.id}`,
          onClick: () => showJobDetail(j, index.get(j.key_id)?.name),
        },
        j.id,
      ),
    ),
    h(
      'td',
      {},
      badge(j.status),
      j.error?.message ? h('span', { class: 'usage-sub' }, j.error.message) : null,
    ),
    h('td', {}, j.model ?? '—'),
    keyCell(index, j.key_id),
    h('td', {}, time(j.created_at)),
    h('td', {}, time(j.completed_at)),
    h('td', { class: 'num' }, j.cost_ngonka ? formatMoney(j.cost_ngonka) : '—'),
    cancelCell(j, 'job', onCancel),
  );
}

/** The owner's async jobs, a page at a time, each cancellable while it may be. */
export function jobsTable(index, fetchPage, filtered) {
  const onCancel = cancelling({
    noun: 'job',
    message:
      'a queued job never runs and its hold is released; a running one finishes, and what its node generated is billed.',
    cancel: api.cancelJob,
    list: () => table,
  });
  const table = pagedTable({
    noun: { one: 'job', many: 'jobs' },
    caption: 'Jobs',
    columns: [
      { label: 'Job' },
      { label: 'Status' },
      { label: 'Model' },
      { label: 'Child key' },
      { label: 'Created' },
      { label: 'Completed' },
      { label: 'Cost', className: 'num' },
      { label: 'Actions' },
    ],
    row: (j) => jobRow(j, index, onCancel),
    empty: () =>
      emptyList(filtered, 'jobs', 'No jobs to show. Jobs your child keys send to POST /v1/jobs appear here.'),
    fetchPage,
    live: { isLive: (j) => LIVE.has(j.status), fetchOne: api.job, newRows: true },
  });
  return table;
}
