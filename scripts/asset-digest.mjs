// A digest of the files the gateway reads from the project tree at run time (shared/assets.ts):
// Lua scripts, SQL migrations, the dashboard. The build stamps it into dist/start.mjs and the
// bundle checks it at start (scripts/start.ts): a bundle left from before a `git pull` would
// otherwise run its old code against new Lua scripts, whose arguments it no longer passes right.
// Plain JavaScript, as scripts/build.mjs runs before anything is built.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The folders (from the project root) whose files ship beside the bundle. */
export const ASSET_DIRS = ['shared/redis/scripts', 'shared/db/migrations', 'api/dashboard'];

/** SHA-256 over every asset file's path and contents, in a fixed order (hex). */
export function assetDigest(root) {
  const hash = createHash('sha256');
  for (const dir of ASSET_DIRS) {
    const files = readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath ?? e.path, e.name).slice(root.length + 1))
      .sort();
    for (const file of files)
      hash
        .update(`${file}\0`)
        .update(readFileSync(join(root, file)))
        .update('\0');
  }
  return hash.digest('hex');
}
