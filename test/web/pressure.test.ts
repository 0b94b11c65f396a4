/**
 * The console under pressure (issue 13), in headless Chromium against the real service with two
 * simulated vehicles at 10×, as an operator, a supervisor and a trainer would use it:
 * - a drop in a no-fly zone is refused at the click with the zone highlighted, and nothing is created;
 * - from login to a dispatched job in at most 4 clicks, every one on something already on screen;
 * - two jobs on two drones: HOLD on a job's card, on the command bar (Alt+H) and on a drone's map
 *   popup each aims at that job's own drone; the drone and its job show HOLDING / RTL since when;
 *   an aborted job offers re-plan and re-dispatch;
 * - a trainer's replay never appears in an operator's vehicle list, and is gone once it stops.
 */
import type { Browser, Page, Request } from 'playwright-core';
import { browserSuite, clickMapAt, ensureWebBuilt, launchChromium, login, mapPoint, newPage, screenshot, tmpDataDir, waitVehicles, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';

type Service = Awaited<ReturnType<typeof startService>>;

/** Drop points in the test zones (planner/fixtures/demo-zones.geojson), [lon, lat]. */
const GARDEN_COURT: [number, number] = [114.3798, 34.06585]; // sealed zone near Police Post 1 (sim0)
const XINHUA_BLOCK: [number, number] = [114.39445, 34.05146]; // sealed zone between the two launch sites
// Inside the same sealed zone, ~95 m east of XINHUA_BLOCK: a click there is not taken by the drop marker of a job already at XINHUA_BLOCK.
const XINHUA_BLOCK_EAST: [number, number] = [114.39535, 34.05156];
const HOSPITAL_HELIPAD: [number, number] = [114.3963, 34.06387]; // no-fly zone, feature #1
const RIVERSIDE_ESTATE: [number, number] = [114.40235, 34.06773]; // sealed zone north-east


/** The vehicle ids in the command bar's list. */
async function commandBarIds(page: Page): Promise<string[]> {
  return page.getByTestId('cmd-vehicle').locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value).filter(Boolean));
}

/** Waits for the next vehicle command request and answers where it went. */
function nextCommand(page: Page): Promise<Request> {
  return page.waitForRequest((r) => r.method() === 'POST' && /\/api\/vehicles\/[^/]+\/commands$/.test(new URL(r.url()).pathname));
}

function commandTarget(r: Request): { vehicleId: string; action: string } {
  const m = new URL(r.url()).pathname.match(/\/api\/vehicles\/([^/]+)\/commands$/)!;
  return { vehicleId: decodeURIComponent(m[1]), action: (r.postDataJSON() as { action: string }).action };
}

