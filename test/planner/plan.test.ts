import * as turf from '@turf/turf';
import { Cmd, Frame } from '../../src/mavlink/mission-item';
import { checkRouteAgainstFence, createPlanner, decodeFencePolygons, DEFAULT_PROFILE, lineLengthM, localProjection, MAX_FEATURES, PLAN_ERROR_CODES, planDelivery, requiredFenceParams, validateZones, type PlanOk, type PlanResult } from '../../planner';
import { buildRouteIndex } from '../../planner/route';
import { gridShortestPath, rasterise } from './grid-baseline';
import { zoneProjection } from '../../planner/plan';
import { DEMO_DROPS, demoZones, ll, pointFeature, polygonFeature, rng, square } from './helpers';

function ok(r: PlanResult): PlanOk {
  if (!r.ok) throw new Error(`expected a plan, got ${r.error.code}: ${r.error.message}`);
  return r;
}
function err(r: PlanResult) {
  if (r.ok) throw new Error('expected an error');
  return r.error;
}

/** Independent check with Turf: every route point and segment keeps `clearanceM` from the polygon. */
function minDistanceRouteToPolygonM(route: [number, number][], poly: any): number {
  const line = turf.lineString(route);
  if (turf.booleanIntersects(line, poly)) return 0;
  let d = Infinity;
  for (const c of route) d = Math.min(d, turf.pointToPolygonDistance(turf.point(c), poly, { units: 'meters' }));
  const rings = poly.geometry.type === 'Polygon' ? [poly.geometry.coordinates] : poly.geometry.coordinates;
  for (const p of rings) for (const r of p) for (const v of r) d = Math.min(d, turf.pointToLineDistance(turf.point(v), line, { units: 'meters', method: 'geodesic' }));
  return d;
}

