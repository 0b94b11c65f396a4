/**
 * Issue 13 ("console under pressure"), its numbered problems as they were seen, each with the browser
 * test that shows it fixed (headless Chromium against the real service and built-in simulators):
 *
 *  1. Command bar targets the wrong drone; replays and vanished vehicles listed; selection not shown
 *     → pressure.test.ts "two jobs on two drones: HOLD … aims at that job's drone" (bar follows the job,
 *       drone emphasised), "a trainer's replay never appears in an operator's vehicle list, and is gone once it stops"
 *  2. Dispatch below the fold; priority resets to Urgent
 *     → pressure.test.ts "from login to a dispatched job in at most 4 clicks, each on something already on screen";
 *       here: "the priority an operator chose stays for the next job"
 *  3. Labels hide the drop pin, drones and each other
 *     → pressure.test.ts "a decluttered map: zone names never cover the drop pin, a drone or each other"
 *  4. State changes invisible (HOLD, RTL abort, link lost in flight, alerts lost, severities)
 *     → pressure.test.ts "two jobs on two drones" (HOLDING / RTL since when, aborted job re-planned),
 *       "a critical alert stays as a banner … until acknowledged"; here: "link lost in flight: the job card,
 *       its row and the drone read LINK LOST …, and the dispatcher's critical alert is a banner";
 *       severities ("GCS Failsafe Cleared" is info) in test/unit/alerts.test.ts
 *  5. Zone edits do not reach open consoles
 *     → pressure.test.ts "a zone saved by a supervisor appears on an open operator map within 2 s …"
 *  6. Zone editor (invisible while drawn, names hidden, winding)
 *     → pressure.test.ts "zone editor: a shape drawn clockwise shows at once with its name, is stored anticlockwise …"
 *  7. Choosing a vehicle is guesswork (bare ids, a 45 % drone by default, failed dispatch)
 *     → pressure.test.ts "from login to a dispatched job …" (recommended vehicle, readiness, ETA);
 *       here: "the vehicle list says why each drone can or cannot fly; one below the battery minimum is never recommended"
 *  8. Refusals are engineer-speak and leave junk ([lon,lat], failed jobs, zone not shown)
 *     → pressure.test.ts "a drop in a no-fly zone is refused at the click, the zone highlighted, and no job is created";
 *       here: "… coordinates read lat, lon" (in the vehicle-list case); preflight wording in commissioning.test.ts
 *  9. Commands that make no sense are offered (RELEASE on the ground, HOLD/RTL/LAND on the ground or offline)
 *     → here: "on the ground nothing can be held, returned, landed or released, and offline nothing at all: each button says why"
 * 10. The 15-minute promise (at risk, countdown after delivery, no overview)
 *     → pressure.test.ts "the supervisor's board: every open job worst first against the promise"
 * 11. zh-CN half done
 *     → pressure.test.ts "zh-CN: no English left on the main screens", i18n.test.ts, messages.test.ts
 * 12. Trainer (fault form resets, no active faults, free-text scenarios, replays by flight id, timeline in records)
 *     → pressure.test.ts "trainer: the fault form keeps its values …", trainer-sims.test.ts "scenarios are chosen
 *       from a list …", console.test.ts "trainer: replays the delivered flight, with a timeline slider …"
 * 13. Small screens
 *     → pressure.test.ts "a laptop (1280×720) … a phone (390 px) …"
 */
