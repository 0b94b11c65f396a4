/**
 * Geometry primitives for the planner: a local metric projection, WGS84 geodesic distances, and
 * planar helpers (segments, rings, points) in metres. Pure functions, no dependencies.
 */

// Math's functions as module constants (global lookups are slow in a vm context such as jest's).
const { hypot: MHypot, sqrt: MSqrt, min: MMin, max: MMax, abs: MAbs, cos: MCos, sin: MSin, atan2: MAtan2, round: MRound } = Math;

/** [x, y] in metres in a local frame. */
export type XY = [number, number];
/** [lon, lat] in degrees. */
export type LonLat = [number, number];

const DEG = Math.PI / 180;
/** Mean Earth radius (IUGG), metres. */
export const EARTH_RADIUS_M = 6371008.8;

/**
 * Equirectangular projection around an origin. Accurate to ~1e-4 relative within a few km of the
 * origin and ~0.5 % at 50 km north/south; the planner keeps margins well above that and reports
 * lengths geodesically.
 */
export interface LocalProjection {
  originLon: number;
  originLat: number;
  toXY(p: LonLat): XY;
  toLonLat(p: XY): LonLat;
}

export function localProjection(originLon: number, originLat: number): LocalProjection {
  const kx = EARTH_RADIUS_M * MCos(originLat * DEG) * DEG;
  const ky = EARTH_RADIUS_M * DEG;
  return {
    originLon,
    originLat,
    toXY: (p) => [(p[0] - originLon) * kx, (p[1] - originLat) * ky],
    toLonLat: (p) => [originLon + p[0] / kx, originLat + p[1] / ky],
  };
}

/**
 * Geodesic distance on the WGS84 ellipsoid (Vincenty's inverse formula), metres. Falls back to
 * the great-circle distance when the iteration does not converge (nearly antipodal points).
 */
export function geodesicDistanceM(a: LonLat, b: LonLat): number {
  if (a[0] === b[0] && a[1] === b[1]) return 0;
  const f = 1 / 298.257223563;
  const A = 6378137;
  const B = A * (1 - f);
  const L = (b[0] - a[0]) * DEG;
  const U1 = Math.atan((1 - f) * Math.tan(a[1] * DEG));
  const U2 = Math.atan((1 - f) * Math.tan(b[1] * DEG));
  const sinU1 = MSin(U1), cosU1 = MCos(U1), sinU2 = MSin(U2), cosU2 = MCos(U2);
  let lambda = L;
  for (let i = 0; i < 200; i++) {
    const sinL = MSin(lambda), cosL = MCos(lambda);
    const sinSigma = MSqrt((cosU2 * sinL) ** 2 + (cosU1 * sinU2 - sinU1 * cosU2 * cosL) ** 2);
    if (sinSigma === 0) return 0;
    const cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
    const sigma = MAtan2(sinSigma, cosSigma);
    const sinAlpha = (cosU1 * cosU2 * sinL) / sinSigma;
    const cos2Alpha = 1 - sinAlpha * sinAlpha;
    const cos2SigmaM = cos2Alpha !== 0 ? cosSigma - (2 * sinU1 * sinU2) / cos2Alpha : 0;
    const C = (f / 16) * cos2Alpha * (4 + f * (4 - 3 * cos2Alpha));
    const prev = lambda;
    lambda = L + (1 - C) * f * sinAlpha * (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM ** 2)));
    if (MAbs(lambda - prev) < 1e-12) {
      const u2 = (cos2Alpha * (A * A - B * B)) / (B * B);
      const k1 = 1 + (u2 / 16384) * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
      const k2 = (u2 / 1024) * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
      const dSigma = k2 * sinSigma * (cos2SigmaM + (k2 / 4) * (cosSigma * (-1 + 2 * cos2SigmaM ** 2) - (k2 / 6) * cos2SigmaM * (-3 + 4 * sinSigma ** 2) * (-3 + 4 * cos2SigmaM ** 2)));
      return B * k1 * (sigma - dSigma);
    }
  }
  return greatCircleDistanceM(a, b);
}

/** Great-circle distance (haversine) on a sphere of `radiusM` (default the mean Earth radius), metres. */
export function greatCircleDistanceM(a: LonLat, b: LonLat, radiusM = EARTH_RADIUS_M): number {
  const dLat = (b[1] - a[1]) * DEG;
  const dLon = (b[0] - a[0]) * DEG;
  const h = MSin(dLat / 2) ** 2 + MCos(a[1] * DEG) * MCos(b[1] * DEG) * MSin(dLon / 2) ** 2;
  return 2 * radiusM * Math.asin(MMin(1, MSqrt(h)));
}

/** Initial bearing a → b, degrees clockwise from north in [0, 360). */
export function bearingDeg(a: LonLat, b: LonLat): number {
  const f1 = a[1] * DEG, f2 = b[1] * DEG, dl = (b[0] - a[0]) * DEG;
  const y = MSin(dl) * MCos(f2);
  const x = MCos(f1) * MSin(f2) - MSin(f1) * MCos(f2) * MCos(dl);
  return ((MAtan2(y, x) / DEG) % 360 + 360) % 360;
}

export function lineLengthM(coords: LonLat[]): number {
  let d = 0;
  for (let i = 1; i < coords.length; i++) d += geodesicDistanceM(coords[i - 1], coords[i]);
  return d;
}

// ---- planar helpers (metres) ----

