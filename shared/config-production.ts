import type { Config } from './config.js';
import { ConfigError } from './config-errors.js';

/**
 * What NODE_ENV=production adds to the schema's rules: refusals for settings that would bite a
 * live gateway, warnings for those an operator may mean. (JWT_SECRET's presence is loadConfig's.)
 */
export function checkForProduction(
  cfg: Pick<Config, 'ADMIN_TOKEN' | 'METRICS_TOKEN' | 'WEBHOOK_ALLOW_PRIVATE_NETWORKS'> & {
    JWT_SECRET?: string;
  },
  warn: (msg: string) => void,
): void {
  // A secret of a few repeated characters ("aaaa…") passes the length rules and guards nothing.
  const weak = (['JWT_SECRET', 'ADMIN_TOKEN', 'METRICS_TOKEN'] as const).filter(
    (name) => cfg[name] !== undefined && new Set(cfg[name]).size < 8,
  );
  if (weak.length)
    throw new ConfigError(
      `Invalid configuration:\n${weak.map((n) => `  ${n}: too guessable for production (under 8 different characters); use openssl rand -hex 32`).join('\n')}`,
    );
  if (cfg.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    warn(
      'WEBHOOK_ALLOW_PRIVATE_NETWORKS is true: any account can make the gateway call addresses inside your network (webhooks); meant for development.',
    );
  if (!cfg.METRICS_TOKEN)
    warn(
      'METRICS_TOKEN is not set: /metrics answers anyone who reaches the api port (it names the upstream nodes and shows traffic); set it, or keep that port private.',
    );
}
