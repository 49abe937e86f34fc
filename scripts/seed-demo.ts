import { randomBytes } from 'node:crypto';
import { adminTopup } from '../shared/accounts/admin-topup.js';
import { closeContext } from '../shared/context.js';
import { findEntryByRef } from '../shared/db/queries/ledger-entries.js';
import { ApiError } from '../shared/errors.js';
import { NGONKA_PER_GNK } from '../shared/money.js';
import { cliArgs, cliContext, describeFailure } from './cli-context.js';
import { type Answer, call as httpCall, NO_ANSWER } from './soak/http.js';

/**
 * `npm run seed-demo -- [--url URL] [--email E] [--password P] [--gnk N] [--json]`: README's seed
 * flow in one command, against a running gateway. It registers the account (or signs in, when the
 * email is taken and the password given is its own), credits it once (the top-up's reference is
 * the account's, so a rerun credits nothing), makes a management key and a child key, and prints
 * them with lines to paste. The accounts and keys go through the gateway's HTTP API as a user's
 * would; the credit, like `npm run topup`, through the database, so give it the gateway's
 * DATABASE_URL and REDIS_PREFIX.
 */
const USAGE =
  'usage: npm run seed-demo -- [--url http://localhost:$PORT (8080)] [--email demo@example.com] [--password P] [--gnk 5] [--json]';

function fail(message: string): never {
  console.error(`seed-demo: ${message}`);
  process.exit(1);
}

// A demo account with money from nothing has no place beside real ones (before anything is made).
if (process.env.NODE_ENV === 'production')
  fail(
    'refused with NODE_ENV=production: it credits a demo account from nothing; credit real ones with npm run topup',
  );

