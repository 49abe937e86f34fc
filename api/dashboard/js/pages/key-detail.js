import { api } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { announce, messageOf, showAlert } from '../components/notify.js';
import { emptyState, renderPage, section } from '../components/page.js';
import { LIVE_POLL_MS } from '../components/paged-table.js';
import { h, mount, refocus, uid } from '../dom.js';
import { badge, time } from '../format.js';
import { href } from '../router.js';
import { createChildKeyDialog, editChildKeyDialog, rotateChildKeyDialog } from './child-key-form.js';
import { childKeysTable } from './child-keys-table.js';

/** How the owner's backend does the same with the `gm-` key. */
function apiExample(mk) {
  return h(
    'pre',
    { class: 'code', tabindex: '0', 'aria-label': 'Example request' },
    `curl ${window.location.origin}/api/management/keys/${mk.id}/children \\
  -H "Authorization: Bearer gm-…" -H "Content-Type: application/json" \\
  -d '{"name": "Customer 42", "limit_daily_ngonka": "1000000000", "rate_limit_rpm": 60}'`,
  );
}

/** Child keys shown at first, and added by each "Show more": thousands of customers' keys page. */
const PAGE = 100;

export async function renderKeyDetail(main, { mkId }, ctx) {
  // The list as far as it was paged, for the name searched (server-side: `?name=`).
  let search = '';
  let page = { data: [], has_more: false, last_id: null };
  const fetchPage = (limit, after) =>
    api.childKeys(mkId, { limit, ...(search ? { name: search } : {}), ...(after ? { after } : {}) });
  let [mk, first] = await Promise.all([api.managementKey(mkId), fetchPage(PAGE)]);
  if (!ctx.isCurrent()) return;
  page = first;
  let children = page.data;
  let showDeleted = false;
  const list = h('div');
  // Says when the live figures stopped moving (follow's rounds failing), and no more once they move.
  const liveNote = h('p', { class: 'live-note muted small', role: 'status' });
  const writable = () => mk.status !== 'revoked';

  // Again as far as it was shown, so a change keeps the view: past the API's page of 1,000, in
  // more pages (asking for the first 1,000 only dropped the keys shown past them every round).
  const fetchShown = async () => {
    const want = Math.max(children.length, PAGE);
    let last = await fetchPage(Math.min(want, 1000));
    let data = last.data;
    while (last.has_more && data.length < want) {
      last = await fetchPage(Math.min(want - data.length, 1000), last.last_id);
      data = [...data, ...last.data];
    }
    return { ...last, data };
  };
  // Moved by each change of what the list shows (Show more, a search, an action's reload): an
  // answer asked for before the latest change is stale and dropped (a live round that came back
  // after a Show more undid it, review31).
  let shown = 0;
  const reload = async () => {
    const asked = ++shown;
    const [m, p] = await Promise.all([api.managementKey(mkId), fetchShown()]);
    if (asked !== shown) return;
    [mk, page] = [m, p];
    children = page.data;
    draw();
  };

  /**
   * The keys shown, asked again every LIVE_POLL_MS while the page is in view, so their usage and
   * status move as customers spend (a charge lands a moment after its request). Redrawn only when
   * something changed, and never under an open dialog; focus stays on the control it was on.
   */
  let failedRounds = 0;
  const follow = () => {
    setTimeout(async () => {
      if (!list.isConnected) return; // the page was left
      if (!document.hidden && !document.querySelector('dialog[open]')) {
        try {
          const asked = shown;
          const fresh = await fetchShown();
          failedRounds = 0;
          liveNote.textContent = '';
          const seen = JSON.stringify(fresh.data);
          // A search typed meanwhile, or an action's own reload, has its own answer: keep that.
          if (
            list.isConnected &&
            asked === shown &&
            seen !== JSON.stringify(children) &&
            !document.querySelector('dialog[open]')
          ) {
            page = fresh;
            children = fresh.data;
            const focused =
              document.activeElement instanceof HTMLElement
                ? document.activeElement.dataset.focusKey
                : undefined;
            draw();
            if (focused) refocus(focused);
          }
        } catch {
          // Offline a moment: the next round asks again. Past one round, the figures shown are
          // getting old, which an owner watching a customer's spend must be told.
          if (++failedRounds >= 2)
            liveNote.textContent =
              'Usage shown is not up to date: the server cannot be reached. Trying again every few seconds.';
        }
      }
      follow();
    }, LIVE_POLL_MS);
  };

  const showMore = async () => {
    try {
      const asked = ++shown;
      const next = await fetchPage(PAGE, page.last_id);
      if (asked !== shown) return;
      page = next;
      children = [...children, ...next.data];
      draw();
      refocus('show-more');
    } catch (err) {
      showAlert(messageOf(err));
    }
  };

  let searchTimer;
  const onSearch = (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      search = e.target.value.trim();
      const asked = ++shown;
      try {
        const first = await fetchPage(PAGE);
        if (asked !== shown) return;
        page = first;
        children = page.data;
        draw();
      } catch (err) {
        showAlert(messageOf(err));
      }
    }, 250);
  };

  const toggle = async (c) => {
    const status = c.status === 'active' ? 'disabled' : 'active';
    try {
      await api.updateChildKey(mk.id, c.id, { status });
      await reload();
      refocus(`toggle-${c.id}`);
      announce(
        status === 'disabled'
          ? `${c.name} disabled: its key is refused until you enable it.`
          : `${c.name} enabled.`,
      );
    } catch (err) {
      showAlert(messageOf(err));
    }
  };

  const remove = (c) =>
    confirmDialog({
      title: `Delete ${c.name}?`,
      message: 'Its gc- key stops working at once. Its usage history is kept. This cannot be undone.',
      confirmLabel: 'Delete key',
      action: async () => {
        await api.deleteChildKey(mk.id, c.id);
        await reload();
        announce(`${c.name} deleted.`);
      },
    });

  const actions = (c) => {
    if (c.status === 'deleted') return h('span', { class: 'muted' }, 'Deleted ', time(c.deleted_at));
    if (!writable()) return h('span', { class: 'muted' }, 'Parent revoked');
    const canToggle = c.status === 'active' || c.status === 'disabled';
    return h(
      'div',
      { class: 'row-actions' },
      h(
        'button',
        {
          type: 'button',
          'data-focus-key': `edit-${c.id}`,
          'aria-label': `Edit ${c.name}`,
          onClick: () => editChildKeyDialog(mk, c, reload),
        },
        'Edit',
      ),
      canToggle
        ? h(
            'button',
            {
              type: 'button',
              'data-focus-key': `toggle-${c.id}`,
              'aria-label': `${c.status === 'active' ? 'Disable' : 'Enable'} ${c.name}`,
              onClick: () => toggle(c),
            },
            c.status === 'active' ? 'Disable' : 'Enable',
          )
        : null,
      h(
        'button',
        {
          type: 'button',
          'data-focus-key': `rotate-${c.id}`,
          'aria-label': `Rotate ${c.name}`,
          onClick: () => rotateChildKeyDialog(mk, c, reload),
        },
        'Rotate',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger-link',
          'data-focus-key': `delete-${c.id}`,
          'aria-label': `Delete ${c.name}`,
          onClick: () => remove(c),
        },
        'Delete',
      ),
    );
  };

  const draw = () => {
    const visible = children.filter((c) => showDeleted || c.status !== 'deleted');
    const more = page.has_more
      ? h(
          'p',
          {},
          h(
            'button',
            { type: 'button', 'data-focus-key': 'show-more', onClick: showMore },
            'Show more child keys',
          ),
        )
      : null;
    if (!visible.length) {
      mount(
        list,
        emptyState(
          search
            ? `No child key’s name contains “${search}”.`
            : children.length
              ? page.has_more
                ? 'Every child key shown is deleted.'
                : 'Every child key of this management key is deleted.'
              : writable()
                ? 'No child keys yet. Create one for each of your customers.'
                : 'This management key has no child keys.',
        ),
        more,
      );
      return;
    }
    mount(list, childKeysTable(mk, visible, actions), more);
  };

  const deletedId = uid('show-deleted');
  const filter = h(
    'div',
    { class: 'checkbox' },
    h('input', {
      type: 'checkbox',
      id: deletedId,
      onChange: (e) => {
        showDeleted = e.target.checked;
        draw();
      },
    }),
    h('label', { for: deletedId }, 'Show deleted keys'),
  );
  const searchBox = h('input', {
    type: 'search',
    'aria-label': 'Search child keys by name',
    placeholder: 'Search by name',
    maxlength: '100',
    onInput: onSearch,
  });
  const create = writable()
    ? h(
        'button',
        {
          type: 'button',
          class: 'primary',
          'data-focus-key': 'create-child',
          onClick: () => createChildKeyDialog(mk, reload),
        },
        'Create child key',
      )
    : null;

  draw();
  follow();
  renderPage(
    main,
    {
      title: mk.name,
      intro: [
        badge(mk.status),
        ' ',
        h('span', { class: 'mono' }, mk.key_prefix),
        ' · created ',
        time(mk.created_at),
        ' · last used ',
        time(mk.last_used_at, 'never'),
        ' · ',
        h('a', { href: href(`/usage?group_by=key&mk=${encodeURIComponent(mk.id)}`) }, 'usage by child key'),
      ],
      breadcrumb: h(
        'ol',
        {},
        h('li', {}, h('a', { href: href('/keys') }, 'API keys')),
        h('li', { 'aria-current': 'page' }, mk.name),
      ),
    },
    mk.status === 'revoked'
      ? h(
          'p',
          { class: 'callout warning' },
          'This management key is revoked: its child keys no longer authenticate and cannot be changed.',
        )
      : null,
    mk.status === 'disabled'
      ? h(
          'p',
          { class: 'callout' },
          'This management key is disabled: its gm- key is refused, while its child keys keep working.',
        )
      : null,
    section('Child keys', { actions: [searchBox, filter, create].filter(Boolean) }, liveNote, list),
    // A revoked key's gm- key is refused for good: its example could only show a 401.
    mk.status === 'revoked'
      ? null
      : section(
          'From your backend',
          { intro: 'Your backend can do the same with this management key’s gm- key:' },
          apiExample(mk),
        ),
  );
}
