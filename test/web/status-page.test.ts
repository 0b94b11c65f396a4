/**
 * The resident's status page in a real browser (Chromium) on a phone-sized viewport: plain words
 * in Chinese and English, the place and the predicted drop time, nothing of anyone else, the
 * console's Content-Security-Policy, markup in a place name shown as text, no horizontal scrolling,
 * and an unknown link answered in words.
 */
import type { Browser } from 'playwright-core';
import { startService, type Service } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from '../service/support/users';
import { Client } from '../service/support/client';
import { testCatalogue } from '../intake/catalogue';
import { browserSuite, ensureWebBuilt, launchChromium, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';

const HOSTILE = 'Garden <img src=x onerror="window.__pwned=1"> Court';

browserSuite('the resident status page on a phone', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;
  let zhToken = '';
  let enToken = '';
  let jobPromise = '';

  beforeAll(async () => {
    ensureWebBuilt();
    const dataDir = tmpDataDir('status-page');
    await seedTestUsers(dataDir);
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir, simulators: 0, logLevel: 'warn' });
    const admin = await new Client(svc.url).login('admin');
    const sup = await new Client(svc.url).login('supervisor');
    const op = await new Client(svc.url).login('operator');
    expect((await sup.put('/api/places', { places: testCatalogue(HOSTILE) })).status).toBe(200);
    const key = (await admin.post('/api/intake/keys', { name: 'hotline', scopes: ['requests.create'] })).body.key;
    const partner = new Client(svc.url);
    partner.token = key;
    const zh = await partner.post('/api/requests', { text: '我父亲88岁，住滨河小区1号楼，需要降压药', contact: '13811112222' });
    expect(zh.status).toBe(201);
    zhToken = zh.body.statusToken;
    const t = await op.post(`/api/requests/${zh.body.id}/triage`, {});
    expect(t.status).toBe(201);
    jobPromise = t.body.job.promiseBy;
    const en = await partner.post('/api/requests', { text: '花园小区 building 1: baby formula please', contact: 'resident@example.org', lang: 'en' });
    enToken = en.body.statusToken;
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
  }, 120_000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60_000);

  const phone = async () => {
    const context = await browser.newContext({ baseURL: svc.url, viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    return { context, page, errors };
  };

  it('shows a scheduled job in Chinese with the predicted drop time, and in English at a tap', async () => {
    const { context, page, errors } = await phone();
    const res = await page.goto(`/s/${zhToken}`);
    expect(res!.status()).toBe(200);
    const state = page.locator('.state');
    await state.waitFor();
    await expect(state.textContent()).resolves.toBe('已安排无人机配送，等待起飞。');
    const text = (await page.locator('main').innerText()).replace(/\s+/g, ' ');
    expect(text).toContain('滨河小区 · 1号楼');
    const hhmm = new Date(jobPromise).toLocaleTimeString('zh-CN', { hour: '2-digit', minute: '2-digit', timeZone: 'Asia/Shanghai' });
    expect(text).toContain(`预计送达 ${hhmm}`);
    // Nobody's contact or words, no fleet.
    expect(text).not.toMatch(/13811112222|降压药|sim|vehicle|无人机编号/);
    await expect(page.locator('canvas, .leaflet-container, img').count()).resolves.toBe(0);
    // Fits the phone: no sideways scrolling; buttons big enough to tap.
    const fit = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, w: window.innerWidth, bh: Math.min(...[...document.querySelectorAll('button')].map((b) => b.getBoundingClientRect().height)) }));
    expect(fit.sw).toBeLessThanOrEqual(fit.w);
    expect(fit.bh).toBeGreaterThanOrEqual(44);
    await screenshot(page, 'status-page-zh-phone');
    await page.getByRole('button', { name: 'English' }).click();
    await expect(state.textContent()).resolves.toBe('A drone delivery is scheduled and waiting to take off.');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    expect((await page.locator('main').innerText()).replace(/\s+/g, ' ')).toContain('Riverside Estate · Building 1');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('an English request reads in English; markup in a place name is text, and does not run', async () => {
    const { context, page, errors } = await phone();
    const res = await page.goto(`/s/${enToken}`);
    const csp = res!.headers()['content-security-policy'];
    const consoleCsp = (await fetch(`${svc.url}/`)).headers.get('content-security-policy');
    expect(csp).toBeTruthy();
    expect(csp).toBe(consoleCsp);
    expect(res!.headers()['referrer-policy']).toBe('no-referrer');
    await page.locator('.state').waitFor();
    await expect(page.locator('.state').textContent()).resolves.toBe('We have your request and are arranging it.');
    const text = await page.locator('main').innerText();
    expect(text).toContain(HOSTILE);
    await expect(page.locator('main img').count()).resolves.toBe(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    await screenshot(page, 'status-page-en-phone');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('an unknown link says so in words', async () => {
    const { context, page } = await phone();
    await page.goto(`/s/${'x'.repeat(43)}`);
    await expect(page.locator('.state').textContent()).resolves.toBe('这个链接无效。');
    await context.close();
  });
});
