/**
 * Manned aircraft on the console map, in headless Chromium against the real service: a built-in
 * simulator relays two simulated aircraft (fault `adsb-traffic`), one a helicopter with an ordinary
 * callsign, one with a callsign that is markup. The console draws each with the aircraft glyph (not a
 * drone's arrow), a label with its callsign and altitude, and a track line; the hostile callsign is
 * shown as text (no element made from it, no script run). Once the simulator stops sending them the
 * service drops them after 20 s and the console removes them.
 */
import type { Page } from 'playwright-core';
import { browserSuite, ensureWebBuilt, launchChromium, login, newPage, screenshot, tmpDataDir, type LaunchedBrowser } from './harness';
import { startService } from '../../src/service';
import { seedTestUsers, testPassword } from '../service/support/users';
import { TEST_ZONES_FILE } from '../support/zones';

type Service = Awaited<ReturnType<typeof startService>>;
jest.setTimeout(300_000);

const HOSTILE = '<b>X</b>';

browserSuite('console: manned aircraft (ADS-B)', (chromiumPath) => {
  let svc: Service;
  let b: LaunchedBrowser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    ensureWebBuilt();
    const dir = tmpDataDir('traffic-web');
    await seedTestUsers(dir);
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 1, simSpeedup: 1, logLevel: 'warn' });
    b = await launchChromium(chromiumPath);
    ({ page, errors } = await newPage(b.browser, svc.url));
    await page.addInitScript(() => ((window as unknown as { __pwned: number }).__pwned = 0));
    await login(page, 'trainer', testPassword('trainer'));
  }, 240_000);

  afterAll(async () => {
    await b?.close();
    await svc?.close();
  });

  test('aircraft drawn with their glyph, callsign and altitude label and a track line; a markup callsign stays text; removed when no longer heard', async () => {
    const inst = svc.sims!.instances[0];
    const home = inst.truth();
    // north of the launch site, heading east at 30 m/s, 400 m AMSL; and a plane south of it heading west
    inst.inject({ kind: 'adsb-traffic', callsign: 'HELI01', icao: 0x7c4a11, from: [home.lon, home.lat + 0.004], headingDeg: 90, speedMps: 30, altAmslM: 400, emitterType: 7, durationS: 60 });
    inst.inject({ kind: 'adsb-traffic', callsign: HOSTILE, icao: 0x780abc, from: [home.lon, home.lat - 0.004], headingDeg: 270, speedMps: 60, altAmslM: 900, emitterType: 1, durationS: 60 });
    const aircraft = page.getByTestId('aircraft');
    await aircraft.nth(1).waitFor({ state: 'attached', timeout: 60_000 });
    expect(await aircraft.count()).toBe(2);
    const heli = page.locator('[data-testid="aircraft"][data-icao="7C4A11"]');
    await expect(heli.getByTestId('aircraft-label').textContent()).resolves.toMatch(/^HELI01 · 400 m AMSL$/);
    // its own glyph (an SVG path), not a drone's arrow
    expect(await heli.locator('svg.aircraft-glyph path').count()).toBe(1);
    expect(await heli.locator('.arrow').count()).toBe(0);
    const hostile = page.locator('[data-testid="aircraft"][data-icao="780ABC"]');
    expect(await hostile.getByTestId('aircraft-label').textContent()).toBe(`${HOSTILE} · 900 m AMSL`);
    expect(await hostile.locator('b').count()).toBe(0);
    // a dashed track line per aircraft in the traffic pane
    expect(await page.locator('.leaflet-traffic-pane path[stroke="#be185d"][stroke-dasharray]').count()).toBe(2);
    await screenshot(page, 'traffic-aircraft');
    // the label follows the aircraft (positions move each report)
    const box0 = await heli.boundingBox();
    await page.waitForFunction((b0) => {
      const el = document.querySelector('[data-testid="aircraft"][data-icao="7C4A11"]') as HTMLElement | null;
      const r = el?.getBoundingClientRect();
      return !!r && b0 !== null && Math.abs(r.x - b0.x) > 2;
    }, box0, { timeout: 30_000 });

    inst.clearFault('adsb-traffic');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="aircraft"]').length === 0, undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => (window as unknown as { __pwned: number }).__pwned)).toBe(0);
    expect(errors).toEqual([]);
  });
});
