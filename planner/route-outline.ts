/**
 * The outline of a closed route (a sortie: launch → drops → launch): the boundary of the part of
 * the plane outside the route, walked counter-clockwise with the route on the left. A polygon that
 * holds a closed route with a margin holds everything the route encloses, so the corridor fence of
 * a sortie is built round this outline (`corridor.ts`).
 *
 * The route's segments are cut where they cross or touch (and where one runs along another), the
 * pieces shared by two legs are merged, and the walk starts at the leftmost vertex and at every
 * vertex takes the first edge counter-clockwise from the one it came along (the right-hand rule:
 * the outside stays on its right). A stretch flown both ways, or a dead end, is walked on both
 * sides, as the corridor of an open route is.
 */
import { pointSegmentDistance, type XY } from './geo';

// Math's functions as module constants (global lookups are slow in a vm context such as jest's).
const { abs: MAbs, atan2: MAtan2, hypot: MHypot, max: MMax, min: MMin, PI } = Math;

/** Points closer than this are one vertex; a vertex this close to a segment lies on it, metres. */
const EPS_M = 1e-6;

export interface OutlineVertex {
  p: XY;
  /** Index of a route segment (route point i → i + 1) the vertex lies on. */
  seg: number;
}

/**
 * The outline of the closed polyline `pts` (first point = last point), counter-clockwise, open (the
 * first vertex is not repeated); a vertex may appear several times. Null when the route has no
 * segment or the walk does not close.
 */
export function routeOutline(pts: XY[]): OutlineVertex[] | null {
  const nodes: XY[] = [];
  const nodeSeg: number[] = [];
  const nodeOf = (p: XY, seg: number): number => {
    for (let i = 0; i < nodes.length; i++) if (MAbs(nodes[i][0] - p[0]) <= EPS_M && MAbs(nodes[i][1] - p[1]) <= EPS_M) return i;
    nodes.push(p);
    nodeSeg.push(seg);
    return nodes.length - 1;
  };
  const segs: { a: XY; b: XY; len: number; cuts: { t: number; node: number }[] }[] = [];
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i], b = pts[i + 1];
    const len = MHypot(b[0] - a[0], b[1] - a[1]);
    const na = nodeOf(a, i), nb = nodeOf(b, i);
    segs.push({ a, b, len, cuts: [{ t: 0, node: na }, { t: 1, node: nb }] });
  }
  if (segs.every((s) => s.len <= EPS_M)) return null;
  // cut the segments where they meet
  const param = (s: (typeof segs)[number], p: XY) => (s.len === 0 ? 0 : ((p[0] - s.a[0]) * (s.b[0] - s.a[0]) + (p[1] - s.a[1]) * (s.b[1] - s.a[1])) / (s.len * s.len));
  const cutAt = (si: number, p: XY, node: number) => {
    const s = segs[si];
    const t = MMax(0, MMin(1, param(s, p)));
    s.cuts.push({ t, node });
  };
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s.len <= EPS_M) continue;
    for (let j = i + 1; j < segs.length; j++) {
      const q = segs[j];
      if (q.len <= EPS_M) continue;
      if (MMax(s.a[0], s.b[0]) + EPS_M < MMin(q.a[0], q.b[0]) || MMax(q.a[0], q.b[0]) + EPS_M < MMin(s.a[0], s.b[0])) continue;
      if (MMax(s.a[1], s.b[1]) + EPS_M < MMin(q.a[1], q.b[1]) || MMax(q.a[1], q.b[1]) + EPS_M < MMin(s.a[1], s.b[1])) continue;
      const rx = s.b[0] - s.a[0], ry = s.b[1] - s.a[1], qx = q.b[0] - q.a[0], qy = q.b[1] - q.a[1];
      const den = rx * qy - ry * qx;
      if (MAbs(den) > 1e-9 * s.len * q.len) {
        // not parallel: a crossing (or a touch) at one point
        const wx = q.a[0] - s.a[0], wy = q.a[1] - s.a[1];
        const t = (wx * qy - wy * qx) / den, u = (wx * ry - wy * rx) / den;
        const ts = EPS_M / s.len, tq = EPS_M / q.len;
        if (t < -ts || t > 1 + ts || u < -tq || u > 1 + tq) continue;
        const x: XY = [s.a[0] + MMax(0, MMin(1, t)) * rx, s.a[1] + MMax(0, MMin(1, t)) * ry];
        const node = nodeOf(x, i);
        cutAt(i, nodes[node], node);
        cutAt(j, nodes[node], node);
      } else {
        // parallel: where they overlap, each one's ends on the other cut it
        for (const [p, on] of [[q.a, i], [q.b, i], [s.a, j], [s.b, j]] as [XY, number][]) {
          const o = segs[on];
          if (pointSegmentDistance(p, o.a, o.b) > EPS_M) continue;
          const node = nodeOf(p, on);
          cutAt(on, nodes[node], node);
        }
      }
    }
  }
  // the edges: consecutive cuts along each segment, each pair of vertices once
  const seen = new Set<number>();
  const adj: number[][] = nodes.map(() => []);
  const N = nodes.length;
  for (const s of segs) {
    const cuts = s.cuts.slice().sort((x, y) => x.t - y.t || x.node - y.node);
    for (let k = 1; k < cuts.length; k++) {
      const u = cuts[k - 1].node, v = cuts[k].node;
      if (u === v) continue;
      const key = MMin(u, v) * N + MMax(u, v);
      if (seen.has(key)) continue;
      seen.add(key);
      adj[u].push(v);
      adj[v].push(u);
    }
  }
  const angle = (u: number, v: number) => MAtan2(nodes[v][1] - nodes[u][1], nodes[v][0] - nodes[u][0]);
  for (let u = 0; u < N; u++) adj[u].sort((x, y) => angle(u, x) - angle(u, y) || x - y);
  let start = -1;
  for (let u = 0; u < N; u++) {
    if (adj[u].length === 0) continue;
    if (start < 0 || nodes[u][0] < nodes[start][0] || (nodes[u][0] === nodes[start][0] && nodes[u][1] < nodes[start][1])) start = u;
  }
  if (start < 0) return null;
  /** The edge from u taken after arriving from the direction `backAngle`: the first counter-clockwise from it. */
  const next = (u: number, backAngle: number, back: number): number => {
    let best = -1, bestTurn = Infinity;
    for (const v of adj[u]) {
      let d = angle(u, v) - backAngle;
      while (d <= 0) d += 2 * PI;
      while (d > 2 * PI) d -= 2 * PI;
      if (v === back) d = 2 * PI; // turning back only at a dead end
      if (d < bestTurn) { bestTurn = d; best = v; }
    }
    return best;
  };
  const first = next(start, PI, -1);
  const out: OutlineVertex[] = [];
  let u = start, v = first;
  const limit = 2 * seen.size + 2;
  for (let steps = 0; ; steps++) {
    if (steps > limit) return null;
    out.push({ p: nodes[u], seg: nodeSeg[u] });
    const w = next(v, angle(v, u), u);
    u = v; v = w;
    if (u === start && v === first) break;
  }
  return out;
}
