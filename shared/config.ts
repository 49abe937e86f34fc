import { randomBytes } from 'node:crypto';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { ConfigError } from './config-errors.js';
import { cron, envBool, nonNegativeBigint, positiveInt } from './config-fields.js';
import { checkForProduction } from './config-production.js';
import { storeSettings } from './config-stores.js';
import { upstreamSettings } from './config-upstream.js';

/**
 * Every environment variable the gateway reads, in one schema (API.md "Configuration"): the Gonka
 * side's from config-upstream.ts, Postgres and Redis from config-stores.ts. A bad value stops
 * start-up with a message naming the variable; production's own rules are in config-production.ts.
 */
const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().default('0.0.0.0'),
    /**
     * Which proxies' X-Forwarded-For the api believes for the client address (Express's `trust proxy`:
     * a hop count, or addresses/subnets/`loopback`/`linklocal`/`uniquelocal`, comma-separated). The
     * login and registration throttles count per client address: behind a reverse proxy on another
     * host, name it here, or every client looks like the proxy.
     */
    TRUST_PROXY: z
      .string()
      .default('loopback')
      .transform((v) => {
        const t = v.trim().toLowerCase();
        if (t === 'true' || t === 'false') return t === 'true';
        return /^\d+$/.test(t) ? Number(t) : v;
      })
      .refine(
        (v) => {
          if (typeof v !== 'string') return true;
          try {
            proxyAddr.compile(v.split(',').map((s) => s.trim()));
            return true;
          } catch {
            return false;
          }
        },
        { message: 'must be true, false, a hop count, or addresses/subnets/loopback/linklocal/uniquelocal' },
      ),
    ...storeSettings,
    JWT_SECRET: z
      .string()
      .min(32, 'must be at least 32 characters')
      .refine((v) => !/change-?me/i.test(v), 'is a placeholder; set a random secret (openssl rand -hex 32)')
      .optional(),
    /** Session JWT lifetime in seconds. */
    JWT_TTL_SECONDS: positiveInt.default(24 * 3600),
    ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    ...upstreamSettings,
    /** How often node prices and the node list are refreshed. */
    PRICING_REFRESH_SECONDS: positiveInt.default(30),
    /** Per upstream attempt (for a stream: the wait for each chunk). */
    UPSTREAM_TIMEOUT_MS: positiveInt.default(60_000),
    /**
     * The longest a sync chat stream may run; it is then stopped and billed for what was generated.
     * Its hold lives HOLD_GRACE_SECONDS longer, so the stale-hold sweeper never voids a stream still running.
     */
    SYNC_STREAM_MAX_SECONDS: positiveInt.default(14 * 60),
    /** Nodes tried per request before giving up. */
    UPSTREAM_MAX_ATTEMPTS: positiveInt.default(3),
    /** Attempts per async job (node failures are retried with exponential backoff from INFERENCE_BACKOFF_MS). */
    INFERENCE_ATTEMPTS: positiveInt.default(5),
    INFERENCE_BACKOFF_MS: positiveInt.default(1000),
    /** A worker that dies mid-job loses it after this long and another worker runs it again. */
    INFERENCE_LOCK_MS: positiveInt.default(30_000),
    /**
     * The same for a settlement job (one transaction, so far shorter than a node call): the requests
     * of a workers process that died mid-settlement are settled by another within about twice this,
     * rather than after BullMQ's 30 s lock and 30 s check, a minute in which a Redis without
     * persistence that restarted would lose them (their holds then voided unbilled). A live worker
     * renews its lock every half of it, so a slow transaction is not taken from it.
     */
    SETTLEMENT_LOCK_MS: positiveInt.default(10_000),
    /**
     * A job shows `running` (and counts its attempt) once its node call has lasted this long; one
     * that finishes sooner goes from `queued` to its outcome in one write. Cancelling a job in that
     * window is the cancel of a queued job: its hold is voided and the result discarded.
     */
    INFERENCE_RUNNING_MARK_MS: positiveInt.default(100),
    /**
     * Node calls in flight per worker process. They wait on the network, not the CPU, and the more
     * run at once the more of their Postgres writes share a statement.
     */
    INFERENCE_CONCURRENCY: positiveInt.default(256),
    /**
     * Lines of one batch admitted and not yet finished at once (queued or running). A batch runs at
     * about this many lines per node latency (32 at 2 s a request: 16 lines/s, 50,000 lines in 52
     * min), and takes at most this many of the nodes' slots from sync chat and jobs.
     */
    BATCH_LINES_IN_FLIGHT: positiveInt.default(32),
    /**
     * How long a sync chat hold waits for others to share its insert (holdWriterFor). The answer does
     * not wait for the write, so this costs the client nothing; keep it well below
     * RECONCILE_INFLIGHT_MS, the gap reconciliation allows between a request's Redis step and its write.
     */
    SYNC_HOLD_WRITE_WAIT_MS: positiveInt.default(10),
    /**
     * How long a finished sync chat request waits for others to share its settlement job (the api's
     * hand-off to the settlement queue). Every job costs a queue round and, as a rule, a transaction
     * whatever its size, so at a modest rate a longer wait is much less work for Redis, the workers
     * and Postgres, all on the machine that serves the requests: at concurrency 1 (about 500 chat
     * requests/s) 250 ms instead of 50 ms cut Postgres CPU per request by a fifth to a third, and the
     * gateway's p50 by 0.1 ms or more. It is how late balances and usage show a finished request; a
     * group is also handed off as soon as 500 requests wait, and at shutdown.
     */
    SETTLEMENT_HANDOFF_WAIT_MS: positiveInt.default(250),
    /**
     * How long shutdown waits for Redis to take the hand-offs still in flight (accepted jobs,
     * finished requests' settlements). With Redis gone they would wait for ever and the process
     * would end by SIGKILL, mid-request; past this it goes on closing: a job not handed off is
     * queued again by the reconciliation check, and finished requests are settled in Postgres by
     * the process itself (given this wait again; what that misses the stale-hold sweeper voids).
     */
    SHUTDOWN_HANDOFF_WAIT_MS: positiveInt.default(10_000),
    /**
     * How long a stopping api lets its streams run (they may run SYNC_STREAM_MAX_SECONDS); those
     * still open then end with an error event and are billed for what was sent, so the process
     * exits before an orchestrator's kill (docker-compose gives the api 30 s) cuts them unbilled.
     */
    SHUTDOWN_STREAM_DRAIN_MS: positiveInt.default(15_000),
    /**
     * How long the settlement worker waits for other jobs (other processes' groups) to share its
     * transaction, and an async job's or batch line's hand-off for others to share its settlement job.
     * An inference worker's slot waits for its hand-off, so this wait bounds how fast a slot turns.
     */
    SETTLEMENT_GROUP_WAIT_MS: positiveInt.default(50),
    /** Simulator nodes started when GONKA_NODES is unset. */
    SIMULATOR_NODES: positiveInt.default(2),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: envBool.default(false),
    /**
     * Webhook endpoints an account may have (deleted ones do not count; disabled ones do until
     * deleted). Every event is delivered to each subscribed endpoint, so this bounds the deliveries
     * one event can make. POST /api/webhooks past it is a 400.
     */
    WEBHOOK_MAX_ENDPOINTS: positiveInt.default(16),
    /**
     * Days a delivery that ended (succeeded, failed, disabled) is kept, its payload and attempts
     * with it (the delivery logs show them), before the scheduler deletes it: a payload holds a
     * whole job answer, once per destination.
     */
    WEBHOOK_DELIVERY_RETENTION_DAYS: positiveInt.default(30),
    /**
     * Management keys an account may have that are not revoked, and child keys one management key
     * may have that are not deleted (400 past either). Keys cost nothing to make, even unfunded, and
     * each holds up to 16 KiB of metadata: these bound what one account can store.
     */
    MANAGEMENT_KEYS_MAX: positiveInt.default(100),
    CHILD_KEYS_MAX: positiveInt.default(100_000),
    /** Webhook attempts in flight per workers process (mostly waiting on receivers). */
    WEBHOOK_CONCURRENCY: positiveInt.default(64),
    /**
     * Of those, at most this many for one account: receivers that never answer (each attempt waits
     * its 10 s timeout) delay that account's own deliveries, not every other account's.
     */
    WEBHOOK_ACCOUNT_CONCURRENCY: positiveInt.default(8),
    /** Gateway markup over the node price, in basis points (12000 = ×1.2). */
    PRICE_MARKUP_BPS: z.coerce
      .number()
      .int()
      .min(10_000, 'must be at least 10000 (no markup): we never sell below cost')
      .default(12000),
    /** nGNK credited per 1 USDT on admin top-ups made in USDT. */
    USDT_RATE_NGONKA: nonNegativeBigint.default(2_000_000_000n),
    /**
     * max_tokens of a request that sets none: its hold is sized for it and the node is asked for at
     * most this many (so the cost can never pass the hold). 5000 is Gonka's own default
     * (calculations.DefaultMaxTokens: what the network escrows for such a request), so a client
     * gets as long an answer as the network itself would give it; a lower figure cut answers short.
     */
    DEFAULT_MAX_TOKENS: positiveInt.default(5000),
    REFERRAL_L1_BPS: z.coerce.number().int().min(0).max(10000).default(1000),
    REFERRAL_L2_BPS: z.coerce.number().int().min(0).max(10000).default(300),
    /** Failed logins allowed per email+IP in LOGIN_THROTTLE_WINDOW_SECONDS. */
    LOGIN_MAX_ATTEMPTS: positiveInt.default(10),
    LOGIN_THROTTLE_WINDOW_SECONDS: positiveInt.default(900),
    /** Failed logins allowed per IP, whatever the emails, in LOGIN_THROTTLE_WINDOW_SECONDS. */
    LOGIN_MAX_FAILURES_PER_IP: positiveInt.default(100),
    /**
     * Requests with a wrong admin token (admin routes, /admin/queues) allowed per IP in
     * LOGIN_THROTTLE_WINDOW_SECONDS; a 429 after.
     */
    ADMIN_MAX_FAILURES_PER_IP: positiveInt.default(20),
    /** Registrations allowed per IP in REGISTER_THROTTLE_WINDOW_SECONDS. */
    REGISTER_MAX_PER_IP: positiveInt.default(20),
    REGISTER_THROTTLE_WINDOW_SECONDS: positiveInt.default(3600),
    /** The name a child key's clients see in errors and model owners (white-label). */
    BRAND_NAME: z.string().min(1).default('Gateway'),

    // Scheduler (node-cron expressions, UTC; six fields = with seconds). Every task is idempotent and
    // catches up on whatever it missed, so the schedule only sets how soon things happen.
    /** Keys past expires_at → expired + key.expired (admission already refuses them at the instant). */
    SCHEDULER_EXPIRE_CRON: cron.default('*/15 * * * * *'),
    /** Close past UTC days and months, prune their Redis counters. */
    SCHEDULER_ROLLOVER_CRON: cron.default('*/5 * * * *'),
    /** key.limit_threshold at 80% / 100% of a daily or monthly limit. */
    SCHEDULER_LIMIT_ALERTS_CRON: cron.default('*/30 * * * * *'),
    /** Void holds past their deadline or whose job ended; fail their jobs visibly. */
    SCHEDULER_STALE_HOLDS_CRON: cron.default('* * * * *'),
    /**
     * Re-queue webhook deliveries whose queue job was lost, and emit the job and batch events whose
     * process ended before emitting them (they are recorded with the end they report).
     */
    SCHEDULER_WEBHOOK_RESUME_CRON: cron.default('* * * * *'),
    /**
     * Redis↔Postgres reconciliation check: report and drift metric, and the repairs that are safe
     * under live traffic (lost inference messages and batch wake-ups, hold records, settlements
     * whose Redis step was cut off, orphaned reservations): scheduler/tasks/reconcile-check.ts.
     */
    SCHEDULER_RECONCILE_CRON: cron.default('*/10 * * * *'),
    /** Delete webhook deliveries past WEBHOOK_DELIVERY_RETENTION_DAYS (once a day). */
    SCHEDULER_PRUNE_CRON: cron.default('17 3 * * *'),
    /** Node prices and participants of this process's upstream (runs on every replica, not just the leader). */
    SCHEDULER_REFRESH_CRON: cron.default('*/30 * * * * *'),
    /** Leader lock lifetime; the leader renews it every third of this. */
    SCHEDULER_LOCK_TTL_MS: positiveInt.default(30_000),
    /**
     * How long an open hold may outlive the end of its job before it counts as stale: the settlement
     * queue normally resolves it within seconds. A hold past its deadline is stale at once (a sync
     * chat's deadline already includes this grace: SYNC_STREAM_MAX_SECONDS + this).
     */
    HOLD_GRACE_SECONDS: positiveInt.default(300),
    /**
     * A UTC day or month is closed only this long after it ended. A sync chat request admitted just
     * before midnight settles into its day up to SYNC_STREAM_MAX_SECONDS + HOLD_GRACE_SECONDS later,
     * and when its hold's write failed at admission, Postgres has no open hold to keep the day open
     * meanwhile (settlement writes it): the grace must cover that (checked below), plus clock skew
     * between processes. (A settlement held up longer, by workers down or a settlement backlog, can
     * still land in a closed day; reconciliation's closed_periods check reports it.)
     * @default 1440 (840 + 300 + 300 of skew)
     */
    ROLLOVER_GRACE_SECONDS: z.coerce.number().int().min(0).default(1440),
    /**
     * How far apart the Redis step and the Postgres write of one request may be (an admission's Lua
     * call and its hold insert, a settlement's commit and its release). Reconciliation waits this long
     * around its Postgres read so a request in flight is never mistaken for drift or overwritten.
     */
    RECONCILE_INFLIGHT_MS: z.coerce.number().int().min(0).default(100),
    /**
     * How far V8 lets the old generation grow past what the last full collection kept, in percent,
     * before it collects again (0 = V8's own factor, up to 4×). Under load most of what a request
     * allocates is garbage within milliseconds, yet enough reaches the old generation that, left to
     * V8, the api swelled from ~35 MB of live heap to ~135 MB between full collections: 245–260 MB
     * RSS at 2,000 chat requests/s. At 100 (2×) it peaked at ~170 MB, with the same CPU per request
     * within this machine's noise (three interleaved pairs).
     */
    V8_HEAP_GROWING_PERCENT: z.coerce.number().int().min(0).max(1000).default(100),
    /**
     * The niceness (0–19) a process without the api role takes at start (`--roles workers`,
     * `--roles scheduler`): where the workers share a machine with the api, as docker-compose runs
     * them, a backlog of jobs and settlements would otherwise take CPU from the requests the api is
     * answering. Background work still has all the CPU the api leaves idle. 0 leaves it as started.
     */
    BACKGROUND_NICE: z.coerce.number().int().min(0).max(19).default(10),
    /**
     * How long a client may take to send a whole request, headers to last byte (Node's
     * `requestTimeout`; a 408 after it). An upload of BATCH_FILE_MAX_BYTES must arrive within it,
     * its wait for a receiving turn (UPLOADS_RECEIVING, UPLOADS_PER_ACCOUNT) included: at the default 5 minutes a 200 MiB file needs
     * about 6 Mbit/s. Raise it for customers who upload big files over slow links.
     */
    REQUEST_TIMEOUT_MS: positiveInt.default(300_000),
    /**
     * How long the api keeps an idle client connection open for its next request. Node's 5 s is
     * shorter than what load balancers and HTTP clients keep theirs (an AWS ALB 60 s, nginx's
     * upstream keepalive 60 s, httpx 5 s): one that reuses a connection just as the api closes it
     * gets a reset (a 502 at the balancer), intermittently and without the api logging a thing.
     * The side that keeps a connection longer must be the server, so 65 s.
     */
    KEEP_ALIVE_TIMEOUT_MS: positiveInt.default(65_000),
    /**
     * Batch input uploads an api process checks and stores at once, once received; the rest wait
     * their turn with their file spooled. Each holds a Postgres connection (and a chunk, 256 KiB)
     * while it is checked and stored chunk by chunk.
     */
    UPLOADS_IN_FLIGHT: positiveInt.default(2),
    /**
     * Batch input uploads an api process receives at once, each spooling up to BATCH_FILE_MAX_BYTES
     * to a temporary file (so this bounds the disk uploads take); the rest wait, their bodies unread.
     */
    UPLOADS_RECEIVING: positiveInt.default(16),
    /**
     * Of those, how many one account may have (its others wait behind them, taking none of the
     * process's turns): a client sending slowly holds its turn as long as it takes, and must not
     * hold every account's.
     */
    UPLOADS_PER_ACCOUNT: positiveInt.default(2),
    /**
     * Largest batch input file, in bytes (413 above it): 200 MiB, OpenAI's limit, so its batch files
     * fit as they are. Files are kept in Postgres in chunks (no process holds one whole), so this
     * bounds storage and upload time, not memory.
     */
    BATCH_FILE_MAX_BYTES: positiveInt.default(200 * 1024 * 1024),
    /**
     * Bytes of batch input files one account may keep stored (deleted files do not count, nor the
     * output and error files its batches produce). Uploads cost nothing, and every file lives in
     * Postgres: without a bound, one child key could fill its disk. An upload past it is a 400;
     * deleting files makes room. @default 10 GiB (fifty files of BATCH_FILE_MAX_BYTES)
     */
    FILES_MAX_BYTES_PER_ACCOUNT: positiveInt.default(10 * 1024 * 1024 * 1024),
    /**
     * When set, /metrics (on the api, and on METRICS_PORT) answers only `Authorization: Bearer
     * <METRICS_TOKEN>` (Prometheus: `authorization: {credentials: …}`); a 401 otherwise. Unset, it
     * is open to whoever reaches the port: it names the upstream nodes and shows traffic and
     * refusals, so set it wherever the api's port is public.
     */
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Serve /metrics on this port in processes without the api role (workers, scheduler). */
    METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  })
  // Referrers are paid from the margin (price × markup − price): it must cover them, or each
  // referred charge would take the gateway's revenue below zero.
  .refine(
    (c) =>
      (c.PRICE_MARKUP_BPS - 10_000) * 10_000 >= (c.REFERRAL_L1_BPS + c.REFERRAL_L2_BPS) * c.PRICE_MARKUP_BPS,
    {
      message:
        'must leave a margin that covers REFERRAL_L1_BPS + REFERRAL_L2_BPS (at least 10000 / (1 − their sum / 10000))',
      path: ['PRICE_MARKUP_BPS'],
    },
  )
  // A period closed before a sync request admitted in it is settled gets usage after closing
  // (reconciliation's closed_periods drift).
  .refine((c) => c.ROLLOVER_GRACE_SECONDS >= c.SYNC_STREAM_MAX_SECONDS + c.HOLD_GRACE_SECONDS, {
    message:
      'must be at least SYNC_STREAM_MAX_SECONDS + HOLD_GRACE_SECONDS, the longest a sync request admitted before midnight may take to settle into its day',
    path: ['ROLLOVER_GRACE_SECONDS'],
  });

