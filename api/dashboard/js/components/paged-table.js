import { h, mount } from '../dom.js';
import { announce, messageOf, showAlert } from './notify.js';
import { table } from './page.js';

/** Rows asked for per page: the API's default, named here so every paged table asks the same. */
export const PAGE_SIZE = 50;

/** How often rows still moving (a queued job, a running batch) are asked for again. */
export const LIVE_POLL_MS = 3000;
/**
 * Most rows asked for one by one in a round: those the first page did not bring, longest unasked
 * first, so that with many live rows each is still looked at every few rounds.
 */
const LIVE_MAX = 20;

/**
 * A table over a listing paged with `after` (the owner lists): the first page, then, while the
 * server says more rows follow, a "Load more" button that appends the next page. The cursor is the
 * last row shown, so no row is skipped or shown twice even when new rows arrive in between.
 *
 * - `noun`: `{ one, many }`, for the button and what is announced ("Load more jobs").
 * - `fetchPage(after)`: one page as `pageOrEmpty` answers it, with the caller's current filters.
 * - `row(item)`: the `<tr>` of one item; `empty()`: what an empty list shows.
 *
 * - `live` (optional): `{ isLive(item), fetchOne(id), settled?(items), newRows? }`. While rows
 *   shown are live (still moving) and the table is on the page, they are asked for again every
 *   LIVE_POLL_MS and redrawn in place when they changed (focus stays on the control it was on);
 *   the rows that stopped moving in a round are announced together, and `settled` gets them (a
 *   finished batch's files are new). With `newRows`, each round also puts rows new since on top.
 *
 * Returns `{ el, show(page), reload(), refresh(), fetchPage }`: `show` puts a first page in,
 * `reload` fetches one, `refresh` adds the rows new since on top.
 */
const capitalized = (s) => `${s[0].toUpperCase()}${s.slice(1)}`;

