/**
 * Outward buffer of a simple polygon without holes, in a local metric frame: the region within
 * `radiusM` of the polygon, as a polygon (outer ring and possibly holes: pockets the buffer closes
 * round). Arcs have their vertices on the circle of radiusM, at most π/(2·steps) apart, so chords
 * come as close as radiusM·cos(π/(4·steps)) (the route index inflates the radius for that).
 *
 * Method (Chen & McMains, "Polygon offsetting by computing winding numbers", 2005): the raw offset
 * curve runs along every edge moved out by the radius, round convex corners on an arc and through
 * the corner itself at reflex corners; the buffer is the set of points it winds round at least
 * once. The curve is cut at its self-intersections and the pieces that have winding ≥ 1 on their
 * left and 0 on their right are chained into rings.
 *
 * The result is checked (every edge at least `minClearM` from the polygon, the polygon inside the
 * outer ring and in no hole); null when that fails, and the caller falls back to Turf's buffer.
 */
import { pointInRing, ringSignedArea, segmentSegmentDistance, type XY } from './geo';

// Math's functions as module constants (global lookups are slow in a vm context such as jest's).
const { hypot: MHypot, min: MMin, max: MMax, sign: MSign, cos: MCos, sin: MSin, atan2: MAtan2, ceil: MCeil } = Math;

/** Raw offset curve of a counter-clockwise open ring. */
function rawOffset(ring: XY[], r: number, steps: number): XY[] {
  const n = ring.length;
  const out: XY[] = [];
  const maxStep = Math.PI / (2 * steps);
  for (let i = 0; i < n; i++) {
    const p = ring[(i + n - 1) % n], v = ring[i], q = ring[(i + 1) % n];
    const ax = v[0] - p[0], ay = v[1] - p[1], bx = q[0] - v[0], by = q[1] - v[1];
    const la = MHypot(ax, ay), lb = MHypot(bx, by);
    // outward normals (right of the direction for a counter-clockwise ring)
    const n0x = ay / la, n0y = -ax / la, n1x = by / lb, n1y = -bx / lb;
    const turn = ax * by - ay * bx;
    const a0 = MAtan2(n0y, n0x);
    let sweep = MAtan2(n1y, n1x) - a0;
    if (turn > 0) {
      // convex corner: arc counter-clockwise from n0 to n1
      while (sweep <= 0) sweep += 2 * Math.PI;
      const k = MMax(1, MCeil(sweep / maxStep - 1e-9));
      out.push([v[0] + r * n0x, v[1] + r * n0y]);
      for (let j = 1; j < k; j++) {
        const t = a0 + (sweep * j) / k;
        out.push([v[0] + r * MCos(t), v[1] + r * MSin(t)]);
      }
      out.push([v[0] + r * n1x, v[1] + r * n1y]);
    } else if (turn < 0) {
      out.push([v[0] + r * n0x, v[1] + r * n0y], [v[0], v[1]], [v[0] + r * n1x, v[1] + r * n1y]);
    } else {
      out.push([v[0] + r * n1x, v[1] + r * n1y]);
    }
  }
  // drop repeated points
  const clean: XY[] = [];
  for (const p of out) {
    const q = clean[clean.length - 1];
    if (!q || q[0] !== p[0] || q[1] !== p[1]) clean.push(p);
  }
  while (clean.length > 1 && clean[0][0] === clean[clean.length - 1][0] && clean[0][1] === clean[clean.length - 1][1]) clean.pop();
  return clean;
}

/** Winding number of the closed polyline (open ring) round p. */
function winding(c: XY[], px: number, py: number): number {
  let w = 0;
  for (let i = 0, n = c.length; i < n; i++) {
    const a = c[i], b = c[(i + 1) % n];
    if (a[1] <= py) {
      if (b[1] > py && (b[0] - a[0]) * (py - a[1]) - (px - a[0]) * (b[1] - a[1]) > 0) w++;
    } else if (b[1] <= py && (b[0] - a[0]) * (py - a[1]) - (px - a[0]) * (b[1] - a[1]) < 0) w--;
  }
  return w;
}

/**
 * Buffer of a counter-clockwise open ring by radiusM: [outer, ...holes] (outer counter-clockwise,
 * holes clockwise, open), or null when the construction cannot be trusted.
 */
