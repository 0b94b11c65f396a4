/**
 * Zone validation at scale: the sweep-line ring checks (planner/ring-sweep.ts) against the plain
 * pairwise definition on random rings full of degenerate cases, large rings of the shape that made
 * the old check quadratic, and the size caps. Timings are in bench/event-loop.bench.ts, not here.
 */
import fc from 'fast-check';
import { MAX_FEATURES, MAX_RING_VERTICES, MAX_TOTAL_VERTICES, validateZones } from '../../planner';
import { findSelfIntersection, firstPointOutside } from '../../planner/ring-sweep';
import { zigzagRing, zonesWithZigzag } from '../support/zones';
import { demoZones, ll, polygonFeature, square } from './helpers';

type P = [number, number];
const orient = (a: P, b: P, c: P) => (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
const within = (a: P, b: P, p: P) => Math.min(a[0], b[0]) <= p[0] && p[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= p[1] && p[1] <= Math.max(a[1], b[1]);

/** The definition, pair by pair: non-adjacent edges must not meet at all, adjacent ones must not fold back. */
function crossesItselfPairwise(ring: P[]): boolean {
  const n = ring.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (j === i + 1 || (i === 0 && j === n - 1)) {
        const [k, m] = j === (i + 1) % n ? [i, j] : [j, i];
        const a = ring[k], v = ring[m], b = ring[(m + 1) % n];
        if (orient(a, v, b) === 0 && (b[0] - v[0]) * (a[0] - v[0]) + (b[1] - v[1]) * (a[1] - v[1]) > 0) return true;
        continue;
      }
      const a1 = ring[i], a2 = ring[(i + 1) % n], b1 = ring[j], b2 = ring[(j + 1) % n];
      const d1 = orient(b1, b2, a1), d2 = orient(b1, b2, a2), d3 = orient(a1, a2, b1), d4 = orient(a1, a2, b2);
      if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
      if ((d1 === 0 && within(b1, b2, a1)) || (d2 === 0 && within(b1, b2, a2)) || (d3 === 0 && within(a1, a2, b1)) || (d4 === 0 && within(a1, a2, b2))) return true;
    }
  }
  return false;
}

/** Crossing number, with points on the ring counted as inside. */
function insideOrOn(p: P, ring: P[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i], b = ring[j];
    if (orient(a, b, p) === 0 && within(a, b, p)) return true;
    if (a[1] > p[1] !== b[1] > p[1] && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0]) inside = !inside;
  }
  return inside;
}

/** Open ring without consecutive duplicates (what zones.ts hands the sweep). */
function openRing(pts: P[]): P[] {
  const r: P[] = [];
  for (const p of pts) {
    const q = r[r.length - 1];
    if (!q || q[0] !== p[0] || q[1] !== p[1]) r.push(p);
  }
  if (r.length > 1 && r[0][0] === r[r.length - 1][0] && r[0][1] === r[r.length - 1][1]) r.pop();
  return r;
}

/** A star-shaped (so simple) ring around the origin with integer vertices. */
function star(radii: number[]): P[] {
  return radii.map((r, k) => {
    const a = (k / radii.length) * 2 * Math.PI;
    return [Math.round(r * Math.cos(a)), Math.round(r * Math.sin(a))] as P;
  });
}

describe('self-intersection sweep', () => {
  test('agrees with the pairwise definition on small grid rings (touching vertices, collinear overlaps, folds)', () => {
    const ringArb = fc.integer({ min: 1, max: 6 }).chain((g) => fc.array(fc.tuple(fc.integer({ min: 0, max: g }), fc.integer({ min: 0, max: g })), { minLength: 3, maxLength: 12 }));
    fc.assert(
      fc.property(ringArb, (pts) => {
        const ring = openRing(pts as P[]);
        fc.pre(ring.length >= 3);
        expect(findSelfIntersection(ring) !== null).toBe(crossesItselfPairwise(ring));
      }),
      { numRuns: 20_000, seed: 7 },
    );
  });

  test('agrees with the pairwise definition on star-shaped rings with two vertices swapped', () => {
    const arb = fc.record({
      radii: fc.array(fc.integer({ min: 5, max: 60 }), { minLength: 4, maxLength: 80 }),
      swap: fc.option(fc.tuple(fc.nat(), fc.nat())),
    });
    fc.assert(
      fc.property(arb, ({ radii, swap }) => {
        const ring = star(radii);
        if (swap) {
          const i = swap[0] % ring.length, j = swap[1] % ring.length;
          [ring[i], ring[j]] = [ring[j], ring[i]];
        }
        const open = openRing(ring);
        fc.pre(open.length >= 3);
        expect(findSelfIntersection(open) !== null).toBe(crossesItselfPairwise(open));
      }),
      { numRuns: 3000, seed: 11 },
    );
  });

  test('points inside a simple ring: the same answer as the crossing number', () => {
    const arb = fc.record({
      radii: fc.array(fc.integer({ min: 5, max: 40 }), { minLength: 3, maxLength: 40 }),
      pts: fc.array(fc.tuple(fc.integer({ min: -45, max: 45 }), fc.integer({ min: -45, max: 45 })), { minLength: 1, maxLength: 30 }),
      reverse: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ radii, pts, reverse }) => {
        const ring = openRing(star(radii));
        fc.pre(ring.length >= 3 && !crossesItselfPairwise(ring));
        if (reverse) ring.reverse();
        const expected = pts.findIndex((p) => !insideOrOn(p as P, ring));
        expect(firstPointOutside(ring, pts as P[])).toBe(expected);
      }),
      { numRuns: 3000, seed: 5 },
    );
  });
});

