import { h, mount, uid } from '../dom.js';

/**
 * The frame of every page: its `<h1>` (focused after navigation, so screen readers announce the
 * new page), the document title, optional actions beside the heading, then the content.
 * @param {HTMLElement} main
 * @param {{ title: string, intro?: string | Node | (string | Node | null)[], actions?: Node[], breadcrumb?: Node | Node[] }} head
 * @param {...any} content
 */
export function renderPage(main, { title, intro, actions = [], breadcrumb }, ...content) {
  document.title = `${title} · Gonka Gateway`;
  mount(
    main,
    breadcrumb ? h('nav', { 'aria-label': 'Breadcrumb', class: 'breadcrumb' }, breadcrumb) : null,
    h(
      'div',
      { class: 'page-head' },
      h('div', {}, h('h1', { tabindex: '-1' }, title), intro ? h('p', { class: 'intro' }, intro) : null),
      actions.length ? h('div', { class: 'page-actions' }, actions) : null,
    ),
    content,
  );
}

/**
 * A titled block of a page.
 * @param {string} title
 * @param {{ actions?: Node[], id?: string, intro?: string }} [opts]
 * @param {...any} content
 */
export function section(title, { actions = [], id, intro } = {}, ...content) {
  const headingId = uid(id ?? 'section');
  return h(
    'section',
    { class: 'card', 'aria-labelledby': headingId, id },
    h(
      'div',
      { class: 'card-head' },
      h('h2', { id: headingId }, title),
      actions.length ? h('div', { class: 'card-actions' }, actions) : null,
    ),
    intro ? h('p', { class: 'intro' }, intro) : null,
    content,
  );
}

/** What an empty list says, with what to do next. */
export function emptyState(text, action) {
  return h('div', { class: 'empty' }, h('p', {}, text), action ?? null);
}

/**
 * An empty list's message: `text` when nothing is filtered; when a filter is set, that nothing
 * matches it, which does not read as if there were nothing at all.
 */
export function emptyList(filtered, plural, text) {
  return emptyState(
    filtered?.() ? `No ${plural} match the filters shown. Choose “All” in them to see every one.` : text,
  );
}

/**
 * A table with column headers; wide tables scroll inside their own box.
 * @param {{ caption: string, columns: { label: string, className?: string }[], rows: any[], className?: string }} opts
 */
export function table({ caption, columns, rows, className }) {
  return h(
    'div',
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h(
      'table',
      { class: className },
      h('caption', { class: 'visually-hidden' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((c) => h('th', { scope: 'col', class: c.className }, c.label)),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
}