describe('planDelivery on the demo zones', () => {
  const zones = demoZones();
  const plans = Object.entries(DEMO_DROPS).map(([name, drop]) => [name, ok(planDelivery(zones, { launch: 'Police Post 1', drop, wind: { speedMps: 6, fromDeg: 200 } }))] as const);

  test.each(plans)('%s: route keeps the clearance from every no-fly zone and stays inside the area (checked with Turf)', (_n, plan) => {
    const route = plan.route.geometry.coordinates as [number, number][];
    for (const f of zones.features.filter((f: any) => f.properties.kind === 'no-fly')) {
      const clearance = f.properties.clearanceM ?? 30;
      expect(minDistanceRouteToPolygonM(route, f)).toBeGreaterThanOrEqual(clearance);
    }
    const area = zones.features.find((f: any) => f.properties.kind === 'operating-area');
    for (const c of route) expect(turf.booleanPointInPolygon(turf.point(c), area)).toBe(true);
    const edge = turf.polygonToLine(area) as any;
    for (const c of route) expect(turf.pointToLineDistance(turf.point(c), edge, { units: 'meters' })).toBeGreaterThanOrEqual(20);
    expect(turf.booleanWithin(turf.lineString(route), area)).toBe(true);
  });

  test.each(plans)('%s: distance, legs, energy and mission agree', (_n, plan) => {
    const route = plan.route.geometry.coordinates as [number, number][];
    expect(route[0]).toEqual([plan.launch.lon, plan.launch.lat]);
    expect(route[route.length - 1]).toEqual([plan.launch.lon, plan.launch.lat]);
    expect(plan.distanceM).toBeCloseTo(lineLengthM(route), 6);
    expect(plan.distanceM).toBeCloseTo(turf.length(turf.lineString(route), { units: 'meters' }), -1); // sphere vs ellipsoid: within ~0.5 %
    const cruise = plan.legs.filter((l) => l.kind === 'cruise');
    expect(cruise.reduce((s, l) => s + l.distanceM, 0)).toBeCloseTo(plan.distanceM, 6);
    expect(plan.legs[plan.legs.length - 1].cumEnergyWh).toBeCloseTo(plan.energyWh, 9);
    expect(plan.energyWh + plan.reserveWh).toBeLessThanOrEqual(DEFAULT_PROFILE.batteryWh);
    // mission: home, takeoff, ..., land at launch
    const m = plan.mission;
    m.forEach((it, i) => expect(it.seq).toBe(i));
    expect(m[0].command).toBe(Cmd.NAV_WAYPOINT);
    expect(m[1].command).toBe(Cmd.NAV_TAKEOFF);
    expect(m[m.length - 1].command).toBe(Cmd.NAV_LAND);
    expect([m[m.length - 1].x, m[m.length - 1].y]).toEqual([Math.round(plan.launch.lat * 1e7), Math.round(plan.launch.lon * 1e7)]);
    const rel = m.findIndex((it) => it.command === Cmd.DO_GRIPPER);
    expect(rel).toBeGreaterThan(2);
    expect(m[rel].param2).toBe(0); // release
    expect(m[rel - 1]).toMatchObject({ command: Cmd.NAV_WAYPOINT, x: Math.round(plan.drop.lat * 1e7), y: Math.round(plan.drop.lon * 1e7), z: plan.dropAltM });
    expect(m[rel + 1].command).toBe(Cmd.NAV_LOITER_TIME);
    for (const it of m.slice(1)) if (it.command !== Cmd.DO_GRIPPER) expect(it.frame).toBe(Frame.GLOBAL_RELATIVE_ALT_INT);
    // cruise waypoints fly the route's vertices at cruise altitude
    const nav = m.slice(1).filter((it) => it.command === Cmd.NAV_WAYPOINT && it.z === plan.cruiseAltM).map((it) => [it.y / 1e7, it.x / 1e7]);
    expect(nav.length).toBe(route.length - 2 + 1); // vertices without the launch twice, drop visited twice at cruise alt
  });

  test('sealed-zone minimum altitude is respected', () => {
    const plan = plans.find(([n]) => n === 'riverside')![1];
    expect(plan.drop.sealedZone).toBe('Riverside Estate 滨河小区');
    expect(plan.dropAltM).toBe(40);
    expect(plan.warnings.map((w) => w.code)).toContain('DROP_ALT_RAISED');
    const high = ok(planDelivery(zones, { launch: 'Police Post 1', drop: DEMO_DROPS.riverside, profile: { cruiseAltM: 30, dropAltM: 10 } }));
    expect(high.cruiseAltM).toBeGreaterThanOrEqual(40);
  });

  test.each(plans)('%s: the corridor fence holds the route with margin, excludes every zone reaching into it, fits 60 items; rally points inside', (_n, plan) => {
    const proj = localProjection(plan.launch.lon, plan.launch.lat);
    const route = plan.route.geometry.coordinates as [number, number][];
    expect(checkRouteAgainstFence(route, plan.fence, proj, 10)).toEqual([]);
    const dec = decodeFencePolygons(plan.fence);
    if (!dec.ok) throw new Error(dec.message);
    expect(dec.polygons[0].inclusion).toBe(true);
    expect(dec.polygons.slice(1).every((p) => !p.inclusion)).toBe(true); // one inclusion polygon, then exclusions
    for (const it of plan.fence) expect(it.param1).toBeGreaterThanOrEqual(3);
    expect(plan.fenceSummary.storageItems).toBeLessThanOrEqual(60);
    expect(plan.fence.length).toBeLessThanOrEqual(plan.fenceSummary.storageItems);
    // the inclusion polygon: inside the operating area, within the corridor margin of the route
    const ring = dec.polygons[0].ring;
    const inc = turf.polygon([[...ring, ring[0]]]);
    const area = zones.features.find((f: any) => f.properties.kind === 'operating-area');
    for (const v of ring) expect(turf.booleanPointInPolygon(turf.point(v), area)).toBe(true);
    expect(turf.booleanValid(inc)).toBe(true);
    for (const v of ring) expect(turf.pointToLineDistance(turf.point(v), turf.lineString(route), { units: 'meters' })).toBeLessThanOrEqual(100 * 3 + 1);
    // every no-fly zone that reaches into the inclusion polygon has an exclusion covering it (checked with Turf)
    const excl = dec.polygons.filter((p) => !p.inclusion).map((p) => turf.polygon([[...p.ring, p.ring[0]]]));
    for (const f of zones.features.filter((f: any) => f.properties.kind === 'no-fly')) {
      const parts = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const part of parts) {
        if (!turf.booleanIntersects(turf.polygon(part), inc)) continue;
        for (const v of part[0]) expect(excl.some((e) => turf.booleanPointInPolygon(turf.point(v), e) || turf.pointToLineDistance(turf.point(v), turf.polygonToLine(e) as any, { units: 'meters' }) < 0.02)).toBe(true);
      }
    }
    expect(plan.fenceSummary.exclusions).toHaveLength(excl.length);
    // rally points: only those inside the fence are uploaded
    for (const r of plan.rally) {
      expect(r.command).toBe(Cmd.NAV_RALLY_POINT);
      const pt = turf.point([r.y / 1e7, r.x / 1e7]);
      expect(turf.booleanPointInPolygon(pt, inc)).toBe(true);
      for (const e of excl) expect(turf.booleanPointInPolygon(pt, e)).toBe(false);
    }
    expect(plan.rally.length + plan.warnings.filter((w) => w.code === 'RALLY_OUTSIDE_FENCE').length).toBe(3);
    const fp = requiredFenceParams(plan);
    expect(fp.fenceRadiusM).toBeGreaterThan(plan.farthestFromLaunchM);
    expect(fp.fenceType & 4).toBe(4);
  });

  test('the riverside route passes the helipad inside the 100 m corridor: it is excluded, with the route 50 m (its clearance) from the zone', () => {
    const plan = plans.find(([n]) => n === 'riverside')![1];
    expect(plan.fenceSummary.exclusions.map((e) => e.featureIndex)).toEqual([1]);
    expect(plan.fenceSummary.zonesFencedOut).toBe(false);
    expect(plan.fenceSummary.corridorMarginM).toBe(100);
    expect(plan.fenceSummary.routeClearanceM[1]).toBeGreaterThanOrEqual(10);
  });

  test('a small fence capacity keeps the corridor out of the zones instead of excluding them; the route still clears the fence', () => {
    const full = ok(planDelivery(zones, { launch: 'Police Post 1', drop: DEMO_DROPS.riverside }));
    const cap = full.fenceSummary.storageItems - 1;
    const plan = ok(planDelivery(zones, { launch: 'Police Post 1', drop: DEMO_DROPS.riverside, fenceCapacity: cap }));
    expect(plan.fenceSummary.storageItems).toBeLessThanOrEqual(cap);
    expect(plan.fenceSummary.zonesFencedOut).toBe(true);
    expect(plan.fenceSummary.exclusions).toEqual([]);
    expect(plan.warnings.map((w) => w.code)).toContain('FENCE_CORRIDOR_NARROWED');
    const dec = decodeFencePolygons(plan.fence);
    if (!dec.ok) throw new Error(dec.message);
    expect(dec.polygons).toHaveLength(1);
    const ring = dec.polygons[0].ring;
    const inc = turf.polygon([[...ring, ring[0]]]);
    for (const f of zones.features.filter((f: any) => f.properties.kind === 'no-fly')) expect(turf.booleanIntersects(f, inc)).toBe(false);
    const proj = localProjection(plan.launch.lon, plan.launch.lat);
    expect(checkRouteAgainstFence(plan.route.geometry.coordinates as [number, number][], plan.fence, proj, 10)).toEqual([]);
    // the deprecated options.fenceMaxItems still sets the capacity
    expect(JSON.stringify(ok(planDelivery(zones, { launch: 'Police Post 1', drop: DEMO_DROPS.riverside, options: { fenceMaxItems: cap } })).fence)).toBe(JSON.stringify(plan.fence));
  });

  test('release by winch and by servo', () => {
    const w = ok(planDelivery(zones, { drop: DEMO_DROPS.xinhua, payload: { release: 'winch', massKg: 2 } }));
    expect(w.mission.filter((i) => i.command === Cmd.DO_WINCH)).toHaveLength(2);
    const s = ok(planDelivery(zones, { drop: DEMO_DROPS.xinhua, payload: { release: 'servo' } }));
    expect(s.mission.find((i) => i.command === Cmd.DO_SET_SERVO)).toMatchObject({ param1: 9, param2: 1100 });
  });

  test('headwind costs more than tailwind; defaults cover 10 km in calm air', () => {
    const calm = ok(planDelivery(zones, { drop: DEMO_DROPS.riverside }));
    const windy = ok(planDelivery(zones, { drop: DEMO_DROPS.riverside, wind: { speedMps: 6, fromDeg: 45 } }));
    expect(windy.energyWh).toBeGreaterThan(calm.energyWh);
    const perM = (calm.legs.filter((l) => l.kind === 'cruise').reduce((s, l) => s + l.energyWh, 0)) / calm.distanceM;
    expect(perM * 10000 + 40).toBeLessThan(DEFAULT_PROFILE.batteryWh * (1 - DEFAULT_PROFILE.reservePct / 100));
  });

  test('deterministic: the same input gives the same bytes', () => {
    const a = JSON.stringify(planDelivery(demoZones(), { drop: DEMO_DROPS.garden, wind: { speedMps: 4, fromDeg: 10 } }));
    const b = JSON.stringify(planDelivery(demoZones(), { drop: DEMO_DROPS.garden, wind: { speedMps: 4, fromDeg: 10 } }));
    expect(a).toBe(b);
  });

  test('inputs are never mutated', () => {
    const z = demoZones();
    const req = { launch: 'Police Post 1', drop: DEMO_DROPS.riverside, wind: { speedMps: 3, fromDeg: 90 }, profile: { cruiseAltM: 50 } };
    const zs = JSON.stringify(z), rs = JSON.stringify(req);
    const deepFreeze = (o: any) => { if (o && typeof o === 'object') { Object.freeze(o); Object.values(o).forEach(deepFreeze); } return o; };
    deepFreeze(z); deepFreeze(req);
    ok(planDelivery(z, req));
    expect(JSON.stringify(z)).toBe(zs);
    expect(JSON.stringify(req)).toBe(rs);
  });
});

