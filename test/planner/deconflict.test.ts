/**
 * Strategic deconfliction (planner/deconflict.ts). Property: for random sets of up to 10 concurrent
 * flights deconflicted one after another, no two 4-D volumes intersect, and — checked independently
 * of the volumes — vehicles flown along their paths at any speed within the tolerance and lifting
 * off anywhere within the launch slack keep the separation at every instant. Plus the choices
 * themselves: layer, hold, ceiling, refusals, inputs not mutated.
 */
import fc from 'fast-check';
import { deconflict, flightVolume, volumeConflict, DEFAULT_DECONFLICT, type ActiveFlight, type DeconflictOptions, type FlightPath } from '../../planner/deconflict';
import { localProjection, type LonLat, type XY } from '../../planner/geo';
import { ll } from './helpers';
import { syntheticPath, type PathSpec } from './deconflict-helpers';

const ORIGIN = ll(0, 0) as LonLat;
const proj = localProjection(ORIGIN[0], ORIGIN[1]);

interface Track { legs: { a: XY; b: XY; z0: number; z1: number; dur: number }[]; totalS: number }

/** The path flown at `layerM` in local metres, with each leg's planned duration (vertical legs at the plan's rate). */
function track(path: FlightPath, layerM: number): Track {
  const at = (z: number) => (Math.abs(z - path.cruiseAltM) < 1e-6 ? layerM : z);
  const legs = path.legs.map((l) => {
    const z0 = at(l.altStartM), z1 = at(l.altEndM);
    const dz0 = Math.abs(l.altEndM - l.altStartM);
    const a = proj.toXY(l.from), b = proj.toXY(l.to);
    const vertical = l.kind !== 'cruise' && dz0 > 1e-6 && Math.hypot(b[0] - a[0], b[1] - a[1]) < 1;
    return { a, b, z0, z1, dur: vertical ? (l.durationS * Math.abs(z1 - z0)) / dz0 : l.durationS };
  });
  return { legs, totalS: legs.reduce((s, l) => s + l.dur, 0) };
}

/** Position and altitude `sinceLaunchS` after lift-off at `factor` × planned speed; null on the ground. */
function positionAt(t: Track, sinceLaunchS: number, factor: number): { x: number; y: number; z: number } | null {
  if (sinceLaunchS < 0) return null;
  let tau = sinceLaunchS * factor; // planned seconds flown
  if (tau > t.totalS) return null; // landed
  for (const l of t.legs) {
    if (tau <= l.dur) {
      const f = l.dur > 0 ? tau / l.dur : 1;
      return { x: l.a[0] + (l.b[0] - l.a[0]) * f, y: l.a[1] + (l.b[1] - l.a[1]) * f, z: l.z0 + (l.z1 - l.z0) * f };
    }
    tau -= l.dur;
  }
  return null;
}

const pt = fc.tuple(fc.integer({ min: -2000, max: 2000 }), fc.integer({ min: -2000, max: 2000 }));
const sites: [number, number][] = [[0, 0], [-1500, 800], [1200, -900]];
const flightArb = fc.record({
  site: fc.integer({ min: 0, max: sites.length - 1 }),
  via: fc.array(pt, { maxLength: 2 }),
  drop: pt,
  speedMps: fc.integer({ min: 6, max: 15 }),
  dropAltM: fc.integer({ min: 10, max: 35 }),
  launchAtS: fc.integer({ min: 0, max: 900 }),
});
const runArb = fc.record({
  flights: fc.array(flightArb, { minLength: 2, maxLength: 10 }),
  tolerance: fc.constantFrom(0, 0.1, 0.25),
  slackS: fc.constantFrom(0, 15, 30),
  /** per flight: speed factor within the tolerance (0 → slowest, 1 → fastest) and lift-off delay within the slack (0..1) */
  flown: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 10, maxLength: 10 }),
});

function specOf(f: { site: number; via: [number, number][]; drop: [number, number]; speedMps: number; dropAltM: number }): PathSpec {
  return { launch: sites[f.site], via: f.via, drop: f.drop, speedMps: f.speedMps, cruiseAltM: 60, dropAltM: f.dropAltM, climbMps: 2.5, descentMps: 1.5 };
}

