/**
 * The console in headless Chromium against the real service with two simulated vehicles (10×):
 * each role logs in and sees what it may do; a whole delivery from a click on the map to completed;
 * confirmations, language switch, zone history. Screenshots go to test-artifacts/.
 */
import type { Browser, Page } from 'playwright-core';
import type { FeatureCollection, Polygon } from 'geojson';
import { browserSuite, clickMapAt, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, waitVehicles, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';

type Service = Awaited<ReturnType<typeof startService>>;

/** Vertex average of a polygon's outer ring, [lon, lat]: inside for the demo's compact sealed zones. */
function ringCentre(p: Polygon): [number, number] {
  const ring = p.coordinates[0].slice(0, -1);
  return [ring.reduce((s, c) => s + c[0], 0) / ring.length, ring.reduce((s, c) => s + c[1], 0) / ring.length];
}


browserSuite('web console in Chromium against the service', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('web'), simulators: 2, simSpeedup: 10, logLevel: 'warn' });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
  }, 120000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60000);

  it('refuses a wrong password with a readable message', async () => {
    const { context, page } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await page.getByTestId('login-username').fill('operator');
      await page.getByTestId('login-password').fill('wrong');
      await page.getByTestId('login-submit').click();
      await page.getByTestId('login-error').filter({ hasText: /wrong user name or password/i }).waitFor();
      expect(await page.getByTestId('console').count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 60000);

  it('operator: fly buttons, job form, live vehicles; no audit or training; tiles missing degrade to a plain background', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await login(page, 'operator'); // default base layer: OpenStreetMap tiles, unreachable on this machine
      expect(await page.getByTestId('user-badge').getAttribute('data-role')).toBe('operator');
      await page.locator('[data-testid="link-state"][data-state="live"]').waitFor();
      await waitVehicles(page, 2);
      await page.locator('[data-testid="vehicle-marker"][data-stale="false"]').first().waitFor();
      for (const id of ['cmd-hold', 'cmd-rtl', 'cmd-land', 'job-new-form', 'tab-jobs', 'tab-zones']) await page.getByTestId(id).waitFor();
      expect(await page.getByTestId('tab-audit').count()).toBe(0);
      expect(await page.getByTestId('tab-trainer').count()).toBe(0);
      await page.getByTestId('tab-vehicles').click();
      await page.locator('[data-testid="vehicle-row"][data-stale="false"]').nth(1).waitFor();
      await page.getByTestId('tab-jobs').click();
      // No network here: the tile layer must give way to the plain background, never hang.
      await page.locator('[data-testid="basemap-state"][data-state="fallback"]').waitFor({ timeout: 30000 });
      expect(await page.locator('.leaflet-overlay-pane path').count()).toBeGreaterThan(5);
      // Nothing is selected until the operator chooses; a drone on the ground has nothing to hold:
      // HOLD is disabled with the reason, and Alt+H says why instead of asking.
      expect(await page.getByTestId('cmd-vehicle').inputValue()).toBe('');
      const first = (await page.getByTestId('cmd-vehicle').locator('option').nth(1).getAttribute('value'))!;
      await page.getByTestId('cmd-vehicle').selectOption(first);
      await page.locator(`[data-testid="vehicle-marker"][data-id="${first}"][data-selected="true"]`).waitFor();
      await page.getByTestId('cmd-why').filter({ hasText: /on the ground/i }).waitFor();
      for (const id of ['cmd-hold', 'cmd-rtl', 'cmd-land', 'cmd-continue', 'cmd-release']) expect(`${id}:${await page.getByTestId(id).isDisabled()}`).toBe(`${id}:true`);
      await page.keyboard.press('Alt+h');
      await page.getByTestId('toast-error').filter({ hasText: /on the ground/i }).waitFor();
      expect(await page.getByTestId('confirm-dialog').count()).toBe(0);
      await screenshot(page, 'operator');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('supervisor: read-only (no fly or dispatch buttons), audit log, zone editing and history', async () => {
    const { context, page, errors } = await newPage(browser, `${svc.url}`);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'supervisor');
      expect(await page.getByTestId('user-badge').getAttribute('data-role')).toBe('supervisor');
      await page.getByTestId('cmd-readonly').waitFor();
      for (const id of ['cmd-hold', 'cmd-rtl', 'cmd-land', 'cmd-release', 'job-new-form', 'btn-dispatch']) expect(`${id}:${await page.getByTestId(id).count()}`).toBe(`${id}:0`);
      await page.getByTestId('tab-audit').click();
      await page.getByTestId('audit-row').first().waitFor();
      await screenshot(page, 'supervisor-audit');
      await page.getByTestId('tab-zones').click();
      await page.getByTestId('zones-edit').waitFor();
      await page.getByTestId('zones-history').locator('li').first().waitFor();
      await page.getByTestId('zones-edit').click();
      await page.locator('.leaflet-pm-toolbar').first().waitFor();
      // Draw a no-fly triangle with leaflet-geoman: three clicks, then the first vertex again to close it.
      await page.locator('.leaflet-pm-icon-polygon').click();
      const box = (await page.getByTestId('map').boundingBox())!;
      const corners = [[0.12, 0.2], [0.22, 0.2], [0.17, 0.3], [0.12, 0.2]];
      const vertices = page.locator('.leaflet-marker-pane .marker-icon:not(.cursor-marker)');
      for (const [i, [fx, fy]] of corners.entries()) {
        await page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
        if (i < 3) await page.waitForFunction((n) => document.querySelectorAll('.leaflet-marker-pane .marker-icon:not(.cursor-marker)').length >= n, i + 1);
      }
      expect(await vertices.count()).toBe(0); // the closing click ended the drawing
      await page.getByTestId('zones-dirty').filter({ hasText: /unsaved/i }).waitFor();
      await screenshot(page, 'supervisor-zone-editor');
      await page.getByTestId('zones-cancel').click();
      await page.getByTestId('confirm-ok').click();
      await page.getByTestId('zones-edit').waitFor();

      // Import: a broken file is refused with the server's reason; a valid one (today's zones plus a new
      // no-fly square east of the centre) is loaded into the editor and saved as the next version.
      await page.getByTestId('zone-import-format').selectOption('geojson');
      await page.getByTestId('zone-import-text').fill('{"type":"FeatureCollection","features":[');
      await page.getByTestId('zones-import').click();
      await page.getByTestId('zones-error').filter({ hasText: /INVALID_IMPORT/ }).waitFor();
      const version0 = Number(await page.getByTestId('zones-version').getAttribute('data-version'));
      const current = await page.evaluate(async () => (await (await fetch('/api/zones')).json()) as { zones: FeatureCollection });
      const square = [[114.405, 34.054], [114.407, 34.054], [114.407, 34.056], [114.405, 34.056], [114.405, 34.054]];
      current.zones.features.push({ type: 'Feature', properties: { kind: 'no-fly', name: 'Test crane' }, geometry: { type: 'Polygon', coordinates: [square] } });
      await page.getByTestId('zone-import-text').fill(JSON.stringify(current.zones));
      await page.getByTestId('zones-import').click();
      await page.getByTestId('zones-dirty').filter({ hasText: /unsaved/i }).waitFor();
      await page.getByTestId('zones-save').click();
      await page.locator(`[data-testid="zones-version"][data-version="${version0 + 1}"]`).waitFor();
      await page.getByTestId('zones-history').locator('li').nth(1).waitFor();
      expect(await page.getByTestId('tab-trainer').count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('trainer: simulator list and fault controls; may fly simulated vehicles; no audit or zone editing', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'trainer');
      await page.getByTestId('panel-trainer').waitFor();
      await page.getByTestId('sim-row').nth(1).waitFor();
      await page.getByTestId('replay-start').waitFor();
      await page.getByTestId('cmd-hold').waitFor();
      // A link-loss fault on the second simulator: its marker turns stale, and fresh again once cleared.
      const victim = (await page.getByTestId('sim-row').nth(1).getAttribute('data-id'))!;
      const marker = (stale: boolean) => page.locator(`[data-testid="vehicle-marker"][data-id="${victim}"][data-stale="${stale}"]`);
      await marker(false).waitFor({ timeout: 60000 });
      await page.getByTestId('fault-vehicle').selectOption(victim);
      await page.getByTestId('fault-kind').selectOption('link-loss');
      await page.getByTestId('fault-inject').click();
      await marker(true).waitFor({ timeout: 30000 });
      await screenshot(page, 'trainer-link-loss');
      await page.getByTestId('fault-vehicle').selectOption(victim);
      await page.getByTestId('fault-kind').selectOption('link-loss');
      await page.getByTestId('fault-clear').click();
      await marker(false).waitFor({ timeout: 60000 });
      expect(await page.getByTestId('tab-audit').count()).toBe(0);
      await page.getByTestId('tab-zones').click();
      expect(await page.getByTestId('zones-edit').count()).toBe(0);
      await page.getByTestId('tab-trainer').click();
      await screenshot(page, 'trainer');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('admin: every section; the console switches to Chinese and back', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'admin');
      for (const id of ['tab-jobs', 'tab-vehicles', 'tab-alerts', 'tab-zones', 'tab-audit', 'tab-trainer', 'tab-settings', 'cmd-hold', 'job-new-form']) await page.getByTestId(id).waitFor();
      await page.getByTestId('lang-select').selectOption('zh-CN');
      await page.getByTestId('tab-jobs').filter({ hasText: '任务' }).waitFor();
      await page.getByTestId('cmd-hold').filter({ hasText: '悬停' }).waitFor();
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
      await screenshot(page, 'admin-zh-CN');
      await page.getByTestId('lang-select').selectOption('en');
      await page.getByTestId('tab-jobs').filter({ hasText: 'Jobs' }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('GCJ-02 base map: overlays shift onto the provider\'s streets and a click still yields the WGS-84 point', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    // One tiny PNG for every tile, so the GCJ-02 layer "loads" without network access.
    const tile = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await page.locator('.leaflet-overlay-pane path').first().waitFor();
      const [lat, lon] = [34.0645, 114.3796];
      const pt = (): Promise<{ x: number; y: number }> => page.evaluate(([la, lo]) => (window as unknown as { droplineConsole: { containerPoint(a: number, b: number): { x: number; y: number } } }).droplineConsole.containerPoint(la, lo), [lat, lon]);
      const before = await pt();
      await page.getByTestId('tab-settings').click();
      await page.getByTestId('settings-basemap').selectOption('gcj02');
      await page.getByTestId('settings-basemap-url').fill(tile);
      await page.getByTestId('settings-apply').click();
      await page.locator('[data-testid="basemap-state"][data-state="ok"][data-provider="gcj02"]').waitFor();
      const after = await pt();
      // GCJ-02 moves Fugou by a few hundred metres: tens of pixels at this zoom.
      expect(Math.hypot(after.x - before.x, after.y - before.y)).toBeGreaterThan(10);
      const box = await page.getByTestId('map').boundingBox();
      await page.mouse.click(box!.x + after.x, box!.y + after.y);
      expect(Math.abs(Number(await page.getByTestId('job-drop-lat').inputValue()) - lat)).toBeLessThan(2e-5);
      expect(Math.abs(Number(await page.getByTestId('job-drop-lon').inputValue()) - lon)).toBeLessThan(2e-5);
      await screenshot(page, 'operator-gcj02');
      await page.getByTestId('tab-settings').click();
      await page.getByTestId('settings-reset').click();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('operator: a whole delivery from a click on the map to completed, with preflight checklist and proof of drop', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await page.locator('[data-testid="link-state"][data-state="live"]').waitFor();
      await waitVehicles(page, 2);
      const zones = await page.evaluate(async () => (await (await fetch('/api/zones')).json()) as { zones: FeatureCollection });
      const sealed = zones.zones.features.find((f) => f.properties?.kind === 'sealed-zone' && !f.properties?.minAltM && f.geometry.type === 'Polygon')
        ?? zones.zones.features.find((f) => f.properties?.kind === 'sealed-zone' && f.geometry.type === 'Polygon');
      if (!sealed) throw new Error('the demo zones have no sealed zone');
      const [lon, lat] = ringCentre(sealed.geometry as Polygon);

      await clickMapAt(page, lon, lat);
      const typedLat = Number(await page.getByTestId('job-drop-lat').inputValue());
      const typedLon = Number(await page.getByTestId('job-drop-lon').inputValue());
      expect(Math.abs(typedLat - lat)).toBeLessThan(1e-4);
      expect(Math.abs(typedLon - lon)).toBeLessThan(1e-4);

      await page.getByTestId('job-priority').selectOption('urgent');
      await page.getByTestId('job-more').locator('summary').click();
      await page.getByTestId('job-payload').fill('Insulin, 2 boxes');
      await page.getByTestId('job-requester').fill('Resident 3-201');
      await page.getByTestId('btn-plan-preview').click();
      await page.getByTestId('plan-summary').waitFor();
      expect(await page.getByTestId('plan-distance').innerText()).toMatch(/\d+(\.\d+)? k?m/);
      expect(await page.locator('.planned-route').count()).toBeGreaterThan(0);
      await screenshot(page, 'delivery-1-plan-preview');

      await page.getByTestId('btn-create-job').click();
      const detail = page.getByTestId('job-detail');
      await detail.waitFor();
      const jobId = await detail.getAttribute('data-id');
      expect(jobId).toBeTruthy();
      await page.locator(`[data-testid="job-row"][data-id="${jobId}"]`).waitFor();

      await page.getByTestId('btn-preflight').click();
      await page.getByTestId('preflight-check').first().waitFor();
      const checks = await page.getByTestId('preflight-check').evaluateAll((els) => els.map((e) => ({ name: e.getAttribute('data-name'), ok: e.getAttribute('data-ok') })));
      expect(checks.length).toBeGreaterThan(3);
      expect(checks.filter((c) => c.ok !== 'true')).toEqual([]);
      await screenshot(page, 'delivery-2-preflight');

      await page.getByTestId('btn-dispatch').click();
      await page.locator('[data-testid="job-state"][data-state="in-flight"], [data-testid="job-state"][data-state="delivered"], [data-testid="job-state"][data-state="returning"]').first().waitFor({ timeout: 120000 });
      const vehicleId = await page.getByTestId('job-vehicle').innerText();
      await page.locator(`[data-testid="vehicle-marker"][data-id="${vehicleId}"][data-stale="false"]`).waitFor();
      await screenshot(page, 'delivery-3-in-flight');

      await page.locator('[data-testid="job-state"][data-state="completed"]').waitFor({ timeout: 240000 });
      await page.getByTestId('proof-of-drop').waitFor();
      await screenshot(page, 'delivery-4-completed');
      expect(await page.getByTestId('proof-of-drop').innerText()).toMatch(/\d+\.\d{6}, \d+\.\d{6}/);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 420000);

  it('trainer: replays the delivered flight, with a timeline slider over the whole recording that seeks the replay', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'trainer');
      await page.getByTestId('panel-trainer').waitFor();
      await page.getByTestId('replay-flight').locator('option').first().waitFor({ state: 'attached' });
      // Flights are listed by job, zone, date, length and outcome; the flight id is only a tooltip.
      const first = page.getByTestId('replay-flight').locator('option').first();
      const flightId = (await first.getAttribute('value'))!;
      const label = await first.innerText();
      expect(label).not.toContain(flightId);
      expect(label).toMatch(/^D\d+ · .*\d\d:\d\d:\d\d/);
      expect(await first.getAttribute('data-job')).toMatch(/^D\d+$/);
      expect(await first.getAttribute('data-outcome')).toMatch(/^[a-z-]+$/);
      await page.getByTestId('replay-speed').fill('20');
      await page.getByTestId('replay-start').click();
      await page.getByTestId('replay-status').waitFor();
      await page.waitForFunction(() => Number((document.querySelector('[data-testid="replay-slider"]') as HTMLInputElement | null)?.max ?? 0) >= 5, null, { timeout: 60000 });
      await page.locator('[data-testid="vehicle-marker"].replay').first().waitFor();
      // Paused, so that a seek stays where it went (a playing replay moves on at once).
      await page.getByTestId('replay-pause').click();
      await page.getByTestId('replay-pause').filter({ hasText: 'Resume' }).waitFor();
      // Scrub back: the position label follows the slider, in flight time (m:ss since the recording began), not record counts.
      const slider = page.getByTestId('replay-slider');
      await slider.focus();
      await page.keyboard.press('Home');
      expect(await page.getByTestId('replay-position').innerText()).toMatch(/^0:00 \/ \d+:\d\d · /);
      // The slider spans the whole flight in seconds; releasing it seeks the replay there.
      const total = Number(await slider.getAttribute('max'));
      expect(total).toBeGreaterThanOrEqual(3);
      await slider.focus();
      await page.keyboard.press('End');
      await page.waitForFunction(
        () => /^(\d+:\d\d) \/ \1 · .*\d\d:\d\d:\d\d/.test(document.querySelector('[data-testid="replay-position"]')?.textContent ?? ''),
        null,
        { timeout: 30000 },
      );
      expect(await slider.inputValue()).toBe(String(total));
      await slider.focus();
      await page.keyboard.press('Home');
      await page.waitForFunction(
        () => /^0:0[01] \/ \d+:\d\d · .*\d\d:\d\d:\d\d/.test(document.querySelector('[data-testid="replay-position"]')?.textContent ?? ''),
        null,
        { timeout: 30000 },
      );
      await screenshot(page, 'trainer-replay');
      await page.getByTestId('replay-stop').click();
      await page.getByTestId('replay-status').waitFor({ state: 'detached' });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180000);
});
