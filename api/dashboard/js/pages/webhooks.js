import { api, listOrEmpty } from '../api.js';
import { confirmDialog, formDialog } from '../components/dialog.js';
import { checkboxGroup, FieldError, FieldErrors, field, fieldValue } from '../components/form.js';
import { announce, messageOf, showAlert } from '../components/notify.js';
import { emptyState, renderPage, section, table } from '../components/page.js';
import { revealCreated } from '../components/secret.js';
import { h, mount } from '../dom.js';
import { badge, plural, time } from '../format.js';
import { showDeliveries, showJobDeliveries } from './webhook-deliveries.js';
import { rotateDialog, showAccountSecret } from './webhook-secrets.js';

const EVENTS = [
  ['job.succeeded', 'A job succeeded'],
  ['job.failed', 'A job failed'],
  ['batch.completed', 'A batch completed'],
  ['batch.failed', 'A batch failed'],
  ['batch.expired', 'A batch expired'],
  ['batch.cancelled', 'A batch was cancelled'],
  ['key.limit_threshold', 'A child key passed 80% or 100% of a limit'],
  ['key.expired', 'A child key expired'],
  ['account.low_balance', 'The balance fell below your low-balance alert (Overview)'],
];

/** The API's reason ("disabled by the owner at 2026-12-06T14:42:35.276Z") with its time in the viewer's. */
function reasonText(reason) {
  const m = /^(.*) at (\d{4}-\d\d-\d\dT[\d:.]+Z)$/.exec(reason);
  if (!m) return reason;
  const what = m[1].charAt(0).toUpperCase() + m[1].slice(1);
  return [`${what}, `, time(m[2])];
}

function eventsText(events) {
  return events.includes('*') ? 'All events' : events.join(', ');
}

