/**
 * The console keeps an honest link state across a server restart: when the service goes away the
 * header says the link is lost and every vehicle is drawn stale; when the service comes back on the
 * same port and data directory the console reconnects by itself and shows live data again.
 */
import type { Page } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';

type Service = Awaited<ReturnType<typeof startService>>;

async function freshMarkers(page: Page): Promise<void> {
  await page.locator('[data-testid="vehicle-marker"][data-stale="false"]').first().waitFor({ timeout: 60000 });
}

browserSuite('web console reconnects after a server restart', (chromiumPath) => {
  let svc: Service | null = null;
  let launched: LaunchedBrowser;
  const dataDir = tmpDataDir('web-restart');

  beforeAll(async () => {
    ensureWebBuilt();
    launched = await launchChromium(chromiumPath);
  }, 60000);

  afterAll(async () => {
    await launched?.close();
    if (svc) await svc.close();
  }, 60000);

  it('shows the link lost, stale vehicles, then live again after the service restarts', async () => {
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir, simulators: 2, simSpeedup: 10, logLevel: 'warn' });
    const port = svc.port;
    const { context, page, errors } = await newPage(launched.browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await page.locator('[data-testid="link-state"][data-state="live"]').waitFor();
      await freshMarkers(page);
      // The operator watches a drone (nothing is selected for them).
      await page.getByTestId('cmd-vehicle').selectOption({ index: 1 });
      await screenshot(page, 'reconnect-1-live');

      await svc.close();
      svc = null;
      await page.locator('[data-testid="link-state"][data-state="offline"]').waitFor({ timeout: 30000 });
      // Nothing from the old connection is shown as live.
      await page.waitForFunction(() => {
        const m = [...document.querySelectorAll('[data-testid="vehicle-marker"]')];
        return m.length > 0 && m.every((e) => e.getAttribute('data-stale') === 'true');
      }, null, { timeout: 30000 });
      expect(await page.getByTestId('cmd-vehicle-info').getAttribute('data-stale')).toBe('true');
      await page.locator('[data-testid="cmd-status"][data-status="link-lost"]').waitFor();
      await screenshot(page, 'reconnect-2-lost');

      svc = await startService({ zonesFile: TEST_ZONES_FILE, port, dataDir, simulators: 2, simSpeedup: 10, logLevel: 'warn' });
      await page.locator('[data-testid="link-state"][data-state="live"]').waitFor({ timeout: 60000 });
      await freshMarkers(page);
      await page.getByTestId('tab-alerts').click();
      await page.getByTestId('alert-item').filter({ hasText: /restored/i }).first().waitFor();
      await screenshot(page, 'reconnect-3-live-again');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 240000);
});
