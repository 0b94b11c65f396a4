#!/usr/bin/env node
// Runs every bench/*.bench.ts (or those named on the command line), prints a table and writes
// bench/results.json. Each module measures its figure and its baseline in the same run.
require('tsx/cjs');
const fs = require('fs');
const path = require('path');

async function main() {
  const dir = path.join(__dirname, '..', 'bench');
  const only = process.argv.slice(2);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).filter((f) => only.length === 0 || only.some((o) => f.includes(o))).sort();
  const all = [];
  for (const f of files) {
    process.stderr.write(`bench: ${f}\n`);
    try {
      const mod = require(path.join(dir, f));
      const recs = await mod.run();
      all.push(...recs);
    } catch (e) {
      process.stderr.write(`bench: ${f} failed: ${e && e.stack ? e.stack : e}\n`);
      process.exitCode = 1;
    }
  }
  const rows = all.map((r) => [r.name, fmt(r.value), r.unit, fmt(r.baseline), fmt(r.ratio) + '×', r.baselineName || '']);
  const head = ['figure', 'value', 'unit', 'baseline', 'ratio', 'baseline is'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, records: all }, null, 2));
  console.log(`\nwrote bench/results.json (${all.length} figures)`);
  process.exit(process.exitCode || 0);
}
function fmt(n) {
  if (typeof n !== 'number' || !isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3);
}
main();
