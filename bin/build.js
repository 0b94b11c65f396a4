#!/usr/bin/env node
/**
 * Builds Dropline to JavaScript so nothing is transpiled at run time:
 * - dist/cli.js: the `dropline` command and the service (src/cli.ts and everything it reaches);
 * - dist/plan.js: `dropline plan` on its own (planner/cli.ts);
 * - dist/planner-worker.js: the planner's worker-thread entry (src/planner-pool/task.ts);
 * - web/dist/: the console (web/build.js).
 * npm packages stay external (required from node_modules at run time). Runs on `npm install`
 * (prepare), before `npm start` and before the tests. DROPLINE_BUILD_SERVER_ONLY=1 skips the console.
 */
'use strict';
const path = require('path');
const fs = require('fs');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');

async function main() {
  const t0 = Date.now();
  const outdir = path.join(root, 'dist');
  fs.mkdirSync(outdir, { recursive: true });
  const common = { outdir, bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: 'linked', logLevel: 'warning', legalComments: 'none' };
  await Promise.all([
    // The service: npm packages (native addons among them) are required from node_modules.
    esbuild.build({ ...common, entryPoints: { cli: path.join(root, 'src', 'cli.ts') }, packages: 'external' }),
    // The planner alone (`dropline plan`, the planner's worker threads): pure JavaScript packages are
    // bundled in, so only the Turf functions it uses are loaded (all of @turf/turf costs ~80 ms).
    esbuild.build({
      ...common,
      entryPoints: { plan: path.join(root, 'planner', 'cli.ts'), 'planner-worker': path.join(root, 'src', 'planner-pool', 'task.ts') },
      mainFields: ['module', 'main'],
    }),
  ]);
  process.stderr.write(`dropline: built dist/ in ${Date.now() - t0} ms\n`);
  if (process.env.DROPLINE_BUILD_SERVER_ONLY !== '1') require(path.join(root, 'web', 'build.js'));
}

main().catch((e) => {
  process.stderr.write(`build failed: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
