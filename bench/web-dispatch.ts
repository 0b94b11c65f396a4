/**
 * Clicks and seconds from login to a dispatched job (issue 13), scripted in headless Chromium against
 * the real service with two built-in simulators at 1×, warmed up: the operator logs in, clicks the
 * drop on the map, and dispatches the job card's recommended vehicle. Every click is counted and must
 * land on something in view. The clock runs from the login click to the job leaving "planned"
 * (uploading, ready or in flight) on the operator's screen.
 * Baseline: the same job created and dispatched through the REST API directly (no console).
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { Browser, Page } from 'playwright-core';
import { startService } from '../src/service';
import { newPage } from '../test/web/harness';

const ZONES = path.join(__dirname, '..', 'planner', 'fixtures', 'demo-zones.geojson');
const GARDEN_COURT: [number, number] = [114.3798, 34.06585]; // a sealed zone near the first launch site
const XINHUA_BLOCK: [number, number] = [114.39445, 34.05146]; // a sealed zone between the launch sites

export interface DispatchRun {
  clicks: number;
  consoleMs: number;
  apiMs: number;
}

async function until<T>(fn: () => Promise<T> | T, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function measureDispatch(browser: Browser): Promise<DispatchRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-dispatch-'));
  const svc = await startService({ zonesFile: ZONES, port: 0, dataDir: dir, simulators: 2, simSpeedup: 1, logLevel: 'silent' });
  const { context, page } = await newPage(browser, svc.url);
  try {
    const token = async (user: string) => ((await (await fetch(`${svc.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: user }) })).json()) as { token: string }).token;
    const opToken = await token('operator');
    const api = async (method: string, p: string, body?: unknown) => {
      const r = await fetch(svc.url + p, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${opToken}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = (await r.json()) as Record<string, unknown>;
      if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    await until(async () => {
      const list = (await api('GET', '/api/vehicles')) as unknown as Array<{ readiness?: { ready?: boolean } }>;
      return list.length >= 2 && list.every((v) => v.readiness?.ready);
    }, 180_000, 'two vehicles ready');

    // ---- the console: counted clicks, each on something in view.
    let clicks = 0;
    const inView = async (x: number, y: number) => {
      const vp = page.viewportSize()!;
      if (x < 0 || y < 0 || x > vp.width || y > vp.height) throw new Error(`click at ${x},${y} is out of view`);
    };
    const click = async (p: Page, testid: string) => {
      const el = p.getByTestId(testid);
      await el.waitFor();
      await p.waitForFunction((id) => !(document.querySelector(`[data-testid="${id}"]`) as HTMLButtonElement | null)?.disabled, testid, { timeout: 60_000 });
      const b = (await el.boundingBox())!;
      await inView(b.x + b.width / 2, b.y + b.height / 2);
      clicks++;
      await el.click({ noWaitAfter: true });
    };
    await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
    await page.getByTestId('login-username').fill('operator');
    await page.getByTestId('login-password').fill('operator');
    const t0 = Date.now();
    await click(page, 'login-submit');
    await page.getByTestId('console').waitFor();
    await page.locator('[data-testid="vehicle-marker"][data-stale="false"]').nth(1).waitFor({ timeout: 60_000 });
    // String expressions: the loader's helpers never leak into the page (evaluated over CDP).
    const pt = (await page.evaluate(`window.droplineConsole.containerPoint(${GARDEN_COURT[1]}, ${GARDEN_COURT[0]})`)) as { x: number; y: number };
    const box = (await page.getByTestId('map').boundingBox())!;
    await inView(box.x + pt.x, box.y + pt.y);
    clicks++;
    await page.mouse.click(box.x + pt.x, box.y + pt.y);
    await page.locator('[data-testid="draft-readiness"][data-ready="true"]').waitFor({ timeout: 60_000 });
    await click(page, 'btn-draft-dispatch');
    await page.locator('[data-testid="job-state"][data-state="uploading"], [data-testid="job-state"][data-state="ready"], [data-testid="job-state"][data-state="in-flight"]').first().waitFor({ timeout: 60_000 });
    const consoleMs = Date.now() - t0;

    // ---- baseline: the same steps through the REST API (login, create, dispatch, until it leaves planned).
    const a0 = Date.now();
    const tok = await token('operator');
    const H = { 'content-type': 'application/json', authorization: `Bearer ${tok}` };
    const d = (await (await fetch(`${svc.url}/api/deliveries`, { method: 'POST', headers: H, body: JSON.stringify({ drop: XINHUA_BLOCK, priority: 'urgent', payload: { description: 'bench' } }) })).json()) as { id: string };
    const disp = (await (await fetch(`${svc.url}/api/deliveries/${d.id}/dispatch`, { method: 'POST', headers: H, body: JSON.stringify({ vehicleId: 'sim1/2' }) })).json()) as { error?: unknown };
    if (disp.error) throw new Error(`baseline dispatch: ${JSON.stringify(disp.error)}`);
    await until(async () => {
      const x = (await (await fetch(`${svc.url}/api/deliveries/${d.id}`, { headers: H })).json()) as { state: string };
      if (x.state === 'failed') throw new Error(`baseline job failed: ${JSON.stringify(x)}`);
      return ['uploading', 'ready', 'in-flight'].includes(x.state);
    }, 60_000, 'baseline job dispatched');
    const apiMs = Date.now() - a0;
    return { clicks, consoleMs, apiMs };
  } finally {
    await context.close();
    await svc.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