describe('strategic deconfliction: property', () => {
  const methods = { clear: 0, layer: 0, hold: 0 };
  afterAll(() => {
    // the property is only worth something if the runs made the deconfliction work
    expect(methods.layer).toBeGreaterThan(0);
    expect(methods.hold).toBeGreaterThan(0);
  });
  test('random sets of up to 10 concurrent flights: volumes never intersect, and vehicles flown within the tolerances keep the separation', () => {
    fc.assert(
      fc.property(runArb, ({ flights, tolerance, slackS, flown }) => {
        const options: DeconflictOptions = { speedTolerance: tolerance, launchSlackS: slackS, maxHoldS: 1e6 };
        const o = { ...DEFAULT_DECONFLICT, ...options };
        const active: ActiveFlight[] = [];
        for (const [k, f] of flights.entries()) {
          const path = syntheticPath(specOf(f));
          const r = deconflict({ id: `f${k}`, path, launchAtS: f.launchAtS, active, options, origin: ORIGIN });
          if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
          expect(r.launchAtS).toBe(f.launchAtS + r.holdS);
          expect(o.layersM).toContain(r.layerM);
          active.push({ id: `f${k}`, path, layerM: r.layerM, launchAtS: r.launchAtS });
          methods[r.method]++;
        }
        // 1. no two volumes intersect
        const vols = active.map((f) => flightVolume(f.id, f.path, f.layerM, f.launchAtS, ORIGIN, options));
        for (let i = 0; i < vols.length; i++) for (let j = i + 1; j < vols.length; j++) expect(volumeConflict(vols[i], vols[j], o.horizontalSepM, o.verticalSepM)).toBeNull();
        // 2. independent of the volumes: fly them (speed factor and lift-off delay within the tolerances) and measure
        const factor = active.map((_, k) => 1 - tolerance + 2 * tolerance * flown[k][0]);
        const delay = active.map((_, k) => slackS * flown[k][1]);
        const tracks = active.map((f) => track(f.path, f.layerM));
        const end = Math.max(...active.map((f, k) => f.launchAtS + delay[k] + tracks[k].totalS / factor[k]));
        const hNeed = o.horizontalSepM + 2 * o.positionToleranceM, vNeed = o.verticalSepM + 2 * o.altitudeToleranceM;
        for (let t = 0; t < end; t += 0.5) {
          const pos = active.map((f, k) => positionAt(tracks[k], t - f.launchAtS - delay[k], factor[k]));
          for (let i = 0; i < pos.length; i++) {
            const p = pos[i];
            if (!p) continue;
            for (let j = i + 1; j < pos.length; j++) {
              const q = pos[j];
              if (!q) continue;
              const h = Math.hypot(p.x - q.x, p.y - q.y), v = Math.abs(p.z - q.z);
              if (h < hNeed && v < vNeed) throw new Error(`f${i} and f${j} at t=${t}: ${h.toFixed(1)} m apart at ${v.toFixed(1)} m vertically`);
            }
          }
        }
      }),
      { numRuns: Number(process.env.DECONFLICT_RUNS ?? 60), seed: 4242 },
    );
  });
});

