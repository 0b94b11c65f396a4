/**
 * The route search returns exactly the routes it returned before its speed-ups (recorded in
 * routes/county-routes.json with the search as of commit 421771b, on seeded county drops: the
 * planner bench's 100 drops and 40 random start–goal pairs on another county with a wider
 * clearance): the same outcome, the same points, the same length to the last bit, and the same
 * numbers of expansions and segment checks (the speed-ups skip only work whose outcome is known).
 */
import * as fs from 'fs';
import * as path from 'path';
import { validateZones } from '../../planner';
import { zoneProjection } from '../../planner/plan';
import { buildRouteIndex, findPath, inFreeSpace } from '../../planner/route';
import type { XY } from '../../planner/geo';
import { countyField } from './helpers';
import { countyDrops, ROUTE_CASES, type RouteCase } from './route-cases';

jest.setTimeout(300_000);

interface Recorded { s: XY; g: XY; ok: boolean; path?: XY[]; lengthM?: number; expanded?: number; segmentChecks?: number; reason?: string }
const recorded: { cases: (RouteCase & { routes: Recorded[] })[] } = JSON.parse(fs.readFileSync(path.join(__dirname, 'routes', 'county-routes.json'), 'utf8'));

test.each(ROUTE_CASES.map((c, k) => [`county ${c.seed}, clearance ${c.clearanceM} m, ${c.drops} drops`, k] as const))('%s: the recorded routes', (_name, k) => {
  const c = ROUTE_CASES[k], rec = recorded.cases[k];
  expect(rec.seed).toBe(c.seed);
  expect(rec.routes).toHaveLength(c.drops);
  const vz = validateZones(countyField(c.seed, 1000, 12000));
  if (!vz.ok) throw new Error(vz.error.message);
  const proj = zoneProjection(vz.zones);
  const idx = buildRouteIndex(vz.zones, proj, { clearanceM: c.clearanceM, areaMarginM: c.areaMarginM });
  const sites = vz.zones.launchSites.map((s) => proj.toXY([s.lon, s.lat]));
  const pairs = countyDrops(c, sites, (p) => inFreeSpace(idx, p));
  let detours = 0;
  pairs.forEach(([s, g], i) => {
    const want = rec.routes[i];
    expect([s, g]).toEqual([want.s, want.g]);
    const r = findPath(idx, s, g);
    expect(r.ok).toBe(want.ok);
    if (!r.ok) { expect(r.reason).toBe(want.reason); return; }
    expect(r.path).toEqual(want.path);
    expect(r.lengthM).toBe(want.lengthM);
    expect(r.expanded).toBe(want.expanded);
    expect(r.segmentChecks).toBe(want.segmentChecks);
    if (r.path.length > 2) detours++;
  });
  // most routes bend round zones (the search is exercised, not only the straight line)
  expect(detours).toBeGreaterThan(c.drops / 2);
});
