import { confirmDialog } from '../components/dialog.js';
import { announce } from '../components/notify.js';
import { h } from '../dom.js';
import { href } from '../router.js';

// Cells and actions the jobs and batches tables share.

/** The child key a row belongs to, with its management key as a link. */
export function keyCell(index, keyId) {
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
export function cancelCell(item, noun, onCancel) {
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

/** Ask, then cancel through `cancel(id)` and show the list again (and `after()` what else changed). */
export function cancelling({ noun, message, cancel, list, after = async () => {} }) {
  return (item) =>
    confirmDialog({
      title: `Cancel this ${noun}?`,
      message: `${item.id}: ${message}`,
      confirmLabel: `Cancel ${noun}`,
      dismissLabel: `Keep the ${noun}`,
      action: async () => {
        // The answer is its state now: one that finished while the dialog was open stays finished.
        const now = await cancel(item.id);
        await Promise.all([list().reload(), after()]);
        announce(cancelledMessage(noun, now?.status));
      },
    });
}

/** What a cancel achieved, from the state it answered with. */
function cancelledMessage(noun, status) {
  if (status === 'cancelling') return `The ${noun} is being cancelled.`;
  if (status === undefined || status === 'cancelled') return `The ${noun} was cancelled.`;
  return `The ${noun} had already ended (${status.replaceAll('_', ' ')}) before it could be cancelled.`;
}
