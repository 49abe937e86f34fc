import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** A compose service as these tests read it (merge keys applied, as Docker Compose does). */
export interface ComposeService {
  restart?: string;
  cpu_shares?: number;
  env_file?: { path: string; required?: boolean }[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: unknown;
}

/** The services of the repository's docker-compose.yml. */
export function composeServices(): Record<string, ComposeService> {
  return parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }).services;
}
