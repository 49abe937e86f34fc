import { closeContext } from '../shared/context.js';
import { createQueues } from '../shared/queues.js';
import { formatReport, runReconcile } from '../shared/reconcile/index.js';
import { saveReconcileSummary } from '../shared/reconcile/summary.js';
import { cliArgs, cliContext, databaseName, describeFailure } from './cli-context.js';

/**
 * `npm run reconcile [-- --fix] [--json]`: prove the money adds up (DESIGN.md invariant 5). Prints
 * the report; exits 0 when there is no drift, 1 when there is, 2 when it could not run. With --fix,
 * Redis is rebuilt from Postgres where it differs (and eagerly for keys in use this month), the
 * admissions of holds an api or the workers never wrote are given back once nothing can settle them
 * (shared/reconcile/release-orphans.ts), then everything is checked again and the exit code is that
 * second check's.
 *
 * --fix is safe with live traffic as far as Redis allows: each account is compared and repaired in
 * one WATCHed transaction, so any request that touches the account's keys in between makes the
 * repair fail and the account is read again; see shared/reconcile/watched.ts for the timing it
 * relies on (RECONCILE_INFLIGHT_MS) and what it cannot see.
 *
 * On a large database the run takes a while: how many accounts it has checked so far goes to stderr
 * every --progress-seconds (5), so stdout stays the report (and --json stays parseable).
 */
const USAGE = 'usage: npm run reconcile -- [--fix] [--json] [--progress-seconds N]';

/** A usage or configuration error: exit 2 (1 is the report's DRIFT). */
function usageError(message: string): never {
  console.error(`reconcile: ${message}`);
  process.exit(2);
}

const args = cliArgs(
  {
    fix: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'progress-seconds': { type: 'string', default: '5' },
  },
  USAGE,
  usageError,
);
const progressMs = Number(args['progress-seconds']) * 1000;
if (!(progressMs >= 0)) usageError(`--progress-seconds takes a number of seconds (0 or more)\n${USAGE}`);

const ctx = cliContext(usageError);

const queues = createQueues(ctx);
// A queue whose connection is still settling when it is closed emits 'error'; without a listener
// that would crash the process after the report was printed.
queues.get('inference').on('error', (err) => ctx.logger.debug({ err }, 'inference queue connection'));
let exitCode = 2;
try {
  const print = (r: Awaited<ReturnType<typeof runReconcile>>, fixed: boolean) =>
    console.log(args.json ? JSON.stringify(r, null, 2) : formatReport(r, { fixed }));
  // What it compares, named: a wrong REDIS_PREFIX or DATABASE_URL reads as a clean (or an empty)
  // Redis, and --fix would write admission state where no gateway reads it.
  if (!args.json)
    console.log(
      `reconcile: Postgres database "${databaseName(ctx)}" against Redis prefix "${ctx.config.REDIS_PREFIX}"`,
    );
  let report = await runReconcile(ctx, { queues, fix: args.fix, onProgress: progress() });
  print(report, args.fix);
  if (args.fix) {
    report = await runReconcile(ctx, { queues, onProgress: progress() });
    if (!args.json) console.log('\nafter --fix:');
    print(report, false);
  }
  await saveReconcileSummary(ctx, report);
  // An account too busy to look at consistently is not proven clean (nor repaired, with --fix).
  exitCode = report.ok && report.unchecked.length === 0 ? 0 : 1;
} catch (err) {
  console.error(`reconcile: ${describeFailure(ctx, err)}`);
} finally {
  await queues.close();
  await closeContext(ctx);
}
process.exit(exitCode);

/** One run's progress on stderr, at most every --progress-seconds (none for a run quicker than that). */
function progress(): (checked: number, accounts: number) => void {
  let last = Date.now();
  return (checked, accounts) => {
    const now = Date.now();
    if (now - last < progressMs) return;
    last = now;
    console.error(`reconcile: ${checked} of ${accounts} accounts checked`);
  };
}
