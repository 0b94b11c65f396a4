/**
 * Browser test harness: finds Debian's chromium (or CHROMIUM_PATH), launches it headless through
 * playwright-core, and starts the real service with simulated vehicles in a fresh data directory.
 * With no browser the browser tests fail with a clear message when CI=true, and are skipped with a
 * clear message otherwise (`browserSuite`).
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { execFileSync } from 'child_process';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ARTIFACTS_DIR = path.resolve(__dirname, '..', '..', 'test-artifacts');

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The browser to drive: CHROMIUM_PATH when set (must exist), else the first of the usual Debian paths. */
export function findChromium(): string | null {
  const env = process.env.CHROMIUM_PATH;
  if (env) return fs.existsSync(env) ? env : null;
  return CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
}

export const NO_BROWSER_MESSAGE =
  'No Chromium found (looked at CHROMIUM_PATH, ' + CANDIDATES.join(', ') + '). Install it with `apt-get install -y chromium` or set CHROMIUM_PATH.';

/**
 * `describe` for browser tests: runs them when a browser exists; otherwise one failing test (CI=true)
 * or a skipped suite with the reason printed.
 */
export function browserSuite(name: string, fn: (chromiumPath: string) => void): void {
  const exe = findChromium();
  if (exe) {
    describe(name, () => fn(exe));
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs a browser', () => {
        throw new Error(`browser tests cannot run in CI: ${NO_BROWSER_MESSAGE}`);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`SKIPPED browser tests "${name}": ${NO_BROWSER_MESSAGE}`);
  describe.skip(name, () => {
    it('needs a browser', () => undefined);
  });
}

export interface LaunchedBrowser {
  browser: Browser;
  userDataDir: string;
  close(): Promise<void>;
}

/**
 * Headless Chromium. playwright-core gives every launch a fresh temporary profile (its own
 * --user-data-dir, removed on close); it refuses a --user-data-dir argument for non-persistent launches.
 */
export async function launchChromium(executablePath: string): Promise<LaunchedBrowser> {
  const userDataDir = '(playwright temporary profile)';
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 60000,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    ],
  });
  return {
    browser,
    userDataDir,
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

export async function newPage(browser: Browser, baseUrl: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1400, height: 900 }, locale: 'en-GB', timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return { context, page, errors };
}

export async function login(page: Page, username: string, password = username): Promise<void> {
  await page.goto('/', { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('console').waitFor({ state: 'visible' });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: false }).catch(() => undefined);
}

export function tmpDataDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `dropline-${prefix}-`));
}

const WEB = path.resolve(__dirname, '..', '..', 'web');

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds web/dist when it is missing or older than the console's sources or build script (npm test builds it first anyway). */
export function ensureWebBuilt(): void {
  const out = path.join(WEB, 'dist', 'app.js');
  const sources = Math.max(newestMtimeMs(path.join(WEB, 'src')), newestMtimeMs(path.join(WEB, 'i18n')), fs.statSync(path.join(WEB, 'styles.css')).mtimeMs, fs.statSync(path.join(WEB, 'index.html')).mtimeMs, fs.statSync(path.join(WEB, 'build.js')).mtimeMs);
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= sources) return;
  execFileSync(process.execPath, [path.join(WEB, 'build.js')], { stdio: 'inherit' });
}

/** The console's test hook (window.droplineConsole, web/src/app.ts). */
interface ConsoleHook {
  containerPoint(lat: number, lon: number): { x: number; y: number };
  vehicleCount(): number;
}

/** Where a WGS-84 point (lon, lat) is on the page, through the console's own projection. */
export async function mapPoint(page: Page, lon: number, lat: number): Promise<{ x: number; y: number }> {
  const pt = await page.evaluate(([lo, la]) => (window as unknown as { droplineConsole: ConsoleHook }).droplineConsole.containerPoint(la, lo), [lon, lat]);
  const box = await page.getByTestId('map').boundingBox();
  if (!box) throw new Error('map not visible');
  return { x: box.x + pt.x, y: box.y + pt.y };
}

/** A click on the map at (lon, lat). */
export async function clickMapAt(page: Page, lon: number, lat: number): Promise<void> {
  const p = await mapPoint(page, lon, lat);
  await page.mouse.click(p.x, p.y);
}

/** Until the console draws at least n vehicles. */
export async function waitVehicles(page: Page, n: number): Promise<void> {
  await page.waitForFunction((k) => ((window as unknown as { droplineConsole?: ConsoleHook }).droplineConsole?.vehicleCount() ?? 0) >= k, n, { timeout: 60000 });
}
