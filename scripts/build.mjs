// `npm start` runs the gateway from one bundle, dist/start.mjs, built here from scripts/start.ts:
// plain `node` then runs it without tsx's loader thread (about 40 MB of RSS per process) or any
// TypeScript work at start-up. Packages stay in node_modules; assets (Lua, SQL, the dashboard) are
// read from the project tree (shared/assets.ts). Plain JavaScript so it runs before anything is built.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { assetDigest } from './asset-digest.mjs';

const { outputFiles } = await build({
  entryPoints: ['scripts/start.ts'],
  outfile: 'dist/start.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // Readable stack traces: names kept, nothing minified; a source map for whoever wants one
  // (`node --enable-source-maps`), off by default because mapping every stack costs CPU.
  sourcemap: 'linked',
  logLevel: 'warning',
  // The assets it was built beside, checked at start (scripts/start.ts).
  define: { 'process.env.GATEWAY_BUILT_ASSETS': JSON.stringify(assetDigest(process.cwd())) },
  write: false,
});

// Each file is written beside its place and renamed over it: roles started at once (`start:api`
// and `start:workers` in two terminals) each build, and none may run a half-written bundle.
mkdirSync('dist', { recursive: true });
for (const file of outputFiles) {
  const tmp = `${file.path}.${process.pid}.tmp`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, file.path);
}
