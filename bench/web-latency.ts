/**
 * From a change in the service to it being visible in an open console (issue 13, goal ≤ 1 s at 200
 * vehicles), against the real service with N built-in simulators at 1× and an operator's console in
 * headless Chromium:
 * - HOLD accepted: a flying drone is told to hold (REST); the clock stops when its marker on the
 *   operator's map reads HOLDING (from the time the service answered ACCEPTED);
 * - link lost: the simulator's link is cut; the clock stops when the marker reads LINK LOST (this
 *   includes the service's own silence threshold before it calls a link stale: 3 × its largest gap between messages, 0.75–0.85 s for a drone that
 *   streams its telemetry, see telemetry/silence.ts);
 * - zone saved: a supervisor saves the zones (REST PUT); the clock stops when the open map has drawn
 *   the new version (from the time the service answered).
 * The page notes the wall-clock time (same machine, same clock) in its first animation frame that
 * shows the change.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { Browser, Page } from 'playwright-core';
import { startService } from '../src/service';
import { login, newPage } from '../test/web/harness';

const ZONES = path.join(__dirname, '..', 'planner', 'fixtures', 'demo-zones.geojson');

export interface LatencyRun {
  vehicles: number;
  holdMs: number;
  linkLostMs: number;
  zoneMs: number;
  /** Seconds from the service's start to every vehicle warmed up and drawn. */
  startS: number;
}

async function until<T>(fn: () => Promise<T> | T, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Starts watching, in every animation frame, for an element matching `selector` or (with `zonesAbove`)
 * for the map to hold a zones version above it; the returned function gives the wall time it first held.
 */
async function watch(page: Page, name: string, what: { selector: string } | { zonesAbove: number }): Promise<() => Promise<number>> {
  // A string, so the loader's helpers (esbuild's __name) never leak into the page; evaluated over CDP, outside the page's CSP.
  const cond = 'selector' in what ? `!!document.querySelector(${JSON.stringify(what.selector)})` : `window.droplineConsole.zonesVersion() > ${Number(what.zonesAbove)}`;
  await page.evaluate(`window.__seen_${name} = new Promise((resolve) => { const tick = () => (${cond}) ? resolve(Date.now()) : requestAnimationFrame(tick); tick(); }); undefined`);
  return async () => (await page.evaluate(`Promise.race([window.__seen_${name}, new Promise((_, no) => setTimeout(() => no(new Error('${name}: not seen in 60 s')), 60000))])`)) as number;
}

const say = (m: string) => process.stderr.write(`web latency: ${m}\n`);

export async function measureLatency(browser: Browser, vehicles: number): Promise<LatencyRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-latency-'));
  const t0 = Date.now();
  const svc = await startService({ zonesFile: ZONES, port: 0, dataDir: dir, simulators: vehicles, simSpeedup: 1, logLevel: 'silent' });
  const { context, page } = await newPage(browser, svc.url);
  page.on('crash', () => say('page crashed'));
  page.on('close', () => say('page closed'));
  page.on('pageerror', (e) => say(`page error: ${e.message}`));
  try {
    const api = async (user: string, method: string, p: string, body?: unknown, raw = false) => {
      const tok = (await (await fetch(`${svc.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: user }) })).json()) as { token: string };
      const r = await fetch(svc.url + p, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${tok.token}` }, body: body === undefined ? undefined : raw ? (body as string) : JSON.stringify(body) });
      const json = (await r.json()) as Record<string, unknown>;
      if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    const target = 'sim0/1';
    const enc = encodeURIComponent(target);
    await until(async () => {
      const list = (await api('operator', 'GET', '/api/vehicles')) as unknown as Array<{ id: string; readiness?: { ready?: boolean } }>;
      return list.length >= vehicles && list.every((v) => v.readiness?.ready);
    }, 240_000, `${vehicles} vehicles ready`);
    say(`${vehicles} vehicles ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    // A service busy with hundreds of simulators on a loaded machine can take long to serve the page.
    page.setDefaultNavigationTimeout(120_000);
    page.setDefaultTimeout(120_000);
    await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
    await login(page, 'operator');
    await page.waitForFunction((n) => ((window as unknown as { droplineConsole?: { vehicleCount(): number } }).droplineConsole?.vehicleCount() ?? 0) >= n, vehicles, { timeout: 60_000 });
    const startS = (Date.now() - t0) / 1000;
    // The operator watches this drone (on a crowded map only the drones that need attention, and the
    // selected one, have their own marker and label).
    await page.getByTestId('cmd-vehicle').selectOption(target);

    // A drone in the air, flown by hand (simulators accept it from any flying role).
    // Each step confirmed from telemetry before the next (a loaded machine is slow to answer).
    const state = () => svc.fleet.get(target)!.state;
    // A vehicle left armed on the ground disarms by itself: whatever is missing is asked again.
    const cmd = (body: unknown) => api('operator', 'POST', `/api/vehicles/${enc}/commands`, body).catch(() => null);
    await until(async () => {
      if (state().mode !== 'GUIDED') return void (await cmd({ action: 'mode', mode: 'GUIDED' }));
      if (!state().armed) return void (await cmd({ action: 'arm' }));
      return cmd({ action: 'takeoff', altM: 20 });
    }, 120_000, 'takeoff accepted');
    const marker = (status: string) => ({ selector: `[data-testid="vehicle-marker"][data-id="${target}"][data-status="${status}"]` });
    await page.locator(marker('flying').selector).waitFor({ timeout: 60_000 });

    say('flying');
    // HOLD accepted → HOLDING on the map.
    const holdSeen = await watch(page, 'hold', marker('holding'));
    const holdReply = await api('operator', 'POST', `/api/vehicles/${enc}/commands`, { action: 'hold' });
    const holdAt = Date.now();
    if (!/ACCEPTED/i.test(JSON.stringify(holdReply))) throw new Error(`hold: ${JSON.stringify(holdReply)}`);
    const holdMs = Math.max(0, (await holdSeen()) - holdAt);

    // Link lost → LINK LOST on the map (from a drone shown live: a loaded machine can be late with frames).
    await page.locator(`[data-testid="vehicle-marker"][data-id="${target}"][data-stale="false"]`).waitFor({ timeout: 60_000 });
    const lostSeen = await watch(page, 'lost', marker('link-lost'));
    const inst = svc.sims!.instances[0]; // sim0/1
    const cutAt = Date.now();
    inst.inject({ kind: 'link-loss' });
    const linkLostMs = (await lostSeen()) - cutAt;

    // Zones saved → the new version drawn on the open map.
    const cur = (await api('supervisor', 'GET', '/api/zones')) as { version: number; zones: unknown };
    const zoneSeen = await watch(page, 'zone', { zonesAbove: cur.version });
    await api('supervisor', 'PUT', '/api/zones', cur.zones);
    const savedAt = Date.now();
    const zoneMs = Math.max(0, (await zoneSeen()) - savedAt);
    const run = { vehicles, holdMs, linkLostMs, zoneMs, startS };
    // Printed as soon as measured: a later run that fails does not lose this one.
    say(`${vehicles} vehicles: HOLD ${holdMs} ms, link lost ${linkLostMs} ms, zone ${zoneMs} ms`);
    return run;
  } finally {
    await context.close();
    await svc.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
