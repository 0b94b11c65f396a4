/**
 * The intake pieces of the console in a real browser: an operator turns a resident's request into
 * a job from the Requests tab (words shown as text, candidates with their confidence); a request no
 * place matched gets its drop point from a click on the map (refused in a no-fly zone, kept inside a
 * sealed zone, shown as lat, lon) and becomes a job there; a supervisor
 * sees the places catalogue with its drop checks, and opens the operations report (charts drawn by
 * the bundled Chart.js, tables, CSV links; controls hidden when printed).
 */
import type { Browser, Page } from 'playwright-core';
import { startService, type Service } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers, testPassword } from '../service/support/users';
import { Client, waitFor } from '../service/support/client';
import { testCatalogue, RIVERSIDE_B1, IN_NO_FLY } from '../intake/catalogue';
import { browserSuite, clickMapAt, ensureWebBuilt, launchChromium, login, mapPoint, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';

/** Inside the Xinhua Block sealed zone of the test zones (no catalogue place there). */
const XINHUA: [number, number] = [114.3935, 34.0515];


browserSuite('intake in the console', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;
  let requestId = '';
  let unmatchedId = '';

  beforeAll(async () => {
    ensureWebBuilt();
    const dataDir = tmpDataDir('intake-console');
    await seedTestUsers(dataDir);
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir, simulators: 0, logLevel: 'warn' });
    const admin = await new Client(svc.url).login('admin');
    const sup = await new Client(svc.url).login('supervisor');
    expect((await sup.put('/api/places', { places: testCatalogue() })).status).toBe(200);
    const partner = new Client(svc.url);
    partner.token = (await admin.post('/api/intake/keys', { name: 'bot', scopes: ['requests.create'] })).body.key;
    const r = await partner.post('/api/requests', { text: '滨河小区1号楼 外婆需要胰岛素 & "urgent" <3', contact: '13512345678' });
    expect(r.status).toBe(201);
    requestId = r.body.id;
    const u = await partner.post('/api/requests', { text: 'the flat above the noodle shop & "rice" 面条店楼上', contact: '13500000001' });
    expect([u.status, u.body.match.placeId]).toEqual([201, null]);
    unmatchedId = u.body.id;
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
  }, 120_000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60_000);

  it('an operator makes a job from a request in one step', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    await login(page, 'operator', testPassword('operator'));
    await page.getByTestId('tab-requests').click();
    const card = page.locator(`[data-testid="request"][data-id="${requestId}"]`);
    await card.waitFor();
    await expect(card.getByTestId('request-text').textContent()).resolves.toBe('滨河小区1号楼 外婆需要胰岛素 & "urgent" <3');
    await expect(card.getByTestId('request-place').locator('option').first().textContent()).resolves.toMatch(/Riverside Estate · Building 1 · .*9\d%/);
    await expect(card.getByTestId('request-priority').inputValue()).resolves.toBe('urgent');
    await screenshot(page, 'console-requests');
    await card.getByTestId('request-triage').click();
    await card.waitFor({ state: 'detached' });
    const req = await waitFor(async () => {
      const r = await (await new Client(svc.url).login('operator')).get(`/api/requests/${requestId}`);
      return r.body.state === 'triaged' ? r.body : null;
    }, 10_000, 'the request triaged');
    const job = await (await new Client(svc.url).login('operator')).get(`/api/deliveries/${req.deliveryId}`);
    expect(job.body).toMatchObject({ drop: RIVERSIDE_B1, priority: 'urgent' });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('an operator gives an unmatched request its drop point on the map: refused in a no-fly zone, kept in a sealed zone, then a job there', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    const api = await new Client(svc.url).login('operator');
    await login(page, 'operator', testPassword('operator'));
    await page.getByTestId('tab-requests').click();
    const card = page.locator(`[data-testid="request"][data-id="${unmatchedId}"]`);
    await card.waitFor();
    await expect(card.getByTestId('request-text').textContent()).resolves.toBe('the flat above the noodle shop & "rice" 面条店楼上');
    await expect(card.getByTestId('request-triage').isDisabled()).resolves.toBe(true);
    await card.getByTestId('request-place-on-map').click();
    await card.getByTestId('request-pick-hint').waitFor();
    // In the helipad's no-fly zone: refused, with the zone named; the request keeps waiting for a point.
    await clickMapAt(page, ...IN_NO_FLY);
    const refused = page.getByTestId('toast-error').filter({ hasText: 'Central Hospital helipad' });
    await refused.waitFor({ timeout: 30_000 });
    await expect(refused.textContent()).resolves.toMatch(/^Drop point 34\.06\d+, 114\.39\d+ refused: /);
    expect((await api.get(`/api/requests/${unmatchedId}`)).body.drop).toBeNull();
    await expect(page.getByTestId('panel-requests').isVisible()).resolves.toBe(true);
    await card.getByTestId('request-pick-hint').waitFor();
    // Inside the Xinhua Block sealed zone: kept, shown lat, lon.
    await clickMapAt(page, ...XINHUA);
    await card.getByTestId('request-drop').waitFor({ timeout: 30_000 });
    await expect(card.getByTestId('request-drop').textContent()).resolves.toMatch(/^Drop point: 34\.05\d{4}, 114\.39\d{4}$/);
    await expect(card.getByTestId('request-place').locator('option').first().textContent()).resolves.toMatch(/^Point on the map: 34\.05\d{4}, 114\.39\d{4}$/);
    await expect(card.getByTestId('request-pick-hint').count()).resolves.toBe(0);
    const placed = (await api.get(`/api/requests/${unmatchedId}`)).body;
    expect(Math.abs(placed.drop[0] - XINHUA[0])).toBeLessThan(2e-4);
    expect(Math.abs(placed.drop[1] - XINHUA[1])).toBeLessThan(2e-4);
    // The placed point is drawn on the map where it lies, until the request becomes a job.
    const pin = page.locator(`[data-testid="request-drop"][data-request="${unmatchedId}"]`);
    await pin.waitFor();
    const at = await mapPoint(page, placed.drop[0], placed.drop[1]);
    const pb = (await pin.boundingBox())!;
    expect(Math.abs(pb.x + pb.width / 2 - at.x)).toBeLessThan(3);
    expect(Math.abs(pb.y + pb.height / 2 - at.y)).toBeLessThan(3);
    await screenshot(page, 'console-request-placed');
    await card.getByTestId('request-triage').click();
    await card.waitFor({ state: 'detached' });
    await pin.waitFor({ state: 'detached' });
    const req = await waitFor(async () => {
      const r = await api.get(`/api/requests/${unmatchedId}`);
      return r.body.state === 'triaged' ? r.body : null;
    }, 10_000, 'the request triaged');
    expect((await api.get(`/api/deliveries/${req.deliveryId}`)).body.drop).toEqual(placed.drop);
    const audit = (await (await new Client(svc.url).login('supervisor')).get('/api/audit?action=request.drop')).body.filter((a: any) => a.params.requestId === unmatchedId);
    expect(audit.map((a: any) => [a.username, a.outcome.ok, a.outcome.code ?? null]).reverse()).toEqual([['operator', false, 'DROP_IN_NO_FLY'], ['operator', true, null]]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a supervisor sees the catalogue and its checks, and the operations report', async () => {
    const { context, page, errors } = await newPage(browser, svc.url);
    await login(page, 'supervisor', testPassword('supervisor'));
    await page.getByTestId('tab-places').click();
    // The tab shows "no places yet" until the catalogue has been fetched: wait for its rows.
    await page.getByTestId('place-row').first().waitFor();
    await expect(page.getByTestId('places-version').textContent()).resolves.toMatch(/version 1/);
    await expect(page.getByTestId('place-row').count()).resolves.toBe(6);
    await expect(page.locator('[data-testid="place-row"]', { hasText: 'riverside-b1' }).textContent()).resolves.toContain('Riverside Estate 滨河小区');
    await page.getByTestId('tab-requests').click();
    const popup = context.waitForEvent('page');
    await page.getByTestId('reports-link').click();
    const report = await popup;
    await report.waitForLoadState('domcontentloaded');
    await report.locator('table').first().waitFor();
    const kpis = await report.locator('.kpis').innerText();
    expect(kpis).toMatch(/2\s*jobs/);
    expect(kpis).toMatch(/2\s*requests/);
    await expect(report.locator('canvas').count()).resolves.toBe(4);
    const drawn = await report.evaluate(() => [...document.querySelectorAll('canvas')].every((c) => (c as HTMLCanvasElement).width > 0));
    expect(drawn).toBe(true);
    await expect(report.locator('a.csv').first().getAttribute('href')).resolves.toMatch(/^\/api\/reports\/operations\.csv\?/);
    await report.emulateMedia({ media: 'print' });
    await expect(report.locator('form').isVisible()).resolves.toBe(false);
    await screenshot(report, 'operations-report-print');
    expect(errors).toEqual([]);
    await context.close();
  });
});