/** @param {{ noun: { one: string, many: string }, caption: string, columns: { label: string, className?: string }[], row: (item: any) => HTMLElement, empty: () => Node, fetchPage: (after?: string) => Promise<any>, live?: any }} opts */
export function pagedTable({ noun, caption, columns, row, empty, fetchPage, live }) {
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
  // The rows shown, by id: what each showed and its <tr>, for the live rows to be redrawn.
  const shownRows = new Map();
  let liveTimer = null;

  const count = (n, prefix = '') => `${n} ${prefix}${n === 1 ? noun.one : noun.many}`;

  function setCursor(page) {
    cursor = page.hasMore ? page.lastId : null;
    foot.hidden = cursor === null;
  }

  function show(page) {
    version += 1;
    more.disabled = false;
    el.removeAttribute('aria-busy');
    shownRows.clear();
    shown = page.data.length;
    if (!shown) {
      tbody = null;
      cursor = null;
      mount(el, empty());
      watchLive(); // rows may come (newRows)
      return;
    }
    const wrap = table({ caption, columns, rows: page.data.map(tracked) });
    tbody = wrap.querySelector('tbody');
    setCursor(page);
    mount(el, wrap, foot);
    watchLive();
  }

  function tracked(item) {
    const tr = row(item);
    shownRows.set(item.id, { item, tr, askedAt: 0 });
    return tr;
  }

  function watchLive() {
    if (!live || liveTimer !== null) return;
    liveTimer = setTimeout(pollLive, LIVE_POLL_MS);
  }

  async function pollLive() {
    liveTimer = null;
    if (!el.isConnected) return; // the page was left: nothing more to ask
    // A tab in the background asks nothing; the round after it is shown again does.
    if (document.hidden) return watchLive();
    const mine = version;
    const req = asked;
    // The first page (with newRows) brings the newest rows as they are now; the other live rows
    // are asked for one by one.
    const first = live.newRows ? await fetchPage(null).catch(() => null) : null;
    if (!current(mine, req)) return afterDropped(mine);
    const onFirst = new Set(first?.data.map((item) => item.id));
    const now = Date.now();
    const moving = [...shownRows.values()]
      .filter((r) => live.isLive(r.item) && !onFirst.has(r.item.id))
      .sort((a, b) => a.askedAt - b.askedAt)
      .slice(0, LIVE_MAX);
    // show() starts again when a page brings live rows.
    if (moving.length === 0 && !live.newRows) return;
    for (const r of moving) r.askedAt = now;
    const fresh = await Promise.all(moving.map((r) => live.fetchOne(r.item.id).catch(() => null)));
    if (!current(mine, req)) return afterDropped(mine);
    const seen = [...(first?.data.filter((item) => shownRows.has(item.id)) ?? []), ...fresh];
    const ended = seen.filter((item) => item && redraw(item));
    const added = first ? addNew(first) : 0;
    // One announcement for the round: a second would cut the first short.
    const news = [];
    if (added > 0) news.push(`${count(added, 'new ')}.`);
    if (ended.length > 0) {
      const what = ended.map((item) => `${item.id}: ${item.status.replaceAll('_', ' ')}`).join('; ');
      news.push(`${ended.length === 1 ? capitalized(noun.one) : capitalized(noun.many)} ${what}.`);
    }
    if (news.length > 0) announce(news.join(' '), { background: true });
    if (ended.length > 0) live.settled?.(ended);
    watchLive();
  }

  /**
   * Still the table that was asked for: not replaced (a reload, other filters: its own show() polls
   * what it shows), no reload under way (the page would be of its filters), and still on the page.
   */
  function current(mine, req) {
    return mine === version && req === asked && el.isConnected;
  }

  /**
   * A round dropped under a reload: the same table is still shown (the reload may yet fail, and
   * its show() would start polling again), so ask again next round; a replaced one is polled by
   * its own show().
   */
  function afterDropped(mine) {
    if (mine === version && el.isConnected) watchLive();
  }

  /** Redraw a row that changed; true when it stopped moving. */
  function redraw(item) {
    const was = shownRows.get(item.id);
    if (!was || JSON.stringify(was.item) === JSON.stringify(item)) return false;
    const focused = was.tr.contains(document.activeElement) ? document.activeElement : null;
    const tr = row(item);
    was.tr.replaceWith(tr);
    shownRows.set(item.id, { item, tr, askedAt: was.askedAt });
    if (focused) {
      // The same control in the new row, or its header when that control is gone (Cancel, say).
      const key = focused.getAttribute('data-focus-key');
      const again = key
        ? /** @type {HTMLElement | null} */ (tr.querySelector(`[data-focus-key="${CSS.escape(key)}"]`))
        : null;
      const header = tr.querySelector('th');
      if (!again && header) header.tabIndex = -1;
      (again ?? header)?.focus();
    }
    return live.isLive(was.item) && !live.isLive(item);
  }

  async function reload() {
    const mine = ++asked;
    const page = await fetchPage(null);
    if (mine === asked) show(page);
  }

  /**
   * Put rows new since the list was shown (the first page's rows it does not show yet) on top,
   * leaving the rows, pages and focus the user has as they are: for rows that appear by
   * themselves (a finished batch's files), where a reload would take the page from under them.
   */
  async function refresh() {
    const mine = version;
    const req = asked;
    const page = await fetchPage(null);
    if (current(mine, req)) addNew(page);
  }

  /** Put the first page's rows not shown yet on top (newest first, as they come); how many. */
  function addNew(page) {
    if (!tbody) {
      if (page.data.length === 0) return 0;
      // The empty state goes: focus that was in it goes to the table that replaces it.
      const hadFocus = el.contains(document.activeElement);
      show(page);
      if (hadFocus) el.querySelector('.table-wrap')?.focus();
      return page.data.length;
    }
    const added = page.data.filter((item) => !shownRows.has(item.id)).map(tracked);
    tbody.prepend(...added);
    shown += added.length;
    return added.length;
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
    const added = page.data.map(tracked);
    tbody.append(...added);
    watchLive();
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

  return { el, show, reload, refresh, fetchPage };
}
