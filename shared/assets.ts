import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project root: the nearest folder above this module with a package.json. From source
 * (shared/assets.ts) and from the start bundle (dist/start.mjs, see scripts/build.mjs) alike.
 */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

const root = findRoot();

/**
 * A file or folder that ships beside the code (Lua scripts, SQL migrations, the dashboard), by its
 * path from the project root: modules cannot find them next to themselves once bundled.
 */
export function assetPath(fromRoot: string): string {
  return join(root, fromRoot);
}
