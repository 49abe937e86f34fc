import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPostgresConnectionLoss } from '../../shared/db/connection-loss.js';

const MODULE = resolve('shared/db/connection-loss.ts');

/** A process that installs the handler, then leaves `reason` rejected with no one holding it. */
function orphanRejection(reason: string): { status: number | null; stdout: string } {
  const code = `
    const { surviveLostPostgresConnections } = await import(${JSON.stringify(MODULE)});
    surviveLostPostgresConnections({ warn: (o, m) => console.log('warned:', m) });
    Promise.reject(${reason});
    setTimeout(() => console.log('alive'), 100);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout };
}

describe('a Postgres connection lost as it opens (postgres.js loading its types, unawaited)', () => {
  it('is survived: logged, and the process goes on', () => {
    const r = orphanRejection(
      `Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })`,
    );
    expect(r.stdout).toContain('warned: a Postgres connection was lost as it opened; it reconnects');
    expect(r.stdout).toContain('alive');
    expect(r.status).toBe(0);
  });

  it('leaves any other unhandled rejection ending the process, as Node would', () => {
    const r = orphanRejection(`new Error('a bug')`);
    expect(r.stdout).not.toContain('alive');
    expect(r.status).not.toBe(0);
  });

  it('tells a lost connection from a query’s own failure', () => {
    for (const code of ['57P01', '57P02', '57P03', '08006', 'CONNECTION_CLOSED', 'ECONNRESET'])
      expect([code, isPostgresConnectionLoss({ code })]).toEqual([code, true]);
    for (const err of [{ code: '23505' }, { code: '42P01' }, new Error('x'), null, 'text'])
      expect(isPostgresConnectionLoss(err)).toBe(false);
  });
});
