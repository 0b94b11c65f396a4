/**
 * The commissioning checklist in headless Chromium against the real service and its built-in
 * simulator (10×), whose vehicle has the GCS failsafe off and ArduCopter's 3S battery settings on
 * the demo airframe's 6S pack: an operator sees the checklist without the Apply button; a supervisor
 * sees what differs, grouped (failsafe, battery), applies the profile with one button, watches the
 * progress and gets the result: every line right, the fence capacity measured, audited. In Chinese too.
 */
import type { Browser, Page } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';

type Service = Awaited<ReturnType<typeof startService>>;

const VID = 'sim0/1';

async function openChecklist(page: Page): Promise<void> {
  await page.getByTestId('tab-vehicles').click();
  await page.locator(`[data-testid="vehicle-row"][data-id="${VID}"] button`).click();
  await page.getByTestId('setup-table').waitFor();
}

const row = (page: Page, name: string) => page.locator(`[data-testid="setup-row"][data-name="${name}"]`);

browserSuite('commissioning checklist in Chromium against the service', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    svc = await startService({
      zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('web-setup'), simulators: 1, simSpeedup: 10, logLevel: 'warn',
      // A vehicle not set up for deliveries: GCS failsafe off, battery settings for a 3S 3300 mAh pack.
      simParams: { FS_GCS_ENABLE: 0, BATT_CAPACITY: 3300, MOT_BAT_VOLT_MAX: 0, BATT_LOW_VOLT: 10.5, BATT_CRT_VOLT: 0 },
    });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
    const v = () => svc.fleet.get(VID)?.state;
    const until = Date.now() + 60000;
    while (!(v()?.connected && v()?.home) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  }, 120000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60000);

  it('operator: the checklist names what differs, without an Apply button', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await openChecklist(page);
      await row(page, 'FS_GCS_ENABLE').waitFor();
      expect(await row(page, 'FS_GCS_ENABLE').getAttribute('data-ok')).toBe('false');
      expect(await page.getByTestId('setup-summary').getAttribute('data-ready')).toBe('false');
      expect(await page.getByTestId('setup-apply').count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120000);

  it('supervisor: one Apply sets every parameter (failsafe and battery), shows progress and the result; audited; in Chinese', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'supervisor');
      await openChecklist(page);
      await row(page, 'BATT_CAPACITY').waitFor();
      // Each line: parameter, wanted, vehicle has, ok, reboot.
      expect(await row(page, 'BATT_CAPACITY').locator('td').allTextContents()).toEqual(['BATT_CAPACITY', '20000', '3300', '✗ differs', '']);
      expect(await row(page, 'BATT_LOW_VOLT').getAttribute('data-ok')).toBe('false');
      expect(await row(page, 'GRIP_ENABLE').locator('td').nth(4).textContent()).toBe('reboot');
      expect(await page.locator('[data-testid="setup-group"][data-check="battery_match"]').textContent()).toBe('Battery matches the airframe');
      expect(await page.getByTestId('setup-fence').textContent()).toMatch(/^Fence capacity: 60 items \(airframe profile/);
      await screenshot(page, 'setup-before');

      await page.getByTestId('setup-apply').click();
      await page.getByTestId('confirm-dialog').waitFor();
      expect(await page.getByTestId('confirm-dialog').textContent()).toMatch(/4 settings will be changed/);
      await page.getByTestId('confirm-ok').click();
      await page.getByTestId('setup-status').filter({ hasText: /^Applying/ }).waitFor();
      expect(await page.getByTestId('setup-apply').isDisabled()).toBe(true);
      await page.getByTestId('setup-result').waitFor({ timeout: 120000 });
      expect(await page.getByTestId('setup-summary').getAttribute('data-ready')).toBe('true');
      expect(await page.locator('[data-testid="setup-row"][data-ok="false"]').count()).toBe(0);
      const applied = await page.getByTestId('setup-applied').allTextContents();
      expect(applied).toEqual(expect.arrayContaining(['FS_GCS_ENABLE: 0 → 1', 'BATT_CAPACITY: 3300 → 20000', 'BATT_LOW_VOLT: 10.5 → 21', 'MOT_BAT_VOLT_MAX: 0 → 25.2']));
      expect(await page.getByTestId('setup-result').textContent()).toMatch(/4 of 4 settings applied/);
      expect(await page.getByTestId('setup-fence').textContent()).toMatch(/measured on this vehicle/);
      await screenshot(page, 'setup-applied');
      // The server did it, and has it on record.
      expect(svc.sims!.instances[0].getParam('BATT_CAPACITY')).toBe(20000);
      const audit = await svc.store.queryAudit({ action: 'vehicle.setup', vehicleId: VID });
      expect(audit.find((a) => a.username === 'supervisor')?.outcome).toMatchObject({ ok: true, ready: true });

      await page.getByTestId('lang-select').selectOption('zh-CN');
      await page.getByTestId('setup-panel').locator('h3').filter({ hasText: `调试 ${VID}` }).waitFor();
      expect(await page.getByTestId('setup-table').locator('thead th').allTextContents()).toEqual(['参数', '期望值', '当前值', '是否正确', '需要重启']);
      expect(await page.getByTestId('setup-summary').textContent()).toBe('就绪：无人机与配送配置一致。');
      await page.getByTestId('lang-select').selectOption('en');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 240000);
});
