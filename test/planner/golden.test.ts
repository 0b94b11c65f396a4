/**
 * Turf-style fixtures: each test/planner/in/NAME.geojson holds zones plus a `request` member; the
 * expected plan (or error) is test/planner/out/NAME.json, rewritten when REGEN=1.
 *
 * The expected files are not trusted because the planner wrote them: test/planner/facts/NAME.json
 * holds what a reviewer checked by hand, each with its reason (the outcome, bounds on the route's
 * length from hand-worked geometry and a hand-built witness path, the leg count, the zones the
 * fence must or must not exclude, the items it may take). The facts are checked on every run, with
 * REGEN=1 too; and REGEN=1 refuses to write a file whose route is longer than the one it replaces
 * or whose fence lost one of its exclusions.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as turf from '@turf/turf';
import { decodeFencePolygons, geodesicDistanceM, planDelivery, type PlanResult } from '../../planner';
import { ll } from './helpers';

const IN = path.join(__dirname, 'in');
const OUT = path.join(__dirname, 'out');
const FACTS = path.join(__dirname, 'facts');
const names = fs.readdirSync(IN).filter((f) => f.endsWith('.geojson')).map((f) => f.replace(/\.geojson$/, '')).sort();

interface Facts {
  about: string;
  outcome: { ok: boolean; code?: string; reason?: string };
  route?: {
    directOutbound?: boolean;
    minOutboundM?: { value: number; reason: string };
    witness?: { metres: [number, number][]; clearanceM: number; reason: string };
    reason?: string;
  };
  legs?: { value?: number; rule?: string; reason: string };
  fence?: {
    maxStorageItems: { value: number; reason: string };
    requiredExclusions: { value: number[]; reason: string };
    forbiddenExclusions?: { value: number[]; reason: string };
    zonesFencedOut?: { value: boolean; reason: string };
    inclusionMeetsNoZone?: { value: boolean; reason: string };
  };
}

const outboundOf = (r: { route: { geometry: { coordinates: number[][] } } }) => {
  const c = r.route.geometry.coordinates as [number, number][];
  return c.slice(0, Math.ceil(c.length / 2));
};
const lengthM = (line: [number, number][]) => line.slice(1).reduce((s, p, i) => s + geodesicDistanceM(line[i], p), 0);
const polygons = (f: any): number[][][][] => (f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates);

/** Checks the reviewed facts; returns nothing, throws (through expect) on a breach. */
function checkFacts(name: string, zones: any, result: PlanResult, facts: Facts): void {
  expect({ name, ok: result.ok }).toEqual({ name, ok: facts.outcome.ok });
  if (!result.ok) {
    expect(result.error.code).toBe(facts.outcome.code);
    return;
  }
  const out = outboundOf(result);
  const outM = result.distanceM / 2;
  const noFly = zones.features.map((f: any, i: number) => [f, i] as const).filter(([f]: any) => f.properties.kind === 'no-fly');
  if (facts.route?.directOutbound !== undefined) expect(out.length === 2).toBe(facts.route.directOutbound);
  const clearanceOf = (f: any) => f.properties.clearanceM ?? result.request.clearanceM;
  /** The line keeps each zone's clearance (Turf, against the raw zones). */
  const clear = (line: [number, number][], extra = 0) => {
    const l = turf.lineString(line);
    for (const [f] of noFly) {
      const c = Math.max(clearanceOf(f), extra);
      for (const p of polygons(f)) {
        const poly = turf.polygon(p);
        expect(turf.booleanIntersects(l, poly)).toBe(false);
        for (const pt of line) expect(turf.pointToPolygonDistance(turf.point(pt), poly, { units: 'meters' })).toBeGreaterThanOrEqual(c);
        for (const v of p[0]) expect(turf.pointToLineDistance(turf.point(v), l, { units: 'meters', method: 'geodesic' })).toBeGreaterThanOrEqual(c);
      }
    }
  };
  if (facts.route?.directOutbound) {
    // the straight line is clear, and the route is it
    clear(out);
    expect(outM).toBeCloseTo(geodesicDistanceM(out[0], out[1]), 6);
  }
  if (facts.route?.minOutboundM) expect(outM).toBeGreaterThanOrEqual(facts.route.minOutboundM.value * (1 - 1e-3));
  if (facts.route?.witness) {
    // the hand-built path joins launch and drop, is safe (Turf, against the raw zones) and the route is no longer
    const w = facts.route.witness.metres.map(([x, y]) => ll(x, y));
    for (const [a, b] of [[w[0], out[0]], [w[w.length - 1], out[out.length - 1]]]) expect(geodesicDistanceM(a, b)).toBeLessThan(0.01);
    w[0] = out[0];
    w[w.length - 1] = out[out.length - 1];
    clear(w, facts.route.witness.clearanceM);
    expect(outM).toBeLessThanOrEqual(lengthM(w) * (1 + 1e-9));
  }
  if (facts.legs?.value !== undefined) expect(result.legs).toHaveLength(facts.legs.value);
  if (facts.legs?.rule) expect(result.legs).toHaveLength(7 + 2 * (out.length - 1));
  if (facts.fence) {
    const f = facts.fence;
    expect(result.fenceSummary.storageItems).toBeLessThanOrEqual(f.maxStorageItems.value);
    const dec = decodeFencePolygons(result.fence);
    if (!dec.ok) throw new Error(dec.message);
    const excluded = result.fenceSummary.exclusions.map((e) => e.featureIndex);
    for (const idx of f.requiredExclusions.value) {
      const k = excluded.indexOf(idx);
      expect({ name, required: idx, excluded: k >= 0 }).toEqual({ name, required: idx, excluded: true });
      const e = dec.polygons[k + 1].ring;
      const ep = turf.polygon([[...e, e[0]]]);
      for (const p of polygons(zones.features[idx])) for (const v of p[0]) {
        expect(turf.booleanPointInPolygon(turf.point(v), ep) || turf.pointToLineDistance(turf.point(v), turf.polygonToLine(ep) as any, { units: 'meters' }) < 0.02).toBe(true);
      }
    }
    for (const idx of f.forbiddenExclusions?.value ?? []) expect(excluded).not.toContain(idx);
    if (f.zonesFencedOut) expect(result.fenceSummary.zonesFencedOut).toBe(f.zonesFencedOut.value);
    if (f.inclusionMeetsNoZone?.value) {
      const r = dec.polygons[0].ring;
      const inc = turf.polygon([[...r, r[0]]]);
      for (const [z] of noFly) expect(turf.booleanIntersects(inc, z)).toBe(false);
    }
  }
}