describe('large zones', () => {
  test('a 40,000-position zigzag no-fly ring validates', () => {
    const { zones, featureIndex } = zonesWithZigzag(40_000);
    const v = validateZones(zones);
    if (!v.ok) throw new Error(`${v.error.code}: ${v.error.message}`);
    const nf = v.zones.noFly.find((z) => z.index === featureIndex)!;
    expect(nf.name).toBe('zigzag');
    expect(nf.polygons[0][0]).toHaveLength(39_999); // open ring
  });

  test('the same ring crossing itself is INVALID_GEOMETRY naming the feature and where', () => {
    const { zones, featureIndex } = zonesWithZigzag(40_000, { selfIntersecting: true });
    const v = validateZones(zones);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.error.code).toBe('INVALID_GEOMETRY');
    expect(v.error.message).toContain(`feature #${featureIndex} "zigzag" (no-fly) outer ring: the ring intersects itself near [`);
    expect(v.error.details).toMatchObject({ featureIndex, name: 'zigzag', kind: 'no-fly' });
    // The crossing is on the closing edge (lon0 - w/2), by the vertex that was moved.
    const near = (v.error.details as { near: P }).near;
    expect(near[0]).toBeCloseTo(114.391, 9);
    expect(near[1]).toBeGreaterThan(34.0585);
  });

  test('a large outer ring with large holes: every hole vertex is checked', () => {
    const outer = zigzagRing(20_000);
    // Holes: small squares between the teeth would touch them; use squares left of the zigzag,
    // inside the strip bounded by the closing edge at lon0 - w/2.
    const hole = (lat: number): P[] => [[114.3912, lat], [114.3912, lat + 0.0001], [114.3918, lat + 0.0001], [114.3918, lat], [114.3912, lat]];
    const zones = demoZones();
    const holes = Array.from({ length: 30 }, (_, k) => hole(34.0552 + k * 0.00012));
    zones.features.push({ type: 'Feature', properties: { kind: 'no-fly', name: 'holed' }, geometry: { type: 'Polygon', coordinates: [outer, ...holes] } });
    const v = validateZones(zones);
    if (!v.ok) throw new Error(v.error.message);
    // The last hole moved right of the zigzag's teeth: outside the outer ring.
    const shifted = holes[29].map(([x, y]) => [x + 0.004, y]);
    zones.features[zones.features.length - 1].geometry.coordinates = [outer, ...holes.slice(0, 29), shifted];
    const bad = validateZones(zones);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.message).toMatch(/"holed" \(no-fly\): hole 30 is not inside the outer ring/);
  });

  test('a hole touching its outer ring at a vertex is accepted; one crossing it is not', () => {
    const base = () => ({ type: 'FeatureCollection', features: [polygonFeature({ kind: 'operating-area' }, square(0, 0, 500))] }) as any;
    const z = base();
    z.features[0].geometry.coordinates.push([ll(-500, -500), ll(0, -200), ll(-200, 0), ll(-500, -500)]);
    expect(validateZones(z).ok).toBe(true);
    const out = base();
    out.features[0].geometry.coordinates.push([ll(-600, -400), ll(0, -200), ll(-200, 0), ll(-600, -400)]);
    const r = validateZones(out);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/hole 1 is not inside the outer ring/);
  });
});

describe('size caps: ZONES_TOO_LARGE names the limit', () => {
  const caps = (zones: unknown) => {
    const v = validateZones(zones);
    if (v.ok) throw new Error('expected ZONES_TOO_LARGE');
    expect(v.error.code).toBe('ZONES_TOO_LARGE');
    return v.error as { message: string; details: any };
  };

  test('a ring longer than MAX_RING_VERTICES', () => {
    const { zones, featureIndex } = zonesWithZigzag(MAX_RING_VERTICES + 1, { name: 'long' });
    const e = caps(zones);
    expect(e.message).toContain('MAX_RING_VERTICES');
    expect(e.message).toContain(`feature #${featureIndex} "long" (no-fly) outer ring`);
    expect(e.details).toMatchObject({ limitName: 'MAX_RING_VERTICES', limit: MAX_RING_VERTICES, actual: MAX_RING_VERTICES + 1, featureIndex });
  });

  test('more positions in all than MAX_TOTAL_VERTICES (checked before any ring is read)', () => {
    const zones = demoZones();
    const per = 45_000;
    const count = Math.ceil(MAX_TOTAL_VERTICES / per);
    for (let k = 0; k < count; k++) {
      zones.features.push({ type: 'Feature', properties: { kind: 'no-fly', name: `z${k}` }, geometry: { type: 'Polygon', coordinates: [zigzagRing(per, { lat0: 34.05 + k * 0.0045 })] } });
    }
    const e = caps(zones);
    expect(e.message).toContain('MAX_TOTAL_VERTICES');
    expect(e.details).toMatchObject({ limitName: 'MAX_TOTAL_VERTICES', limit: MAX_TOTAL_VERTICES });
    expect(e.details.actual).toBeGreaterThan(MAX_TOTAL_VERTICES);
  });

  test('more features than MAX_FEATURES', () => {
    const zones = demoZones();
    const pt = zones.features.find((f: any) => f.properties.kind === 'rally-point');
    while (zones.features.length <= MAX_FEATURES) zones.features.push(pt);
    const e = caps(zones);
    expect(e.message).toContain('MAX_FEATURES');
    expect(e.details).toMatchObject({ limitName: 'MAX_FEATURES', limit: MAX_FEATURES, actual: MAX_FEATURES + 1 });
  });
});
