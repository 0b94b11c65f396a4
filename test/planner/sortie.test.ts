/**
 * Sorties (several drops in one flight) on the demo zones: two and three drops in Riverside Estate
 * (a sealed compound with a 40 m minimum), each released by its own servo after a hold over its own
 * point, the mass aboard falling at each release, the energy between one flight to the farthest
 * drop and separate flights to each, the corridor fence round the whole route; the 'shortest' order
 * against every permutation; the refusals; byte-identical output.
 */
import * as turf from '@turf/turf';
import { Cmd, Frame } from '../../src/mavlink/mission-item';
import { checkRouteAgainstFence, createPlanner, DEFAULT_PROFILE, geodesicDistanceM, lineLengthM, planDelivery, type PlanOk, type PlanResult } from '../../planner';
import { zoneProjection } from '../../planner/plan';
import { flightOrder, LegPaths, permutations } from '../../planner/sortie';
import { DEMO_DROPS, demoZones, ll, pointFeature, polygonFeature, square } from './helpers';

type LL = [number, number];
/** Inside Riverside Estate 滨河小区 (114.4003–114.4043 E, 34.0663–34.0692 N), away from its edges. */
const A: LL = [114.4012, 34.067], B: LL = [114.403, 34.0684], C: LL = [114.4035, 34.0668];
const SERVOS = [9, 10, 11, 12];
const zones = demoZones();
const planner = (() => { const p = createPlanner(zones); if (!p.ok) throw new Error(p.error.message); return p.planner; })();
const proj = zoneProjection(planner.zones);

function ok(r: PlanResult): PlanOk {
  if (!r.ok) throw new Error(`expected a plan, got ${r.error.code}: ${r.error.message}`);
  return r;
}
function refused(r: PlanResult) {
  if (r.ok) throw new Error('expected a refusal');
  return r.error;
}
/** A sortie request: drops[0] is `drop`, the rest stops; masses per drop. */
function sortie(drops: LL[], masses: number[], extra: Record<string, any> = {}): any {
  return {
    launch: 'Police Post 1', drop: drops[0], payload: { release: 'servo', massKg: masses[0] },
    stops: drops.slice(1).map((d, i) => ({ drop: d, massKg: masses[i + 1], ref: `job-${i + 1}` })),
    profile: { releaseServos: SERVOS, ...(extra.profile ?? {}) },
    ...(extra.options ? { options: extra.options } : {}),
  };
}
const single = (drop: LL, massKg: number) => ok(planner.plan({ launch: 'Police Post 1', drop, payload: { release: 'servo', massKg } }));
const coords = (p: PlanOk) => p.route.geometry.coordinates as LL[];
const same = (a: LL, b: LL) => a[0] === b[0] && a[1] === b[1];

