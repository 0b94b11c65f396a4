/**
 * Property tests (fast-check) on random obstacle fields: star-shaped no-fly polygons, random launch
 * and drop points. For every field: the planned route keeps the clearance from every no-fly zone and
 * the margin inside the operating area (checked on the raw zones, not the planner's buffers), it is
 * never longer than the 10 m grid path of npm `pathfinding`, the fast search finds exactly the
 * length of the full-scan reference search, and the fence the plan uploads holds the route.
 */
import fc from 'fast-check';
import { checkRouteAgainstFence, createPlanner, planDelivery, validateZones } from '../../planner';
import { pointInPolygon, segmentRingDistance, type XY } from '../../planner/geo';
import { zoneProjection } from '../../planner/plan';
import { buildRouteIndex, findPath, findPathFullScan, inFreeSpace } from '../../planner/route';
import { gridShortestPath, rasterise } from './grid-baseline';
import { countyField, ll, polygonFeature, rng, square } from './helpers';

const HALF = 900;
const CLEARANCE = 30, AREA_MARGIN = 20;

const obstacleArb = fc.record({
  cx: fc.integer({ min: -750, max: 750 }),
  cy: fc.integer({ min: -750, max: 750 }),
  r: fc.integer({ min: 20, max: 160 }),
  m: fc.integer({ min: 3, max: 12 }),
  seed: fc.integer({ min: 1, max: 1e6 }),
});
const fieldArb = fc.record({
  obstacles: fc.array(obstacleArb, { minLength: 2, maxLength: 9 }),
  start: fc.tuple(fc.integer({ min: -850, max: 850 }), fc.integer({ min: -850, max: 850 })),
  goal: fc.tuple(fc.integer({ min: -850, max: 850 }), fc.integer({ min: -850, max: 850 })),
});

type Field = { obstacles: { cx: number; cy: number; r: number; m: number; seed: number }[]; start: [number, number]; goal: [number, number] };

function star(o: Field['obstacles'][number]): [number, number][] {
  const R = rng(o.seed);
  const phase = R() * Math.PI * 2;
  const pts: [number, number][] = [];
  for (let k = 0; k < o.m; k++) {
    const a = phase + (k / o.m) * Math.PI * 2;
    const rad = o.r * (0.45 + 0.55 * R());
    pts.push([Math.round(o.cx + rad * Math.cos(a)), Math.round(o.cy + rad * Math.sin(a))]);
  }
  return pts;
}

function zonesOf(f: Field): any {
  return {
    type: 'FeatureCollection',
    features: [
      polygonFeature({ kind: 'operating-area', name: 'field' }, square(0, 0, HALF)),
      ...f.obstacles.map((o, i) => polygonFeature({ kind: 'no-fly', name: `z${i}` }, star(o))),
    ],
  };
}

function setup(f: Field) {
  const zones = zonesOf(f);
  const v = validateZones(zones);
  if (!v.ok) throw new Error(v.error.message);
  const proj = zoneProjection(v.zones);
  const idx = buildRouteIndex(v.zones, proj, { clearanceM: CLEARANCE, areaMarginM: AREA_MARGIN });
  const s = proj.toXY(ll(f.start[0], f.start[1])), g = proj.toXY(ll(f.goal[0], f.goal[1]));
  return { zones, parsed: v.zones, proj, idx, s, g };
}

const RUNS = Number(process.env.PLANNER_PROPERTY_RUNS ?? 30);

