#!/usr/bin/env node
// Entry point: runs the TypeScript sources directly through tsx's CommonJS hook.
require('tsx/cjs');
require('../src/cli.ts').main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`dropline: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
