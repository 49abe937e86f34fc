import { api } from '../api.js';
import { confirmDialog, formDialog } from '../components/dialog.js';
import { field, fieldValue } from '../components/form.js';
import { announce, messageOf, showAlert } from '../components/notify.js';
import { emptyState, renderPage, section, table } from '../components/page.js';
import { graceChosen, graceField } from '../components/rotation-grace.js';
import { revealCreated } from '../components/secret.js';
import { h, mount, refocus } from '../dom.js';
import { badge, time } from '../format.js';
import { href } from '../router.js';

const nameField = (value) =>
  field({
    label: 'Name',
    name: 'name',
    value,
    hint: 'For you only, e.g. the product or environment it serves.',
    attrs: { autocomplete: 'off', maxlength: 100 },
  });

export async function renderKeys(main, _params, ctx) {
  let keys = (await api.managementKeys()).data;
  if (!ctx.isCurrent()) return;
  const list = h('div');

  const reload = async () => {
    keys = (await api.managementKeys()).data;
    draw();
  };

  const create = () =>
    formDialog({
      title: 'Create management key',
      intro: 'Your backend uses it to create and manage child keys for your customers.',
      fields: [nameField('')],
      submitLabel: 'Create key',
      onSubmit: async (form, dlg) => {
        const created = await api.createManagementKey({ name: fieldValue(form, 'name') });
        announce(`Management key ${created.name} created.`);
        await revealCreated(dlg, {
          title: 'Management key created',
          label: 'Your new management key',
          secret: created.key,
          noun: 'management key',
          // Never "revoke it": revoking takes its child keys down for good.
          ifLost:
            'We keep only a hash of the key. If it is lost or leaks, rotate it (Rotate, on its row): a new gm- key, the same child keys.',
          refresh: reload,
        });
      },
    });

  const rename = (mk) =>
    formDialog({
      title: `Rename ${mk.name}`,
      fields: [nameField(mk.name)],
      submitLabel: 'Save name',
      onSubmit: async (form, dlg) => {
        const updated = await api.updateManagementKey(mk.id, { name: fieldValue(form, 'name') });
        await reload();
        dlg.close();
        announce(`Renamed to ${updated.name}.`);
      },
    });

  const toggle = async (mk) => {
    const status = mk.status === 'active' ? 'disabled' : 'active';
    try {
      await api.updateManagementKey(mk.id, { status });
      await reload();
      refocus(`toggle-${mk.id}`);
      announce(
        status === 'disabled'
          ? `${mk.name} disabled: its gm- key is refused; its child keys keep working.`
          : `${mk.name} enabled.`,
      );
    } catch (err) {
      showAlert(messageOf(err));
    }
  };

  // A new secret for a gm- key (a leaked one: revoking it would delete its child keys), the old one
  // stopping at once or after a grace for your services to switch.
  const rotate = (mk) => {
    const running = mk.previous_key_expires_at;
    formDialog({
      title: `Rotate ${mk.name}`,
      intro: 'Your backend gets a new gm- key. The child keys it manages keep working either way.',
      fields: [graceField(running)],
      submitLabel: 'Rotate key',
      onSubmit: async (form, dlg) => {
        const rotated = await api.rotateManagementKey(mk.id, {
          grace_period_seconds: graceChosen(form, running),
        });
        announce(`${mk.name} rotated.`);
        await revealCreated(dlg, {
          title: 'Management key rotated',
          label: `${mk.name}’s new key`,
          secret: rotated.key,
          noun: 'new key',
          ifLost: 'We keep only a hash of the key. If it is lost or leaks, rotate it again.',
          refresh: reload,
        });
      },
    });
  };

  const revoke = (mk) =>
    confirmDialog({
      title: `Revoke ${mk.name}?`,
      message: `${revokedKeys(mk.children_count)} stop working at once. This cannot be undone.`,
      confirmLabel: 'Revoke key',
      action: async () => {
        await api.revokeManagementKey(mk.id);
        await reload();
        announce(`${mk.name} revoked.`);
      },
    });

  const actions = (mk) => {
    if (mk.status === 'revoked') return h('span', { class: 'muted' }, 'Revoked ', time(mk.revoked_at));
    return h(
      'div',
      { class: 'row-actions' },
      h(
        'button',
        {
          type: 'button',
          'data-focus-key': `rename-${mk.id}`,
          'aria-label': `Rename ${mk.name}`,
          onClick: () => rename(mk),
        },
        'Rename',
      ),
      h(
        'button',
        {
          type: 'button',
          'data-focus-key': `toggle-${mk.id}`,
          'aria-label': `${mk.status === 'active' ? 'Disable' : 'Enable'} ${mk.name}`,
          onClick: () => toggle(mk),
        },
        mk.status === 'active' ? 'Disable' : 'Enable',
      ),
      h(
        'button',
        {
          type: 'button',
          'data-focus-key': `rotate-${mk.id}`,
          'aria-label': `Rotate ${mk.name}`,
          onClick: () => rotate(mk),
        },
        'Rotate',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger-link',
          'data-focus-key': `revoke-${mk.id}`,
          'aria-label': `Revoke ${mk.name}`,
          onClick: () => revoke(mk),
        },
        'Revoke',
      ),
    );
  };

  const draw = () => {
    if (!keys.length) {
      mount(
        list,
        emptyState('No management keys yet. Create one to start issuing child keys to your customers.'),
      );
      return;
    }
    mount(
      list,
      table({
        caption: 'Management keys',
        columns: [
          { label: 'Name' },
          { label: 'Key' },
          { label: 'Status' },
          { label: 'Child keys', className: 'num' },
          { label: 'Created' },
          { label: 'Last used' },
          { label: 'Actions' },
        ],
        rows: keys.map((mk) =>
          h(
            'tr',
            { 'data-id': mk.id },
            h(
              'th',
              { scope: 'row' },
              h('a', { href: href(`/keys/${mk.id}`), 'data-focus-key': `open-${mk.id}` }, mk.name),
            ),
            h(
              'td',
              {},
              h('span', { class: 'mono' }, mk.key_prefix),
              // After a rotation with a grace, two secrets answer: say so where the key is listed.
              mk.previous_key_expires_at
                ? h(
                    'span',
                    { class: 'key-note small muted' },
                    'Old key also works until ',
                    time(mk.previous_key_expires_at),
                  )
                : null,
            ),
            h('td', {}, badge(mk.status)),
            h('td', { class: 'num' }, String(mk.children_count)),
            h('td', {}, time(mk.created_at)),
            h('td', {}, time(mk.last_used_at, 'Never')),
            h('td', {}, actions(mk)),
          ),
        ),
      }),
    );
  };

  draw();
  renderPage(
    main,
    {
      title: 'API keys',
      intro:
        'Management keys (gm-…) belong to your backend; the child keys (gc-…) they create go to your customers and call /v1.',
    },
    section(
      'Management keys',
      {
        actions: [
          h(
            'button',
            { type: 'button', class: 'primary', 'data-focus-key': 'create-mk', onClick: create },
            'Create management key',
          ),
        ],
      },
      list,
    ),
  );
}

function revokedKeys(children) {
  if (children === 0) return 'Its gm- key will';
  return `Its gm- key and ${children === 1 ? 'its one child key' : `all ${children} of its child keys`}`;
}
