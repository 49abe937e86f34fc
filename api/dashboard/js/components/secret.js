import { h, uid } from '../dom.js';
import { openDialog } from './dialog.js';
import { announce, messageOf, showAlert } from './notify.js';

async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    // No clipboard permission (an insecure origin, a locked-down browser): leave it selected.
    input.focus();
    input.select();
    return false;
  }
}

/**
 * A read-only value with a Copy button beside it.
 * @param {{ label: string, value: string, what: string, describedBy?: string, autofocus?: boolean }} opts
 */
export function copyField({ label, value, what, describedBy, autofocus = false }) {
  const id = uid('copy');
  const input = h('input', {
    id,
    type: 'text',
    readonly: true,
    value,
    class: 'mono copy-value',
    spellcheck: 'false',
    autocomplete: 'off',
    'aria-describedby': describedBy,
  });
  const copy = h(
    'button',
    {
      type: 'button',
      // The label as written: it may hold a name ("Client A’s new key"), read as it is.
      'aria-label': `Copy ${label}`,
      'data-autofocus': autofocus,
      onClick: async () => {
        const ok = await copyText(input);
        if (ok) copy.closest('.secret')?.setAttribute('data-kept', 'true');
        copy.textContent = ok ? 'Copied' : 'Copy';
        announce(
          ok ? `The ${what} is on your clipboard.` : `Copying failed: the ${what} is selected, press Ctrl+C.`,
        );
      },
    },
    'Copy',
  );
  return h(
    'div',
    { class: 'field copy-field' },
    h('label', { for: id }, label),
    h('div', { class: 'copy-row' }, input, copy),
  );
}

/**
 * A secret the API returns once (a `gm-`/`gc-` key, a `whsec_` secret): shown read-only with a
 * copy button and a warning that it cannot be shown again.
 * @param {{ label?: string, secret?: string, what?: string, onDone: () => unknown, ifLost?: string, oneTime?: boolean }} opts
 */
export function secretReveal({ label, secret, what = 'key', onDone, ifLost, oneTime = true }) {
  const warnId = uid('secret-warning');
  return h(
    'div',
    // One that can be shown again needs no "are you sure" on close (dialog.js asks for unkept ones).
    { class: 'secret', ...(oneTime ? {} : { 'data-kept': 'true' }) },
    h(
      'p',
      { id: warnId, class: oneTime ? 'callout warning' : 'callout' },
      oneTime ? h('strong', {}, 'Copy it now: this is the only time it is shown. ') : null,
      ifLost ?? `We keep only a hash of the ${what}. If it is lost or leaks, rotate it.`,
    ),
    copyField({ label, value: secret, what, describedBy: warnId, autofocus: true }),
    onDone
      ? h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'primary',
              onClick: (e) => {
                e.currentTarget.closest('.secret')?.setAttribute('data-kept', 'true');
                onDone();
              },
            },
            `I have stored the ${what}`,
          ),
        )
      : null,
  );
}

/**
 * Put a secret just created into `dlg` (a form dialog), then `refresh()` the list behind it. The
 * secret goes first: it exists on the server from now on, so a failing refresh must not lose its
 * only copy, nor leave the form up inviting the user to create a second one. A form closed while
 * the create was under way (Escape, Cancel, Back) gets a dialog of its own to show it in.
 */
export async function revealCreated(dlg, { title, noun, refresh, ...reveal }) {
  const shown = dlg.dialog.open ? dlg : openDialog({ title, content: [] });
  shown.replace(title, secretReveal({ ...reveal, onDone: () => shown.close() }));
  try {
    await refresh();
  } catch (err) {
    showAlert(`The ${noun} was created, but this list could not be refreshed: ${messageOf(err)}`);
  }
}
