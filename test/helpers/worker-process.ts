import { type ChildProcess, spawn } from 'node:child_process';
import type { TestEnv } from './context.js';

/**
 * A real workers process (`scripts/start.ts --roles workers`) on the test's database and Redis
 * prefix, so a test can SIGKILL it mid-job the way a crash would.
 */
export function spawnWorkerProcess(
  env: TestEnv,
  nodes: string[],
  extra: Record<string, string> = {},
): ChildProcess {
  return spawnRoleProcess(env, 'workers', nodes, extra);
}

/** A real process of one role (`scripts/start.ts --roles <role>`) on the test's database and Redis prefix. */
export function spawnRoleProcess(
  env: TestEnv,
  role: 'api' | 'workers',
  nodes: string[],
  extra: Record<string, string> = {},
): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--roles', role], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: env.config.REDIS_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      JWT_SECRET: env.config.JWT_SECRET,
      GONKA_NODES: nodes.join(','),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...extra,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

/** Once the child has exited (at once if it has), with no signal sent: a second SIGTERM would stop it undrained. */
export async function processExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((r) => child.once('exit', () => r()));
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  await exited;
}
