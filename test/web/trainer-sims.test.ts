/**
 * The trainer's simulated vehicles in headless Chromium against the real service: the kinds this
 * service can start (built-in only without SITL binaries; ArduCopter SITL too when ARDUPILOT_SITL
 * names one), one started from the console beside the others with its kind shown, then stopped.
 */
import type { Browser } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';
import { sitlAvailable } from '../../sims/sitl';

type Service = Awaited<ReturnType<typeof startService>>;
const AP = process.env.ARDUPILOT_SITL && sitlAvailable(process.env.ARDUPILOT_SITL) ? process.env.ARDUPILOT_SITL : undefined;

browserSuite('trainer starts and stops simulated vehicles from the console', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    const defaults = (process.env.ARDUPILOT_SITL_DEFAULTS ?? '').split(',').map((f) => f.trim()).filter(Boolean);
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('web-sims'), simulators: 1, simSpeedup: 5, logLevel: 'warn', sitl: AP ? { arducopter: AP, arducopterDefaults: defaults } : undefined });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
  }, 120000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60000);

  it('the kind menu lists what the service can start; a vehicle of that kind starts beside sim0 and stops again', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'trainer');
      await page.getByTestId('panel-trainer').waitFor();
      await page.getByTestId('sim-row').first().waitFor();
      const kinds = await page.getByTestId('sim-kind').locator('option').allTextContents();
      expect(kinds).toEqual(AP ? ['built-in simulator', 'ArduCopter SITL'] : ['built-in simulator']);
      const kind = AP ? 'arducopter-sitl' : 'builtin';
      await page.getByTestId('sim-kind').selectOption(kind);
      await page.getByTestId('sim-add').click();
      const row = page.locator('[data-testid="sim-row"][data-id="sim1/2"]');
      await row.waitFor({ timeout: 120000 });
      expect(await row.getByTestId('sim-kind-label').textContent()).toBe(`${AP ? 'ArduCopter SITL' : 'built-in simulator'} `);
      await page.locator('[data-testid="vehicle-marker"][data-id="sim1/2"]').waitFor({ timeout: 120000 });
      await screenshot(page, 'trainer-sim-kinds');
      await row.getByTestId('sim-remove').click();
      await row.waitFor({ state: 'detached', timeout: 60000 });
      expect(svc.fleet.get('sim1/2')).toBeUndefined();
      expect((await svc.store.queryAudit({ action: 'sim.add' })).find((a) => a.username === 'trainer')?.params).toMatchObject({ kind, count: 1 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 240000);

  it('scenarios are chosen from a list with what each does; a running one shows its steps on the simulator\'s clock until it is done', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'trainer');
      await page.getByTestId('panel-trainer').waitFor();
      await page.getByTestId('sim-row').first().waitFor();
      // A list: every scenario by name, with its description; nothing to run until one is chosen.
      const items = page.getByTestId('scenario-item');
      await items.first().waitFor();
      expect(await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(['demo', 'link-loss', 'low-battery', 'gps-loss', 'strong-wind', 'release-failure', 'lossy-link', 'adsb-intruder']);
      const low = page.locator('[data-testid="scenario-item"][data-name="low-battery"]');
      expect(await low.getByTestId('scenario-name').textContent()).toBe('Low battery');
      expect(await low.getByTestId('scenario-description').textContent()).toBe('The first vehicle starts with 40 % and sags under load from t = 90 s.');
      expect(await page.getByTestId('sim-scenario-start').isDisabled()).toBe(true);
      expect(await page.getByTestId('scenario-none').textContent()).toBe('No scenario running.');
      await low.getByTestId('scenario-radio').check();
      await page.getByTestId('sim-scenario-start').click();

      // Running: the first step (at 0 s) applied on the simulator's clock, the next one named with its time.
      const sel = '[data-testid="scenario-progress"][data-vehicle="sim0/1"][data-name="low-battery"]';
      const card = page.locator(sel);
      await page.locator(`${sel}[data-status="running"]`).waitFor({ timeout: 30000 });
      await card.getByTestId('scenario-next').filter({ hasText: 'Next: battery voltage sags 12 % at 1:30' }).waitFor();
      expect(await card.getByTestId('scenario-current').textContent()).toMatch(/^Step 1 of 2: battery at 40 % \(at 0:0\d\)$/);
      expect(await card.getByTestId('scenario-step').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['done', 'pending']);
      // The time shown is the simulator's: it moves with each reading and agrees with what the service reports.
      const simS = async () => Number(await card.getAttribute('data-sim-s'));
      const s1 = await simS();
      await page.waitForFunction((v) => Number(document.querySelector('[data-testid="scenario-progress"][data-vehicle="sim0/1"]')?.getAttribute('data-sim-s')) > v, s1, { timeout: 30000 });
      const tok = (await (await fetch(`${svc.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'trainer', password: 'trainer' }) })).json()) as { token: string };
      const api = (await (await fetch(`${svc.url}/api/sim`, { headers: { authorization: `Bearer ${tok.token}` } })).json()) as { instances: Array<{ vehicleId: string; scenario: { simS: number; steps: unknown[] } | null }> };
      const server = api.instances.find((i) => i.vehicleId === 'sim0/1')!.scenario!;
      expect(server.steps.length).toBe(2);
      expect(Math.abs(server.simS - (await simS()))).toBeLessThan(30);
      // The battery really is at 40 % on the simulated vehicle.
      for (let i = 0; i < 300 && !((svc.fleet.get('sim0/1')?.state.battery?.remainingPct ?? 100) <= 40.5); i++) await new Promise((r) => setTimeout(r, 100));
      expect(svc.fleet.get('sim0/1')!.state.battery!.remainingPct).toBeLessThanOrEqual(40.5);

      // Done after its last step (90 s of sim time): every step applied, the clock stopped there.
      await page.locator(`${sel}[data-status="done"]`).waitFor({ timeout: 120000 });
      expect(await card.getByTestId('scenario-status').textContent()).toBe('Done');
      expect(await card.getByTestId('scenario-step').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['done', 'done']);
      expect(await simS()).toBeGreaterThanOrEqual(90);
      expect(await card.getByTestId('scenario-next').count()).toBe(0);
      // In Chinese.
      await page.getByTestId('lang-select').selectOption('zh-CN');
      await card.getByTestId('scenario-status').filter({ hasText: '已完成' }).waitFor();
      expect(await low.getByTestId('scenario-name').textContent()).toBe('电量不足');
      expect(await card.getByTestId('scenario-current').textContent()).toMatch(/^第 2\/2 步：电池电压下降 12%（1:3\d）$/);
      await screenshot(page, 'trainer-scenario-progress');
      expect((await svc.store.queryAudit({ action: 'sim.scenario' })).find((a) => a.username === 'trainer')?.params).toMatchObject({ name: 'low-battery' });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 240000);
});
