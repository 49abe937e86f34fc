import { randomBytes } from 'node:crypto';
import { adminTopup, adminTopupBody } from '../shared/accounts/admin-topup.js';
import { closeContext } from '../shared/context.js';
import { findEntryByRef } from '../shared/db/queries/ledger-entries.js';
import { ApiError } from '../shared/errors.js';
import { anyInstanceAlive } from '../shared/redis/instance.js';
import { cliArgs, cliContext, databaseName, describeFailure } from './cli-context.js';

/**
 * `npm run topup -- --email a@b.c --ngonka 5000000000 [--reference X]` (or `--account-id`,
 * `--usdt 12.5`): the admin top-up without HTTP, through the same domain function as
 * POST /api/admin/topups. Prints the ledger entry as JSON; exits 1 with a message on any error.
 */
const USAGE =
  'usage: npm run topup -- (--email E | --account-id ID) (--ngonka N | --usdt U) [--reference REF]';

/** Body field → the flag that sets it, so a validation error names what the operator typed. */
const FLAG_OF: Record<string, string> = {
  account_id: '--account-id',
  email: '--email',
  amount_ngonka: '--ngonka',
  amount_usdt: '--usdt',
  reference: '--reference',
};

function fail(message: string): never {
  console.error(`topup: ${message}`);
  process.exit(1);
}

const args = cliArgs(
  {
    email: { type: 'string' },
    'account-id': { type: 'string' },
    ngonka: { type: 'string' },
    usdt: { type: 'string' },
    reference: { type: 'string' },
  },
  USAGE,
  fail,
);

const order = adminTopupBody.safeParse({
  account_id: args['account-id'],
  email: args.email,
  amount_ngonka: args.ngonka,
  amount_usdt: args.usdt,
  reference: args.reference ?? `cli-${randomBytes(8).toString('hex')}`,
});
const reference = order.data?.reference;
if (!order.success) {
  const issue = order.error.issues[0];
  const field = String(issue?.path[0] ?? '');
  fail(`${FLAG_OF[field] ?? field}: ${issue?.message ?? 'invalid'}\n${USAGE}`);
}

const ctx = cliContext(fail);
// Where it writes, as reconcile says: the ledger in one, what admission reads in the other.
console.error(`topup: Postgres database "${databaseName(ctx)}", Redis prefix "${ctx.config.REDIS_PREFIX}"`);

let exitCode = 0;
try {
  const { entry, created } = await adminTopup(ctx, order.data);
  console.log(JSON.stringify({ ...entry, replayed: !created }, null, 2));
  if (!(await anyInstanceAlive(ctx)))
    console.error(
      `topup: note: no gateway process runs with REDIS_PREFIX=${ctx.config.REDIS_PREFIX} now. Fine if it is stopped; if it ` +
        'runs with another prefix, its admission does not see this credit: run `npm run reconcile -- --fix` with its environment.',
    );
} catch (err) {
  exitCode = 1;
  const why = err instanceof Error ? err.message : String(err);
  // The order refused (a bad field, a reference used for another top-up): nothing was credited.
  const refused = err instanceof ApiError && err.type !== 'service_unavailable';
  // Otherwise it may have committed, then met Redis out of reach (the credit's second half): the
  // ledger has it, and only a resend of the same reference finishes it; a rerun without it would
  // credit the account twice.
  const entry =
    !refused && reference ? await findEntryByRef(ctx.sql, 'topup', reference).catch(() => null) : null;
  if (entry) {
    console.error(
      `topup: credited in the ledger (entry ${entry.id}), but not yet where admission sees it: ${why}\n` +
        `Run it again with --reference ${reference} once Redis answers: that finishes this credit and adds no second one.`,
    );
  } else if (err instanceof ApiError) {
    const param = typeof err.extra.param === 'string' ? FLAG_OF[err.extra.param] : undefined;
    console.error(`topup: ${param ? `${param}: ` : ''}${err.message}`);
  } else {
    console.error(`topup: ${describeFailure(ctx, err)}`);
  }
} finally {
  await closeContext(ctx);
}
process.exit(exitCode);
