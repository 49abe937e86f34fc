import { h, mount } from '../dom.js';
import { announce, messageOf, showAlert } from './notify.js';
import { table } from './page.js';

/** Rows asked for per page: the API's default, named here so every paged table asks the same. */
export const PAGE_SIZE = 50;

/**
 * A table over a listing paged with `after` (the owner lists): the first page, then, while the
 * server says more rows follow, a "Load more" button that appends the next page. The cursor is the
 * last row shown, so no row is skipped or shown twice even when new rows arrive in between.
 *
 * - `noun`: `{ one, many }`, for the button and what is announced ("Load more jobs").
 * - `fetchPage(after)`: one page as `pageOrEmpty` answers it, with the caller's current filters.
 * - `row(item)`: the `<tr>` of one item; `empty()`: what an empty list shows.
 *
 * Returns `{ el, show(page), reload(), fetchPage }`: `show` puts a first page in, `reload` fetches
 * one.
 */
export function pagedTable({ noun, caption, columns, row, empty, fetchPage }) {
  const el = h('div', {});
  const more = h('button', { type: 'button', onClick: () => loadMore() }, `Load more ${noun.many}`);
  const foot = h('div', { class: 'table-more' }, more);
  let tbody = null;
  let cursor = null;
  let shown = 0;
  // Bumped whenever the table is replaced: a "Load more" answer for the table it replaced (other
  // filters) is dropped rather than appended to rows it does not follow.
  let version = 0;
  // Bumped by each reload: when filters change quickly, only the last one's answer is shown.
  let asked = 0;

  const count = (n, prefix = '') => `${n} ${prefix}${n === 1 ? noun.one : noun.many}`;

  function setCursor(page) {
    cursor = page.hasMore ? page.lastId : null;
    foot.hidden = cursor === null;
  }

  function show(page) {
    version += 1;
    more.disabled = false;
    el.removeAttribute('aria-busy');
    shown = page.data.length;
    if (!shown) {
      tbody = null;
      cursor = null;
      mount(el, empty());
      return;
    }
    const wrap = table({ caption, columns, rows: page.data.map(row) });
    tbody = wrap.querySelector('tbody');
    setCursor(page);
    mount(el, wrap, foot);
  }

  async function reload() {
    const mine = ++asked;
    const page = await fetchPage(null);
    if (mine === asked) show(page);
  }

  function idle() {
    more.disabled = false;
    el.removeAttribute('aria-busy');
  }

  async function loadMore() {
    if (cursor === null || more.disabled) return;
    const mine = version;
    // Disabling the focused button can drop its focus; it is put back (or moved) below.
    const hadFocus = document.activeElement === more;
    more.disabled = true;
    el.setAttribute('aria-busy', 'true');
    let page;
    try {
      page = await fetchPage(cursor);
    } catch (err) {
      if (mine !== version) return;
      idle();
      showAlert(messageOf(err));
      if (hadFocus) more.focus();
      return;
    }
    // Replaced meanwhile (filters changed) or left (another page): nothing to append or announce.
    if (mine !== version || !el.isConnected) return;
    idle();
    const added = page.data.map(row);
    tbody.append(...added);
    shown += added.length;
    setCursor(page);
    announce(
      page.hasMore
        ? `${count(added.length, 'more ')} loaded, ${shown} shown.`
        : `${count(added.length, 'more ')} loaded. All ${count(shown)} are shown.`,
    );
    if (!hadFocus) return;
    if (page.hasMore) more.focus();
    else focusRow(added[0]);
  }

  // The button is gone with the last page: focus goes to the first row it added, where reading
  // goes on, rather than back to the top of the page.
  function focusRow(tr) {
    const header = tr?.querySelector('th');
    if (!header) return el.querySelector('.table-wrap')?.focus();
    header.tabIndex = -1;
    header.focus();
  }

  return { el, show, reload, fetchPage };
}
