/**
 * Sorties on random obstacle fields (fast-check): a launch and 2–4 drops that each have a safe
 * route from it. When the planner makes a plan (the only refusal allowed is FENCE_CAPACITY for a fence
 * that was built but needs more items than 60: a loop encloses what lies between its legs, and a
 * fence must hold that too), the route passes through
 * every drop in the flight order and keeps the clearance from every raw no-fly polygon, the mission
 * has exactly one release per parcel (each after a hold over its drop), the fence fits the capacity
 * and holds the whole route (the inclusion polygon's containment checked with geometry written
 * here), and the same request gives the same bytes. Plus a loop round a block, by construction.
 */
import fc from 'fast-check';
import { Cmd } from '../../src/mavlink/mission-item';
import { checkRouteAgainstFence, planDelivery, validateZones, type PlanOk } from '../../planner';
import { pointInPolygon, segmentRingDistance, type XY } from '../../planner/geo';
import { zoneProjection } from '../../planner/plan';
import { buildRouteIndex, findPath, inFreeSpace } from '../../planner/route';
import { ll, pointFeature, polygonFeature, rng, square } from './helpers';

const HALF = 900, CLEARANCE = 30;
const pointArb = fc.tuple(fc.integer({ min: -850, max: 850 }), fc.integer({ min: -850, max: 850 }));
const fieldArb = fc.record({
  obstacles: fc.array(fc.record({ cx: fc.integer({ min: -750, max: 750 }), cy: fc.integer({ min: -750, max: 750 }), r: fc.integer({ min: 20, max: 160 }), m: fc.integer({ min: 3, max: 12 }), seed: fc.integer({ min: 1, max: 1e6 }) }), { minLength: 2, maxLength: 9 }),
  launch: pointArb,
  drops: fc.array(pointArb, { minLength: 2, maxLength: 4 }),
  order: fc.constantFrom('given', 'shortest'),
  masses: fc.array(fc.integer({ min: 1, max: 7 }).map((g) => g / 10), { minLength: 4, maxLength: 4 }),
});

function star(o: { cx: number; cy: number; r: number; m: number; seed: number }): [number, number][] {
  const R = rng(o.seed);
  const phase = R() * Math.PI * 2;
  return Array.from({ length: o.m }, (_, k) => {
    const a = phase + (k / o.m) * Math.PI * 2, rad = o.r * (0.45 + 0.55 * R());
    return [Math.round(o.cx + rad * Math.cos(a)), Math.round(o.cy + rad * Math.sin(a))] as [number, number];
  });
}

/** Even-odd containment, written here rather than taken from the planner. */
function inside(p: XY, ring: XY[]): boolean {
  let c = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i], b = ring[j];
    if ((a[1] > p[1]) !== (b[1] > p[1]) && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0]) c = !c;
  }
  return c;
}

/** Route segments never cross the ring's edges (proper crossings, by orientation). */
function crossesRing(a: XY, b: XY, ring: XY[]): boolean {
  const o = (p: XY, q: XY, r: XY) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  for (let i = 0; i < ring.length; i++) {
    const c = ring[i], d = ring[(i + 1) % ring.length];
    if (o(a, b, c) * o(a, b, d) < 0 && o(c, d, a) * o(c, d, b) < 0) return true;
  }
  return false;
}

const RUNS = Number(process.env.PLANNER_SORTIE_RUNS ?? 25);

