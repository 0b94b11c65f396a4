/**
 * Flying jobs together from the console, in headless Chromium against the real service and its
 * built-in simulator (10×): the job card offers the queued jobs near its drop; the operator ticks one
 * and dispatches both in one flight; the card then lists which parcel goes in which bay, in drop
 * order (what the crew loads by), for the lead and for the rider; both end completed, each with its
 * own proof of drop.
 */
import type { Browser } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';
import { Client, waitFor, vehicleReady } from '../service/support/client';
import { DEMO_DROPS } from '../planner/helpers';

type Service = Awaited<ReturnType<typeof startService>>;

browserSuite('fly together: two queued jobs dispatched in one flight from the job card', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;
  let op: Client;

  beforeAll(async () => {
    ensureWebBuilt();
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('web-sortie'), simulators: 1, simSpeedup: 10, logLevel: 'warn', simParams: { BATT_CAPACITY: 20000, FS_GCS_TIMEOUT: 20 } });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
    op = await new Client(svc.url).login('operator', 'operator');
    const sup = await new Client(svc.url).login('supervisor', 'supervisor');
    const { policy } = (await sup.get('/api/policy')).body;
    expect((await sup.put('/api/policy', { ...policy, vehicle: { ...policy.vehicle, parcelOutputsArdupilot: [10, 11] } })).status).toBe(200);
    await waitFor(async () => ((await op.get('/api/vehicles')).body as any[]).filter(vehicleReady).length === 1, 180_000, 'vehicle ready', 500);
  }, 240_000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60_000);

  it('ticks a nearby job, dispatches both, shows the bays on both cards, and both complete', async () => {
    const ids: string[] = [];
    for (const [drop, what] of [[DEMO_DROPS.garden, 'insulin'], [DEMO_DROPS.xinhua, 'inhaler']] as const) {
      const c = await op.post('/api/deliveries', { drop, priority: 'urgent', payload: { description: what, massKg: 0.5 } });
      expect(c.status).toBe(201);
      ids.push(c.body.id);
    }
    const [a, b] = ids;
    const { context, page, errors } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await page.locator(`[data-testid="job-row"][data-id="${a}"]`).click();
      const box = page.locator(`[data-testid="together-job"][data-id="${b}"]`);
      await box.waitFor();
      expect(await page.getByTestId('btn-dispatch').innerText()).toBe('Dispatch');
      await box.check();
      expect(await page.getByTestId('btn-dispatch').innerText()).toBe('Dispatch 2 jobs in one flight');
      await screenshot(page, 'sortie-1-fly-together');
      await page.getByTestId('btn-dispatch').click();

      // the lead's card: the bays, in drop order
      await page.getByTestId('job-sortie').waitFor({ timeout: 60_000 });
      const lead = (await op.get(`/api/deliveries/${a}`)).body;
      const bays = [...lead.sortie.bays].sort((x: any, y: any) => x.dropOrder - y.dropOrder);
      const shown = await page.getByTestId('sortie-bay').allInnerTexts();
      expect(shown.map((s) => s.replace(/\s+\(this job\)$/, ''))).toEqual(bays.map((x: any) => `Bay ${x.bay} (SERVO${x.output}): ${x.deliveryId}`));
      expect(shown.find((s) => s.includes(a))).toContain('(this job)');

      // the rider's card says whose flight it rides in
      await page.locator(`[data-testid="job-row"][data-id="${b}"]`).click();
      await page.locator(`[data-testid="job-detail"][data-id="${b}"] [data-testid="job-sortie"]`).waitFor();
      expect(await page.getByTestId('job-sortie').innerText()).toContain(`Rides in the flight of ${a}.`);

      await page.locator(`[data-testid="job-detail"][data-id="${b}"] [data-testid="job-state"][data-state="completed"]`).waitFor({ timeout: 240_000 });
      await page.getByTestId('proof-of-drop').waitFor();
      await screenshot(page, 'sortie-2-rider-completed');
      const done = await waitFor(async () => {
        const x = (await op.get(`/api/deliveries/${a}`)).body;
        return x.state === 'completed' ? x : null;
      }, 60_000, 'the lead completed', 250);
      const rider = (await op.get(`/api/deliveries/${b}`)).body;
      expect([done.proofOfDrop.servo, rider.proofOfDrop.servo]).toEqual([10, 11]);
      expect(rider.flightId).toBe(done.flightId);

      // a policy without parcel bays (a new version, pushed as zones are): nothing is offered to fly together
      const more: string[] = [];
      for (const drop of [DEMO_DROPS.garden, DEMO_DROPS.xinhua]) more.push((await op.post('/api/deliveries', { drop, priority: 'normal', payload: { description: 'bandages', massKg: 0.3 } })).body.id);
      await page.locator(`[data-testid="job-row"][data-id="${more[0]}"]`).click();
      await page.locator(`[data-testid="together-job"][data-id="${more[1]}"]`).waitFor();
      const sup = await new Client(svc.url).login('supervisor', 'supervisor');
      const { policy } = (await sup.get('/api/policy')).body;
      expect((await sup.put('/api/policy', { ...policy, vehicle: { ...policy.vehicle, parcelOutputsArdupilot: [] } })).status).toBe(200);
      await page.getByTestId('fly-together').waitFor({ state: 'detached', timeout: 30_000 });
      expect(await page.getByTestId('btn-dispatch').innerText()).toBe('Dispatch');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 420_000);
});
