#!/usr/bin/env node
// Entry point: runs the compiled bundle (dist/cli.js, built by `npm run build`, which `npm install`,
// `npm start` and `npm test` run). No transpiler is loaded at run time.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const bundle = path.join(root, 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('dropline: not built yet: run `npm run build` (npm install does it)\n');
  process.exit(1);
}
warnIfStale();
const argv = process.argv.slice(2);
const run =
  argv[0] === 'plan'
    ? // Offline planning loads the planner alone (dist/plan.js), not the service.
      require(path.join(root, 'dist', 'plan.js'))
        .runPlanCli(argv.slice(1))
        .then((code) => {
          process.exitCode = code;
        })
    : require(bundle).main(argv);
run.catch((err) => {
  process.stderr.write(`dropline: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});

/** A bundle older than the sources it was built from runs old code: say so (cheap: a few stat calls). */
function warnIfStale() {
  const built = fs.statSync(bundle).mtimeMs;
  const newer = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return null;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === 'fixtures' || e.name === 'node_modules') continue;
        const n = newer(p);
        if (n) return n;
      } else if (e.name.endsWith('.ts') && fs.statSync(p).mtimeMs > built) return p;
    }
    return null;
  };
  for (const d of ['src', 'planner', 'telemetry', 'sims']) {
    const n = newer(path.join(root, d));
    if (n) {
      process.stderr.write(`dropline: warning: ${path.relative(root, n)} is newer than dist/: run \`npm run build\`\n`);
      return;
    }
  }
}
