import { api } from '../api.js';
import { formDialog, openDialog } from '../components/dialog.js';
import { checkboxGroup } from '../components/form.js';
import { announce, messageOf } from '../components/notify.js';
import { copyField, revealCreated } from '../components/secret.js';
import { h } from '../dom.js';
import { time } from '../format.js';

/** The webhooks page's secret dialogs: the job-hook secret shown, and a rotation of either kind. */

/** The account's own secret, which signs per-job webhook_url deliveries (it can be shown again). */
export async function showAccountSecret() {
  const dlg = openDialog({ title: 'Signing secret for webhook_url', content: h('p', {}, 'Loading…') });
  try {
    const { secret, previous_secret_expires_at: graceUntil } = await api.defaultWebhookSecret();
    dlg.replace(
      'Signing secret for webhook_url',
      h(
        'p',
        { class: 'intro' },
        'Verify each delivery to a job’s webhook_url with this secret (Standard Webhooks).',
      ),
      graceUntil
        ? h('p', { class: 'callout' }, 'The secret it replaced also signs until ', time(graceUntil), '.')
        : null,
      copyField({ label: 'Signing secret', value: secret, what: 'secret', autofocus: true }),
    );
  } catch (err) {
    dlg.replace('Signing secret for webhook_url', h('p', { role: 'alert' }, messageOf(err)));
  }
}

/**
 * Rotation: the new secret is shown once (an endpoint's; the job-hook secret can be shown again);
 * the old one keeps signing for a day unless it leaked (each delivery then carries both
 * signatures, so receivers switch without rejecting any). While an earlier rotation's old secret
 * still signs, another rotation ends every secret but the new one at once (the API refuses it
 * otherwise, rather than cut off the secret receivers may still hold).
 */
export function rotateDialog({ title, subject, graceUntil, oneTime, rotate, refresh }) {
  const running = graceUntil
    ? h(
        'p',
        { class: 'callout warning' },
        'The last rotation’s old secret still signs until ',
        time(graceUntil),
        '. Rotating again now stops every secret but the new one at once: receivers still using an older one start rejecting deliveries.',
      )
    : null;
  return formDialog({
    title,
    intro: `A new secret signs ${subject} from now on. The old one also signs them for 24 hours, so you can update your receiver without rejecting any.`,
    fields: graceUntil
      ? [running]
      : [
          checkboxGroup({
            legend: 'The old secret',
            name: 'leaked',
            options: [{ value: 'now', label: 'It leaked: stop signing with it now' }],
          }),
        ],
    submitLabel: 'Rotate secret',
    onSubmit: async (form, dlg) => {
      const leaked = graceUntil || form.querySelector('input[name=leaked]:checked') !== null;
      let rotated;
      try {
        rotated = await rotate(leaked ? { grace_period_seconds: 0 } : {});
      } catch (err) {
        // Deleted meanwhile, or rotated in another tab: the list behind says so once refreshed.
        if (err.status === 404 || err.status === 409) await refresh().catch(() => {});
        throw err;
      }
      announce('Signing secret rotated.');
      await revealCreated(dlg, {
        title: 'New signing secret',
        label: 'Signing secret',
        secret: rotated.secret,
        what: 'secret',
        noun: 'new secret',
        oneTime,
        ifLost: oneTime
          ? 'We keep it only to sign deliveries and never show it again. If it is lost, rotate again.'
          : 'You can show it again at any time with "Show signing secret".',
        refresh,
      });
    },
  });
}
