import type { Logger } from '../logger.js';

/** postgres.js's own connection failures, by `code`. */
const CLIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // Not answered within DATABASE_QUERY_TIMEOUT_MS (a silent network), or its cancel unanswered.
  'QUERY_TIMEOUT',
  'QUEUE_TIMEOUT',
  'CANCEL_UNANSWERED',
]);

/** The server's: its connection was ended (57P01 admin, 57P02 crash, 57P03 starting up). */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03']);

/**
 * Postgres out of reach or the connection lost under the query: a failure to retry, not the
 * query's own (SQLSTATE class 08 is "connection exception").
 */
export function isPostgresConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (CLIENT_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08'))
  );
}

/**
 * postgres.js loads the server's array types on every new connection without awaiting it: a
 * connection killed during that load (Postgres restarting, pg_terminate_backend) rejects a promise
 * no one holds, and Node ends the process for an unhandled rejection (a whole gateway down, and
 * the answers it had served unbilled). The connection reconnects by itself, its waiting query
 * runs then, and the types load again, so that rejection is logged and survived; any other
 * still ends the process, as Node would.
 */
export function surviveLostPostgresConnections(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    if (isPostgresConnectionLoss(reason)) {
      logger.warn({ err: reason }, 'a Postgres connection was lost as it opened; it reconnects');
      return;
    }
    throw reason;
  });
}
