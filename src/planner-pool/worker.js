'use strict';
// A planner worker thread (piscina). The planner is TypeScript, run as the service runs it: through
// tsx's CommonJS hook (bin/dropline.js). A worker thread starts with a module system of its own, so
// it registers the hook itself, under `node bin/dropline.js` and under jest alike.
require('tsx/cjs');
module.exports = require('./task.ts').default;