describe('optimality', () => {
  test('around a single square obstacle the route equals the analytic shortest path within 1 %', () => {
    const a = 100, r = 30, D = 600;
    const zones = { type: 'FeatureCollection', features: [
      polygonFeature({ kind: 'operating-area' }, square(0, 0, 1500)),
      polygonFeature({ kind: 'no-fly', name: 'block' }, square(0, 0, a)),
      pointFeature({ kind: 'launch-site', name: 'W' }, -D, 0),
    ] };
    const plan = ok(planDelivery(zones, { drop: ll(D, 0), clearanceM: r }));
    // tangent from (−D, 0) to the circle of radius r about the corner (−a, a), around the arc, along the top, and back down symmetrically
    const d = Math.hypot(D - a, a);
    const t = Math.sqrt(d * d - r * r);
    const phi = Math.atan2(-a, -(D - a)) + 2 * Math.PI; // direction corner → start
    const thetaT = phi - Math.acos(r / d);
    const arc = thetaT - Math.PI / 2;
    const analytic = 2 * (t + r * arc) + 2 * a;
    const outbound = lineLengthM(plan.route.geometry.coordinates.slice(0, Math.ceil(plan.route.geometry.coordinates.length / 2)) as [number, number][]);
    expect(Math.abs(outbound - analytic) / analytic).toBeLessThan(0.01);
    expect(outbound).toBeGreaterThanOrEqual(analytic * 0.999);
  });

  test('random obstacle fields: never inside a buffered zone, never outside the area, never longer than a 10 m grid path', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const R = rng(seed);
      const features: any[] = [polygonFeature({ kind: 'operating-area' }, square(0, 0, 1000))];
      for (let k = 0; k < 10; k++) {
        const cx = -700 + R() * 1400, cy = -700 + R() * 1400, w = 30 + R() * 120, h = 30 + R() * 120;
        if (Math.hypot(cx + 850, cy + 850) < 350 || Math.hypot(cx - 850, cy - 850) < 350) continue;
        features.push(polygonFeature({ kind: 'no-fly', name: `z${k}` }, [[cx - w, cy - h], [cx + w, cy - h], [cx + w, cy + h], [cx - w, cy + h]]));
      }
      features.push(pointFeature({ kind: 'launch-site', name: 'L' }, -850, -850));
      const zones = { type: 'FeatureCollection', features };
      const res = planDelivery(zones, { drop: ll(850, 850) });
      if (!res.ok) { expect(res.error.code).toBe('UNREACHABLE'); continue; }
      const route = res.route.geometry.coordinates as [number, number][];
      for (const f of features.filter((f) => f.properties.kind === 'no-fly')) expect(minDistanceRouteToPolygonM(route, f)).toBeGreaterThanOrEqual(30);
      expect(turf.booleanWithin(turf.lineString(route), features[0])).toBe(true);
      const v = validateZones(zones);
      if (!v.ok) throw new Error('zones');
      const proj = zoneProjection(v.zones);
      const idx = buildRouteIndex(v.zones, proj, {});
      const grid = gridShortestPath(rasterise(idx, 10), proj.toXY(route[0]), proj.toXY(ll(850, 850)));
      expect(grid.ok).toBe(true);
      if (grid.ok) expect(res.distanceM / 2).toBeLessThanOrEqual(grid.lengthM * 1.005);
      expect(checkRouteAgainstFence(route, res.fence, proj, 10)).toEqual([]);
    }
  });
});

