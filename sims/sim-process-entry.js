'use strict';
// A built-in simulator's own process, run from the TypeScript sources (tests, `tsx`): registers
// tsx's CommonJS hook, then sims/sim-process.ts. The compiled service runs `dropline sim-process`.
require('tsx/cjs');
require('./sim-process.ts')
  .simProcessMain()
  .catch((e) => {
    process.stderr.write(`sim-process: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