/** Everything a sortie plan must hold, for the drops and masses it was asked for. */
function checkSortie(p: PlanOk, drops: LL[], masses: number[]) {
  const n = drops.length;
  expect(p.drops).toHaveLength(n);
  expect(p.dropOrder).toEqual(p.drops!.map((d) => d.index));
  expect([...p.dropOrder!].sort()).toEqual(drops.map((_, k) => k));
  expect(p.drop).toMatchObject({ lon: drops[0][0], lat: drops[0][1] });
  // the route: launch, each drop in flight order, launch
  const route = coords(p);
  expect(route[0]).toEqual([p.launch.lon, p.launch.lat]);
  expect(route[route.length - 1]).toEqual([p.launch.lon, p.launch.lat]);
  let at = 0;
  for (const d of p.drops!) {
    expect([d.lon, d.lat]).toEqual(drops[d.index]);
    const i = route.findIndex((c, k) => k > at && same(c, [d.lon, d.lat]));
    expect(i).toBeGreaterThan(at);
    // alongRouteM: the route's length up to the drop
    expect(d.alongRouteM).toBeCloseTo(lineLengthM(route.slice(0, i + 1)), 1);
    at = i;
  }
  expect(p.route.properties).toMatchObject({ drops: p.drops!.map((d) => ({ index: d.index, lon: d.lon, lat: d.lat })) });
  // the mission: one DO_SET_SERVO per parcel, on its own servo, in flight order, after a hold over its drop
  const m = p.mission;
  m.forEach((it, i) => expect(it.seq).toBe(i));
  const releases = m.filter((it) => it.command === Cmd.DO_SET_SERVO);
  expect(releases).toHaveLength(n);
  expect(m.filter((it) => it.command === Cmd.DO_GRIPPER || it.command === Cmd.DO_WINCH)).toEqual([]);
  expect(new Set(releases.map((r) => r.param1)).size).toBe(n);
  p.drops!.forEach((d, i) => {
    expect(releases[i].seq).toBe(d.releaseSeq);
    expect(d.servo).toBe(SERVOS[d.index]);
    expect(releases[i]).toMatchObject({ command: Cmd.DO_SET_SERVO, param1: SERVOS[d.index], param2: DEFAULT_PROFILE.releasePwm });
    expect(d.holdSeq).toBe(d.releaseSeq - 1);
    const xy = { x: Math.round(d.lat * 1e7), y: Math.round(d.lon * 1e7) };
    expect(m[d.holdSeq]).toMatchObject({ command: Cmd.NAV_WAYPOINT, frame: Frame.GLOBAL_RELATIVE_ALT_INT, param1: DEFAULT_PROFILE.holdBeforeReleaseS, ...xy, z: d.dropAltM });
    expect(m[d.holdSeq - 1]).toMatchObject({ command: Cmd.NAV_WAYPOINT, ...xy, z: p.cruiseAltM }); // over the drop at cruise altitude
    expect(m[d.releaseSeq + 1]).toMatchObject({ command: Cmd.NAV_LOITER_TIME, ...xy, z: d.dropAltM });
    expect(m[d.releaseSeq + 2]).toMatchObject({ command: Cmd.NAV_WAYPOINT, ...xy, z: p.cruiseAltM }); // the climb
    if (i > 0) expect(d.releaseSeq).toBeGreaterThan(p.drops![i - 1].releaseSeq);
  });
  expect(m[m.length - 1]).toMatchObject({ command: Cmd.NAV_LAND, x: Math.round(p.launch.lat * 1e7), y: Math.round(p.launch.lon * 1e7) });
  // legs: the mass aboard falls by each parcel at its release
  const empty = DEFAULT_PROFILE.emptyMassKg;
  const total = masses.reduce((s, x) => s + x, 0);
  expect(p.legs[0]).toMatchObject({ kind: 'takeoff' });
  expect(p.legs[0].massKg).toBeCloseTo(empty + total, 9);
  const rel = p.legs.filter((l) => l.kind === 'release');
  expect(rel.map((l) => l.drop)).toEqual(p.dropOrder);
  let aboard = total;
  p.drops!.forEach((d, i) => {
    const l = rel[i];
    expect(l.massKg).toBeCloseTo(empty + aboard, 9);
    aboard -= masses[d.index];
    expect(p.legs[l.index + 1]).toMatchObject({ kind: 'settle', drop: d.index });
    expect(p.legs[l.index + 1].massKg).toBeCloseTo(empty + aboard, 9);
    expect(d.etaS).toBeCloseTo(l.cumDurationS, 1);
    expect(d.massKg).toBe(masses[d.index]);
  });
  for (let i = 1; i < p.legs.length; i++) expect(p.legs[i].massKg).toBeLessThanOrEqual(p.legs[i - 1].massKg + 1e-12);
  expect(p.legs[p.legs.length - 1]).toMatchObject({ kind: 'land', massKg: empty });
  expect(p.legs.filter((l) => l.kind === 'cruise').reduce((s, l) => s + l.distanceM, 0)).toBeCloseTo(p.distanceM, 6);
  expect(p.energyWh).toBeCloseTo(p.legs[p.legs.length - 1].cumEnergyWh, 9);
  // the fence holds the whole route (the vehicle's reading of the items) and excludes every zone reaching into it (Turf)
  expect(checkRouteAgainstFence(route, p.fence, proj, 10)).toEqual([]);
  expect(p.fenceSummary.storageItems).toBeLessThanOrEqual(60);
  const ring = p.fence.filter((f) => f.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION).map((f): LL => [f.y / 1e7, f.x / 1e7]);
  const inc = turf.polygon([[...ring, ring[0]]]);
  expect(turf.booleanValid(inc)).toBe(true);
  for (const c of route) expect(turf.booleanPointInPolygon(turf.point(c), inc)).toBe(true);
  const excl = p.fenceSummary.exclusions.map((e) => e.featureIndex);
  zones.features.forEach((f: any, i: number) => { if (f.properties.kind === 'no-fly' && turf.booleanIntersects(f, inc)) expect(excl).toContain(i); });
}

