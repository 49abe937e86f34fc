import { h, mount, refocus, uid } from '../dom.js';
import { makeForm } from './form.js';

const FOCUSABLE = 'input:not([disabled]), select:not([disabled]), textarea:not([disabled])';

function focusInitial(body) {
  const target =
    body.querySelector('[data-autofocus]') ?? body.querySelector(FOCUSABLE) ?? body.querySelector('button');
  target?.focus();
}

/**
 * A modal `<dialog>` (the browser traps focus in it and closes it on Escape). Focus moves into it
 * on open and back to the control that opened it on close — or, when a re-render replaced that
 * control, to its successor with the same `data-focus-key`.
 */
export function openDialog({ title, content, wide = false }) {
  const titleId = uid('dialog-title');
  const opener = document.activeElement;
  const focusKey = opener instanceof HTMLElement ? opener.dataset.focusKey : undefined;
  const body = h('div', { class: 'dialog-body' });
  const dialog = h(
    'dialog',
    { 'aria-labelledby': titleId, class: wide ? 'wide' : null },
    h(
      'div',
      { class: 'dialog-head' },
      h('h2', { id: titleId }, title),
      h(
        'button',
        { type: 'button', class: 'icon-button', 'aria-label': 'Close dialog', onClick: () => close() },
        '×',
      ),
    ),
    body,
  );
  const close = () => {
    if (dialog.open && mayClose()) dialog.close();
  };
  // A one-time secret nobody copied or confirmed storing is lost on close: ask first.
  const mayClose = () =>
    !dialog.querySelector('.secret:not([data-kept])') ||
    window.confirm('You have not copied this secret, and it cannot be shown again. Close anyway?');
  dialog.addEventListener('cancel', (e) => {
    if (!mayClose()) e.preventDefault();
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    else refocus(focusKey);
  });
  mount(body, content);
  document.body.append(dialog);
  dialog.showModal();
  focusInitial(body);
  return {
    dialog,
    close,
    /** Swap the dialog's title and content (e.g. a create form for the one-time secret). */
    replace(newTitle, ...nodes) {
      dialog.querySelector(`#${titleId}`).textContent = newTitle;
      mount(body, ...nodes);
      focusInitial(body);
    },
  };
}

/**
 * A dialog around a form; `onSubmit(form, dialog)` closes it or replaces its content itself.
 * @param {{ title: string, fields: Node[], submitLabel: string, onSubmit: (form: HTMLFormElement, dialog: any) => unknown, intro?: string }} opts
 */
export function formDialog({ title, fields, submitLabel, onSubmit, intro }) {
  let dlg;
  const cancel = h('button', { type: 'button', onClick: () => dlg.close() }, 'Cancel');
  const form = makeForm({
    fields,
    submitLabel,
    extraActions: [cancel],
    onSubmit: (f) => onSubmit(f, dlg),
  });
  dlg = openDialog({ title, content: [intro ? h('p', { class: 'intro' }, intro) : null, form] });
  return dlg;
}

/**
 * Ask before something that cannot be undone; `action()` runs inside the dialog, so a failure is
 * shown there. The dismiss button has focus first: Enter alone never destroys anything. It reads
 * "Cancel" unless `dismissLabel` says otherwise (where the action itself is a cancellation).
 */
export function confirmDialog({ title, message, confirmLabel, action, dismissLabel = 'Cancel' }) {
  let dlg;
  const cancel = h(
    'button',
    { type: 'button', 'data-autofocus': true, onClick: () => dlg.close() },
    dismissLabel,
  );
  const form = makeForm({
    fields: [h('p', {}, message)],
    submitLabel: confirmLabel,
    extraActions: [cancel],
    onSubmit: async () => {
      await action();
      dlg.close();
    },
  });
  form.querySelector('[type=submit]')?.classList.replace('primary', 'danger');
  dlg = openDialog({ title, content: form });
  return dlg;
}