describe('errors', () => {
  const zones = demoZones();
  const helipad = zones.features.find((f: any) => /helipad/.test(f.properties.name));
  const codes = new Set<string>();
  const expectCode = (r: PlanResult | { ok: false; error: { code: string; message: string } } | { ok: true }, code: string) => {
    expect(r.ok).toBe(false);
    const e = (r as any).error;
    expect(e.code).toBe(code);
    expect(typeof e.message).toBe('string');
    expect(e.message).not.toMatch(/\n\s+at /); // no stack trace
    codes.add(code);
    return e;
  };
  const withFeature = (i: number, f: (x: any) => void) => { const z = demoZones(); f(z.features[i]); return z; };

  test('zone validation names the feature', () => {
    expectCode(planDelivery('nope', { drop: DEMO_DROPS.garden }), 'INVALID_ZONES');
    expectCode(planDelivery({ type: 'FeatureCollection', features: [] }, { drop: DEMO_DROPS.garden }), 'EMPTY_ZONES');
    expectCode(planDelivery(withFeature(1, (f) => { f.properties.kind = 'volcano'; }), { drop: DEMO_DROPS.garden }), 'INVALID_ZONES');
    let e = expectCode(planDelivery(withFeature(1, (f) => { f.geometry.coordinates[0][2] = [NaN, 34]; }), { drop: DEMO_DROPS.garden }), 'INVALID_GEOMETRY');
    expect(e.message).toMatch(/#1 "Central Hospital helipad/);
    e = expectCode(planDelivery(withFeature(1, (f) => { f.geometry.coordinates[0][2] = [114.39, 95]; }), { drop: DEMO_DROPS.garden }), 'INVALID_GEOMETRY');
    expect(e.message).toMatch(/out of range/);
    e = expectCode(planDelivery(withFeature(1, (f) => { f.geometry.coordinates[0].pop(); }), { drop: DEMO_DROPS.garden }), 'INVALID_GEOMETRY');
    expect(e.message).toMatch(/not closed/);
    e = expectCode(planDelivery(withFeature(4, (f) => { const r = f.geometry.coordinates[0]; [r[1], r[2]] = [r[2], r[1]]; }), { drop: DEMO_DROPS.garden }), 'INVALID_GEOMETRY');
    expect(e.message).toMatch(/intersects itself/);
    expect(e.details.featureIndex).toBe(4);
    expectCode(planDelivery(withFeature(4, (f) => { delete f.properties.name; }), { drop: DEMO_DROPS.garden }), 'INVALID_PROPERTIES');
    const noArea = demoZones(); noArea.features.splice(0, 1);
    expectCode(planDelivery(noArea, { drop: DEMO_DROPS.garden }), 'MISSING_OPERATING_AREA');
    const two = demoZones(); two.features.push(two.features[0]);
    expectCode(planDelivery(two, { drop: DEMO_DROPS.garden }), 'MULTIPLE_OPERATING_AREAS');
    const dup = demoZones(); dup.features.push(dup.features.find((f: any) => f.properties.kind === 'launch-site'));
    expectCode(planDelivery(dup, { drop: DEMO_DROPS.garden }), 'DUPLICATE_LAUNCH_SITE');
    const many = demoZones(); const rally = many.features.find((f: any) => f.properties.kind === 'rally-point');
    while (many.features.length <= MAX_FEATURES) many.features.push(rally);
    e = expectCode(planDelivery(many, { drop: DEMO_DROPS.garden }), 'ZONES_TOO_LARGE');
    expect(e.details).toMatchObject({ limitName: 'MAX_FEATURES', limit: MAX_FEATURES, actual: MAX_FEATURES + 1 });
  });

  test('clockwise rings are accepted and normalised with a warning', () => {
    const z = withFeature(1, (f) => { f.geometry.coordinates[0].reverse(); });
    const v = validateZones(z);
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.zones.warnings[0]).toMatchObject({ code: 'WINDING_NORMALISED', details: { featureIndex: 1 } });
  });

  test('request errors', () => {
    let e = expectCode(planDelivery(zones, { drop: [114.39, 'x'] }), 'INVALID_REQUEST');
    expect(e.details.issues[0].path).toMatch(/^drop/);
    expectCode(planDelivery(zones, {}), 'INVALID_REQUEST');
    expectCode(planDelivery(zones, { drop: DEMO_DROPS.garden, wind: { speedMps: NaN } }), 'INVALID_REQUEST');
    expectCode(planDelivery(zones, { drop: DEMO_DROPS.garden, profile: { dropAltM: 80 } }), 'INVALID_REQUEST');
    e = expectCode(planDelivery(zones, { launch: 'Police Post 9', drop: DEMO_DROPS.garden }), 'UNKNOWN_LAUNCH_SITE');
    expect(e.details.known).toContain('Police Post 1');
    expectCode(planDelivery(zones, { drop: DEMO_DROPS.garden, payload: { massKg: 9 } }), 'PAYLOAD_TOO_HEAVY');
    e = expectCode(planDelivery(zones, { drop: DEMO_DROPS.garden, stops: [{ drop: DEMO_DROPS.garden }] }), 'MULTI_DROP_UNSUPPORTED'); // a gripper drops both at once
    expect(e.details).toMatchObject({ parcels: 2, release: 'gripper' });
    expectCode(planDelivery(zones, { drop: DEMO_DROPS.garden, wind: { speedMps: 15, fromDeg: 0 } }), 'WIND_TOO_STRONG');
    expectCode(planDelivery(zones, { drop: DEMO_DROPS.garden, wind: { speedMps: 11, fromDeg: 90 }, profile: { cruiseSpeedMps: 8 } }), 'WIND_TOO_STRONG');
  });

  test('launch and drop placement', () => {
    expectCode(planDelivery(zones, { launch: [114.30, 34.06], drop: DEMO_DROPS.garden }), 'LAUNCH_OUTSIDE_AREA');
    const e = expectCode(planDelivery(zones, { drop: [114.50, 34.06] }), 'DROP_OUTSIDE_AREA');
    expect(e.details.inside).toBe(false);
    const c = turf.centroid(helipad).geometry.coordinates;
    let d = expectCode(planDelivery(zones, { drop: c }), 'DROP_IN_NO_FLY');
    expect(d.details).toMatchObject({ featureIndex: 1, distanceM: 0, clearanceM: 50 });
    // 40 m east of the helipad's easternmost vertex: outside the zone, inside its 50 m clearance
    const east = helipad.geometry.coordinates[0].reduce((m: number[], p: number[]) => (p[0] > m[0] ? p : m));
    const near = turf.destination(turf.point(east), 40, 90, { units: 'meters' }).geometry.coordinates;
    d = expectCode(planDelivery(zones, { drop: near }), 'DROP_IN_NO_FLY');
    expect(d.details.distanceM).toBeGreaterThan(30);
    expect(d.details.distanceM).toBeLessThan(50);
    expectCode(planDelivery(zones, { launch: c, drop: DEMO_DROPS.garden }), 'LAUNCH_IN_NO_FLY');
  });

  test('unreachable, insufficient energy, fence capacity', () => {
    const enclosed = { type: 'FeatureCollection', features: [
      polygonFeature({ kind: 'operating-area' }, square(0, 0, 1000)),
      polygonFeature({ kind: 'no-fly', name: 'ring' }, [[200, 200], [800, 200], [800, 800], [200, 800]]),
      pointFeature({ kind: 'launch-site', name: 'L' }, -500, -500),
    ] };
    // a no-fly polygon with a hole: the hole is free but enclosed
    enclosed.features[1].geometry.coordinates.push([ll(400, 400), ll(400, 600), ll(600, 600), ll(600, 400), ll(400, 400)]);
    expectCode(planDelivery(enclosed, { drop: ll(500, 500) }), 'UNREACHABLE');
    expectCode(planDelivery(zones, { drop: DEMO_DROPS.riverside, profile: { batteryWh: 100 } }), 'INSUFFICIENT_ENERGY');
    // no polygon round a route has fewer than 4 vertices here
    const e = expectCode(planDelivery(zones, { drop: DEMO_DROPS.riverside, fenceCapacity: 3 }), 'FENCE_CAPACITY');
    expect(e.details).toMatchObject({ fenceCapacity: 3 });
    expect(e.details.itemsNeeded).toBeGreaterThan(3);
    expect(e.message).toMatch(/needs (at least )?\d+ items but the vehicle stores 3/);
  });

  test('every public error code that input can cause is covered', () => {
    const reachable = PLAN_ERROR_CODES.filter((c) => c !== 'FENCE_CHECK_FAILED');
    for (const c of reachable) expect([...codes]).toContain(c);
  });
});

describe('createPlanner', () => {
  test('reuses one validated zone set for many requests with identical results', () => {
    const p = createPlanner(demoZones());
    if (!p.ok) throw new Error('zones');
    const a = p.planner.plan({ drop: DEMO_DROPS.garden });
    const b = planDelivery(demoZones(), { drop: DEMO_DROPS.garden });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });
});