test('random sorties: through every drop in order, one release per parcel, the fence fits and holds the route, same bytes', () => {
  let planned = 0, loops = 0;
  fc.assert(
    fc.property(fieldArb, (f) => {
      const zones = { type: 'FeatureCollection', features: [polygonFeature({ kind: 'operating-area', name: 'field' }, square(0, 0, HALF)), ...f.obstacles.map((o, i) => polygonFeature({ kind: 'no-fly', name: `z${i}` }, star(o)))] };
      const v = validateZones(zones);
      if (!v.ok) throw new Error(v.error.message);
      const proj = zoneProjection(v.zones);
      const idx = buildRouteIndex(v.zones, proj, { clearanceM: CLEARANCE, areaMarginM: 20 });
      const s = proj.toXY(ll(...f.launch));
      fc.pre(inFreeSpace(idx, s) && f.drops.every((d) => { const g = proj.toXY(ll(...d)); return inFreeSpace(idx, g) && findPath(idx, s, g).ok; }));
      const n = f.drops.length;
      const request = {
        launch: ll(...f.launch), drop: ll(...f.drops[0]), stops: f.drops.slice(1).map((d, i) => ({ drop: ll(...d), massKg: f.masses[i + 1] })),
        payload: { release: 'servo', massKg: f.masses[0] }, profile: { releaseServos: [5, 6, 7, 8], batteryWh: 3000 }, options: { orderStops: f.order },
      };
      const r = planDelivery(zones, request);
      expect(JSON.stringify(planDelivery(zones, request))).toBe(JSON.stringify(r));
      if (!r.ok) {
        // a fence too big for the vehicle, never a route round which no corridor could be walked
        expect(r.error.code).toBe('FENCE_CAPACITY');
        expect((r.error.details as { itemsNeeded: number | null }).itemsNeeded).not.toBeNull();
        return;
      }
      planned++;
      const p: PlanOk = r;
      const route = p.route.geometry.coordinates as [number, number][];
      const xy = route.map((c) => proj.toXY(c));
      // through every drop, in the flight order
      expect([...p.dropOrder!].sort()).toEqual(f.drops.map((_, k) => k));
      let at = 0;
      for (const k of p.dropOrder!) {
        const want = ll(...f.drops[k]);
        const i = route.findIndex((c, j) => j > at && c[0] === want[0] && c[1] === want[1]);
        expect(i).toBeGreaterThan(at);
        at = i;
      }
      expect(route[0]).toEqual(route[route.length - 1]);
      // clearance from every raw no-fly polygon
      for (let k = 1; k < xy.length; k++) {
        for (const z of v.zones.noFly) for (const part of z.polygons) {
          const poly = part.map((ring) => ring.map((c) => proj.toXY(c)));
          expect(pointInPolygon(xy[k], poly)).toBe(false);
          for (const ring of poly) expect(segmentRingDistance(xy[k - 1], xy[k], ring)).toBeGreaterThanOrEqual(CLEARANCE);
        }
      }
      // exactly one release per parcel, each after the hold over its own drop
      const releases = p.mission.filter((it) => it.command === Cmd.DO_SET_SERVO);
      expect(releases.map((it) => it.param1)).toEqual(p.dropOrder!.map((k) => [5, 6, 7, 8][k]));
      expect(p.mission.filter((it) => it.command === Cmd.DO_GRIPPER || it.command === Cmd.DO_WINCH)).toEqual([]);
      p.drops!.forEach((d, i) => {
        expect(releases[i].seq).toBe(d.releaseSeq);
        expect(p.mission[d.holdSeq]).toMatchObject({ command: Cmd.NAV_WAYPOINT, x: Math.round(d.lat * 1e7), y: Math.round(d.lon * 1e7), z: d.dropAltM });
      });
      // the fence: within the capacity, and the whole route inside the inclusion polygon, outside every exclusion
      expect(p.fenceSummary.storageItems).toBeLessThanOrEqual(60);
      expect(checkRouteAgainstFence(route, p.fence, proj, 10)).toEqual([]);
      const rings: { inclusion: boolean; ring: XY[] }[] = [];
      for (let i = 0; i < p.fence.length; i += p.fence[i].param1) {
        rings.push({ inclusion: p.fence[i].command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, ring: p.fence.slice(i, i + p.fence[i].param1).map((it) => proj.toXY([it.y / 1e7, it.x / 1e7])) });
      }
      expect(rings.filter((q) => q.inclusion)).toHaveLength(1);
      for (const q of rings) {
        for (const c of xy) expect(inside(c, q.ring)).toBe(q.inclusion);
        for (let k = 1; k < xy.length; k++) expect(crossesRing(xy[k - 1], xy[k], q.ring)).toBe(false);
      }
      const half = Math.floor(route.length / 2);
      if (n > 1 && JSON.stringify(route.slice(0, half + 1)) !== JSON.stringify([...route.slice(route.length - half - 1)].reverse())) loops++;
    }),
    { numRuns: RUNS, seed: 20261215, endOnFailure: true },
  );
  expect(planned).toBeGreaterThan(RUNS / 2);
  expect(loops).toBeGreaterThan(0); // routes that are not out-and-back were planned
});

