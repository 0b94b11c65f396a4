/**
 * The console under pressure (issue 13), in headless Chromium. Parts (WEB_BENCH_PARTS, comma-separated,
 * default all): `render`, `dispatch` (bench/web-dispatch.ts: clicks and seconds from login to a
 * dispatched job) and `latency` (bench/web-latency.ts: a change in the service to it visible in an open
 * console, at 200 vehicles against 2).
 *
 * `render`: 200 vehicles, and a provincial command view of 1,000, at 10 Hz on the map.
 *
 * The page is the built console (web/dist), served by a small local server that answers the few
 * /api calls the console makes at start and speaks /ws per API.md: hello, then a `frames` message
 * every 100 ms with one TelemetryFrame per vehicle (vehicles flying circles over the demo district).
 * The full service is not used so that the measurement is the browser's, not the simulators'.
 *
 * Figures: requestAnimationFrame deltas (p50, p99) and main-thread busy share with 200 vehicles
 * against the same page with none; load time to the first drawn frame of all vehicles against the
 * load of the page with none; bytes transferred against Leaflet's own dist files.
 */
import fs from 'fs';
import path from 'path';
import { chromium, type Browser } from 'playwright-core';
import type { BenchRecord } from './types';
import { ensureWebBuilt, findChromium } from '../test/web/harness';
import { RATE_HZ, startFakeServer, type FakeServer } from '../test/web/fake-console-server';
import { measureDispatch } from './web-dispatch';
import { measureLatency } from './web-latency';

const REPO = path.resolve(__dirname, '..');
const FLEETS = (process.env.WEB_BENCH_VEHICLES ?? '200,1000').split(',').map(Number).filter((n) => n > 0);
const PARTS = new Set((process.env.WEB_BENCH_PARTS ?? 'render,dispatch,latency').split(','));
const LATENCY_VEHICLES = Number(process.env.WEB_BENCH_LATENCY_VEHICLES ?? 200);
const MEASURE_MS = Number(process.env.WEB_BENCH_MEASURE_MS ?? 10000);