const args = cliArgs(
  {
    url: { type: 'string' },
    email: { type: 'string', default: 'demo@example.com' },
    password: { type: 'string' },
    gnk: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
  USAGE,
  fail,
);
if (!/^[1-9]\d{0,5}$/.test(args.gnk)) fail(`--gnk: a whole number of GNK from 1 to 999999\n${USAGE}`);
const gw = (args.url ?? `http://localhost:${process.env.PORT ?? 8080}`).replace(/\/+$/, '');
const email = args.email;

// biome-ignore lint/suspicious/noExplicitAny: the gateway's JSON, read field by field below
type Json = any;

/** The soak's HTTP client (scripts/soak/http.ts), stopping with a hint when no gateway answers. */
async function call(method: string, path: string, token?: string, body?: unknown): Promise<Answer<Json>> {
  const a = await httpCall<Json>(gw, method, path, {
    ...(token ? { token } : {}),
    ...(body === undefined ? {} : { body }),
  });
  if (a.status === NO_ANSWER) fail(`no gateway answers at ${gw}: start it with npm start, or pass --url`);
  return a;
}

/** The answer when it has the status wanted, else a stop naming the step and the gateway's error. */
function expectStatus(step: string, a: Answer<Json>, status: number): Json {
  if (a.status === status) return a.body;
  const message = a.body?.error?.message ?? JSON.stringify(a.body);
  return fail(`${step}: ${a.status} ${message}`);
}

/** Register, or sign in to the account the email already has. */
async function signIn(): Promise<{ token: string; password: string; created: boolean }> {
  const password = args.password ?? randomBytes(12).toString('base64url');
  const registered = await call('POST', '/api/auth/register', undefined, { email, password });
  if (registered.status === 201) return { token: registered.body.token, password, created: true };
  if (registered.status !== 409) expectStatus('register', registered, 201);
  if (!args.password) fail(`${email} is registered already: pass its --password, or another --email`);
  const login = await call('POST', '/api/auth/login', undefined, { email, password });
  if (login.status === 401)
    fail(`${email} is registered with another password: pass its --password, or another --email`);
  return { token: expectStatus('login', login, 200).token, password, created: false };
}

const ready = await call('GET', '/readyz');
if (ready.status !== 200)
  fail(`the gateway at ${gw} is not ready (${ready.status}): is Postgres or Redis down?`);

const session = await signIn();
const account = expectStatus('account', await call('GET', '/api/account', session.token), 200);

const ctx = cliContext(fail);
let credit: { amount: string; replayed: boolean };
try {
  // One demo credit per account, however often this runs and whatever --gnk says then: a rerun
  // sends the first credit's order again, which adds nothing (and finishes it if Redis missed it).
  const reference = `seed-demo-${account.id}`;
  const earlier = await findEntryByRef(ctx.sql, 'topup', reference);
  const { entry, created } = await adminTopup(ctx, {
    account_id: account.id,
    amount_ngonka: earlier ? earlier.amount : BigInt(args.gnk) * NGONKA_PER_GNK, // a credit: positive
    reference,
  });
  credit = { amount: entry.amount_ngonka, replayed: !created };
} catch (err) {
  const why =
    err instanceof ApiError && err.type === 'not_found'
      ? `${account.id} is not in database ${new URL(ctx.config.DATABASE_URL).pathname.slice(1)}: give this command the gateway's own DATABASE_URL and REDIS_PREFIX`
      : `top-up: ${describeFailure(ctx, err)}`;
  await closeContext(ctx);
  fail(why);
}
await closeContext(ctx);

const mk = expectStatus(
  'management key',
  await call('POST', '/api/management/keys', session.token, { name: 'Demo SaaS' }),
  201,
);
const limits = { limit_daily_ngonka: '1000000000', rate_limit_rpm: 60 };
const child = expectStatus(
  'child key',
  await call('POST', `/api/management/keys/${mk.id}/children`, mk.key, { name: 'Demo customer', ...limits }),
  201,
);
const models = expectStatus('models', await call('GET', '/v1/models', child.key), 200);
const model: string | undefined = models.data?.[0]?.id;
const balance = expectStatus('account', await call('GET', '/api/account', session.token), 200);

const demo = {
  url: gw,
  email,
  password: session.password,
  account_created: session.created,
  account_id: account.id,
  token: session.token,
  credit_ngonka: credit.amount,
  credit_replayed: credit.replayed,
  balance_ngonka: balance.balance_ngonka,
  management_key: { id: mk.id, key: mk.key },
  child_key: { id: child.id, key: child.key, ...limits },
  model: model ?? null,
};

if (args.json) {
  console.log(JSON.stringify(demo, null, 2));
} else {
  // Exact: 4.999999472 GNK, not a float's rounding of it.
  const gnk = (n: string) => {
    const v = BigInt(n);
    const frac = (v % NGONKA_PER_GNK).toString().padStart(9, '0').replace(/0+$/, '');
    return `${v / NGONKA_PER_GNK}${frac ? `.${frac}` : ''} GNK`;
  };
  const body = JSON.stringify({
    model: model ?? '<model>',
    messages: [{ role: 'user', content: 'Hello' }],
    max_tokens: 64,
  });
  console.log(
    [
      `Demo account on ${gw} (${session.created ? 'registered now' : 'signed in'})`,
      `  dashboard       ${gw}/dashboard/  (sign in as ${email}, password ${session.password})`,
      `  balance         ${gnk(balance.balance_ngonka)}${credit.replayed ? ' (credited by an earlier run; this one added nothing)' : ` (${gnk(credit.amount)} credited now)`}`,
      `  management key  ${mk.key}  (${mk.id})`,
      `  child key       ${child.key}  (${child.id}: 1 GNK a day, 60 requests a minute)`,
      model ? '' : '  no model is priced yet: the nodes have not answered; try again in a few seconds',
      'Try it (the keys are shown once; keep them):',
      `export GW=${gw} JWT=${session.token} MK_ID=${mk.id} GM=${mk.key} GC=${child.key}`,
      `curl -s $GW/v1/chat/completions -H "authorization: Bearer $GC" -H 'content-type: application/json' -d '${body}'`,
      'curl -s $GW/api/account -H "authorization: Bearer $JWT"',
    ]
      .filter((line) => line !== '')
      .join('\n'),
  );
}
