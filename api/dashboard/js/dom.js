/**
 * A tiny DOM builder. Text always goes in as text nodes, never as HTML, so nothing the API returns
 * can inject markup.
 */

/** Attributes set as properties rather than attributes (they hold state, not defaults). */
const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'indeterminate']);

function appendAll(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** `h('button', { type: 'button', onClick: fn }, 'Save')` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  appendAll(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The same for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, String(v));
  }
  appendAll(el, children);
  return el;
}

/** Replace every child of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
  return el;
}

let seq = 0;
/** A document-unique id for label/aria wiring. */
export function uid(prefix = 'id') {
  seq += 1;
  return `${prefix}-${seq}`;
}

/**
 * Lists are re-rendered after every change, which replaces the button that had focus. Controls
 * carry a stable `data-focus-key`; this puts focus back on the new one (or on the page heading).
 */
export function refocus(key) {
  const el = key ? document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`) : null;
  const target = /** @type {HTMLElement | null} */ (el ?? document.querySelector('main h1'));
  target?.focus();
}