describe('planner properties on random obstacle fields', () => {
  test('safe, inside the area, never longer than the grid, equal to the reference search, fence agrees', () => {
    fc.assert(
      fc.property(fieldArb, (f) => {
        const { zones, parsed, proj, idx, s, g } = setup(f);
        fc.pre(inFreeSpace(idx, s) && inFreeSpace(idx, g) && Math.hypot(g[0] - s[0], g[1] - s[1]) > 50);
        const fast = findPath(idx, s, g);
        const ref = findPathFullScan(idx, s, g);
        expect(fast.ok).toBe(ref.ok);
        const raster = rasterise(idx, 10);
        const grid = gridShortestPath(raster, s, g);
        if (grid.ok) expect(fast.ok).toBe(true); // a grid path is a free polyline: a path exists
        if (!fast.ok || !ref.ok) {
          expect(planDelivery(zones, { launch: ll(f.start[0], f.start[1]), drop: ll(f.goal[0], f.goal[1]) })).toMatchObject({ ok: false, error: { code: 'UNREACHABLE' } });
          return;
        }
        expect(Math.abs(fast.lengthM - ref.lengthM)).toBeLessThanOrEqual(1e-6 * ref.lengthM);
        if (grid.ok) expect(fast.lengthM).toBeLessThanOrEqual(grid.lengthM * (1 + 1e-9));

        const plan = planDelivery(zones, { launch: ll(f.start[0], f.start[1]), drop: ll(f.goal[0], f.goal[1]), fenceCapacity: 400 });
        if (!plan.ok) throw new Error(`${plan.error.code}: ${plan.error.message}`);
        const route = plan.route.geometry.coordinates as [number, number][];
        const xy: XY[] = route.map((c) => proj.toXY(c));
        // clearance from every raw no-fly polygon, margin inside the raw operating area
        const area = parsed.area.polygon.map((r) => r.map((c) => proj.toXY(c)));
        for (let k = 1; k < xy.length; k++) {
          for (const z of parsed.noFly) {
            for (const part of z.polygons) {
              const poly = part.map((r) => r.map((c) => proj.toXY(c)));
              expect(pointInPolygon(xy[k], poly)).toBe(false);
              for (const ring of poly) expect(segmentRingDistance(xy[k - 1], xy[k], ring)).toBeGreaterThanOrEqual(CLEARANCE);
            }
          }
          expect(pointInPolygon(xy[k], area)).toBe(true);
          for (const ring of area) expect(segmentRingDistance(xy[k - 1], xy[k], ring)).toBeGreaterThanOrEqual(AREA_MARGIN);
        }
        // the fence the vehicle gets holds the route with the margin
        expect(checkRouteAgainstFence(route, plan.fence, proj, 10)).toEqual([]);
        // distanceM is twice the outbound length (WGS84 geodesic vs the spherical local frame: within 0.5 %)
        expect(Math.abs(plan.distanceM / 2 - fast.lengthM) / fast.lengthM).toBeLessThan(5e-3);
      }),
      { numRuns: RUNS, seed: 20261130, endOnFailure: true },
    );
  });

  test('the fast search is exact on a dense field (against the full-scan reference)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), (seed) => {
        const R = rng(seed);
        const obstacles = Array.from({ length: 25 }, () => ({ cx: Math.round(-750 + R() * 1500), cy: Math.round(-750 + R() * 1500), r: Math.round(20 + R() * 70), m: 3 + Math.floor(R() * 10), seed: Math.floor(R() * 1e6) }));
        const { idx, s, g } = setup({ obstacles, start: [-820, -820], goal: [820, 820] });
        fc.pre(inFreeSpace(idx, s) && inFreeSpace(idx, g));
        const fast = findPath(idx, s, g), ref = findPathFullScan(idx, s, g);
        expect(fast.ok).toBe(ref.ok);
        if (fast.ok && ref.ok) expect(Math.abs(fast.lengthM - ref.lengthM)).toBeLessThanOrEqual(1e-6 * ref.lengthM);
      }),
      { numRuns: 15, seed: 7 },
    );
  });

  test('the search cache a planner keeps never changes a result: repeated and fresh plans are byte-identical', () => {
    const zones = countyField(11, 120, 4000);
    const p = createPlanner(zones);
    if (!p.ok) throw new Error(p.error.message);
    const R = rng(3);
    const drops: [number, number][] = [];
    while (drops.length < 6) {
      const d = ll((R() * 2 - 1) * 1900, (R() * 2 - 1) * 1900);
      const r = p.planner.plan({ launch: 'South West', drop: d, fenceCapacity: 1000 });
      if (r.ok) drops.push(d);
    }
    const again = drops.map((d) => JSON.stringify(p.planner.plan({ launch: 'South West', drop: d, fenceCapacity: 1000 })));
    const fresh = drops.map((d) => JSON.stringify(planDelivery(zones, { launch: 'South West', drop: d, fenceCapacity: 1000 })));
    expect(again).toEqual(fresh);
    expect(new Set(fresh).size).toBe(drops.length);
  });
});