describe('planner golden files', () => {
  test('there are fixtures, each with its reviewed facts', () => {
    expect(names.length).toBeGreaterThanOrEqual(5);
    for (const name of names) expect(fs.existsSync(path.join(FACTS, `${name}.json`))).toBe(true);
  });
  for (const name of names) {
    test(name, () => {
      const input = JSON.parse(fs.readFileSync(path.join(IN, `${name}.geojson`), 'utf8'));
      const facts: Facts = JSON.parse(fs.readFileSync(path.join(FACTS, `${name}.json`), 'utf8'));
      const { request, ...zones } = input;
      const result = JSON.parse(JSON.stringify(planDelivery(zones, request)));
      checkFacts(name, zones, result, facts);
      const outFile = path.join(OUT, `${name}.json`);
      if (process.env.REGEN === '1') {
        if (fs.existsSync(outFile)) {
          const before = JSON.parse(fs.readFileSync(outFile, 'utf8'));
          if (before.ok && result.ok) {
            if (result.distanceM > before.distanceM + 1e-6) throw new Error(`${name}: REGEN would make the route longer (${before.distanceM} m → ${result.distanceM} m); review the change, remove the file to accept it`);
            const kept = new Set(result.fenceSummary.exclusions.map((e: { featureIndex: number; part: number }) => `${e.featureIndex}/${e.part}`));
            const lost = (before.fenceSummary?.exclusions ?? []).filter((e: { featureIndex: number; part: number }) => !kept.has(`${e.featureIndex}/${e.part}`));
            if (lost.length > 0) throw new Error(`${name}: REGEN would drop the exclusion of ${lost.map((e: { featureIndex: number }) => `feature #${e.featureIndex}`).join(', ')}; review the change, remove the file to accept it`);
          }
        }
        fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
      }
      const expected = JSON.parse(fs.readFileSync(outFile, 'utf8'));
      expect(result).toEqual(expected);
    });
  }
});