interface PageRun {
  loadMs: number;
  bytes: number;
  p50: number;
  p99: number;
  busyPct: number;
  frames: number;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/** WEB_BENCH_PROFILE=1: prints the page's 15 heaviest functions by self time (for tuning, not a figure). */
function printProfile(p: CpuProfile): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const key = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}:${n.callFrame.columnNumber}`;
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  for (const [k, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stderr.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(browser: Browser, srv: FakeServer, vehicles: number): Promise<PageRun> {
  srv.setVehicles(vehicles);
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Performance.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => (bytes += e.encodedDataLength));
  const t0 = Date.now();
  await page.goto(`${srv.url}/?basemap=none`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(
    `(() => { const c = window.droplineConsole; return !!c && c.linkState() === 'live' && document.querySelectorAll('.leaflet-overlay-pane path').length > 0 && c.vehicleCount() >= ${vehicles}; })()`,
    null,
    { timeout: 60000, polling: 20 },
  );
  const loadMs = Date.now() - t0;
  await page.waitForTimeout(1500); // settle: trails start, first layout done
  const profile = process.env.WEB_BENCH_PROFILE === '1' && vehicles > 0;
  if (profile) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
  }
  const m0 = (await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> };
  const w0 = Date.now();
  // A string, so the loader's helpers (e.g. esbuild's __name) never leak into the page.
  const deltas = (await page.evaluate(`new Promise((resolve) => {
    const out = [];
    let last = 0;
    let end = 0;
    const step = (now) => {
      out.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(step);
      else resolve(out);
    };
    requestAnimationFrame((now) => {
      last = now;
      end = now + ${MEASURE_MS};
      requestAnimationFrame(step);
    });
  })`)) as number[];
  const m1 = (await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> };
  const wallS = (Date.now() - w0) / 1000;
  if (profile) printProfile(((await cdp.send('Profiler.stop')) as { profile: CpuProfile }).profile);
  const task = (m: typeof m0) => m.metrics.find((x) => x.name === 'TaskDuration')?.value ?? NaN;
  const sorted = deltas.slice().sort((a, b) => a - b);
  await context.close();
  return { loadMs, bytes, p50: pct(sorted, 50), p99: pct(sorted, 99), busyPct: ((task(m1) - task(m0)) / wallS) * 100, frames: deltas.length };
}

async function renderFigures(browser: Browser, exe: string): Promise<BenchRecord[]> {
  const srv = await startFakeServer();
  try {
    await measure(browser, srv, 0); // warm-up (disk cache of the files, JIT of the server)
    const base = await measure(browser, srv, 0);
    const out: BenchRecord[] = [];
    for (const n of FLEETS) {
      const load = await measure(browser, srv, n);
      const note = `headless Chromium (${path.basename(exe)}), 1400×900, no tiles; frames from a local ws server emitting ${n} TelemetryFrames per message at ${RATE_HZ} Hz (not the full service); above 60 vehicles labels only for the selected and those needing attention, above 150 vehicles drawn on one canvas with DOM markers only for those needing attention; ${MEASURE_MS / 1000} s of rAF per run (${load.frames} frames loaded, ${base.frames} baseline)`;
      const rec = (name: string, value: number, unit: string, baseline: number, baselineName: string, extra = ''): BenchRecord => ({
        name, value, unit, baseline, ratio: baseline ? value / baseline : NaN, baselineName, note: extra ? `${note}; ${extra}` : note,
      });
      out.push(
        rec(`web.frame-time.p50.${n}-vehicles-10hz`, load.p50, 'ms', base.p50, 'same page, no vehicles'),
        rec(`web.frame-time.p99.${n}-vehicles-10hz`, load.p99, 'ms', base.p99, 'same page, no vehicles', n >= 1000 ? 'goal (issue 13): p99 ≤ 20 ms' : ''),
        rec(`web.main-thread-busy.${n}-vehicles-10hz`, load.busyPct, '%', base.busyPct, 'same page, no vehicles', 'CDP Performance TaskDuration per wall second'),
        rec(`web.initial-load.${n}-vehicles`, load.loadMs, 'ms', base.loadMs, 'same page, no vehicles', 'navigation to zones drawn, link live and every vehicle on the map'),
      );
    }
    const leafletBytes = ['leaflet.js', 'leaflet.css'].reduce((s, f) => s + fs.statSync(path.join(REPO, 'node_modules', 'leaflet', 'dist', f)).size, 0);
    out.push({
      name: 'web.bytes-transferred.initial', value: base.bytes, unit: 'bytes', baseline: leafletBytes, ratio: base.bytes / leafletBytes, baselineName: 'leaflet 1.9 dist js+css alone',
      note: 'HTTP bytes of the console page for an operator, uncompressed, WebSocket excluded (the zone editor bundle, leaflet-geoman, loads only when a zone editor opens)',
    });
    return out;
  } finally {
    await srv.close();
  }
}

async function dispatchFigures(browser: Browser): Promise<BenchRecord[]> {
  const r = await measureDispatch(browser);
  const note = 'real service, 2 built-in simulators at 1× warmed up, operator at 1400×900 in headless Chromium: login, click the drop on the map, Dispatch on the job card (recommended vehicle); each click on something in view';
  return [
    { name: 'web.login-to-dispatch.clicks', value: r.clicks, unit: 'clicks', baseline: 4, ratio: r.clicks / 4, baselineName: 'goal of issue 13 (a constant, not measured)', note },
    { name: 'web.login-to-dispatch.time', value: r.consoleMs, unit: 'ms', baseline: r.apiMs, ratio: r.consoleMs / r.apiMs, baselineName: 'same job by REST: login, create, dispatch, until it leaves planned', note: `${note}; from the login click to the job shown uploading/ready/in flight` },
  ];
}

async function latencyFigures(browser: Browser): Promise<BenchRecord[]> {
  const base = await measureLatency(browser, 2);
  const load = await measureLatency(browser, LATENCY_VEHICLES);
  const note = `real service with built-in simulators at 1× (${load.vehicles} warmed up in ${load.startS.toFixed(0)} s), operator console in headless Chromium, change noted in the page's first animation frame showing it; goal (issue 13) ≤ 1 s`;
  const rec = (name: string, value: number, baseline: number, extra: string): BenchRecord => ({
    name, value, unit: 'ms', baseline, ratio: baseline ? value / baseline : NaN, baselineName: `same change with ${base.vehicles} vehicles`, note: `${note}; ${extra}`,
  });
  return [
    rec(`web.state-visible.hold.${load.vehicles}-vehicles`, load.holdMs, base.holdMs, 'HOLD answered ACCEPTED by the service → the drone reads HOLDING on the map'),
    rec(`web.state-visible.link-lost.${load.vehicles}-vehicles`, load.linkLostMs, base.linkLostMs, "simulator link cut → the drone reads LINK LOST on the map; includes the service's own silence threshold before it calls a vehicle's telemetry stale (per vehicle, from its cadence: 3 × its largest gap between messages and at least 0.75 s: about 0.8 s for a drone streaming at 4 Hz, telemetry/silence.ts)"),
    rec(`web.state-visible.zone-saved.${load.vehicles}-vehicles`, load.zoneMs, base.zoneMs, 'PUT /api/zones answered → the new version drawn on the open map'),
  ];
}

export async function run(): Promise<BenchRecord[]> {
  const exe = findChromium();
  if (!exe) throw new Error('web bench needs Chromium (apt-get install -y chromium, or CHROMIUM_PATH)');
  ensureWebBuilt();
  const browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const out: BenchRecord[] = [];
    let failed: unknown = null;
    // A part that fails (a loaded machine) does not lose the others' figures; the run still fails.
    const part = async (name: string, fn: () => Promise<BenchRecord[]>) => {
      if (!PARTS.has(name)) return;
      try {
        out.push(...(await fn()));
      } catch (e) {
        failed ??= e;
        process.stderr.write(`web bench: part ${name} failed: ${(e as Error)?.stack ?? e}\n`);
      }
    };
    await part('render', () => renderFigures(browser, exe));
    await part('dispatch', () => dispatchFigures(browser));
    await part('latency', () => latencyFigures(browser));
    if (failed && !out.length) throw failed;
    if (failed) process.exitCode = 1;
    return out;
  } finally {
    await browser.close();
  }
}
