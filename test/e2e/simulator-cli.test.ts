import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

describe('npm run simulator', () => {
  it('stops on a bad setting with one line naming it, not a stack', async () => {
    const failed = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/simulator.ts'], {
      env: { ...process.env, SIM_AUTH: 'bearer', SIM_BEARER_TOKEN: '', SIM_PORT: '0' },
      timeout: 30_000,
    }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toBe(
      'Invalid simulator configuration:\n  SIM_BEARER_TOKEN: required when SIM_AUTH=bearer\n',
    );
  }, 40_000);
});