export type Config = z.infer<typeof configSchema> & {
  JWT_SECRET: string;
  /**
   * JWT_SECRET was not set: the api signs sessions with its database's own secret (migration 036),
   * read at start (scripts/start.ts); until then, and in a process that reads no database, a random one.
   */
  JWT_SECRET_FROM_DATABASE: boolean;
};

export { ConfigError };

/**
 * Parse the environment. Throws ConfigError naming each bad variable.
 * `warn` receives notices such as a generated development JWT secret.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  warn: (msg: string) => void = (m) => console.warn(m),
  /**
   * Whether this process signs and reads sessions (the api). One that does not (workers, the
   * scheduler, the CLIs) needs no JWT_SECRET, in production either.
   */
  opts: { sessions?: boolean } = {},
): Config {
  // Empty strings mean "unset" the way shells and compose files produce them; so does a stray blank
  // (`PORT= ` in a .env), which a number would otherwise read as 0.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''),
  );
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const cfg = parsed.data;
  let jwtSecret = cfg.JWT_SECRET;
  if (!jwtSecret) {
    if (cfg.NODE_ENV === 'production' && opts.sessions !== false)
      throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required in production');
    jwtSecret = randomBytes(32).toString('hex');
    warn(
      'JWT_SECRET is not set: sessions are signed with a secret made once and kept in the database (every api of this database accepts them, across restarts, and so can whoever reads the database); set JWT_SECRET in production.',
    );
  }
  if (cfg.NODE_ENV === 'production') checkForProduction(cfg, warn);
  return { ...cfg, JWT_SECRET: jwtSecret, JWT_SECRET_FROM_DATABASE: !cfg.JWT_SECRET };
}
