/**
 * Start-up of the compiled build against running the TypeScript sources through tsx (what
 * bin/dropline.js did before the build), in the same run:
 *  - `dropline plan` on the demo zones, cold: process start to the plan on stdout;
 *  - the service on its demo defaults (built-in simulators off, SQLite in a fresh directory):
 *    process start to the first 200 from /api/health.
 * The tsx baseline runs with tsx's transpile cache emptied first, as on a first start.
 */
import { spawn, spawnSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { performance } from 'perf_hooks';
import type { BenchRecord } from './types';

const ROOT = path.join(__dirname, '..');
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
const PLAN_ARGS = ['plan', path.join(ROOT, 'sims', 'scenarios', 'fugou.zones.geojson'), '--launch', 'Chengguan police station', '--drop', '114.401,34.0665'];
const TSX_MAIN = "require('./src/cli.ts').main(process.argv.slice(1))";

function tsxCacheDirs(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((d) => /^tsx-/.test(d)).map((d) => path.join(os.tmpdir(), d));
}
function clearTsxCache(): void {
  for (const d of tsxCacheDirs()) fs.rmSync(d, { recursive: true, force: true });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timePlan(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0 || !JSON.parse(r.stdout).ok) throw new Error(`plan failed: ${r.stderr}`);
  return ms;
}

async function timeServiceStart(args: string[]): Promise<number> {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-startbench-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const t0 = performance.now();
  const child = spawn(process.execPath, [...args, '--port', String(port), '--sims', '0', '--data', data, '--log-level', 'warn'], { cwd: ROOT, stdio: 'ignore' });
  // A request whose connection the starting service has accepted but not answered yet holds no
  // reference on the event loop: keep one, or node may exit in the middle of the wait.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(5000) });
        if (r.status === 200) return performance.now() - t0;
      } catch {
        /* not listening yet */
      }
      if (performance.now() - t0 > 30_000) throw new Error('service did not become healthy in 30 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    clearInterval(keepAlive);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(data, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchRecord[]> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/ is not built: npm run build');
  const planCompiled: number[] = [];
  const planTsx: number[] = [];
  const svcCompiled: number[] = [];
  const svcTsx: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    planCompiled.push(timePlan([path.join(ROOT, 'bin', 'dropline.js'), ...PLAN_ARGS]));
    clearTsxCache();
    planTsx.push(timePlan(['--require', 'tsx/cjs', '-e', TSX_MAIN, '--', ...PLAN_ARGS]));
    svcCompiled.push(await timeServiceStart([path.join(ROOT, 'bin', 'dropline.js')]));
    clearTsxCache();
    svcTsx.push(await timeServiceStart(['--require', 'tsx/cjs', '-e', TSX_MAIN, '--']));
  }
  const rec = (name: string, v: number, b: number, baselineName: string, note: string): BenchRecord => ({ name, value: v, unit: 'ms', baseline: b, ratio: v / b, baselineName, note });
  return [
    rec('startup.cli.plan', median(planCompiled), median(planTsx), 'tsx, transpile cache emptied', `dropline plan on the demo zones, process start to JSON on stdout, median of ${RUNS}; goal ≤ 500 ms`),
    rec('startup.service.healthy', median(svcCompiled), median(svcTsx), 'tsx, transpile cache emptied', `process start to 200 from /api/health (SQLite, no simulators, fresh data dir), median of ${RUNS}; goal ≤ 2000 ms`),
  ];
}
