import { api, endSession, SESSION_ENDED, session } from './api.js';
import { announce, clearAlert, messageOf, showAlert } from './components/notify.js';
import { emptyState, renderPage } from './components/page.js';
import { h, mount } from './dom.js';
import { renderJobs } from './pages/jobs.js';
import { renderKeyDetail } from './pages/key-detail.js';
import { renderKeys } from './pages/keys.js';
import { renderLogin, renderSignup } from './pages/login.js';
import { renderOverview } from './pages/overview.js';
import { renderUsage } from './pages/usage.js';
import { renderWebhooks } from './pages/webhooks.js';
import { currentPath, navigate, rememberReturn, resolve, route, start } from './router.js';

const PUBLIC = new Set(['/login', '/signup']);

route('/login', renderLogin);
route('/signup', renderSignup);
route('/overview', renderOverview);
route('/keys', renderKeys);
route('/keys/:mkId', renderKeyDetail);
route('/usage', renderUsage);
route('/jobs', renderJobs);
route('/webhooks', renderWebhooks);

/** A message to show once the next page has rendered (e.g. why the user landed on the login page). */
let notice = null;
/**
 * The account last signed in in this tab: a page remembered for after the next login is its page
 * (read when a page is shown, since a session that ends is cleared before the shell hears of it).
 */
let lastAccount = null;
let renderSeq = 0;
/** The signed-in email shown in the header, fetched once per session token. */
const shown = { token: null, email: '' };

async function updateShell(path) {
  const signedIn = Boolean(session.token);
  document.getElementById('main-nav').hidden = !signedIn;
  document.getElementById('session-box').hidden = !signedIn;
  for (const a of /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll('#main-nav a'))) {
    const current =
      path === a.dataset.route ||
      path.startsWith(`${a.dataset.route}/`) ||
      path.startsWith(`${a.dataset.route}?`);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const box = document.getElementById('account-email');
  if (!signedIn) {
    box.textContent = '';
    return;
  }
  if (shown.token !== session.token) {
    shown.token = session.token;
    shown.email = '';
    try {
      shown.email = (await api.account()).email;
    } catch {
      // The page's own request reports the failure; the header just stays blank.
    }
  }
  box.textContent = shown.email;
}

async function onRoute(path) {
  if (path === '/') return navigate(session.token ? '/overview' : '/login', { replace: true });
  const match = resolve(path);
  const isPublic = match !== null && PUBLIC.has(match.pattern);
  if (session.token) lastAccount = session.account;
  if (!isPublic && !session.token) {
    rememberReturn(path, lastAccount);
    return navigate('/login', { replace: true });
  }
  if (isPublic && session.token) return navigate('/overview', { replace: true });

  const seq = ++renderSeq;
  const main = document.getElementById('main');
  closeDialogs();
  clearAlert();
  updateShell(path);
  // Kept while the user is on the sign-in pages: several requests may end the session at once,
  // and each re-renders the login page.
  if (notice && isPublic) showAlert(notice);
  else notice = null;
  if (!match) {
    renderPage(
      main,
      { title: 'Page not found' },
      emptyState('There is no page here.', h('a', { href: '#/overview' }, 'Go to the overview')),
    );
    main.querySelector('h1')?.focus();
    return;
  }
  main.setAttribute('aria-busy', 'true');
  mount(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    await match.handler(main, match.params, { isCurrent: () => seq === renderSeq, query: match.query });
  } catch (err) {
    if (seq !== renderSeq) return;
    renderPage(main, { title: 'Could not load this page' }, emptyState(messageOf(err)));
    showAlert(messageOf(err));
  } finally {
    if (seq === renderSeq) main.removeAttribute('aria-busy');
  }
  if (seq === renderSeq) main.querySelector('h1')?.focus();
}

document.getElementById('logout').addEventListener('click', () => {
  const token = session.token;
  session.clear();
  navigate('/login');
  announce('You are logged out.');
  if (token) endSession(token);
});

/**
 * A dialog belongs to the page it was opened on (Back, or the session ending, changes the page under
 * it), except a one-time secret: closing that one would lose the only copy.
 */
function closeDialogs() {
  for (const d of /** @type {NodeListOf<HTMLDialogElement>} */ (document.querySelectorAll('dialog[open]')))
    if (!d.querySelector('.secret')) d.close();
}

window.addEventListener(SESSION_ENDED, () => {
  // A form open in a dialog is closed with the page: say that its change was not made.
  const unsaved = [...document.querySelectorAll('dialog[open]')].some(
    (d) => d.querySelector('form') && !d.querySelector('.secret'),
  );
  notice = unsaved
    ? 'Your session has ended, and the change you were making was not saved. Please log in again, then make it again.'
    : 'Your session has ended. Please log in again.';
  const path = currentPath();
  if (path && !PUBLIC.has(path)) rememberReturn(path, lastAccount);
  if (window.location.hash !== '#/login') navigate('/login', { replace: true });
});

// Hash routing owns the URL fragment, so the skip link moves focus instead of changing it.
document.getElementById('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main').focus();
});

start(onRoute);