export function bufferRing(ring: XY[], radiusM: number, steps: number, minClearM: number): XY[][] | null {
  if (ring.length < 3 || !(radiusM > 0) || ringSignedArea(ring) <= 0) return null;
  const c = rawOffset(ring, radiusM, steps);
  const m = c.length;
  if (m < 3) return null;
  // intersections: per segment, the parameters where it is cut and the shared points
  // per segment: where it is cut, the shared point, and the step of the winding number on its
  // right there (+1 when it crosses the other segment from that one's right to its left)
  const cuts: { t: number; p: XY; dw: number }[][] = Array.from({ length: m }, () => []);
  let degenerate = false;
  const bx0 = new Float64Array(m), bx1 = new Float64Array(m), by0 = new Float64Array(m), by1 = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const a = c[i], b = c[(i + 1) % m];
    bx0[i] = MMin(a[0], b[0]); bx1[i] = MMax(a[0], b[0]); by0[i] = MMin(a[1], b[1]); by1[i] = MMax(a[1], b[1]);
  }
  for (let i = 0; i < m; i++) {
    const a = c[i], b = c[(i + 1) % m];
    const dx = b[0] - a[0], dy = b[1] - a[1];
    for (let j = i + 2; j < m; j++) {
      if (i === 0 && j === m - 1) continue; // adjacent through the closing point
      if (bx1[j] < bx0[i] || bx0[j] > bx1[i] || by1[j] < by0[i] || by0[j] > by1[i]) continue;
      const p = c[j], q = c[(j + 1) % m];
      const ex = q[0] - p[0], ey = q[1] - p[1];
      const den = dx * ey - dy * ex;
      if (den === 0) {
        // parallel: overlapping collinear pieces make the classification unreliable
        if ((p[0] - a[0]) * dy - (p[1] - a[1]) * dx === 0 && !(bx1[j] < bx0[i] || bx0[j] > bx1[i] || by1[j] < by0[i] || by0[j] > by1[i])) {
          const t0 = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy), t1 = ((q[0] - a[0]) * dx + (q[1] - a[1]) * dy) / (dx * dx + dy * dy);
          if (MMax(t0, t1) > 0 && MMin(t0, t1) < 1) return null;
        }
        continue;
      }
      const t = ((p[0] - a[0]) * ey - (p[1] - a[1]) * ex) / den;
      const u = ((p[0] - a[0]) * dy - (p[1] - a[1]) * dx) / den;
      if (t < 0 || t > 1 || u < 0 || u > 1) continue;
      if ((t === 0 || t === 1) && (u === 0 || u === 1)) continue; // meeting at vertices: no cut needed
      if (t === 0 || t === 1 || u === 0 || u === 1) degenerate = true;
      const x: XY = [a[0] + t * dx, a[1] + t * dy];
      const s = MSign(ex * dy - ey * dx);
      cuts[i].push({ t, p: x, dw: s });
      cuts[j].push({ t: u, p: x, dw: -s });
    }
  }
  // pieces with the region on their left and nothing on their right
  const eps = MMax(1e-6, radiusM * 1e-7);
  // pieces by their start point, keyed by x then y (exact coordinates, as a "x,y" string key would
  // compare them, without formatting numbers)
  const starts = new Map<number, Map<number, number[]>>();
  const pieces: { a: XY; b: XY; used: boolean }[] = [];
  const startsAt = (p: XY): number[] | undefined => starts.get(p[0])?.get(p[1]);
  // the winding number just right of the curve only changes where it crosses itself: computed
  // once, then carried along (each piece has one more on its left than on its right)
  let wr = NaN;
  for (let i = 0; i < m; i++) {
    const a = c[i], b = c[(i + 1) % m];
    const list = cuts[i].sort((x, y) => x.t - y.t);
    const pts: XY[] = [a, ...list.map((k) => k.p), b];
    for (let k = 0; k + 1 < pts.length; k++) {
      const p = pts[k], q = pts[k + 1];
      if (k > 0) wr += list[k - 1].dw;
      const dx = q[0] - p[0], dy = q[1] - p[1];
      const l = MHypot(dx, dy);
      if (l === 0) continue;
      if (degenerate || Number.isNaN(wr)) {
        const mx = (p[0] + q[0]) / 2, my = (p[1] + q[1]) / 2;
        wr = winding(c, mx + (dy / l) * eps, my - (dx / l) * eps);
      }
      if (wr === 0) {
        pieces.push({ a: p, b: q, used: false });
        let byY = starts.get(p[0]);
        if (!byY) starts.set(p[0], (byY = new Map()));
        const list = byY.get(p[1]);
        if (list) list.push(pieces.length - 1); else byY.set(p[1], [pieces.length - 1]);
      }
    }
  }
  const rings: XY[][] = [];
  for (let s = 0; s < pieces.length; s++) {
    if (pieces[s].used) continue;
    const r: XY[] = [];
    let cur = s;
    for (let guard = 0; guard <= pieces.length; guard++) {
      const pc = pieces[cur];
      pc.used = true;
      r.push(pc.a);
      const next = (startsAt(pc.b) ?? []).find((k) => !pieces[k].used);
      if (next === undefined) {
        if (!(pc.b[0] === r[0][0] && pc.b[1] === r[0][1])) return null; // open chain: not trustworthy
        break;
      }
      cur = next;
    }
    if (r.length >= 3) rings.push(r);
  }
  const outers = rings.filter((r) => ringSignedArea(r) > 0);
  if (outers.length !== 1) return null;
  const outer = outers[0];
  const holes = rings.filter((r) => ringSignedArea(r) < 0);
  // check: the polygon inside the outer ring and in no hole, every edge far enough from it
  if (!ring.every((p) => pointInRing(p, outer))) return null;
  for (const h of holes) if (ring.some((p) => pointInRing(p, h))) return null;
  const n = ring.length;
  const ex0 = new Float64Array(n), ex1 = new Float64Array(n), ey0 = new Float64Array(n), ey1 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = ring[i], b = ring[(i + 1) % n];
    ex0[i] = MMin(a[0], b[0]) - minClearM; ex1[i] = MMax(a[0], b[0]) + minClearM;
    ey0[i] = MMin(a[1], b[1]) - minClearM; ey1[i] = MMax(a[1], b[1]) + minClearM;
  }
  for (const rr of [outer, ...holes]) {
    for (let i = 0; i < rr.length; i++) {
      const a = rr[i], b = rr[(i + 1) % rr.length];
      const x0 = MMin(a[0], b[0]), x1 = MMax(a[0], b[0]), y0 = MMin(a[1], b[1]), y1 = MMax(a[1], b[1]);
      for (let k = 0; k < n; k++) {
        if (ex1[k] < x0 || ex0[k] > x1 || ey1[k] < y0 || ey0[k] > y1) continue;
        if (segmentSegmentDistance(a, b, ring[k], ring[(k + 1) % n]) < minClearM) return null;
      }
    }
  }
  return [outer, ...holes];
}
