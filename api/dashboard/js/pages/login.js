import { api, session } from '../api.js';
import { field, fieldValue, makeForm } from '../components/form.js';
import { announce } from '../components/notify.js';
import { h, mount } from '../dom.js';
import { navigate, rememberReturn, takeReturn } from '../router.js';

function authCard(main, { title, intro, form, footer }) {
  document.title = `${title} · Gonka Gateway`;
  mount(
    main,
    h(
      'div',
      { class: 'auth' },
      h(
        'section',
        { class: 'card auth-card' },
        h('h1', { tabindex: '-1' }, title),
        h('p', { class: 'intro' }, intro),
        form,
        h('p', { class: 'auth-footer' }, footer),
      ),
    ),
  );
}

const emailField = () =>
  field({ label: 'Email', name: 'email', type: 'email', attrs: { autocomplete: 'email', required: true } });

/** The password field: `current-password` to log in, `new-password` (with a hint) to sign up. */
const passwordField = (autocomplete, hint) =>
  field({
    label: 'Password',
    name: 'password',
    type: 'password',
    hint,
    attrs: { autocomplete, required: true },
  });

export function renderLogin(main) {
  const form = makeForm({
    fields: [emailField(), passwordField('current-password')],
    submitLabel: 'Log in',
    onSubmit: async (f) => {
      const { token } = await api.login({
        email: fieldValue(f, 'email'),
        password: f.elements.password.value,
      });
      session.set(token);
      navigate(takeReturn('/overview', session.account), { replace: true });
      announce('You are logged in.');
    },
  });
  authCard(main, {
    title: 'Log in',
    // The session is kept per tab (sessionStorage): a link opened in a new tab asks again.
    intro: 'Manage your balance, API keys and webhooks. You stay signed in for this browser tab.',
    form,
    footer: ['New here? ', h('a', { href: '#/signup' }, 'Create an account')],
  });
}

export function renderSignup(main) {
  const form = makeForm({
    fields: [
      emailField(),
      passwordField('new-password', 'At least 8 characters.'),
      field({
        label: 'Referral code (optional)',
        name: 'referral_code',
        attrs: { autocomplete: 'off', spellcheck: 'false' },
      }),
    ],
    submitLabel: 'Create account',
    onSubmit: async (f) => {
      const referral = fieldValue(f, 'referral_code');
      const { token } = await api.register({
        email: fieldValue(f, 'email'),
        password: f.elements.password.value,
        ...(referral ? { referral_code: referral } : {}),
      });
      session.set(token);
      rememberReturn(null); // a page bookmarked before is not the new account's
      navigate('/overview', { replace: true });
      announce('Your account is ready.');
    },
  });
  authCard(main, {
    title: 'Create your account',
    intro: 'Sell AI inference to your own customers with keys you control.',
    form,
    footer: ['Already have an account? ', h('a', { href: '#/login' }, 'Log in')],
  });
}
