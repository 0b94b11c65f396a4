/**
 * First start with real vehicles: the admin's generated password must be replaced in the console
 * before anything else shows (real service, real Chromium).
 */
import type { Browser } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, newPage, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService, type Service } from '../../src/service';
import { hashPassword } from '../../src/auth';
import { TEST_ZONES_FILE } from '../support/zones';

browserSuite('console: generated first-start password', (chromiumPath) => {
  let svc: Service;
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    // A vehicle link (nothing listens there): no demo accounts, only an admin with a generated password.
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: tmpDataDir('web-pw'), links: ['tcp:127.0.0.1:9'], logLevel: 'warn' });
    // The generated password is printed once in the log; give it a value this test knows.
    svc.store.db!.prepare('UPDATE users SET password_hash = ? WHERE username = ?').run(await hashPassword('printed-once-1234'), 'admin');
    launched = await launchChromium(chromiumPath);
    browser = launched.browser;
  }, 120000);

  afterAll(async () => {
    await launched?.close();
    await svc?.close();
  }, 60000);

  it('asks for a new password at the first login, then opens the console; the old one no longer works', async () => {
    const { context, page } = await newPage(browser, svc.url);
    try {
      await page.goto('/?basemap=none', { waitUntil: 'domcontentloaded' });
      await page.getByTestId('login-username').fill('admin');
      await page.getByTestId('login-password').fill('printed-once-1234');
      await page.getByTestId('login-submit').click();
      await page.getByTestId('password-form').waitFor();
      expect(await page.getByTestId('console').count()).toBe(0);
      await page.getByTestId('pw-next').fill('short');
      await page.getByTestId('pw-again').fill('short');
      await page.getByTestId('pw-submit').click();
      await page.getByTestId('pw-error').filter({ hasText: /10 characters/ }).waitFor();
      await page.getByTestId('pw-next').fill('county-admin-2026');
      await page.getByTestId('pw-again').fill('county-admin-2026');
      await page.getByTestId('pw-submit').click();
      await page.getByTestId('console').waitFor();
      expect((await svc.store.getUser('admin'))!.passwordState).toBe('set');
      const old = await fetch(`${svc.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'printed-once-1234' }) });
      expect(old.status).toBe(401);
    } finally {
      await context.close();
    }
  }, 90000);
});
