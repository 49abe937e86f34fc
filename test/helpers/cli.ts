import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `npm run <script> -- …` without npm: `scripts/<file>` under tsx with only `env` (and PATH) set, so
 * the command sees exactly the database, Redis and settings the test gives it. Never rejects: a
 * failed command is its exit code and output.
 */
export async function runCli(
  file: string,
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 20_000,
): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run('node', ['--import', 'tsx', `scripts/${file}`, ...args], {
      env: { PATH: process.env.PATH, ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}