test('a loop round a block: the fence holds the loop and excludes the block inside it', () => {
  const zones = { type: 'FeatureCollection', features: [
    polygonFeature({ kind: 'operating-area', name: 'a' }, square(0, 0, 1500)),
    polygonFeature({ kind: 'no-fly', name: 'block' }, square(0, 0, 150)),
    pointFeature({ kind: 'launch-site', name: 'W' }, -600, 0),
  ] };
  const p = planDelivery(zones, { drop: ll(500, 400), stops: [{ drop: ll(500, -400) }], payload: { release: 'servo' }, profile: { releaseServos: [9, 10] } });
  if (!p.ok) throw new Error(`${p.error.code}: ${p.error.message}`);
  const v = validateZones(zones);
  if (!v.ok) throw new Error(v.error.message);
  const proj = zoneProjection(v.zones);
  const route = p.route.geometry.coordinates as [number, number][];
  expect(inside(proj.toXY(ll(0, 0)), route.slice(1).map((c) => proj.toXY(c)))).toBe(true); // the route goes round the block
  expect(checkRouteAgainstFence(route, p.fence, proj, 10)).toEqual([]);
  expect(p.fenceSummary.exclusions.map((e) => e.featureIndex)).toEqual([1]);
  const inc = p.fence.filter((it) => it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION).map((it) => proj.toXY([it.y / 1e7, it.x / 1e7]));
  for (const c of square(0, 0, 150)) expect(inside(proj.toXY(ll(...c)), inc)).toBe(true); // the block lies inside the loop, so inside the inclusion
  const exc = p.fence.filter((it) => it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION).map((it) => proj.toXY([it.y / 1e7, it.x / 1e7]));
  for (const c of square(0, 0, 150)) expect(inside(proj.toXY(ll(...c)), exc) || segmentRingDistance(proj.toXY(ll(...c)), proj.toXY(ll(...c)), exc) < 0.02).toBe(true);
});

/**
 * Two fields where legs run close together (found by random search): a stop back past the launch
 * with the way back crossing two legs, leaving a gap narrower than the fence margin between them
 * (the ring must bridge it); three straight legs forming two slivers a few metres wide (an offset
 * from one leg reaches across the other).
 */
const CLOSE_LEGS: { obstacles: [number, number][][]; launch: [number, number]; drops: [number, number][] }[] = [
  { obstacles: [[[-322, -39], [-268, -8], [-300, 45], [-346, 82], [-410, 60], [-392, -2], [-379, -63]], [[-95, 51], [-110, 89], [-143, 108], [-179, 101], [-254, 95], [-235, 29], [-187, 4], [-144, -29], [-94, -2]], [[-126, 399], [-81, 493], [-56, 597], [-176, 653], [-228, 543], [-235, 441]]],
    launch: [-12, 806], drops: [[-151, -799], [-284, 557], [713, -352], [-46, -111]] },
  { obstacles: [[[585, -330], [562, -433], [635, -447], [667, -387]], [[-66, -365], [-124, -394], [-172, -439], [-167, -506], [-117, -543], [-67, -577], [21, -594], [9, -498], [6, -450], [16, -360]], [[428, -807], [493, -745], [482, -656], [429, -575], [350, -634], [263, -658], [281, -747], [352, -777]]],
    launch: [-767, 274], drops: [[248, -280], [-688, 229], [832, -776]] },
];

test.each(CLOSE_LEGS.map((c, i) => [i, c] as const))('legs running close together (case %i): a fence is found and holds the route', (_i, c) => {
  const zones = { type: 'FeatureCollection', features: [polygonFeature({ kind: 'operating-area', name: 'field' }, square(0, 0, HALF)), ...c.obstacles.map((o, i) => polygonFeature({ kind: 'no-fly', name: `z${i}` }, o))] };
  const p = planDelivery(zones, { launch: ll(...c.launch), drop: ll(...c.drops[0]), stops: c.drops.slice(1).map((d) => ({ drop: ll(...d), massKg: 0.5 })), payload: { release: 'servo', massKg: 0.5 }, profile: { releaseServos: [1, 2, 3, 4], batteryWh: 3000 } });
  if (!p.ok) throw new Error(`${p.error.code}: ${p.error.message}`);
  const v = validateZones(zones);
  if (!v.ok) throw new Error(v.error.message);
  const proj = zoneProjection(v.zones);
  const route = p.route.geometry.coordinates as [number, number][];
  expect(checkRouteAgainstFence(route, p.fence, proj, 10)).toEqual([]);
  const inc = p.fence.filter((it) => it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION).map((it) => proj.toXY([it.y / 1e7, it.x / 1e7]));
  for (const c2 of route) expect(inside(proj.toXY(c2), inc)).toBe(true);
  expect(p.fenceSummary.storageItems).toBeLessThanOrEqual(60);
});