import type { Browser, Page } from 'playwright-core';
import { SILENCE_MIN_MS } from '../../telemetry/silence';
import { browserSuite, clickMapAt, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, waitVehicles, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';

type Service = Awaited<ReturnType<typeof startService>>;

/** Drop points in the test zones (planner/fixtures/demo-zones.geojson), [lon, lat]. */
const GARDEN_COURT: [number, number] = [114.3798, 34.06585]; // sealed zone near Police Post 1 (sim0)
const XINHUA_BLOCK: [number, number] = [114.39445, 34.05146]; // sealed zone between the two launch sites


/** A REST call from the page, with its session (cookie). */
async function call(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return page.evaluate(async ([m, p, b]) => {
    const r = await fetch(p as string, { method: m as string, headers: { 'Content-Type': 'application/json' }, body: b === undefined ? undefined : JSON.stringify(b) });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, [method, path, body] as const);
}

browserSuite('issue 13, problem by problem', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('issue-walk'), simulators: 2, simSpeedup: 10, logLevel: 'warn' });
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
  }, 120000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60000);

  it('9: on the ground nothing can be held, returned, landed or released, and offline nothing at all: each button says why', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    const tr = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await waitVehicles(page, 2);
      await page.locator('[data-testid="vehicle-marker"][data-id="sim0/1"][data-stale="false"]').waitFor({ timeout: 60000 });
      // A landed, disarmed drone without a job.
      await page.getByTestId('cmd-vehicle').selectOption('sim0/1');
      await page.locator('[data-testid="cmd-why"]').filter({ hasText: 'On the ground: nothing to hold, return or land.' }).waitFor();
      for (const a of ['hold', 'rtl', 'land', 'release']) {
        expect(`${a} ${await page.getByTestId(`cmd-${a}`).isDisabled()}`).toBe(`${a} true`);
      }
      expect(await page.getByTestId('cmd-release').getAttribute('title')).toBe('On the ground: nothing to hold, return or land.');
      // Its link cut (a trainer's fault): offline, said so.
      await tr.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(tr.page, 'trainer');
      expect((await call(tr.page, 'POST', '/api/sim/faults', { vehicleId: 'sim0/1', fault: { kind: 'link-loss' } })).status).toBe(200);
      await page.locator('[data-testid="cmd-why"]').filter({ hasText: 'No link to the vehicle: it cannot be commanded now.' }).waitFor({ timeout: 30000 });
      for (const a of ['hold', 'rtl', 'land', 'release']) expect(`${a} ${await page.getByTestId(`cmd-${a}`).isDisabled()}`).toBe(`${a} true`);
      await screenshot(page, 'issue-walk-offline');
      expect((await call(tr.page, 'DELETE', '/api/sim/faults', { vehicleId: 'sim0/1', kind: 'link-loss' })).status).toBe(200);
      await page.locator('[data-testid="cmd-why"]').filter({ hasText: 'On the ground' }).waitFor({ timeout: 30000 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await tr.context.close();
    }
  }, 180000);

  it('2, 7, 8: the vehicle list says why each drone can or cannot fly; one below the battery minimum is never recommended; coordinates read lat, lon; the priority chosen stays for the next job', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    const tr = await newPage(browser, svc.url);
    try {
      await tr.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(tr.page, 'trainer');
      // The drone nearest the drop at 45 %, below the preflight minimum (60 %).
      expect((await call(tr.page, 'POST', '/api/sim/faults', { vehicleId: 'sim0/1', fault: { kind: 'battery-set', pct: 45 } })).status).toBe(200);
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await waitVehicles(page, 2);
      await page.locator('[data-testid="vehicle-marker"][data-id="sim1/2"][data-stale="false"]').waitFor({ timeout: 60000 });
      await clickMapAt(page, ...GARDEN_COURT);
      const options = page.getByTestId('draft-vehicle').locator('option');
      // Every drone with its readiness, never a bare id; the low one says why, and the other is recommended.
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="draft-vehicle"] option')].some((o) => /battery 45% below 60%/.test(o.textContent ?? '')), null, { timeout: 30000 });
      const texts = await options.allTextContents();
      expect(texts.length).toBe(2);
      for (const x of texts) expect(x).toMatch(/^(★ )?sim\d\/\d · .+/);
      expect(texts.find((x) => x.includes('sim0/1'))).toMatch(/^sim0\/1 · battery 45% below 60%/);
      expect(texts[0]).toMatch(/^★ sim1\/2 · /);
      await page.locator('[data-testid="draft-readiness"][data-ready="true"]').waitFor({ timeout: 60000 });
      expect(await page.getByTestId('draft-vehicle').inputValue()).toBe('sim1/2');
      // The drop in the console's order: latitude first.
      expect(await page.getByTestId('draft-drop').innerText()).toMatch(/^34\.0\d+, 114\.3\d+/);
      await screenshot(page, 'issue-walk-vehicle-choice');
      // A job made with priority High: the next one starts from High, not Urgent.
      await page.getByTestId('job-priority').selectOption('high');
      await page.getByTestId('plan-summary').waitFor({ timeout: 60000 });
      await page.waitForFunction(() => !(document.querySelector('[data-testid="btn-create-job"]') as HTMLButtonElement | null)?.disabled, null, { timeout: 60000 });
      await page.getByTestId('btn-create-job').click();
      await page.locator('[data-testid="job-row"][data-state="planned"], [data-testid="job-row"][data-state="approved"]').first().waitFor({ timeout: 30000 });
      const made = (await call(page, 'GET', '/api/deliveries')).body as Array<{ priority: string }>;
      expect(made.map((d) => d.priority)).toEqual(['high']);
      await clickMapAt(page, ...XINHUA_BLOCK);
      await page.getByTestId('draft-drop').filter({ hasText: /^34\.051/ }).waitFor();
      expect(await page.getByTestId('job-priority').inputValue()).toBe('high');
      await page.getByTestId('btn-clear-job').click();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await tr.context.close();
    }
  }, 180000);

  it('4: link lost in flight: the job card, its row and the drone read LINK LOST with since when (not "In flight"), and the dispatcher\'s critical alert is a banner', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    const tr = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(page, 'operator');
      await waitVehicles(page, 2);
      await page.locator('[data-testid="vehicle-marker"][data-id="sim1/2"][data-stale="false"]').waitFor({ timeout: 60000 });
      // A job flown by sim1 (created and dispatched over the API: the console's own flow is tested elsewhere).
      const job = await call(page, 'POST', '/api/deliveries', { drop: XINHUA_BLOCK, priority: 'urgent' });
      expect(job.status).toBe(201);
      const id = job.body.id as string;
      let sent = { status: 0, body: null as any };
      for (let i = 0; i < 60 && sent.status !== 200 && sent.status !== 202; i++) {
        sent = await call(page, 'POST', `/api/deliveries/${id}/dispatch`, { vehicleId: 'sim1/2' });
        if (sent.status !== 200 && sent.status !== 202) await page.waitForTimeout(1000);
      }
      expect([200, 202]).toContain(sent.status);
      await page.locator(`[data-testid="job-row"][data-id="${id}"]`).click();
      await page.locator(`[data-testid="job-row"][data-id="${id}"][data-state="in-flight"]`).waitFor({ timeout: 120000 });
      await page.locator('[data-testid="vehicle-marker"][data-id="sim1/2"][data-status="flying"]').waitFor({ timeout: 60000 });
      // A drone that streams its telemetry: the service calls it stale after 3 × its largest recent gap,
      // never under SILENCE_MIN_MS (0.8 s or so at 4 Hz on a quiet machine, more when a loaded one
      // delays its messages); never the 3 s of a heartbeat-only link (telemetry/silence.ts; exact
      // figures in test/telemetry/silence.test.ts).
      const streaming = svc.hub.frames().find((f) => f.id === 'sim1/2')?.staleAfterMs;
      expect(streaming).toBeGreaterThanOrEqual(SILENCE_MIN_MS);
      expect(streaming).toBeLessThan(3000);
      // The trainer cuts its link.
      await tr.page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await login(tr.page, 'trainer');
      expect((await call(tr.page, 'POST', '/api/sim/faults', { vehicleId: 'sim1/2', fault: { kind: 'link-loss' } })).status).toBe(200);
      const status = page.locator(`[data-testid="job-detail"][data-id="${id}"] [data-testid="job-vehicle-status"][data-vehicle="sim1/2"][data-status="link-lost"]`);
      await status.waitFor({ timeout: 30000 });
      expect(await status.innerText()).toMatch(/LINK LOST · since \d\d:\d\d:\d\d/);
      await page.locator(`[data-testid="job-row"][data-id="${id}"] [data-testid="job-row-status"][data-status="link-lost"]`).waitFor();
      await page.locator('[data-testid="vehicle-marker"][data-id="sim1/2"][data-status="link-lost"]').waitFor();
      // The service's own judgement: stale after its learned silence, not the fixed 3 s of old.
      const judged = svc.hub.frames().find((f) => f.id === 'sim1/2')!;
      expect(judged.stale).toBe(true);
      expect(judged.staleAfterMs).toBeLessThan(3000);
      // The dispatcher's alert for a flying vehicle gone silent: a banner on the operator's console.
      await page.getByTestId('alert-banner-item').filter({ hasText: 'sim1/2' }).first().waitFor({ timeout: 60000 });
      await screenshot(page, 'issue-walk-link-lost');
      // The link back: live again.
      expect((await call(tr.page, 'DELETE', '/api/sim/faults', { vehicleId: 'sim1/2', kind: 'link-loss' })).status).toBe(200);
      await page.locator('[data-testid="vehicle-marker"][data-id="sim1/2"][data-stale="false"]').waitFor({ timeout: 60000 });
      // Home, so that the flight ends.
      await call(page, 'POST', '/api/vehicles/sim1%2F2/commands', { action: 'rtl' });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await tr.context.close();
    }
  }, 300000);
});
