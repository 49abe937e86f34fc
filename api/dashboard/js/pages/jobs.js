import { api, downloadFile, listOrEmpty, pageOrEmpty } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { announce, messageOf, showAlert } from '../components/notify.js';
import { emptyState, renderPage, section } from '../components/page.js';
import { PAGE_SIZE, pagedTable } from '../components/paged-table.js';
import { h, uid } from '../dom.js';
import { badge, time } from '../format.js';
import { formatMoney } from '../money.js';
import { href } from '../router.js';
import { filesTable } from './files-table.js';
import { childKeyIndex } from './key-index.js';

const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];
const BATCH_STATUSES = [
  'validating',
  'in_progress',
  'finalizing',
  'completed',
  'failed',
  'expired',
  'cancelling',
  'cancelled',
];

function keyCell(index, keyId) {
  const k = index.get(keyId);
  if (!k) return h('td', { class: 'mono small' }, keyId ?? '—');
  return h(
    'td',
    {},
    k.name,
    h('span', { class: 'usage-sub' }, h('a', { href: href(`/keys/${k.mk.id}`) }, k.mk.name)),
  );
}

const CANCELLABLE = new Set(['queued', 'running', 'validating', 'in_progress']);

/** The Actions cell: Cancel while the job or batch may still be cancelled. */
function cancelCell(item, noun, onCancel) {
  if (!CANCELLABLE.has(item.status)) return h('td', {});
  return h(
    'td',
    {},
    h(
      'div',
      { class: 'row-actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'danger-link',
          'data-focus-key': `cancel-${item.id}`,
          'aria-label': `Cancel ${noun} ${item.id}`,
          onClick: () => onCancel(item),
        },
        'Cancel',
      ),
    ),
  );
}

function jobRow(j, index, onCancel) {
  return h(
    'tr',
    {},
    h('th', { scope: 'row', class: 'mono small' }, j.id),
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

function counts(b) {
  const c = b.request_counts ?? {};
  return `${c.completed ?? 0} done, ${c.failed ?? 0} failed of ${c.total ?? 0}`;
}

function batchRow(b, index, onCancel) {
  return h(
    'tr',
    {},
    h('th', { scope: 'row', class: 'mono small' }, b.id),
    h('td', {}, badge(b.status)),
    h('td', {}, counts(b)),
    keyCell(index, b.key_id),
    h('td', {}, time(b.created_at)),
    resultFileCell(b, 'output'),
    resultFileCell(b, 'error'),
    cancelCell(b, 'batch', onCancel),
  );
}

/** A batch's output or error file: its id, and a button that downloads it under its own name. */
function resultFileCell(b, kind) {
  const id = kind === 'output' ? b.output_file_id : b.error_file_id;
  if (!id) return h('td', { class: 'muted' }, '—');
  const download = () => downloadFile(id, `${b.id}_${kind}.jsonl`).catch((err) => showAlert(messageOf(err)));
  return h(
    'td',
    {},
    h('span', { class: 'mono small' }, id),
    h(
      'span',
      { class: 'usage-sub' },
      h(
        'button',
        { type: 'button', class: 'link', 'aria-label': `Download the ${kind} of ${b.id}`, onClick: download },
        'Download',
      ),
    ),
  );
}

/** Ask, then cancel through `cancel(id)` and show the list again (and `after()` what else changed). */
function cancelling({ noun, message, cancel, list, after = async () => {} }) {
  return (item) =>
    confirmDialog({
      title: `Cancel this ${noun}?`,
      message: `${item.id}: ${message}`,
      confirmLabel: `Cancel ${noun}`,
      dismissLabel: `Keep the ${noun}`,
      action: async () => {
        await cancel(item.id);
        await Promise.all([list().reload(), after()]);
        announce(`The ${noun} was cancelled.`);
      },
    });
}

function jobsTable(index, fetchPage) {
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
    empty: () => emptyState('No jobs to show. Jobs your child keys send to POST /v1/jobs appear here.'),
    fetchPage,
  });
  return table;
}

