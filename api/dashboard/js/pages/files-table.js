import { api, downloadFile } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { announce, messageOf, showAlert } from '../components/notify.js';
import { emptyList } from '../components/page.js';
import { pagedTable } from '../components/paged-table.js';
import { h } from '../dom.js';
import { formatBytes, time } from '../format.js';

const PURPOSE = { batch: 'batch input', batch_output: 'batch result' };

/**
 * The owner's files across management keys (batch inputs, and the batches' output and error
 * files), a page at a time, each to download or delete. `mkNames` names the management keys.
 */
export function filesTable(mkNames, fetchPage, filtered) {
  const download = async (f) => {
    try {
      await downloadFile(f.id, f.filename);
    } catch (err) {
      showAlert(messageOf(err));
    }
  };
  const remove = (f) =>
    confirmDialog({
      title: 'Delete this file?',
      message: `${f.filename} (${f.id}) is deleted for good: its content goes at once, and batches that name it keep only its id.`,
      confirmLabel: 'Delete file',
      action: async () => {
        await api.deleteFile(f.id);
        await list.reload();
        announce(`${f.filename} deleted.`);
      },
    });
  const row = (f) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row', class: 'mono small' }, f.id),
      h('td', { class: 'break' }, f.filename),
      h('td', {}, PURPOSE[f.purpose] ?? f.purpose),
      h('td', { class: 'num' }, formatBytes(f.bytes)),
      h(
        'td',
        {},
        mkNames.get(f.management_key_id) ?? h('span', { class: 'mono small' }, f.management_key_id ?? '—'),
      ),
      h('td', {}, time(f.created_at)),
      h(
        'td',
        {},
        h(
          'div',
          { class: 'row-actions' },
          h(
            'button',
            { type: 'button', 'aria-label': `Download ${f.id}`, onClick: () => download(f) },
            'Download',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'danger-link',
              'data-focus-key': `delete-${f.id}`,
              'aria-label': `Delete ${f.id}`,
              onClick: () => remove(f),
            },
            'Delete',
          ),
        ),
      ),
    );
  const list = pagedTable({
    noun: { one: 'file', many: 'files' },
    caption: 'Files',
    columns: [
      { label: 'File' },
      { label: 'Name' },
      { label: 'Purpose' },
      { label: 'Size', className: 'num' },
      { label: 'Management key' },
      { label: 'Created' },
      { label: 'Actions' },
    ],
    row,
    empty: () =>
      emptyList(
        filtered,
        'files',
        'No files to show. Files your child keys upload to POST /v1/files, and batch results, appear here.',
      ),
    fetchPage,
  });
  return list;
}
