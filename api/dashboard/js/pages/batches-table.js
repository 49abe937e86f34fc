import { api, downloadFile } from '../api.js';
import { messageOf, showAlert } from '../components/notify.js';
import { emptyList } from '../components/page.js';
import { pagedTable } from '../components/paged-table.js';
import { h } from '../dom.js';
import { badge, time } from '../format.js';
import { cancelCell, cancelling, keyCell } from './row-actions.js';

export const BATCH_STATUSES = [
  'validating',
  'in_progress',
  'finalizing',
  'completed',
  'failed',
  'expired',
  'cancelling',
  'cancelled',
];
const LIVE = new Set(['validating', 'in_progress', 'finalizing', 'cancelling']);

/** How a batch that ended early names its lines never run (in its error file, in neither count). */
const NOT_RUN = { cancelled: 'cancelled', expired: 'expired' };

function counts(b) {
  const c = b.request_counts ?? {};
  const [done, failed, total] = [c.completed ?? 0, c.failed ?? 0, c.total ?? 0];
  const notRun = total - done - failed;
  const stopped = NOT_RUN[b.status] && notRun > 0 ? `, ${notRun} ${NOT_RUN[b.status]}` : '';
  return `${done} done, ${failed} failed${stopped} of ${total}`;
}

function batchRow(b, index, onCancel) {
  return h(
    'tr',
    {},
    h('th', { scope: 'row', class: 'mono small' }, b.id),
    h(
      'td',
      {},
      badge(b.status),
      // Why a batch failed as a whole (its file refused, say): as a failed job's row says.
      b.errors?.data?.[0]?.message ? h('span', { class: 'usage-sub' }, b.errors.data[0].message) : null,
    ),
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

/**
 * The owner's batches, a page at a time, each cancellable while it runs, and followed while it
 * does. `onFilesChanged` runs after a batch was cancelled or finished (its files are new).
 */
export function batchesTable(index, fetchPage, onFilesChanged, filtered) {
  const onCancel = cancelling({
    noun: 'batch',
    message:
      'its lines not yet run are cancelled and their holds released; lines running finish and are billed, and so are the finished ones.',
    cancel: api.cancelBatch,
    list: () => table,
    after: onFilesChanged,
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
      emptyList(
        filtered,
        'batches',
        'No batches to show. Batches your child keys send to POST /v1/batches appear here.',
      ),
    fetchPage,
    live: {
      isLive: (b) => LIVE.has(b.status),
      fetchOne: api.batch,
      newRows: true,
      settled: () => onFilesChanged().catch(() => {}),
    },
  });
  return table;
}
