import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSET_DIRS } from '../../scripts/asset-digest.mjs';

const run = promisify(execFile);
const repo = process.cwd();
let tree: string;

/** Start the bundle in `tree` with a role that does not exist: past the asset check, it says so. */
async function start(): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, ['dist/start.mjs', '--roles', 'nope'], { cwd: tree });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

// A checkout with its bundle built, as `npm run build` leaves it; then the tree changes under it.
beforeAll(async () => {
  await run(process.execPath, ['scripts/build.mjs'], { cwd: repo });
  tree = mkdtempSync(join(tmpdir(), 'gw-bundle-'));
  cpSync(join(repo, 'package.json'), join(tree, 'package.json'));
  mkdirSync(join(tree, 'dist'));
  cpSync(join(repo, 'dist/start.mjs'), join(tree, 'dist/start.mjs'));
  for (const dir of ASSET_DIRS) cpSync(join(repo, dir), join(tree, dir), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'));
}, 60_000);
afterAll(() => {
  if (tree) rmSync(tree, { recursive: true, force: true });
});

describe('dist/start.mjs', () => {
  it('refuses to start beside Lua scripts other than those it was built with, saying to rebuild', async () => {
    const fresh = await start();
    expect(fresh.code).toBe(1);
    expect(fresh.stderr).toContain('unknown role "nope"'); // the check passed
    // A pull brings new Lua; the bundle is not rebuilt.
    appendFileSync(join(tree, 'shared/redis/scripts/admit-9.lua'), '\n-- changed\n');
    const stale = await start();
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('Run `npm run build`');
    expect(stale.stderr).not.toContain('unknown role');
  });
});
