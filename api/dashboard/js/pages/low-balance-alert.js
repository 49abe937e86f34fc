import { api } from '../api.js';
import { formDialog } from '../components/dialog.js';
import { field, parsedField } from '../components/form.js';
import { announce } from '../components/notify.js';
import { h, mount } from '../dom.js';
import { formatMoney, parseGnk, toGnkInput } from '../money.js';
import { href } from '../router.js';

/**
 * The account's low-balance alert (PATCH /api/account): its state and a button to set, change or
 * turn it off. The alert itself is the webhook event `account.low_balance`, so it says where those
 * are subscribed.
 */
export function lowBalanceAlert(account) {
  const box = h('div', { class: 'low-balance-alert' });
  const draw = (threshold) =>
    mount(
      box,
      h('h3', {}, 'Low-balance alert'),
      h(
        'p',
        {},
        threshold === null
          ? 'Off: nothing tells you before your child keys are refused for an empty balance.'
          : [
              'When the balance falls below ',
              h('strong', {}, formatMoney(threshold)),
              ', your webhooks subscribed to ',
              h('code', {}, 'account.low_balance'),
              ' get one event (again after a top-up brings it back above). ',
              h('a', { href: href('/webhooks') }, 'Webhooks'),
            ],
      ),
      h(
        'button',
        { type: 'button', onClick: () => edit(threshold, draw) },
        threshold === null ? 'Set an alert' : 'Change alert',
      ),
    );
  draw(account.low_balance_alert_ngonka);
  return box;
}

function edit(threshold, draw) {
  formDialog({
    title: 'Low-balance alert',
    intro: 'The balance, in GNK, below which you are told (by the webhook event account.low_balance).',
    fields: [
      field({
        label: 'Alert below (GNK)',
        name: 'low_balance_alert_ngonka',
        value: toGnkInput(threshold),
        hint: 'Empty turns the alert off.',
        attrs: { autocomplete: 'off', inputmode: 'decimal', spellcheck: 'false' },
      }),
    ],
    submitLabel: 'Save alert',
    onSubmit: async (form, dlg) => {
      const value = parsedField(form, 'low_balance_alert_ngonka', parseGnk);
      const account = await api.updateAccount({ low_balance_alert_ngonka: value });
      dlg.close();
      draw(account.low_balance_alert_ngonka);
      announce(
        account.low_balance_alert_ngonka === null
          ? 'Low-balance alert turned off.'
          : `Low-balance alert set at ${formatMoney(account.low_balance_alert_ngonka)}.`,
      );
    },
  });
}