describe('a sortie in one compound (Riverside Estate)', () => {
  const two = ok(planner.plan(sortie([A, B], [1.2, 0.8])));
  const three = ok(planner.plan(sortie([A, B, C], [1.2, 0.8, 0.5])));

  test('two drops: each released by its own servo after a hold over its point; mass falls at each release; the fence holds the route', () => {
    checkSortie(two, [A, B], [1.2, 0.8]);
    expect(two.dropOrder).toEqual([0, 1]);
    expect(two.drops!.map((d) => [d.dropAltM, d.sealedZone, d.ref])).toEqual([[40, 'Riverside Estate 滨河小区', undefined], [40, 'Riverside Estate 滨河小区', 'job-1']]);
    expect(two.request.stops).toEqual([{ drop: B, massKg: 0.8, ref: 'job-1' }]);
    expect(two.request.options.orderStops).toBe('given');
  });

  test('three drops, the same', () => {
    checkSortie(three, [A, B, C], [1.2, 0.8, 0.5]);
    expect(three.dropOrder).toEqual([0, 1, 2]);
    expect(three.drops!.map((d) => d.servo)).toEqual([9, 10, 11]);
    for (let i = 1; i < 3; i++) expect(three.drops![i].etaS).toBeGreaterThan(three.drops![i - 1].etaS);
  });

  test('the point of a sortie: more energy than one flight to the farthest drop, less than a flight to each', () => {
    for (const [p, drops, masses] of [[two, [A, B], [1.2, 0.8]], [three, [A, B, C], [1.2, 0.8, 0.5]]] as [PlanOk, LL[], number[]][]) {
      const separate = drops.map((d, k) => single(d, masses[k]));
      const farthest = separate.reduce((f, s) => (s.distanceM > f.distanceM ? s : f));
      expect(p.energyWh).toBeGreaterThan(farthest.energyWh);
      expect(p.energyWh).toBeLessThan(separate.reduce((s, x) => s + x.energyWh, 0));
      expect(p.durationS).toBeLessThan(separate.reduce((s, x) => s + x.durationS, 0));
    }
  });

  test('the way back is the shortest path from the last drop; the point of no return is on the way to the first, with every parcel aboard', () => {
    const route = coords(three);
    const last = three.drops![2];
    const i = route.findIndex((c) => same(c, [last.lon, last.lat]));
    const home = single([last.lon, last.lat], 0.5);
    const out = coords(home).slice(0, Math.ceil(coords(home).length / 2));
    expect(route.slice(i)).toEqual([...out].reverse());
    const first = single(A, 1.2 + 0.8 + 0.5);
    expect(three.pointOfNoReturn).toEqual(first.pointOfNoReturn);
    expect(three.pointOfNoReturn.onRoute).toBe(false);
    // too small a battery for the whole flight: refused like any delivery
    const e = refused(planner.plan(sortie([A, B, C], [1.2, 0.8, 0.5], { profile: { batteryWh: 150 } })));
    expect(e.code).toBe('INSUFFICIENT_ENERGY');
    expect(e.message).toMatch(/sortie \(3 drops\)/);
  });

  test('byte-identical JSON for the same request, from a fresh or a reused planner', () => {
    const req = sortie([C, A, B], [0.5, 1, 1], { options: { orderStops: 'shortest' } });
    const a = JSON.stringify(planner.plan(req));
    expect(JSON.stringify(planner.plan(req))).toBe(a);
    expect(JSON.stringify(planDelivery(demoZones(), req))).toBe(a);
  });

  test('a single drop is planned as before: no stops, or stops: [], give the same bytes and no drops list', () => {
    const plain = planner.plan({ launch: 'Police Post 1', drop: A, payload: { release: 'servo' } });
    expect(JSON.stringify(planner.plan({ launch: 'Police Post 1', drop: A, payload: { release: 'servo' }, stops: [] }))).toBe(JSON.stringify(plain));
    expect(ok(plain).drops).toBeUndefined();
    expect(ok(plain).request.stops).toBeUndefined();
    // parcel 0 is released by releaseServos[0] when the profile lists outputs
    const own = ok(planner.plan({ launch: 'Police Post 1', drop: A, payload: { release: 'servo' }, profile: { releaseServos: [5] } }));
    expect(own.mission.find((i) => i.command === Cmd.DO_SET_SERVO)).toMatchObject({ param1: 5 });
  });
});

