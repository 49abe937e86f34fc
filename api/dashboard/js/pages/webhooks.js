import { api, listOrEmpty } from '../api.js';
import { confirmDialog, formDialog, openDialog } from '../components/dialog.js';
import { checkboxGroup, field, fieldValue } from '../components/form.js';
import { announce, messageOf } from '../components/notify.js';
import { emptyState, renderPage, section, table } from '../components/page.js';
import { copyField, revealCreated } from '../components/secret.js';
import { h, mount } from '../dom.js';
import { badge, plural, time } from '../format.js';
import { showDeliveries, showJobDeliveries } from './webhook-deliveries.js';

const EVENTS = [
  ['job.succeeded', 'A job succeeded'],
  ['job.failed', 'A job failed'],
  ['batch.completed', 'A batch completed'],
  ['batch.failed', 'A batch failed'],
  ['batch.expired', 'A batch expired'],
  ['batch.cancelled', 'A batch was cancelled'],
  ['key.limit_threshold', 'A child key passed 80% or 100% of a limit'],
  ['key.expired', 'A child key expired'],
];

function eventsText(events) {
  return events.includes('*') ? 'All events' : events.join(', ');
}

export async function renderWebhooks(main, _params, ctx) {
  // One request: its list, and the schemes the gateway delivers to (http where it allows private networks).
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

  const create = () =>
    formDialog({
      title: 'Add webhook endpoint',
      intro: 'We POST signed events (Standard Webhooks) to this URL and retry with backoff for 24 hours.',
      fields: [
        field({
          label: 'Endpoint URL',
          name: 'url',
          type: 'url',
          hint: urlHint,
          attrs: { autocomplete: 'off', placeholder: 'https://example.com/webhooks/gonka' },
        }),
        checkboxGroup({
          legend: 'Events to send',
          name: 'events',
          options: [
            { value: '*', label: 'All events, including ones added later' },
            ...EVENTS.map(([value, label]) => ({ value, label: `${label} (${value})` })),
          ],
        }),
      ],
      submitLabel: 'Add endpoint',
      onSubmit: async (form, dlg) => {
        const events = [...form.querySelectorAll('input[name=events]:checked')].map((c) => c.value);
        const created = await api.createWebhook({ url: fieldValue(form, 'url'), events });
        announce('Webhook endpoint added.');
        await revealCreated(dlg, {
          title: 'Webhook endpoint added',
          label: 'Signing secret',
          secret: created.secret,
          what: 'secret',
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
              e.disabled_reason ? h('span', { class: 'usage-sub' }, e.disabled_reason) : null,
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
      ],
    }),
  );
}

/** The account's own secret, which signs per-job webhook_url deliveries (it can be shown again). */
async function showAccountSecret() {
  const dlg = openDialog({ title: 'Signing secret for webhook_url', content: h('p', {}, 'Loading…') });
  try {
    const { secret } = await api.defaultWebhookSecret();
    dlg.replace(
      'Signing secret for webhook_url',
      h(
        'p',
        { class: 'intro' },
        'Verify each delivery to a job’s webhook_url with this secret (Standard Webhooks).',
      ),
      copyField({ label: 'Signing secret', value: secret, what: 'secret', autofocus: true }),
    );
  } catch (err) {
    dlg.replace('Signing secret for webhook_url', h('p', { role: 'alert' }, messageOf(err)));
  }
}
