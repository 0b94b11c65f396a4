/**
 * The intake pieces of the console in a real browser: an operator turns a resident's request into
 * a job from the Requests tab (words shown as text, candidates with their confidence); a supervisor
 * sees the places catalogue with its drop checks, and opens the operations report (charts drawn by
 * the bundled Chart.js, tables, CSV links; controls hidden when printed).
 */
import type { Browser } from 'playwright-core';
import { startService, type Service } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers, testPassword } from '../service/support/users';
import { Client, waitFor } from '../service/support/client';
import { testCatalogue, RIVERSIDE_B1 } from '../intake/catalogue';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';

browserSuite('intake in the console', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;
  let requestId = '';

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
    expect(kpis).toMatch(/1\s*jobs/);
    expect(kpis).toMatch(/1\s*requests/);
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