/** `onCancelled` runs after a batch was cancelled (its error file is new). */
function batchesTable(index, fetchPage, onCancelled) {
  const onCancel = cancelling({
    noun: 'batch',
    message:
      'its lines not yet run are cancelled and their holds released; lines running finish and are billed, and so are the finished ones.',
    cancel: api.cancelBatch,
    list: () => table,
    after: onCancelled,
  });
  const table = pagedTable({
    noun: { one: 'batch', many: 'batches' },
    caption: 'Batches',
    columns: [
      { label: 'Batch' },
      { label: 'Status' },
      { label: 'Requests' },
      { label: 'Child key' },
      { label: 'Created' },
      { label: 'Output file' },
      { label: 'Error file' },
      { label: 'Actions' },
    ],
    row: (b) => batchRow(b, index, onCancel),
    empty: () =>
      emptyState('No batches to show. Batches your child keys send to POST /v1/batches appear here.'),
    fetchPage,
  });
  return table;
}

/** A labelled `<select>` whose first option, "All", means no filter. */
function filterSelect(label, options, onChange) {
  const id = uid('filter');
  return h(
    'div',
    { class: 'inline-field' },
    h('label', { for: id }, label),
    h(
      'select',
      { id, onChange: (e) => onChange(e.target.value) },
      h('option', { value: '' }, 'All'),
      options,
    ),
  );
}

/**
 * Jobs and batches of every child key of the account, and the files they use and make, a page at a
 * time with "Load more"; a listing the server lacks shows as empty.
 */
export async function renderJobs(main, _params, ctx) {
  const filters = { key_id: '', job_status: '', batch_status: '', purpose: '' };
  // The filters are read at each request, so "Load more" pages on through the filters shown.
  const jobsPage = (after) =>
    pageOrEmpty(api.jobs({ key_id: filters.key_id, status: filters.job_status, after, limit: PAGE_SIZE }));
  const batchesPage = (after) =>
    pageOrEmpty(
      api.batches({ key_id: filters.key_id, status: filters.batch_status, after, limit: PAGE_SIZE }),
    );
  // Files belong to management keys, not child keys: only their purpose filters them.
  const filesPage = (after) => pageOrEmpty(api.files({ purpose: filters.purpose, after, limit: PAGE_SIZE }));
  const [jobs, batches, files, mks] = await Promise.all([
    jobsPage(),
    batchesPage(),
    filesPage(),
    listOrEmpty(api.managementKeys()),
  ]);
  const index = await childKeyIndex(mks);
  if (!ctx.isCurrent()) return;
  const jobsList = jobsTable(index, jobsPage);
  const filesList = filesTable(new Map(mks.map((mk) => [mk.id, mk.name])), filesPage);
  const batchesList = batchesTable(index, batchesPage, () => filesList.reload());
  jobsList.show(jobs);
  batchesList.show(batches);
  filesList.show(files);

  // Only the lists a filter applies to start over, so a status filter keeps the other list's pages.
  const refilter = (name, lists) => async (value) => {
    filters[name] = value;
    try {
      await Promise.all(lists.map((l) => l.reload()));
    } catch (err) {
      showAlert(messageOf(err));
    }
  };
  const keyOptions = [...index.entries()].map(([id, k]) =>
    h('option', { value: id }, `${k.name} (${k.mk.name})`),
  );

  renderPage(
    main,
    {
      title: 'Jobs & batches',
      intro: 'Asynchronous work sent by your child keys, and its files, newest first.',
      actions: [filterSelect('Child key', keyOptions, refilter('key_id', [jobsList, batchesList]))],
    },
    section(
      'Jobs',
      {
        actions: [
          filterSelect(
            'Job status',
            JOB_STATUSES.map((s) => h('option', { value: s }, s)),
            refilter('job_status', [jobsList]),
          ),
        ],
      },
      jobsList.el,
    ),
    section(
      'Batches',
      {
        actions: [
          filterSelect(
            'Batch status',
            BATCH_STATUSES.map((s) => h('option', { value: s }, s.replaceAll('_', ' '))),
            refilter('batch_status', [batchesList]),
          ),
        ],
      },
      batchesList.el,
    ),
    section(
      'Files',
      {
        actions: [
          filterSelect(
            'File purpose',
            [
              h('option', { value: 'batch' }, 'batch input'),
              h('option', { value: 'batch_output' }, 'batch result'),
            ],
            refilter('purpose', [filesList]),
          ),
        ],
      },
      filesList.el,
    ),
  );
}
