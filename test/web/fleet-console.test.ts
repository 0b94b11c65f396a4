/**
 * Fleet operations in headless Chromium against the real service and its built-in simulators (10×):
 *
 * 1. The queue shows the server's recommendations (GET /api/queue/recommendations): for each waiting
 *    job the recommended vehicle, its predicted drop time and its reasons (ready, on time against the
 *    15-minute promise with the minutes to spare); in English and in Chinese.
 * 2. Separation made visible: two drones from the police post fly head-on along one corridor (no
 *    strategic deconfliction); the one giving way climbs out of the other's path and holds there
 *    until the other has landed (restore margin 1,000 m). Meanwhile its job row, its job card and its
 *    drone's popup say "Climbed to 75 m for separation with sim0/1, since …"; in Chinese too; and
 *    nothing says it once it goes on.
 */
import type { Browser, Page } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';
import { Client, waitFor, vehicleReady } from '../service/support/client';
import { DEMO_DROPS } from '../planner/helpers';

type Service = Awaited<ReturnType<typeof startService>>;

browserSuite('fleet operations in the console: recommendations in the queue, separation on the job card and the drone', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;
  let op: Client;
  let sup: Client;

  beforeAll(async () => {
    ensureWebBuilt();
    svc = await startService({
      zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('web-fleet'), simulators: 3, simSpeedup: 10, logLevel: 'warn',
      // the delivery profile's battery; FS_GCS_TIMEOUT 20 s of sim time (2 s of wall time at 10×: a loaded machine's stalls)
      simParams: { BATT_CAPACITY: 20000, FS_GCS_TIMEOUT: 20 },
    });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
    op = await new Client(svc.url).login('operator', 'operator');
    sup = await new Client(svc.url).login('supervisor', 'supervisor');
    await waitFor(async () => ((await op.get('/api/vehicles')).body as any[]).filter(vehicleReady).length === 3, 180_000, 'vehicles ready', 500);
  }, 240_000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60_000);

  const rec = (page: Page, id: string) => page.locator(`[data-testid="queue-rec"][data-job="${id}"]`);

  it('the queue shows the recommended vehicle, its drop time against the promise and its reasons; in Chinese too', async () => {
    const ids: string[] = [];
    for (const priority of ['urgent', 'normal']) {
      const c = await op.post('/api/deliveries', { drop: DEMO_DROPS.garden, priority, payload: { description: 'insulin', massKg: 0.5 } });
      expect(c.status).toBe(201);
      ids.push(c.body.id);
    }
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      for (const id of ids) await rec(page, id).waitFor();
      // what the server recommends is what the queue shows
      const api = (await op.get('/api/queue/recommendations')).body as any[];
      for (const id of ids) {
        const r = api.find((x) => x.jobId === id);
        expect(r.recommended).toMatch(/^sim\d\/\d$/);
        await page.waitForFunction(([j, v]) => document.querySelector(`[data-testid="queue-rec"][data-job="${j}"]`)?.getAttribute('data-vehicle') === v, [id, r.recommended] as const);
        const text = await rec(page, id).innerText();
        expect(text).toMatch(new RegExp(`^Recommended: ${r.recommended.replace('/', '\\/')}, drop about \\d\\d:\\d\\d:\\d\\d · Ready · On time, \\d+ min to spare$`));
        expect(await rec(page, id).getAttribute('data-late')).toBe('false');
      }
      // two jobs, two different vehicles
      const shown = await Promise.all(ids.map((id) => rec(page, id).getAttribute('data-vehicle')));
      expect(new Set(shown).size).toBe(2);
      await screenshot(page, 'queue-recommendations');
      await page.getByTestId('lang-select').selectOption('zh-CN');
      await page.waitForFunction((j) => /^推荐：/.test(document.querySelector(`[data-testid="queue-rec"][data-job="${j}"]`)?.textContent ?? ''), ids[0]);
      expect(await rec(page, ids[0]).innerText()).toMatch(/^推荐：sim\d\/\d，预计 \d\d:\d\d:\d\d 投放 · 已就绪 · /);
      await page.getByTestId('lang-select').selectOption('en');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      // out of the way of the flights below
      for (const id of ids) expect((await op.post(`/api/deliveries/${id}/abort`, { reason: 'test over' })).status).toBe(200);
    }
  }, 240_000);

  it('a drone climbed out of another\'s path says so on its job row, its job card and its popup, since when; in Chinese too', async () => {
    const base = (await sup.get('/api/policy')).body.policy;
    const put = await sup.put('/api/policy', { ...base, airspace: { ...base.airspace, deconflict: false, separation: { horizontalM: 30, verticalM: 10, restoreMarginM: 1000 } } });
    expect(put.status).toBe(200);
    const [first, second] = ['sim0/1', 'sim2/3'];
    const jobs: string[] = [];
    for (const priority of ['urgent', 'normal']) {
      const c = await op.post('/api/deliveries', { drop: DEMO_DROPS.riverside, priority, payload: { description: 'insulin', massKg: 0.5 } });
      expect(c.status).toBe(201);
      jobs.push(c.body.id);
    }
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      expect((await op.post(`/api/deliveries/${jobs[0]}/dispatch`, { vehicleId: first })).status).toBe(202);
      await waitFor(async () => ['delivered', 'returning', 'completed'].includes((await op.get(`/api/deliveries/${jobs[0]}`)).body.state), 300_000, `${jobs[0]} delivered`, 250);
      expect((await op.post(`/api/deliveries/${jobs[1]}/dispatch`, { vehicleId: second })).status).toBe(202);
      await page.locator(`[data-testid="job-row"][data-id="${jobs[1]}"]`).click();

      // the job card and the queue row
      const card = page.getByTestId('job-separation');
      await card.waitFor({ timeout: 120_000 });
      const text = await card.innerText();
      expect(text).toMatch(/^Climbed to 7\d m for separation with sim0\/1, since \d\d:\d\d:\d\d$/);
      expect(await card.getAttribute('data-how')).toBe('climb');
      expect(await card.getAttribute('data-gives-way-to')).toBe(first);
      const row = page.locator(`[data-testid="job-row"][data-id="${jobs[1]}"] [data-testid="job-row-separation"]`);
      expect(await row.innerText()).toBe(text);
      // the time is the hold's own, as the server recorded it (the console's local time, Asia/Shanghai)
      const at = (await op.get(`/api/deliveries/${jobs[1]}`)).body.progress?.separation?.since;
      expect(at).toEqual(expect.any(String));
      expect(text.endsWith(new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: 'Asia/Shanghai' }).format(new Date(at)))).toBe(true);

      // the drone
      await page.locator(`[data-testid="vehicle-marker"][data-id="${second}"]`).click();
      await page.getByTestId('vehicle-popup').waitFor();
      expect(await page.getByTestId('vehicle-popup').getAttribute('data-vehicle')).toBe(second);
      expect(await page.getByTestId('popup-separation').innerText()).toBe(text);
      await screenshot(page, 'separation-climbed');

      await page.getByTestId('lang-select').selectOption('zh-CN');
      await page.waitForFunction(() => /^为与 sim0\/1 保持间隔爬升至 7\d m，自 \d\d:\d\d:\d\d 起$/.test(document.querySelector('[data-testid="job-separation"]')?.textContent ?? ''));
      await page.waitForFunction(() => /^为与 sim0\/1 保持间隔爬升至/.test(document.querySelector('[data-testid="popup-separation"]')?.textContent ?? ''));
      await page.getByTestId('lang-select').selectOption('en');

      // once it goes on, nothing says it holds
      await page.getByTestId('job-separation').waitFor({ state: 'detached', timeout: 300_000 });
      expect(await page.locator(`[data-testid="job-row"][data-id="${jobs[1]}"] [data-testid="job-row-separation"]`).count()).toBe(0);
      await waitFor(async () => {
        const ds = await Promise.all(jobs.map(async (id) => (await op.get(`/api/deliveries/${id}`)).body.state));
        return ds.every((s) => s === 'completed') ? ds : null;
      }, 600_000, 'both deliveries completed', 500);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await sup.put('/api/policy', base);
    }
  }, 900_000);
});