browserSuite('console under pressure (issue 13)', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('pressure'), simulators: 2, simSpeedup: 10, logLevel: 'warn' });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
  }, 120000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60000);

  it('a drop in a no-fly zone is refused at the click, the zone highlighted, and no job is created', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await waitVehicles(page, 2);
      await page.locator('.leaflet-overlay-pane path.zone-no-fly').first().waitFor();
      await clickMapAt(page, ...HOSPITAL_HELIPAD);
      const refusal = page.getByTestId('drop-refusal');
      await refusal.waitFor();
      expect(await refusal.getAttribute('data-code')).toBe('DROP_IN_NO_FLY');
      expect(await refusal.innerText()).toMatch(/Central Hospital helipad/);
      // The refusal is at the click: its popup sits near the clicked point (once the map has panned to show it).
      await page.waitForTimeout(600);
      const at = await mapPoint(page, ...HOSPITAL_HELIPAD);
      const box = (await page.locator('.refusal-popup').boundingBox())!;
      expect(Math.abs(box.x + box.width / 2 - at.x)).toBeLessThan(box.width / 2 + 20);
      expect(at.y - (box.y + box.height)).toBeLessThan(60);
      expect(await page.locator('path.zone-offending').count()).toBe(1);
      expect(await page.locator('path.zone-offending.zone-no-fly').count()).toBe(1);
      // Dispatch and Create stay disabled; nothing was created.
      expect(await page.getByTestId('btn-draft-dispatch').isDisabled()).toBe(true);
      expect(await page.getByTestId('btn-create-job').isDisabled()).toBe(true);
      const jobs = await page.evaluate(async () => (await (await fetch('/api/deliveries')).json()) as unknown[]);
      expect(jobs).toEqual([]);
      await screenshot(page, 'pressure-refused-drop');
      await page.getByTestId('btn-clear-job').click();
      expect(await page.locator('path.zone-offending').count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  let jobA = '';
  let vehicleA = '';

  it('from login to a dispatched job in at most 4 clicks, each on something already on screen', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    let clicks = 0;
    /** A click counts only on what is visible without scrolling. */
    const click = async (testid: string) => {
      const el = page.getByTestId(testid);
      await el.waitFor();
      await page.waitForFunction((id) => !(document.querySelector(`[data-testid="${id}"]`) as HTMLButtonElement | null)?.disabled, testid, { timeout: 60000 });
      const b = (await el.boundingBox())!;
      const vp = page.viewportSize()!;
      expect(`${testid} in view: ${b.y >= 0 && b.y + b.height <= vp.height && b.x >= 0 && b.x + b.width <= vp.width}`).toBe(`${testid} in view: true`);
      clicks++;
      await el.click({ noWaitAfter: true });
    };
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await page.getByTestId('login-username').fill('operator');
      await page.getByTestId('login-password').fill('operator');
      await click('login-submit');
      await page.getByTestId('console').waitFor();
      await waitVehicles(page, 2);
      await page.locator('[data-testid="vehicle-marker"][data-stale="false"]').nth(1).waitFor();
      clicks++;
      await clickMapAt(page, ...GARDEN_COURT);
      // The new-job card: the recommended vehicle (the nearest ready one), its readiness, the ETA against the promise, the preview drawn.
      await page.locator('[data-testid="draft-readiness"][data-ready="true"]').waitFor({ timeout: 60000 });
      await page.getByTestId('plan-summary').waitFor();
      await page.getByTestId('draft-outlook').waitFor();
      expect(await page.getByTestId('draft-eta').innerText()).toMatch(/\d+:\d\d .*15:00/);
      expect(await page.locator('.planned-route').count()).toBeGreaterThan(0);
      expect(await page.getByTestId('draft-vehicle').inputValue()).toMatch(/^sim0\//);
      await screenshot(page, 'pressure-draft');
      await click('btn-draft-dispatch');
      await page.locator('[data-testid="job-state"][data-state="uploading"], [data-testid="job-state"][data-state="ready"], [data-testid="job-state"][data-state="in-flight"]').first().waitFor({ timeout: 60000 });
      expect(clicks).toBeLessThanOrEqual(4);
      jobA = (await page.getByTestId('job-detail').getAttribute('data-id'))!;
      vehicleA = await page.getByTestId('job-vehicle').innerText();
      expect(vehicleA).toMatch(/^sim0\//);
      // The dispatched job is what the operator now watches: its drone is selected and emphasised.
      expect(await page.getByTestId('cmd-vehicle').inputValue()).toBe(vehicleA);
      await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleA}"][data-selected="true"]`).waitFor();
      await screenshot(page, 'pressure-dispatched');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180000);

  it('two jobs on two drones: HOLD on the job card, the command bar and the drone popup aims at that job\'s drone', async () => {
    expect(jobA).toBeTruthy();
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await waitVehicles(page, 2);
      // Nothing is selected by default: no command aims anywhere the operator did not choose.
      expect(await page.getByTestId('cmd-vehicle').inputValue()).toBe('');
      expect(await page.getByTestId('cmd-hold').isDisabled()).toBe(true);
      // A second job: sim0 is busy with job A, so the other drone is recommended.
      await clickMapAt(page, ...XINHUA_BLOCK);
      await page.locator('[data-testid="draft-readiness"][data-ready="true"]').waitFor({ timeout: 60000 });
      await page.getByTestId('plan-summary').waitFor();
      const vehicleB = await page.getByTestId('draft-vehicle').inputValue();
      expect(vehicleB).not.toBe(vehicleA);
      await page.getByTestId('btn-draft-dispatch').click();
      await page.locator('[data-testid="job-detail"] [data-testid="job-vehicle"]').filter({ hasText: vehicleB }).waitFor();
      const jobB = (await page.getByTestId('job-detail').getAttribute('data-id'))!;
      expect(jobB).not.toBe(jobA);
      for (const id of [jobA, jobB]) await page.locator(`[data-testid="job-row"][data-id="${id}"][data-state="in-flight"]`).waitFor({ timeout: 90000 });

      // The command bar follows the selected job.
      expect(await page.getByTestId('cmd-vehicle').inputValue()).toBe(vehicleB);
      await page.locator(`[data-testid="job-row"][data-id="${jobA}"]`).click();
      await page.locator(`[data-testid="job-detail"][data-id="${jobA}"]`).waitFor();
      expect(await page.getByTestId('cmd-vehicle').inputValue()).toBe(vehicleA);
      await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleA}"][data-selected="true"]`).waitFor();
      expect(await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleB}"]`).getAttribute('data-selected')).toBe('false');

      // HOLD on job A's card goes to job A's drone.
      expect(await page.getByTestId('job-cmd-buttons').getAttribute('data-vehicle')).toBe(vehicleA);
      await page.waitForFunction(() => !(document.querySelector('[data-testid="job-cmd-hold"]') as HTMLButtonElement).disabled, null, { timeout: 30000 });
      await page.getByTestId('job-cmd-hold').click();
      await page.getByTestId('confirm-dialog').waitFor();
      const title = await page.locator('#confirm-title').innerText();
      expect(title).toContain(vehicleA);
      expect(title).not.toContain(vehicleB);
      expect(await page.getByTestId('confirm-dialog').innerText()).toContain(jobA);
      const sent = nextCommand(page);
      await page.getByTestId('confirm-ok').click();
      expect(commandTarget(await sent)).toEqual({ vehicleId: vehicleA, action: 'hold' });
      // HOLDING, since when, on the job and on its drone; job B's drone is not holding.
      await page.locator(`[data-testid="job-vehicle-status"][data-vehicle="${vehicleA}"][data-status="holding"]`).waitFor({ timeout: 30000 });
      expect(await page.getByTestId('job-vehicle-status').innerText()).toMatch(/HOLDING · since \d\d:\d\d:\d\d/);
      await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleA}"][data-status="holding"]`).waitFor();
      expect(await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleB}"]`).getAttribute('data-status')).not.toBe('holding');
      await page.locator(`[data-testid="job-row"][data-id="${jobA}"] [data-testid="job-row-status"][data-status="holding"]`).waitFor();
      // HOLD again makes no sense: disabled, with the reason.
      await page.waitForFunction(() => (document.querySelector('[data-testid="job-cmd-hold"]') as HTMLButtonElement).disabled);
      expect(await page.getByTestId('job-cmd-hold').getAttribute('title')).toMatch(/already/i);
      await screenshot(page, 'pressure-holding');

      // Job B selected: Alt+H asks about job B's drone.
      await page.locator(`[data-testid="job-row"][data-id="${jobB}"]`).click();
      expect(await page.getByTestId('cmd-vehicle').inputValue()).toBe(vehicleB);
      await page.keyboard.press('Alt+h');
      await page.getByTestId('confirm-dialog').waitFor();
      expect(await page.locator('#confirm-title').innerText()).toContain(vehicleB);
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('confirm-cancel');
      await page.keyboard.press('Escape');
      await page.getByTestId('confirm-dialog').waitFor({ state: 'detached' });

      // The drone's own popup on the map: its commands aim at it.
      await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleB}"]`).click();
      await page.getByTestId('vehicle-popup').waitFor();
      expect(await page.getByTestId('vehicle-popup').getAttribute('data-vehicle')).toBe(vehicleB);
      expect(await page.getByTestId('popup-job').innerText()).toContain(jobB);
      await page.waitForFunction(() => !(document.querySelector('[data-testid="popup-cmd-rtl"]') as HTMLButtonElement).disabled);
      await page.getByTestId('popup-cmd-rtl').click();
      expect(await page.locator('#confirm-title').innerText()).toContain(vehicleB);
      const rtlB = nextCommand(page);
      await page.getByTestId('confirm-ok').click();
      expect(commandTarget(await rtlB)).toEqual({ vehicleId: vehicleB, action: 'rtl' });

      // An RTL aborts job B: the card says so, offers re-plan and re-dispatch, and still shows its drone returning.
      await page.locator(`[data-testid="job-detail"][data-id="${jobB}"] [data-testid="job-state"][data-state="aborted"]`).waitFor({ timeout: 30000 });
      await page.getByTestId('btn-replan').waitFor();
      await page.locator(`[data-testid="job-vehicle-status"][data-vehicle="${vehicleB}"][data-status="rtl"]`).waitFor({ timeout: 30000 });
      await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleB}"][data-status="rtl"]`).waitFor();
      await screenshot(page, 'pressure-rtl-aborted');
      await page.getByTestId('btn-replan').click();
      await page.getByTestId('draft-replan-of').filter({ hasText: jobB }).waitFor();
      await page.getByTestId('plan-summary').waitFor();
      await page.getByTestId('btn-clear-job').click();

      // Job A home too (from its card), so that both flights end.
      await page.locator(`[data-testid="job-row"][data-id="${jobA}"]`).click();
      await page.waitForFunction(() => !(document.querySelector('[data-testid="job-cmd-rtl"]') as HTMLButtonElement).disabled);
      await page.getByTestId('job-cmd-rtl').click();
      expect(await page.locator('#confirm-title').innerText()).toContain(vehicleA);
      const rtlA = nextCommand(page);
      await page.getByTestId('confirm-ok').click();
      expect(commandTarget(await rtlA)).toEqual({ vehicleId: vehicleA, action: 'rtl' });
      for (const v of [vehicleA, vehicleB]) await page.locator(`[data-testid="vehicle-marker"][data-id="${v}"][data-status="on-ground"]`).waitFor({ timeout: 120000 });
      // On the ground nothing can be held: the bar says why.
      await page.locator(`[data-testid="job-row"][data-id="${jobA}"]`).click();
      await page.getByTestId('cmd-vehicle').selectOption(vehicleA);
      await page.locator('[data-testid="cmd-why"]').filter({ hasText: /on the ground/i }).waitFor();
      expect(await page.getByTestId('cmd-hold').isDisabled()).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 360000);

  it("a trainer's replay never appears in an operator's vehicle list, and is gone once it stops", async () => {
    const op = await newPage(browser, svc.url);
    const tr = await newPage(browser, svc.url);
    try {
      await op.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(op.page, 'operator');
      await waitVehicles(op.page, 2);
      await tr.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(tr.page, 'trainer');
      await tr.page.getByTestId('panel-trainer').waitFor();
      // Flights end once their vehicle is down: wait for a recorded flight to replay.
      await tr.page.waitForFunction(async () => {
        const fl = (await (await fetch('/api/flights')).json()) as Array<{ state: string }>;
        return fl.some((f) => f.state === 'ended');
      }, null, { timeout: 120000, polling: 1000 });
      await tr.page.getByTestId('sim-refresh').click();
      await tr.page.getByTestId('replay-flight').locator('option').first().waitFor({ state: 'attached' });
      await tr.page.getByTestId('replay-speed').fill('20');
      await tr.page.getByTestId('replay-start').click();
      await tr.page.getByTestId('replay-status').waitFor();
      // The operator's map shows the replay (drawn as one), but no list offers it.
      await op.page.locator('[data-testid="vehicle-marker"].replay').first().waitFor({ timeout: 30000 });
      for (let i = 0; i < 3; i++) {
        expect((await commandBarIds(op.page)).filter((id) => id.startsWith('replay-'))).toEqual([]);
        await op.page.waitForTimeout(700);
      }
      expect(await op.page.getByTestId('cmd-vehicle').inputValue()).toBe('');
      await clickMapAt(op.page, ...GARDEN_COURT);
      await op.page.getByTestId('draft-vehicle').waitFor();
      const draftIds = await op.page.getByTestId('draft-vehicle').locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
      expect(draftIds.filter((id) => id.startsWith('replay-'))).toEqual([]);
      await op.page.getByTestId('btn-clear-job').click();
      // A click on the replay's drone: read-only, nothing to command.
      await op.page.locator('[data-testid="vehicle-marker"].replay').first().click();
      await op.page.getByTestId('vehicle-popup').waitFor();
      expect(await op.page.getByTestId('popup-cmd-hold').isDisabled()).toBe(true);
      expect(await op.page.getByTestId('popup-cmd-hold').getAttribute('title')).toMatch(/replay/i);
      await screenshot(op.page, 'pressure-operator-sees-replay');
      // Stopped: the replay vanishes from the operator's map within a few seconds.
      await tr.page.getByTestId('replay-stop').click();
      await op.page.locator('[data-testid="vehicle-marker"].replay').waitFor({ state: 'detached', timeout: 15000 });
      expect((await commandBarIds(op.page)).sort()).toEqual(svc.fleet.vehicles().map((v) => v.id).filter((id) => !id.startsWith('replay-')).sort());
      expect(op.errors).toEqual([]);
      expect(tr.errors).toEqual([]);
    } finally {
      await op.context.close();
      await tr.context.close();
    }
  }, 240000);

  it('a critical alert stays as a banner on every console, across reloads, until acknowledged (who and when, audited)', async () => {
    const op = await newPage(browser, svc.url);
    const sup = await newPage(browser, svc.url);
    try {
      await op.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(op.page, 'operator');
      await sup.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(sup.page, 'supervisor');
      for (const p of [op.page, sup.page]) await p.locator('[data-testid="link-state"][data-state="live"]').waitFor();
      const vehicle = svc.fleet.vehicles().map((v) => v.id).filter((id) => !id.startsWith('replay-')).sort()[0];
      // As the dispatcher raises it when a flying vehicle goes silent.
      svc.deliveries.alert('critical', `Link to ${vehicle} lost in flight`, { vehicleId: vehicle });
      for (const p of [op.page, sup.page]) {
        await p.getByTestId('alert-banner-item').filter({ hasText: `Link to ${vehicle} lost in flight` }).waitFor({ timeout: 10000 });
      }
      const id = (await op.page.getByTestId('alert-banner-item').first().getAttribute('data-id'))!;
      await screenshot(op.page, 'pressure-alert-banner');
      // A reload (and a new login) shows it again: the service kept it.
      await op.page.reload({ waitUntil: 'domcontentloaded' });
      await op.page.getByTestId('console').waitFor();
      await op.page.locator(`[data-testid="alert-banner-item"][data-id="${id}"]`).waitFor();
      await op.page.locator(`[data-testid="alert-banner-item"][data-id="${id}"] [data-testid="alert-banner-ack"]`).click();
      // Gone from every console at once.
      for (const p of [op.page, sup.page]) await p.locator(`[data-testid="alert-banner-item"][data-id="${id}"]`).waitFor({ state: 'detached', timeout: 10000 });
      await op.page.reload({ waitUntil: 'domcontentloaded' });
      await op.page.getByTestId('console').waitFor();
      await op.page.getByTestId('tab-alerts').click();
      const item = op.page.locator(`[data-testid="alert-item"][data-id="${id}"]`);
      await item.waitFor();
      expect(await item.getByTestId('alert-acked-by').innerText()).toMatch(/acknowledged by operator at \d\d:\d\d:\d\d/);
      expect(await op.page.locator(`[data-testid="alert-banner-item"][data-id="${id}"]`).count()).toBe(0);
      // Audited: who acknowledged which alert.
      const audit = await sup.page.evaluate(async () => (await (await fetch('/api/audit?action=alert.ack')).json()) as Array<{ username: string; params: { id: string } }>);
      expect(audit.map((a) => [a.username, a.params.id])).toEqual([['operator', id]]);
      expect(op.errors).toEqual([]);
      expect(sup.errors).toEqual([]);
    } finally {
      await op.context.close();
      await sup.context.close();
    }
  }, 120000);

  it('trainer: the fault form keeps its values after an inject, and the faults in force are listed with a clear button', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'trainer');
      await page.getByTestId('sim-row').nth(1).waitFor();
      const victim = (await page.getByTestId('sim-row').nth(1).getAttribute('data-id'))!;
      await page.getByTestId('fault-vehicle').selectOption(victim);
      await page.getByTestId('fault-kind').selectOption('delay');
      await page.getByTestId('fault-params').fill('{"ms": 40}');
      await page.getByTestId('fault-inject').click();
      await page.locator(`[data-testid="sim-fault"][data-vehicle="${victim}"][data-kind="delay"]`).waitFor();
      // The form is as the trainer left it: a second quick inject goes to the same vehicle.
      expect(await page.getByTestId('fault-vehicle').inputValue()).toBe(victim);
      expect(await page.getByTestId('fault-kind').inputValue()).toBe('delay');
      expect(await page.getByTestId('fault-params').inputValue()).toBe('{"ms": 40}');
      await page.getByTestId('fault-kind').selectOption('packet-loss');
      await page.getByTestId('fault-params').fill('{"pct": 5}');
      await page.getByTestId('fault-inject').click();
      await page.locator(`[data-testid="sim-fault"][data-vehicle="${victim}"][data-kind="packet-loss"]`).waitFor();
      expect(await page.locator(`[data-testid="sim-fault"][data-vehicle="${victim}"]`).count()).toBe(2);
      expect(await page.locator('[data-testid="sim-fault"]').count()).toBe(2);
      expect(await page.getByTestId('fault-vehicle').inputValue()).toBe(victim);
      await screenshot(page, 'pressure-trainer-faults');
      for (const kind of ['delay', 'packet-loss']) {
        await page.locator(`[data-testid="sim-fault"][data-vehicle="${victim}"][data-kind="${kind}"] [data-testid="sim-fault-clear"]`).click();
        await page.locator(`[data-testid="sim-fault"][data-vehicle="${victim}"][data-kind="${kind}"]`).waitFor({ state: 'detached' });
      }
      expect(await page.locator('[data-testid="sim-fault"]').count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('a zone saved by a supervisor appears on an open operator map within 2 s, and the operator\'s open plan is checked again', async () => {
    const op = await newPage(browser, svc.url);
    const sup = await newPage(browser, svc.url);
    try {
      await op.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(op.page, 'operator');
      await waitVehicles(op.page, 2);
      await sup.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(sup.page, 'supervisor');
      const version0 = await op.page.evaluate(() => (window as unknown as { droplineConsole: { zonesVersion(): number } }).droplineConsole.zonesVersion());
      expect(version0).toBeGreaterThan(0);
      // The operator has a drop planned in Garden Court.
      await clickMapAt(op.page, ...GARDEN_COURT);
      await op.page.getByTestId('plan-summary').waitFor({ timeout: 30000 });
      // The supervisor puts a crane (a new no-fly zone) right over it.
      const [lon, lat] = GARDEN_COURT;
      const d = 0.0007;
      const square = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]];
      const inside: [number, number] = [lon + d * 0.6, lat - d * 0.6];
      const at0 = await mapPoint(op.page, ...inside);
      expect(await op.page.evaluate(([x, y]) => document.elementsFromPoint(x, y).some((e) => e.classList.contains('zone-no-fly')), [at0.x, at0.y])).toBe(false);
      const saved = await sup.page.evaluate(async (sq) => {
        const cur = (await (await fetch('/api/zones')).json()) as { zones: { features: unknown[] } };
        cur.zones.features.push({ type: 'Feature', properties: { kind: 'no-fly', name: 'Tower crane 塔吊' }, geometry: { type: 'Polygon', coordinates: [sq] } });
        const r = await fetch('/api/zones', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(cur.zones) });
        return { status: r.status, version: ((await r.json()) as { version: number }).version };
      }, square);
      const t0 = Date.now();
      expect(saved).toEqual({ status: 200, version: version0 + 1 });
      await op.page.waitForFunction(([x, y]) => document.elementsFromPoint(x, y).some((e) => e.classList.contains('zone-no-fly')), [at0.x, at0.y], { timeout: 2000, polling: 50 });
      const seenMs = Date.now() - t0;
      expect(seenMs).toBeLessThanOrEqual(2000);
      expect(await op.page.evaluate(() => (window as unknown as { droplineConsole: { zonesVersion(): number } }).droplineConsole.zonesVersion())).toBe(version0 + 1);
      // The open plan is checked against the new zones: refused, with the crane named and highlighted.
      const refusal = op.page.getByTestId('drop-refusal');
      await refusal.waitFor({ timeout: 10000 });
      expect(await refusal.innerText()).toMatch(/Tower crane/);
      expect(await op.page.locator('path.zone-offending.zone-no-fly').count()).toBe(1);
      expect(await op.page.getByTestId('btn-draft-dispatch').isDisabled()).toBe(true);
      await screenshot(op.page, 'pressure-live-zone');
      expect(op.errors).toEqual([]);
      expect(sup.errors).toEqual([]);
    } finally {
      await op.context.close();
      await sup.context.close();
    }
  }, 120000);

  it('zone editor: a shape drawn clockwise shows at once with its name, is stored anticlockwise, and plans carry no winding warning', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'supervisor');
      await page.getByTestId('tab-zones').click();
      await page.getByTestId('zones-edit').click();
      await page.locator('.leaflet-pm-toolbar').first().waitFor();
      await page.getByTestId('zone-kind').selectOption('sealed-zone');
      await page.getByTestId('zone-name').fill('Scaffold 脚手架');
      await page.locator('.leaflet-pm-icon-polygon').click();
      const box = (await page.getByTestId('map').boundingBox())!;
      // Clockwise on the screen (west → east along the top, then south): clockwise on the ground too.
      const corners = [[0.62, 0.72], [0.70, 0.72], [0.66, 0.80], [0.62, 0.72]];
      for (const [i, [fx, fy]] of corners.entries()) {
        await page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
        if (i < 3) await page.waitForFunction((n) => document.querySelectorAll('.leaflet-marker-pane .marker-icon:not(.cursor-marker)').length >= n, i + 1);
      }
      // Drawn: on the map at once, with its name, before anything is saved.
      await page.locator('path.zone-new.zone-sealed-zone').waitFor();
      await page.locator('.zone-label.editing').filter({ hasText: 'Scaffold 脚手架' }).waitFor();
      const version0 = Number(await page.getByTestId('zones-version').getAttribute('data-version'));
      await page.getByTestId('zones-save').click();
      await page.locator(`[data-testid="zones-version"][data-version="${version0 + 1}"]`).waitFor();
      const stored = await page.evaluate(async () => (await (await fetch('/api/zones')).json()) as { zones: { features: Array<{ properties: { name?: string }; geometry: { type: string; coordinates: number[][][] } }> } });
      const scaffold = stored.zones.features.find((f) => f.properties.name === 'Scaffold 脚手架')!;
      expect(scaffold.geometry.type).toBe('Polygon');
      const ring = scaffold.geometry.coordinates[0];
      let area2 = 0;
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) area2 += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
      expect(area2).toBeGreaterThan(0); // anticlockwise (RFC 7946)
      const plan = await page.evaluate(async (drop) => {
        const r = await fetch('/api/plans', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ drop }) });
        return (await r.json()) as { ok?: boolean; warnings?: Array<{ code: string }> };
      }, XINHUA_BLOCK);
      expect((plan.warnings ?? []).map((w) => w.code)).not.toContain('WINDING_NORMALISED');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('a laptop (1280×720): the command bar stays one line and a new job dispatches without scrolling; a phone (390 px): the supervisor\'s view fits the screen', async () => {
    const laptop = await browser.newContext({ baseURL: svc.url, viewport: { width: 1280, height: 720 }, locale: 'en-GB', timezoneId: 'Asia/Shanghai' });
    const phone = await browser.newContext({ baseURL: svc.url, viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true, locale: 'en-GB', timezoneId: 'Asia/Shanghai' });
    try {
      const page = await laptop.newPage();
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await waitVehicles(page, 2);
      await page.getByTestId('cmd-vehicle').selectOption({ index: 1 });
      await page.getByTestId('cmd-why').filter({ hasText: /./ }).waitFor();
      const tops = await Promise.all(['cmd-vehicle', 'cmd-status', 'cmd-hold', 'cmd-release', 'cmd-why'].map(async (id) => {
        const b = (await page.getByTestId(id).boundingBox())!;
        return Math.round(b.y + b.height / 2);
      }));
      expect(Math.max(...tops) - Math.min(...tops)).toBeLessThanOrEqual(4);
      expect((await page.getByTestId('command-bar').boundingBox())!.height).toBeLessThan(56);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
      await clickMapAt(page, ...XINHUA_BLOCK);
      await page.getByTestId('plan-summary').waitFor({ timeout: 30000 });
      const dispatch = (await page.getByTestId('btn-draft-dispatch').boundingBox())!;
      expect(dispatch.y + dispatch.height).toBeLessThanOrEqual(720);
      await screenshot(page, 'pressure-laptop-1280x720');
      // Created without dispatch: it waits in the queue (the supervisor's phone shows it).
      await page.getByTestId('btn-create-job').click();
      await page.getByTestId('job-detail').waitFor();

      const mobile = await phone.newPage();
      await mobile.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(mobile, 'supervisor');
      await mobile.getByTestId('job-row').first().waitFor();
      expect(await mobile.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      expect((await mobile.getByTestId('map').boundingBox())!.height).toBeGreaterThanOrEqual(300);
      for (const id of ['link-state', 'tab-jobs', 'tab-alerts', 'cmd-readonly']) {
        const b = (await mobile.getByTestId(id).boundingBox())!;
        expect(`${id}: ${b.x >= 0 && b.x + b.width <= 390}`).toBe(`${id}: true`);
      }
      await mobile.getByTestId('job-row').first().click();
      await mobile.getByTestId('job-detail').waitFor();
      expect(await mobile.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await mobile.getByTestId('tab-audit').click();
      await mobile.getByTestId('audit-row').first().waitFor();
      expect(await mobile.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await mobile.getByTestId('tab-jobs').click();
      await mobile.evaluate(() => window.scrollTo(0, 0));
      await screenshot(mobile, 'pressure-phone-390');
    } finally {
      await laptop.close();
      await phone.close();
    }
  }, 120000);

  it('a decluttered map: zone names never cover the drop pin, a drone or each other; drones and pins are drawn above zones', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await waitVehicles(page, 2);
      await page.locator('.zone-label.sealed-zone').first().waitFor();
      // A drop right at the centre of a sealed zone, where its name used to be written.
      await clickMapAt(page, ...GARDEN_COURT);
      await page.locator('path.draft-drop').waitFor();
      await page.waitForTimeout(300);
      const check = () => page.evaluate(() => {
        const rect = (e: Element) => e.getBoundingClientRect();
        const overlaps = (a: DOMRect, b: DOMRect) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
        const labels = [...document.querySelectorAll('.zone-label')].filter((e) => getComputedStyle(e).visibility !== 'hidden' && rect(e).width > 0);
        const things = [...document.querySelectorAll('path.draft-drop, path.drop-pin, .vehicle .arrow')].map(rect);
        const bad: string[] = [];
        labels.forEach((l, i) => {
          if (things.some((t) => overlaps(rect(l), t))) bad.push(`${l.textContent} covers a pin or a drone`);
          labels.slice(i + 1).forEach((m) => overlaps(rect(l), rect(m)) && bad.push(`${l.textContent} / ${m.textContent}`));
        });
        // Stacking: zones, then their names, then drop pins, then drones.
        const z = (sel: string) => Number(getComputedStyle(document.querySelector(sel)!.closest('.leaflet-pane')!).zIndex);
        const order = [z('path.zone-sealed-zone'), z('.zone-label'), z('path.draft-drop'), z('.vehicle')];
        return { bad, shown: labels.length, ordered: order.every((v, i) => i === 0 || v > order[i - 1]) };
      });
      const r = await check();
      expect(r.bad).toEqual([]);
      expect(r.shown).toBeGreaterThan(3);
      expect(r.ordered).toBe(true);
      // Zoomed out, rally point names give way first.
      const zoom = () => page.evaluate(() => (window as unknown as { droplineConsole: { zoom(): number } }).droplineConsole.zoom());
      while ((await zoom()) >= 13) {
        await page.evaluate(() => (document.querySelector('.leaflet-control-zoom-out') as HTMLElement).click());
        await page.waitForTimeout(400);
      }
      await page.waitForTimeout(300);
      expect((await check()).bad).toEqual([]);
      expect(await page.locator('.zone-label.rally-point').evaluateAll((els) => els.filter((e) => (e as HTMLElement).getBoundingClientRect().width > 0).length)).toBe(0);
      await screenshot(page, 'pressure-declutter');
      await page.getByTestId('btn-clear-job').click();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it("the supervisor's board: every open job worst first against the promise (late, at risk, on time), and drones in the air without a job", async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    const created: string[] = [];
    const policy0 = (await (await fetch(`${svc.url}/api/health`)).ok) ? (await svc.store.latestPolicy())!.policy : {};
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'supervisor');
      const setPromise = (min: number) => page.evaluate(async (m) => {
        const cur = (await (await fetch('/api/policy')).json()) as { policy: Record<string, unknown> };
        const r = await fetch('/api/policy', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...cur.policy, promiseMin: m }) });
        return r.status;
      }, min);
      // A job promised in 2 minutes cannot make it (its flight to the drop alone is longer): late at once.
      expect(await setPromise(2)).toBe(200);
      const operator = { id: 0, username: 'operator', role: 'operator' as const };
      const late = await svc.deliveries.create({ drop: RIVERSIDE_ESTATE, priority: 'normal' }, operator);
      expect(await setPromise(15)).toBe(200);
      const fine = await svc.deliveries.create({ drop: XINHUA_BLOCK, priority: 'urgent' }, operator);
      if (!late.ok || !fine.ok) throw new Error(`jobs not created: ${JSON.stringify([late, fine]).slice(0, 300)}`);
      created.push(late.value.id, fine.value.id);
      await page.getByTestId('tab-board').click();
      await page.locator(`[data-testid="board-row"][data-id="${late.value.id}"][data-outlook="late"]`).waitFor();
      await page.locator(`[data-testid="board-row"][data-id="${fine.value.id}"][data-outlook="on-time"]`).waitFor();
      const order = await page.getByTestId('board-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-outlook')));
      expect(order).toEqual([...order].sort((a, b) => ['late', 'at-risk', 'on-time'].indexOf(a!) - ['late', 'at-risk', 'on-time'].indexOf(b!)));
      expect(await page.getByTestId('board-summary').innerText()).toMatch(/\d+ open jobs: [1-9]\d* late/);
      expect(await page.locator(`[data-testid="board-row"][data-id="${late.value.id}"] [data-testid="board-promise"]`).innerText()).toMatch(/^Late · .* needs ≈ \d+:\d\d/);
      await page.getByTestId('board-flights').waitFor();
      await screenshot(page, 'pressure-board');
      // A click opens the job.
      await page.locator(`[data-testid="board-row"][data-id="${late.value.id}"] button.link`).click();
      await page.locator(`[data-testid="job-detail"][data-id="${late.value.id}"]`).waitFor();
      expect(errors).toEqual([]);
    } finally {
      for (const id of created) await svc.deliveries.abort(id, 'aborted by supervisor', {}).catch(() => undefined);
      svc.store.saveZones({ policy: policy0, by: 'supervisor', change: 'policy restored' });
      await context.close();
    }
  }, 120000);

  it('zh-CN: no English left on the main screens (a scan of what is shown; proper names, ids and units allowed)', async () => {
    const zones = (await (await fetch(`${svc.url}/api/health`)).ok) ? (await svc.store.latestZones())!.zones : null;
    const names = (zones?.features ?? []).map((f) => String(f.properties?.name ?? '')).filter(Boolean);
    const allowed = (text: string): string[] => {
      let rest = text;
      for (const n of [...names].sort((a, b) => b.length - a.length)) rest = rest.split(n).join(' ');
      rest = rest
        .replace(/https?:\/\/\S+/g, ' ')
        .replace(/\b(?:replay-[\w-]+|sim\d+|link\d+)\/\d+\b/g, ' ') // vehicle ids
        .replace(/\bD\d{5}\b/g, ' ') // job ids
        .replace(/\b(?:operator|supervisor|trainer|admin|system)\b/g, ' ') // user names
        .replace(/\b[A-Z0-9]+_[A-Z0-9_]+\b/g, ' ') // autopilot parameter names
        .replace(/\b(?:Dropline|Leaflet|OpenStreetMap|WGS-84|GCJ-02|GeoJSON|KML|JSON|GPS|EKF|ADS-B|URL|sysid)\b/g, ' ')
        .replace(/\b\d+(?:[.,]\d+)?\s*(?:km|m\/s|m|Wh|V|kg|µs|ms|s|Hz)\b/g, ' ') // quantities with units
        .replace(/\b(?:km|m\/s|Wh|kg|µs|ms)\b/g, ' ')
        .replace(/中文 \(简体\)|English/g, ' '); // the language chooser names each language in itself
      return rest.match(/[A-Za-z]{2,}/g) ?? [];
    };
    const scan = async (page: Page, where: string): Promise<string[]> => {
      const texts = await page.evaluate(() => {
        const out: Array<{ text: string; where: string }> = [];
        const visible = (el: Element) => (el as HTMLElement).checkVisibility?.({ checkOpacity: false, checkVisibilityCSS: true }) ?? true;
        const where = (el: Element) => {
          const t = el.closest('[data-testid]');
          return t ? t.getAttribute('data-testid')! : el.tagName.toLowerCase();
        };
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const el = n.parentElement;
          const text = (n.textContent ?? '').trim();
          if (!el || !text) continue;
          // Raw parameters in the audit log are data, as a vehicle's STATUSTEXT is.
          if (el.closest('.mono, script, style, #toasts, .leaflet-control-attribution')) continue;
          if (el.tagName !== 'OPTION' && !visible(el)) continue;
          out.push({ text, where: where(el) });
        }
        for (const el of document.querySelectorAll('input[placeholder]')) if (visible(el)) out.push({ text: (el as HTMLInputElement).placeholder, where: where(el) });
        for (const el of document.querySelectorAll('button[title], [role="button"][title]')) if (visible(el) && el.getAttribute('title')) out.push({ text: el.getAttribute('title')!, where: where(el) });
        return out;
      });
      const bad: string[] = [];
      for (const { text, where: w } of texts) {
        const words = allowed(text);
        if (words.length) bad.push(`${where} ${w}: "${text.slice(0, 80)}" (${words.join(' ')})`);
      }
      return [...new Set(bad)];
    };
    const op = await newPage(browser, svc.url);
    const sup = await newPage(browser, svc.url);
    try {
      const found: string[] = [];
      await op.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await op.page.evaluate(() => localStorage.setItem('dropline.lang', 'zh-CN'));
      await login(op.page, 'operator');
      expect(await op.page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
      await waitVehicles(op.page, 2);
      // At least one job to show (the tests above leave aborted ones; run alone, one is made and aborted here).
      await op.page.evaluate(async (drop) => {
        const list = (await (await fetch('/api/deliveries')).json()) as unknown[];
        if (list.length) return;
        const post = (path: string, body: unknown) => fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
        const d = (await (await post('/api/deliveries', { drop, priority: 'high' })).json()) as { id: string };
        await post(`/api/deliveries/${d.id}/abort`, {});
      }, XINHUA_BLOCK);
      await op.page.reload({ waitUntil: 'domcontentloaded' });
      await op.page.getByTestId('job-row').first().waitFor();
      found.push(...(await scan(op.page, 'operator jobs')));
      // A finished job's card (state, failure, re-plan, plan, timeline) and a new drop's card.
      await op.page.getByTestId('job-row').first().click();
      await op.page.getByTestId('job-detail').waitFor();
      await op.page.getByTestId('job-timeline').waitFor();
      await clickMapAt(op.page, ...XINHUA_BLOCK_EAST);
      await op.page.getByTestId('plan-summary').waitFor({ timeout: 30000 });
      await op.page.getByTestId('job-more').locator('summary').click();
      await op.page.getByTestId('cmd-vehicle').selectOption({ index: 1 });
      found.push(...(await scan(op.page, 'operator job card + new job')));
      await op.page.locator('[data-testid="vehicle-marker"]').first().click();
      await op.page.getByTestId('vehicle-popup').waitFor();
      found.push(...(await scan(op.page, 'operator drone popup')));
      await op.page.locator('.vehicle-popup .leaflet-popup-close-button').click();
      await op.page.getByTestId('vehicle-popup').waitFor({ state: 'detached' });
      for (const tab of ['vehicles', 'alerts', 'zones', 'settings']) {
        await op.page.getByTestId(`tab-${tab}`).click();
        await op.page.getByTestId(`panel-${tab}`).waitFor();
        await op.page.waitForTimeout(tab === 'vehicles' ? 700 : 200);
        found.push(...(await scan(op.page, `operator ${tab}`)));
      }
      await screenshot(op.page, 'pressure-zh-CN-operator');
      // A refusal at the click, in Chinese.
      await op.page.getByTestId('tab-jobs').click();
      await clickMapAt(op.page, ...HOSPITAL_HELIPAD);
      await op.page.getByTestId('drop-refusal').waitFor();
      found.push(...(await scan(op.page, 'operator refusal')));

      await sup.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await sup.page.evaluate(() => localStorage.setItem('dropline.lang', 'zh-CN'));
      await login(sup.page, 'supervisor');
      for (const tab of ['jobs', 'audit', 'zones']) {
        await sup.page.getByTestId(`tab-${tab}`).click();
        await sup.page.getByTestId(`panel-${tab}`).waitFor();
        if (tab === 'audit') await sup.page.getByTestId('audit-row').first().waitFor();
        if (tab === 'zones') {
          await sup.page.getByTestId('zones-edit').click();
          await sup.page.locator('.leaflet-pm-toolbar').first().waitFor();
          await sup.page.locator('.leaflet-pm-icon-polygon').click();
          await sup.page.locator('.button-container.active .leaflet-pm-actions-container').first().waitFor();
        }
        found.push(...(await scan(sup.page, `supervisor ${tab}`)));
      }
      await screenshot(sup.page, 'pressure-zh-CN-supervisor');
      expect(found).toEqual([]);
      expect(op.errors).toEqual([]);
      expect(sup.errors).toEqual([]);
    } finally {
      await op.context.close();
      await sup.context.close();
    }
  }, 180000);
});
