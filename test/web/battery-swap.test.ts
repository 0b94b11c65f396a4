/**
 * The "Battery swapped" button in headless Chromium against the real service and its built-in
 * simulator (10×): an operator selects the vehicle, sees that no swap is recorded, records one with
 * a pack label (shown as text, never as HTML) and sees "Battery swapped HH:MM:SS by operator"; the
 * button is disabled with its reason while the vehicle is armed. A supervisor's operations report
 * (in Chinese, the console's stored language) shows the vehicle's battery cycles.
 */
import type { Browser, Page } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';

type Service = Awaited<ReturnType<typeof startService>>;

const VID = 'sim0/1';
const PACK = 'PK-7 <img src=x onerror=alert(1)>';

async function selectVehicle(page: Page): Promise<void> {
  await page.getByTestId('tab-vehicles').click();
  await page.locator(`[data-testid="vehicle-row"][data-id="${VID}"] button`).click();
  await page.getByTestId('battery-panel').waitFor();
}

async function until(what: string, fn: () => boolean | undefined, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

browserSuite('battery swaps in Chromium against the service', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('web-battery'), simulators: 1, simSpeedup: 10, logLevel: 'warn' });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
    await until('the vehicle', () => !!svc.fleet.get(VID)?.state.connected && !!svc.fleet.get(VID)?.state.battery);
  }, 120000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60000);

  it('operator: records a swap with a pack label, sees who and when; disabled with its reason while armed', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await selectVehicle(page);
      const last = page.getByTestId('battery-last');
      await page.waitForFunction(() => document.querySelector('[data-testid="battery-last"]')?.textContent === 'No battery swap recorded.');
      await page.getByTestId('battery-pack').fill(PACK);
      await page.getByTestId('battery-note').fill('charged pack from the van');
      await page.getByTestId('battery-swap').click();
      await page.getByTestId('confirm-ok').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="battery-last"]')?.getAttribute('data-source') === 'operator');
      expect(await last.textContent()).toMatch(/^Battery swapped \d\d:\d\d:\d\d by operator · pack PK-7 <img src=x onerror=alert\(1\)> · charged pack from the van$/);
      expect(await page.getByTestId('battery-panel').locator('img').count()).toBe(0);
      await screenshot(page, 'battery-swapped');

      // Armed (in flight): the button is disabled and says why.
      const v = svc.fleet.get(VID)!;
      // GUIDED and arming are refused until the vehicle warmed up (GPS, EKF, home: ~41 sim-seconds after boot).
      const accepted = async (what: string, cmd: () => Promise<{ ok: boolean }>) => {
        const end = Date.now() + 90_000;
        while (!(await cmd()).ok) {
          if (Date.now() > end) throw new Error(`${what} refused for 90 s`);
          await new Promise((r) => setTimeout(r, 500));
        }
      };
      await accepted('GUIDED', () => v.setMode('GUIDED'));
      await until('GUIDED', () => v.state.mode === 'GUIDED', 20_000);
      await accepted('arm', () => v.arm(false));
      expect((await v.takeoff(10)).ok).toBe(true);
      await page.waitForFunction(() => (document.querySelector('[data-testid="battery-swap"]') as HTMLButtonElement | null)?.disabled === true);
      expect(await page.getByTestId('battery-swap-why').textContent()).toBe('Armed: land and disarm before swapping the battery');
      expect(await page.getByTestId('battery-swap').getAttribute('title')).toBe('Armed: land and disarm before swapping the battery');
      await v.land();
      await page.waitForFunction(() => (document.querySelector('[data-testid="battery-swap"]') as HTMLButtonElement | null)?.disabled === false, undefined, { timeout: 90_000 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 240000);

  it("supervisor: the operations report shows the vehicle's battery cycles, in the console's language", async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'supervisor');
      await page.evaluate(() => localStorage.setItem('dropline.lang', 'zh-CN'));
      const day = new Date().toISOString().slice(0, 10);
      await page.goto(`/reports?from=${day}&to=${day}&tzOffsetMin=0`, { waitUntil: 'domcontentloaded' });
      const section = page.locator('section', { hasText: '电池循环' });
      await section.locator('tbody tr').first().waitFor();
      expect(await section.locator('h2').textContent()).toMatch(/^无人机：飞行小时、结束的飞行与电池循环/);
      expect(await section.locator('thead th').allTextContents()).toEqual(['无人机', '飞行', '飞行小时', '结束的飞行', '电池循环']);
      const row = await section.locator('tbody tr', { hasText: VID }).locator('td').allTextContents();
      expect(row[0]).toBe(VID);
      expect(row[4]).toBe('1');
      await screenshot(page, 'battery-cycles-report');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);
});
