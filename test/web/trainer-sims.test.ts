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
});