describe("the 'shortest' order", () => {
  const drops: LL[] = [DEMO_DROPS.garden, A, DEMO_DROPS.xinhua, C];
  const masses = [0.5, 0.5, 0.5, 0.5];
  const big = { profile: { batteryWh: 1000 } };

  test('no longer than the given order, and no longer than any of the 24 orders (brute force)', () => {
    const given = ok(planner.plan(sortie(drops, masses, big)));
    const shortest = ok(planner.plan(sortie(drops, masses, { ...big, options: { orderStops: 'shortest' } })));
    checkSortie(shortest, drops, masses);
    expect(shortest.request.options.orderStops).toBe('shortest');
    expect(shortest.distanceM).toBeLessThanOrEqual(given.distanceM + 1e-6);
    const all = permutations(4).map((perm) => {
      const p = ok(planner.plan(sortie(perm.map((k) => drops[k]), perm.map((k) => masses[k]), big)));
      return { order: perm, distanceM: p.distanceM };
    });
    const best = Math.min(...all.map((a) => a.distanceM));
    expect(shortest.distanceM).toBeLessThanOrEqual(best + 1e-6);
    // the order it flies is one of the shortest, and it flies it the way the given order would
    const flown = all.find((a) => a.order.join() === shortest.dropOrder!.join())!;
    expect(Math.abs(flown.distanceM - shortest.distanceM)).toBeLessThan(1e-6);
    expect(shortest.dropOrder).not.toEqual([0, 1, 2, 3]); // the given order is not the shortest here
  });

  test('equal routes (an order and its reverse) go to the lexicographically smaller order', () => {
    for (const ds of [[A, B], [B, A], [C, A, B]] as LL[][]) {
      const p = ok(planner.plan(sortie(ds, ds.map(() => 0.5), { options: { orderStops: 'shortest' } })));
      const o = p.dropOrder!;
      expect(o.join() <= [...o].reverse().join()).toBe(true);
      if (ds.length === 2) expect(o).toEqual([0, 1]);
    }
  });

  test('at most 10 route searches for 4 drops (one per pair of points); the given order searches each leg once', () => {
    const idx = planner.routeIndex(30, 20);
    const pts: LL[] = [[114.39, 34.06], ...drops];
    const s = new LegPaths(idx, proj, pts);
    const o = flightOrder(4, 'shortest', s);
    expect(o.ok).toBe(true);
    expect(s.searches).toBe(10);
    const g = new LegPaths(idx, proj, pts);
    expect(flightOrder(4, 'given', g)).toEqual({ ok: true, order: [0, 1, 2, 3] });
    expect(g.searches).toBe(5);
    // a leg and its reverse are one search, the same line
    const ab = g.get(1, 2), ba = g.get(2, 1);
    if (!ab.ok || !ba.ok) throw new Error('no path');
    expect(ba.path).toEqual([...ab.path].reverse());
    expect(g.searches).toBe(5);
  });
});