export async function renderWebhooks(main, _params, ctx) {
  // One request: its list, and the schemes the gateway delivers to (http where it allows private networks).
  /** @type {{ body?: any, err?: any }} */
  const first = await api.webhooks().then(
    (body) => ({ body }),
    (err) => ({ err }),
  );
  let endpoints = await listOrEmpty(first.err ? Promise.reject(first.err) : Promise.resolve(first.body));
  if (!ctx.isCurrent()) return;
  const schemes = first.body?.url_schemes ?? ['https'];
  const urlHint = schemes.includes('http') ? 'https, or http on this gateway.' : 'Must be https.';
  const list = h('div');

  const reload = async () => {
    endpoints = await listOrEmpty(api.webhooks());
    draw();
  };

  // The URL and event choices of the add and edit forms (an endpoint's own, when editing).
  const endpointFields = (e) => [
    field({
      label: 'Endpoint URL',
      name: 'url',
      type: 'url',
      hint: urlHint,
      value: e?.url,
      attrs: { autocomplete: 'off', placeholder: 'https://example.com/webhooks/gonka' },
    }),
    checkboxGroup({
      legend: 'Events to send',
      name: 'events',
      options: [
        { value: '*', label: 'All events, including ones added later', checked: !!e?.events.includes('*') },
        ...EVENTS.map(([value, label]) => ({
          value,
          label: `${label} (${value})`,
          checked: !!e?.events.includes(value),
        })),
      ],
    }),
  ];
  const chosenEvents = (form) => [...form.querySelectorAll('input[name=events]:checked')].map((c) => c.value);
  /**
   * The endpoint the form describes, or every problem with it at once: the API would name one at a
   * time (the URL's address is checked there only, once its form is right).
   */
  const endpointBody = (form) => {
    const url = fieldValue(form, 'url');
    const events = chosenEvents(form);
    const errors = [];
    if (!URL.canParse(url))
      errors.push(new FieldError('url', 'Must be an absolute URL, such as https://example.com/hooks'));
    if (events.length === 0) errors.push(new FieldError('events', 'Must name at least one event'));
    if (errors.length) throw new FieldErrors(errors);
    return { url, events };
  };

  const edit = (e) =>
    formDialog({
      title: 'Edit webhook endpoint',
      intro: 'Deliveries still being retried go to the new URL too. The signing secret stays the same.',
      fields: endpointFields(e),
      submitLabel: 'Save endpoint',
      onSubmit: async (form, dlg) => {
        try {
          await api.updateWebhook(e.id, endpointBody(form));
        } catch (err) {
          if (err.status === 404 || err.status === 409) await reload().catch(() => {});
          throw err;
        }
        // Reloaded before the dialog closes, as every edit dialog does: closing gives focus back to
        // the row's Edit button, which must be the reloaded table's, not one the reload removes.
        await reload();
        dlg.close();
        announce('Webhook endpoint saved.');
      },
    });

  const create = () =>
    formDialog({
      title: 'Add webhook endpoint',
      intro: 'We POST signed events (Standard Webhooks) to this URL and retry with backoff for 24 hours.',
      fields: endpointFields(null),
      submitLabel: 'Add endpoint',
      onSubmit: async (form, dlg) => {
        const created = await api.createWebhook(endpointBody(form));
        announce('Webhook endpoint added.');
        await revealCreated(dlg, {
          title: 'Webhook endpoint added',
          label: 'Signing secret',
          secret: created.secret,
          what: 'secret',
          ifLost: 'We keep it only to sign deliveries and never show it again. If it is lost, rotate it.',
          noun: 'webhook endpoint',
          refresh: reload,
        });
      },
    });

  const remove = (e) =>
    confirmDialog({
      title: 'Delete this endpoint?',
      message: `No more events will be sent to ${e.url}, and its pending retries stop.`,
      confirmLabel: 'Delete endpoint',
      action: async () => {
        await api.deleteWebhook(e.id);
        await reload();
        announce('Webhook endpoint deleted.');
      },
    });

  const setStatus = (e, status) =>
    confirmDialog({
      title: status === 'active' ? 'Turn this endpoint on?' : 'Turn this endpoint off?',
      message:
        status === 'active'
          ? `Events from now on will be sent to ${e.url}. Deliveries that ended while it was off are not resent.`
          : `No more events will be sent to ${e.url} until you turn it on again, and its pending retries stop.`,
      confirmLabel: status === 'active' ? 'Turn on' : 'Turn off',
      action: async () => {
        try {
          await api.updateWebhook(e.id, { status });
        } catch (err) {
          // Deleted meanwhile (another tab, the API): the list behind says so once refreshed.
          if (err.status === 404 || err.status === 409) await reload().catch(() => {});
          throw err;
        }
        await reload();
        announce(status === 'active' ? 'Webhook endpoint turned on.' : 'Webhook endpoint turned off.');
      },
    });

  const rotate = (e) =>
    rotateDialog({
      title: 'Rotate signing secret',
      subject: `deliveries to ${e.url}`,
      graceUntil: e.previous_secret_expires_at,
      oneTime: true,
      rotate: (body) => api.rotateWebhookSecret(e.id, body),
      refresh: reload,
    });

  const draw = () => {
    const live = endpoints.filter((e) => !e.deleted_at);
    if (!live.length) {
      mount(
        list,
        emptyState(
          'No endpoints yet. Add one to hear about finished jobs and batches, and keys nearing their limits.',
        ),
      );
      return;
    }
    mount(
      list,
      table({
        caption: 'Webhook endpoints',
        columns: [
          { label: 'URL' },
          { label: 'Events' },
          { label: 'Status' },
          { label: 'Created' },
          { label: 'Actions' },
        ],
        rows: live.map((e) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row', class: 'mono small break' }, e.url),
            h('td', {}, eventsText(e.events)),
            h(
              'td',
              {},
              badge(e.status),
              e.disabled_reason ? h('span', { class: 'usage-sub' }, reasonText(e.disabled_reason)) : null,
              e.previous_secret_expires_at
                ? h(
                    'span',
                    { class: 'usage-sub' },
                    'Old secret also signs until ',
                    time(e.previous_secret_expires_at),
                  )
                : null,
            ),
            h('td', {}, time(e.created_at)),
            h(
              'td',
              {},
              h(
                'div',
                { class: 'row-actions' },
                h(
                  'button',
                  {
                    type: 'button',
                    'data-focus-key': `log-${e.id}`,
                    'aria-label': `Delivery log of ${e.url}`,
                    onClick: () => showDeliveries(e),
                  },
                  'Delivery log',
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    'data-focus-key': `edit-${e.id}`,
                    'aria-label': `Edit endpoint ${e.url}`,
                    onClick: () => edit(e),
                  },
                  'Edit',
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    'data-focus-key': `status-${e.id}`,
                    'aria-label': `${e.status === 'active' ? 'Turn off' : 'Turn on'} endpoint ${e.url}`,
                    onClick: () => setStatus(e, e.status === 'active' ? 'disabled' : 'active'),
                  },
                  e.status === 'active' ? 'Turn off' : 'Turn on',
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    'data-focus-key': `rotate-${e.id}`,
                    'aria-label': `Rotate the signing secret of ${e.url}`,
                    onClick: () => rotate(e),
                  },
                  'Rotate secret',
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger-link',
                    'data-focus-key': `delete-${e.id}`,
                    'aria-label': `Delete endpoint ${e.url}`,
                    onClick: () => remove(e),
                  },
                  'Delete',
                ),
              ),
            ),
          ),
        ),
      }),
    );
  };

  draw();
  renderPage(
    main,
    {
      title: 'Webhooks',
      intro: `Signed HTTP callbacks for events on your account. ${plural(EVENTS.length, 'event type')} available.`,
    },
    section(
      'Endpoints',
      {
        actions: [
          h(
            'button',
            { type: 'button', class: 'primary', 'data-focus-key': 'create-webhook', onClick: create },
            'Add endpoint',
          ),
        ],
      },
      list,
    ),
    section('Per-job webhook_url', {
      intro:
        'A job submitted with its own "webhook_url" gets its job.succeeded or job.failed event there, signed with your account’s secret, which never changes with the endpoints above.',
      actions: [
        h(
          'button',
          { type: 'button', 'data-focus-key': 'job-secret', onClick: () => showAccountSecret() },
          'Show signing secret',
        ),
        h(
          'button',
          { type: 'button', 'data-focus-key': 'job-deliveries', onClick: () => showJobDeliveries() },
          'Job webhook_url log',
        ),
        h(
          'button',
          {
            type: 'button',
            'data-focus-key': 'rotate-job-secret',
            onClick: async () => {
              // Whether an earlier rotation's old secret still signs decides what this one does.
              let graceUntil = null;
              try {
                graceUntil = (await api.defaultWebhookSecret()).previous_secret_expires_at;
              } catch (err) {
                showAlert(messageOf(err));
                return;
              }
              rotateDialog({
                title: 'Rotate the webhook_url signing secret',
                subject: 'deliveries to jobs’ webhook_url',
                graceUntil,
                oneTime: false,
                rotate: (body) => api.rotateDefaultWebhookSecret(body),
                refresh: async () => {},
              });
            },
          },
          'Rotate signing secret',
        ),
      ],
    }),
  );
}
