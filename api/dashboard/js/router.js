/**
 * Hash routing: `#/keys/mk_123` → the `/keys/:mkId` route with `{ mkId: 'mk_123' }`. Hashes that do
 * not start with `#/` (in-page anchors) are not routes and are left alone.
 */
const routes = [];

export function route(pattern, handler) {
  const names = [];
  const source = pattern.replace(/:([A-Za-z]+)/g, (_m, name) => {
    names.push(name);
    return '([^/]+)';
  });
  routes.push({ re: new RegExp(`^${source}/?$`), names, handler, pattern });
}

export function currentPath() {
  const hash = window.location.hash;
  return hash.startsWith('#/') ? hash.slice(1) : null;
}

/** The route of `path` (`/jobs?status=failed`: its query is the page's own, e.g. its filters). */
export function resolve(path) {
  const [route, qs = ''] = splitQuery(path);
  for (const r of routes) {
    const m = r.re.exec(route);
    if (!m) continue;
    const params = {};
    r.names.forEach((n, i) => {
      params[n] = decodeURIComponent(m[i + 1]);
    });
    return { handler: r.handler, params, pattern: r.pattern, query: new URLSearchParams(qs) };
  }
  return null;
}

function splitQuery(path) {
  const i = path.indexOf('?');
  return i < 0 ? [path, ''] : [path.slice(0, i), path.slice(i + 1)];
}

/**
 * Put a page's own state (its filters) in the URL, in place of the current history entry and
 * without showing the page again: a refresh, a bookmark or a shared link opens it as it is.
 */
export function setQuery(values) {
  const path = currentPath();
  if (path === null) return;
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v) query.set(k, v);
  const qs = query.toString();
  history.replaceState(history.state, '', `#${splitQuery(path)[0]}${qs ? `?${qs}` : ''}`);
}

/**
 * Go to `path`. `replace`: in place of the page now in the history (a redirect, or leaving the
 * sign-in page), so Back leaves the dashboard instead of landing on a page that sends it forward
 * again.
 */
export function navigate(path, { replace = false } = {}) {
  if (window.location.hash === `#${path}`) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else if (replace) window.location.replace(`#${path}`);
  else window.location.hash = path;
}

export function href(path) {
  return `#${path}`;
}

/** Call `onRoute(path)` now and on every route change. */
export function start(onRoute) {
  const run = () => {
    const path = currentPath();
    if (path !== null || window.location.hash === '') onRoute(path ?? '/');
  };
  window.addEventListener('hashchange', run);
  // A link to the page already shown sets no new hash, so no hashchange: show it again, fresh
  // (what a person clicking "Overview" on the overview expects: its numbers read now).
  document.addEventListener('click', (e) => {
    const a = e.target instanceof Element ? e.target.closest('a[href^="#/"]') : null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    if (a.getAttribute('href') === window.location.hash) run();
  });
  run();
}

/**
 * Where a signed-out visitor was going, to go on there after logging in, and whose page it was:
 * another account logging in next in the tab gets its overview instead (the page, a key of the
 * account before, would only say "not found"). `account` null: a page of no known account.
 */
let returnTo = null;

export function rememberReturn(path, account = null) {
  returnTo = path === null ? null : { path, account };
}

/** The remembered page (once) when `account` may see it, else `fallback`. */
export function takeReturn(fallback, account) {
  const r = returnTo;
  returnTo = null;
  return r && (r.account === null || r.account === account) ? r.path : fallback;
}