describe('refusals', () => {
  const code = (r: PlanResult, c: string) => { const e = refused(r); expect(e.code).toBe(c); return e as { code: string; message: string; details: any }; };

  test('a gripper or a winch drops everything at once; too few release outputs', () => {
    let e = code(planner.plan({ ...sortie([A, B], [1, 1]), payload: { release: 'gripper' } }), 'MULTI_DROP_UNSUPPORTED');
    expect(e.message).toMatch(/^a gripper releases everything at once: a sortie needs release 'servo'/);
    e = code(planner.plan({ ...sortie([A, B], [1, 1]), payload: { release: 'winch' } }), 'MULTI_DROP_UNSUPPORTED');
    expect(e.message).toMatch(/^a winch releases everything at once/);
    e = code(planner.plan({ ...sortie([A, B, C], [1, 1, 1]), profile: {} }), 'MULTI_DROP_UNSUPPORTED');
    expect(e.message).toBe('3 parcels need 3 release outputs; the profile has 1 (profile.releaseServos)');
    expect(e.details).toMatchObject({ parcels: 3, releaseOutputs: 1 });
    e = code(planner.plan({ ...sortie([A, B, C], [1, 1, 1]), profile: { releaseServos: [9, 10] } }), 'MULTI_DROP_UNSUPPORTED');
    expect(e.message).toBe('3 parcels need 3 release outputs; the profile has 2 (profile.releaseServos)');
  });

  test('the parcels together heavier than the vehicle carries', () => {
    const e = code(planner.plan(sortie([A, B, C], [1.5, 1, 1])), 'PAYLOAD_TOO_HEAVY');
    expect(e.message).toMatch(/3 parcels weigh 3\.5 kg in total \(1\.5 \+ 1 \+ 1\), more than the vehicle's 3 kg/);
    expect(e.details).toMatchObject({ massKg: 3.5, maxPayloadKg: 3, total: true });
  });

  test('a stop that cannot be reached, or lies in a no-fly zone or outside the area, is named by its index', () => {
    const enclosed = { type: 'FeatureCollection', features: [
      polygonFeature({ kind: 'operating-area' }, square(0, 0, 1000)),
      polygonFeature({ kind: 'no-fly', name: 'ring' }, [[200, 200], [800, 200], [800, 800], [200, 800]]),
      pointFeature({ kind: 'launch-site', name: 'L' }, -500, -500),
    ] } as any;
    enclosed.features[1].geometry.coordinates.push([ll(400, 400), ll(400, 600), ll(600, 600), ll(600, 400), ll(400, 400)]);
    for (const orderStops of ['given', 'shortest']) {
      const req = { drop: ll(-300, 300), stops: [{ drop: ll(300, -300) }, { drop: ll(500, 500) }], payload: { release: 'servo' }, profile: { releaseServos: [1, 2, 3] }, options: { orderStops } };
      const e = code(planDelivery(enclosed, req), 'UNREACHABLE');
      expect(e.details.stop).toBe(2);
      expect(e.message).toMatch(/the drop point of stops\[1\]/);
    }
    const helipad = zones.features.find((f: any) => /helipad/.test(f.properties.name));
    let e = code(planner.plan(sortie([A, turf.centroid(helipad).geometry.coordinates as LL], [1, 1])), 'DROP_IN_NO_FLY');
    expect(e.details).toMatchObject({ stop: 1, featureIndex: 1 });
    expect(e.message).toMatch(/^the drop point of stops\[0\] \[/);
    e = code(planner.plan(sortie([A, B, [114.5, 34.06]], [1, 1, 1])), 'DROP_OUTSIDE_AREA');
    expect(e.details).toMatchObject({ stop: 2, inside: false });
  });

  test('malformed sorties fail the request schema', () => {
    const bad = [
      { ...sortie([A, B, C, A, B], [1, 0.5, 0.5, 0.5, 0.5]) }, // 4 stops
      { ...sortie([A, B], [1, 1]), stops: [{ drop: B, ref: 'x'.repeat(65) }] },
      { ...sortie([A, B], [1, 1]), profile: { releaseServos: [9, 9] } },
      { ...sortie([A, B], [1, 1]), profile: { releaseServos: [33, 9] } },
      { ...sortie([A, B], [1, 1]), options: { orderStops: 'fastest' } },
      { ...sortie([A, B], [1, 1]), stops: [{ drop: B, massKg: -1 }] },
    ];
    for (const req of bad) expect(refused(planner.plan(req)).code).toBe('INVALID_REQUEST');
    expect(ok(planner.plan({ ...sortie([A, B], [1, 1]), stops: [{ drop: B, ref: 'x'.repeat(64) }] })).drops![1].ref).toBe('x'.repeat(64));
  });
});

test('stops far apart: a loop round the district; its fence holds the loop and what it encloses', () => {
  const drops: LL[] = [DEMO_DROPS.riverside, DEMO_DROPS.garden, DEMO_DROPS.xinhua];
  const p = ok(planner.plan(sortie(drops, [0.5, 0.5, 0.5])));
  checkSortie(p, drops, [0.5, 0.5, 0.5]);
  // the route is not out-and-back: the legs between drops and the way back are other lines
  const route = coords(p);
  expect(route.slice(0, Math.ceil(route.length / 2))).not.toEqual([...route.slice(Math.floor(route.length / 2))].reverse());
  expect(p.farthestFromLaunchM).toBeCloseTo(Math.max(...route.map((c) => geodesicDistanceM([p.launch.lon, p.launch.lat], c))), 9);
});

test('a loop whose fence would not fit (it encloses a district of compounds) flies back over its own legs instead, and says so', () => {
  // launch at the centre of a 3 km area; two drops 900 m out at right angles; 49 walled compounds
  // between them: a loop launch → A → B → launch encloses most of them
  const features: any[] = [polygonFeature({ kind: 'operating-area', name: 'area' }, square(0, 0, 1500)), pointFeature({ kind: 'launch-site', name: 'Depot' }, 0, 0)];
  for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) features.push(polygonFeature({ kind: 'no-fly', name: `compound ${i},${j}` }, square(200 + i * 90, 200 + j * 90, 22)));
  const p0 = createPlanner({ type: 'FeatureCollection', features });
  if (!p0.ok) throw new Error(p0.error.message);
  const pl = p0.planner;
  const req = { launch: 'Depot', drop: ll(950, 60), payload: { release: 'servo', massKg: 0.5 }, stops: [{ drop: ll(60, 950), massKg: 0.5 }], profile: { releaseServos: [10, 11] } };
  // with room for the loop's fence: a loop, no warning
  const loop = ok(pl.plan({ ...req, fenceCapacity: 1000 }));
  expect(loop.warnings.map((w) => w.code)).not.toContain('SORTIE_RETRACED');
  expect(loop.fenceSummary.storageItems).toBeGreaterThan(60);
  // on a vehicle that stores 60 items: the legs retraced, the fence that of the way out
  const p = ok(pl.plan({ ...req, fenceCapacity: 60 }));
  const w = p.warnings.find((x) => x.code === 'SORTIE_RETRACED')!;
  expect(w).toBeDefined();
  expect(p.fenceSummary.storageItems).toBeLessThanOrEqual(60);
  const route = coords(p);
  const mid = (route.length - 1) / 2;
  expect(Number.isInteger(mid)).toBe(true);
  expect(route.slice(mid)).toEqual([...route.slice(0, mid + 1)].reverse()); // back over the same line
  expect((w.details as any).extraM).toBeCloseTo(p.distanceM - loop.distanceM, 1);
  expect(checkRouteAgainstFence(route, p.fence, proj0(pl), p.fence.map(() => 0))).toEqual([]);
  // the mission flies it: each drop released, then the waypoints back to the launch
  expect(p.drops!.map((d) => d.servo).sort()).toEqual([10, 11]);
  expect(p.energyWh).toBeGreaterThan(loop.energyWh);
});
const proj0 = (pl: any) => zoneProjection(pl.zones);