export function dist(a: XY, b: XY): number {
  return MHypot(b[0] - a[0], b[1] - a[1]);
}

export function cross(o: XY, a: XY, b: XY): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/** Closed-segment intersection test (touching counts). */
export function segmentsIntersect(p1: XY, p2: XY, q1: XY, q2: XY): boolean {
  const d1 = cross(q1, q2, p1);
  const d2 = cross(q1, q2, p2);
  const d3 = cross(p1, p2, q1);
  const d4 = cross(p1, p2, q2);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  if (d1 === 0 && onSegment(q1, q2, p1)) return true;
  if (d2 === 0 && onSegment(q1, q2, p2)) return true;
  if (d3 === 0 && onSegment(p1, p2, q1)) return true;
  if (d4 === 0 && onSegment(p1, p2, q2)) return true;
  return false;
}

function onSegment(a: XY, b: XY, p: XY): boolean {
  return MMin(a[0], b[0]) <= p[0] && p[0] <= MMax(a[0], b[0]) && MMin(a[1], b[1]) <= p[1] && p[1] <= MMax(a[1], b[1]);
}

export function pointSegmentDistance(p: XY, a: XY, b: XY): number {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  let t = len2 === 0 ? 0 : ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2;
  t = MMax(0, MMin(1, t));
  return MHypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

export function segmentSegmentDistance(p1: XY, p2: XY, q1: XY, q2: XY): number {
  if (segmentsIntersect(p1, p2, q1, q2)) return 0;
  return MMin(pointSegmentDistance(p1, q1, q2), pointSegmentDistance(p2, q1, q2), pointSegmentDistance(q1, p1, p2), pointSegmentDistance(q2, p1, p2));
}

/** Signed area of an open ring (no repeated closing vertex); > 0 for counter-clockwise. */
export function ringSignedArea(ring: XY[]): number {
  let s = 0;
  for (let i = 0, n = ring.length; i < n; i++) {
    const a = ring[i], b = ring[(i + 1) % n];
    s += a[0] * b[1] - b[0] * a[1];
  }
  return s / 2;
}

/** Even-odd point-in-ring test for an open ring. */
export function pointInRing(p: XY, ring: XY[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i], b = ring[j];
    if (a[1] > p[1] !== b[1] > p[1] && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0]) inside = !inside;
  }
  return inside;
}

/** Polygon = outer ring + holes, all open rings. */
export type PolygonXY = XY[][];

export function pointInPolygon(p: XY, poly: PolygonXY): boolean {
  if (!pointInRing(p, poly[0])) return false;
  for (let i = 1; i < poly.length; i++) if (pointInRing(p, poly[i])) return false;
  return true;
}

/** Distance from a point to a polygon's boundary (0 when on it). */
export function pointRingDistance(p: XY, ring: XY[]): number {
  let d = Infinity;
  for (let i = 0; i < ring.length; i++) d = MMin(d, pointSegmentDistance(p, ring[i], ring[(i + 1) % ring.length]));
  return d;
}

/** Distance from a point to a polygon: 0 inside, else distance to the nearest boundary. */
export function pointPolygonDistance(p: XY, poly: PolygonXY): number {
  if (pointInPolygon(p, poly)) return 0;
  let d = Infinity;
  for (const r of poly) d = MMin(d, pointRingDistance(p, r));
  return d;
}

/** Minimum distance from a segment to a ring's boundary. */
export function segmentRingDistance(a: XY, b: XY, ring: XY[]): number {
  let d = Infinity;
  for (let i = 0; i < ring.length; i++) d = MMin(d, segmentSegmentDistance(a, b, ring[i], ring[(i + 1) % ring.length]));
  return d;
}

export function closeRing<T>(ring: T[]): T[] {
  return [...ring, ring[0]];
}

export function round7(v: number): number {
  return MRound(v * 1e7) / 1e7;
}

/** Convex hull (Andrew's monotone chain), counter-clockwise, open, without collinear points. */
export function convexHull(points: XY[]): XY[] {
  const p = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const lower: XY[] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: XY[] = [];
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop();
    upper.push(q);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper);
}

/** True when no two non-adjacent edges of the open ring touch and no adjacent edges overlap. */
export function ringIsSimple(ring: XY[]): boolean {
  const n = ring.length;
  if (n < 3) return false;
  for (let i = 0; i < n; i++) {
    const a = ring[i], b = ring[(i + 1) % n];
    if (a[0] === b[0] && a[1] === b[1]) return false;
    for (let j = i + 1; j < n; j++) {
      const c = ring[j], d = ring[(j + 1) % n];
      if (j === i + 1 || (i === 0 && j === n - 1)) {
        // adjacent: they share one vertex; they must not fold back onto each other
        const shared = j === i + 1 ? b : a;
        const p = j === i + 1 ? a : b, q = j === i + 1 ? d : c;
        if (cross(shared, p, q) === 0 && (p[0] - shared[0]) * (q[0] - shared[0]) + (p[1] - shared[1]) * (q[1] - shared[1]) > 0) return false;
        continue;
      }
      if (MMax(a[0], b[0]) < MMin(c[0], d[0]) || MMax(c[0], d[0]) < MMin(a[0], b[0]) || MMax(a[1], b[1]) < MMin(c[1], d[1]) || MMax(c[1], d[1]) < MMin(a[1], b[1])) continue;
      if (segmentsIntersect(a, b, c, d)) return false;
    }
  }
  return true;
}
