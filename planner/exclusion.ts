/**
 * Exclusion polygons for the corridor fence: a polygon that contains a no-fly zone part, keeps the
 * fence margin from the route, and has few vertices.
 *
 * It starts from the zone's convex hull (or the zone's own ring when the route passes through one
 * of its concavities), then removes vertices one at a time, always the move that adds the least
 * area, and only outward (the polygon keeps containing the zone):
 *  - a reflex (or flat) vertex is cut off by joining its neighbours;
 *  - an edge is replaced by extending its two neighbouring edges until they meet, provided that
 *    meeting point lies within `slackM` of the zone (the zone's clearance less the fence margin:
 *    the growth stays inside the airspace the route keeps clear of anyway).
 * A move is taken only when the grown part keeps `marginM` from the route, holds no route vertex,
 * and leaves the polygon simple.
 */
import { convexHull, cross, pointRingDistance, segmentsIntersect, type XY } from './geo';
import type { RouteGeom } from './corridor';

// Math's functions as module constants (global lookups are slow in a vm context such as jest's).
const { min: MMin, max: MMax, abs: MAbs } = Math;

function lineIntersection(p1: XY, p2: XY, q1: XY, q2: XY): XY | null {
  const d = (p2[0] - p1[0]) * (q2[1] - q1[1]) - (p2[1] - p1[1]) * (q2[0] - q1[0]);
  if (MAbs(d) < 1e-12) return null;
  const t = ((q1[0] - p1[0]) * (q2[1] - q1[1]) - (q1[1] - p1[1]) * (q2[0] - q1[0])) / d;
  return [p1[0] + t * (p2[0] - p1[0]), p1[1] + t * (p2[1] - p1[1])];
}

/** x lies on the ray from p through v, beyond v. */
function ahead(p: XY, v: XY, x: XY): boolean {
  return (x[0] - v[0]) * (v[0] - p[0]) + (x[1] - v[1]) * (v[1] - p[1]) > 0;
}

function inTriangle(p: XY, a: XY, b: XY, c: XY): boolean {
  const d1 = cross(a, b, p), d2 = cross(b, c, p), d3 = cross(c, a, p);
  const neg = d1 < 0 || d2 < 0 || d3 < 0, pos = d1 > 0 || d2 > 0 || d3 > 0;
  return !(neg && pos);
}

function routeVertexInTriangle(route: RouteGeom, a: XY, b: XY, c: XY): boolean {
  const x0 = MMin(a[0], b[0], c[0]), x1 = MMax(a[0], b[0], c[0]), y0 = MMin(a[1], b[1], c[1]), y1 = MMax(a[1], b[1], c[1]);
  for (const p of route.pts) if (p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1 && inTriangle(p, a, b, c)) return true;
  return false;
}

/** Another vertex of the ring (not i, j, k) inside the triangle. */
function ringVertexInTriangle(ring: XY[], skip: number[], a: XY, b: XY, c: XY): boolean {
  for (let t = 0; t < ring.length; t++) if (!skip.includes(t) && inTriangle(ring[t], a, b, c)) return true;
  return false;
}

/** Segment a–b crosses an edge of the ring other than the edges listed (by their first vertex). */
function crossesRing(ring: XY[], a: XY, b: XY, skipEdges: number[]): boolean {
  const n = ring.length;
  for (let t = 0; t < n; t++) {
    if (skipEdges.includes(t)) continue;
    if (segmentsIntersect(a, b, ring[t], ring[(t + 1) % n])) return true;
  }
  return false;
}

/**
 * An exclusion ring (counter-clockwise, open) containing `zone` (a counter-clockwise open ring),
 * or null when no polygon containing the zone keeps `marginM` from the route.
 */
export function exclusionRing(zone: XY[], route: RouteGeom, marginM: number, slackM: number): XY[] | null {
  const hull = convexHull(zone);
  let ring: XY[];
  if (hull.length >= 3 && route.ringClear(hull, marginM)) ring = hull;
  else if (route.ringClear(zone, marginM)) ring = zone.slice();
  else return null;
  const mod = (i: number) => ((i % ring.length) + ring.length) % ring.length;
  while (ring.length > 3) {
    const n = ring.length;
    let bestArea = Infinity;
    let apply: (() => XY[]) | null = null;
    for (let i = 0; i < n; i++) {
      const ia = mod(i - 1), ib = mod(i + 1);
      const a = ring[ia], v = ring[i], b = ring[ib];
      const c = cross(a, v, b);
      if (c <= 0) {
        // reflex or flat vertex: cut it off, growing by the triangle a, v, b
        const area = -c / 2;
        if (area < bestArea && route.segmentClear(a, b, marginM) && !routeVertexInTriangle(route, a, v, b) && !ringVertexInTriangle(ring, [ia, i, ib], a, v, b)) {
          bestArea = area;
          const k = i;
          apply = () => ring.filter((_, t) => t !== k);
        }
      }
      // replace edge v–b by extending a→v and q→b until they meet at x
      const iq = mod(i + 2);
      const q = ring[iq];
      const x = lineIntersection(a, v, q, b);
      if (!x || !ahead(a, v, x) || !ahead(q, b, x) || cross(v, b, x) >= 0) continue;
      const area = MAbs(cross(v, x, b)) / 2;
      if (area >= bestArea) continue;
      if (pointRingDistance(x, zone) > slackM) continue;
      if (!route.segmentClear(v, x, marginM) || !route.segmentClear(x, b, marginM) || routeVertexInTriangle(route, v, x, b)) continue;
      if (ringVertexInTriangle(ring, [i, ib], v, x, b)) continue;
      if (crossesRing(ring, v, x, [ia, i, ib]) || crossesRing(ring, x, b, [ia, i, ib])) continue;
      bestArea = area;
      const k = i, kb = ib;
      apply = () => {
        const out: XY[] = [];
        for (let t = 0; t < n; t++) {
          if (t === k) out.push(x);
          else if (t !== kb) out.push(ring[t]);
        }
        return out;
      };
    }
    if (!apply) break;
    ring = apply();
  }
  return ring;
}