describe('strategic deconfliction: choices', () => {
  const corridor = syntheticPath({ launch: [0, 0], via: [], drop: [1500, 0], speedMps: 10, cruiseAltM: 60, dropAltM: 20, climbMps: 2.5, descentMps: 1.5 });
  const fromFar = syntheticPath({ launch: [3000, 0], via: [], drop: [1500, 10], speedMps: 10, cruiseAltM: 60, dropAltM: 20, climbMps: 2.5, descentMps: 1.5 });

  test('alone: the first layer, method clear', () => {
    const r = deconflict({ id: 'a', path: corridor, launchAtS: 1000, active: [], origin: ORIGIN });
    expect(r).toMatchObject({ ok: true, method: 'clear', layerM: 40, holdS: 0, launchAtS: 1000, avoided: [] });
  });

  test('a flight crossing another\'s corridor at the same time takes the next layer', () => {
    const crossing = syntheticPath({ launch: [750, -1500], via: [], drop: [750, 1500], speedMps: 10, cruiseAltM: 60, dropAltM: 20, climbMps: 2.5, descentMps: 1.5 });
    const active: ActiveFlight[] = [{ id: 'a', path: corridor, layerM: 40, launchAtS: 1000 }];
    const r = deconflict({ id: 'b', path: crossing, launchAtS: 1000, active, origin: ORIGIN });
    expect(r).toMatchObject({ ok: true, method: 'layer', layerM: 55, holdS: 0, avoided: ['a'] });
    if (r.ok) expect(r.reason).toMatch(/55 m: 40 m crosses a/);
  });

  test('two flights into the same compound at the same time: the later one holds (the descent to the drop crosses every layer)', () => {
    const active: ActiveFlight[] = [{ id: 'a', path: corridor, layerM: 40, launchAtS: 1000 }];
    const r = deconflict({ id: 'b', path: fromFar, launchAtS: 1000, active, origin: ORIGIN });
    expect(r).toMatchObject({ ok: true, method: 'hold', avoided: ['a'] });
  });

  test('layers exhausted: a timed hold at launch, the shortest over the layers, and the volumes clear', () => {
    const active: ActiveFlight[] = [
      { id: 'a', path: corridor, layerM: 40, launchAtS: 1000 },
      { id: 'b', path: corridor, layerM: 55, launchAtS: 1100 },
      { id: 'c', path: corridor, layerM: 70, launchAtS: 1200 },
    ];
    const r = deconflict({ id: 'd', path: fromFar, launchAtS: 1000, active, origin: ORIGIN });
    if (!r.ok) throw new Error(r.message);
    expect(r.method).toBe('hold');
    expect(r.holdS).toBeGreaterThan(0);
    expect(r.reason).toMatch(/^hold \d+ s at launch, then cruise at \d+ m/);
    for (const f of active) expect(volumeConflict(r.volume, flightVolume(f.id, f.path, f.layerM, f.launchAtS, ORIGIN), 50, 10)).toBeNull();
    // one second less on the chosen layer would not be clear
    const earlier = flightVolume('d', fromFar, r.layerM, r.launchAtS - 1, ORIGIN);
    expect(active.some((f) => volumeConflict(earlier, flightVolume(f.id, f.path, f.layerM, f.launchAtS, ORIGIN), 50, 10))).toBe(true);
  });

  test('layers above the ceiling are not used; none left → AIRSPACE_NO_LAYER; hold too long → AIRSPACE_FULL', () => {
    const active: ActiveFlight[] = [{ id: 'a', path: corridor, layerM: 40, launchAtS: 1000 }];
    const r = deconflict({ id: 'b', path: fromFar, launchAtS: 1000, active, options: { ceilingM: 60 }, origin: ORIGIN });
    expect(r).toMatchObject({ ok: true, method: 'hold', layerM: 55 });
    const none = deconflict({ id: 'b', path: fromFar, launchAtS: 1000, active, options: { ceilingM: 30 }, origin: ORIGIN });
    expect(none).toMatchObject({ ok: false, code: 'AIRSPACE_NO_LAYER' });
    const full = deconflict({ id: 'b', path: fromFar, launchAtS: 1000, active, options: { layersM: [40], maxHoldS: 10 }, origin: ORIGIN });
    expect(full).toMatchObject({ ok: false, code: 'AIRSPACE_FULL' });
  });

  test('flights far apart in time or space do not constrain each other; inputs are not mutated', () => {
    const active: ActiveFlight[] = [{ id: 'a', path: corridor, layerM: 40, launchAtS: 0 }];
    const before = JSON.stringify({ active, fromFar });
    const later = deconflict({ id: 'b', path: fromFar, launchAtS: 5000, active, origin: ORIGIN });
    expect(later).toMatchObject({ ok: true, method: 'clear', layerM: 40 });
    const elsewhere = syntheticPath({ launch: [0, 2000], via: [], drop: [1500, 2000], speedMps: 10, cruiseAltM: 60, dropAltM: 20, climbMps: 2.5, descentMps: 1.5 });
    expect(deconflict({ id: 'c', path: elsewhere, launchAtS: 0, active, origin: ORIGIN })).toMatchObject({ ok: true, method: 'clear' });
    expect(JSON.stringify({ active, fromFar })).toBe(before);
  });
});
