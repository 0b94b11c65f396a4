/**
 * Deterministic output (issue 12): the same zones and request give byte-identical JSON, whether
 * planned by a fresh planDelivery or by a planner that has served other requests before, and
 * however often it is asked; the inputs are never changed. fast-check draws the requests.
 */
import fc from 'fast-check';
import { createPlanner, planDelivery } from '../../planner';
import { demoZones } from './helpers';
import { denseField, llOf } from './fields';

const requestArb = (sites: string[], halfM: number) => fc.record({
  drop: fc.tuple(fc.integer({ min: -Math.round(halfM), max: Math.round(halfM) }), fc.integer({ min: -Math.round(halfM), max: Math.round(halfM) })),
  launch: fc.oneof(fc.constantFrom(...sites), fc.tuple(fc.integer({ min: -Math.round(halfM), max: Math.round(halfM) }), fc.integer({ min: -Math.round(halfM), max: Math.round(halfM) }))),
  massKg: fc.double({ min: 0, max: 3, noNaN: true }),
  release: fc.constantFrom('gripper', 'winch', 'servo'),
  wind: fc.record({ speedMps: fc.double({ min: 0, max: 12, noNaN: true }), fromDeg: fc.integer({ min: -360, max: 360 }) }),
  clearanceM: fc.constantFrom(20, 30, 45),
  fenceCapacity: fc.option(fc.integer({ min: 4, max: 120 }), { nil: undefined }),
  corridorMarginM: fc.option(fc.integer({ min: 15, max: 300 }), { nil: undefined }),
  fenceMarginM: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }),
  cruiseAltM: fc.option(fc.integer({ min: 30, max: 120 }), { nil: undefined }),
});

function toRequest(r: any, origin: (x: number, y: number) => [number, number]): any {
  return {
    drop: origin(r.drop[0], r.drop[1]),
    launch: typeof r.launch === 'string' ? r.launch : origin(r.launch[0], r.launch[1]),
    payload: { massKg: r.massKg, release: r.release },
    wind: r.wind,
    clearanceM: r.clearanceM,
    ...(r.fenceCapacity !== undefined ? { fenceCapacity: r.fenceCapacity } : {}),
    options: { ...(r.corridorMarginM !== undefined ? { corridorMarginM: r.corridorMarginM } : {}), ...(r.fenceMarginM !== undefined ? { fenceMarginM: r.fenceMarginM } : {}) },
    profile: { batteryWh: 2000, ...(r.cruiseAltM !== undefined ? { cruiseAltM: r.cruiseAltM } : {}) },
  };
}

describe('deterministic plans', () => {
  const cases: [string, any, string[], number, (x: number, y: number) => [number, number]][] = [];
  const demo = demoZones();
  // demo district: about 1.5 km either side of 114.39 E 34.06 N
  cases.push(['demo zones', demo, demo.features.filter((f: any) => f.properties.kind === 'launch-site').map((f: any) => f.properties.name), 1500, (x, y) => llOf(x, y)]);
  const dense = denseField(4242, 220);
  dense.zones.features.push({ type: 'Feature', properties: { kind: 'launch-site', name: 'Depot' }, geometry: { type: 'Point', coordinates: llOf(0, 0) } });
  cases.push(['a dense field of 220 no-fly features', dense.zones, ['Depot'], dense.sizeM * 0.8, (x, y) => llOf(x, y)]);

  test.each(cases)('%s: fresh and reused planners give byte-identical JSON for random requests', (_name, zones, sites, halfM, origin) => {
    const shared = createPlanner(zones);
    if (!shared.ok) throw new Error(shared.error.message);
    const zonesBefore = JSON.stringify(zones);
    let planned = 0;
    fc.assert(
      fc.property(requestArb(sites, halfM), (r) => {
        const request = toRequest(r, origin);
        const before = JSON.stringify(request);
        const fresh = JSON.stringify(planDelivery(zones, request));
        const reused = JSON.stringify(shared.planner.plan(request));
        const again = JSON.stringify(shared.planner.plan(request));
        expect(reused).toBe(fresh);
        expect(again).toBe(fresh);
        expect(JSON.stringify(request)).toBe(before);
        if (JSON.parse(fresh).ok) planned++;
      }),
      { numRuns: Number(process.env.PLANNER_DETERMINISM_RUNS ?? 40), seed: 20261206 },
    );
    expect(JSON.stringify(zones)).toBe(zonesBefore);
    expect(planned).toBeGreaterThan(0);
  });
});
