/**
 * The corridor fence's inclusion polygon: a simple polygon around the planned route (launch →
 * drop; the return flies the same line) that keeps every edge at least the fence margin from the
 * route, lies inside the operating area and within about `widthM` of the route, with few vertices.
 * A closed route (a sortie: launch → drops → launch, its first point repeated at the end) is
 * walked round its outline instead (`route-outline.ts`): the polygon then also holds whatever the
 * route encloses, as any polygon holding a closed route must.
 *
 * Construction (local frame, metres). Around the route lie candidate positions in ring order:
 * behind the launch, along the right side, beyond the drop, back along the left side; at each
 * route vertex the offset points of both neighbouring segments and of the bisector on the outer
 * side of the turn, the mitre point on the inner side. Each position is tried at a few distances,
 * `widthM` first, halving towards just above the margin. A greedy walk goes round from the first
 * position, each time to the farthest position it can reach with a chord that
 *  - keeps at least `marginM` from every route segment,
 *  - crosses no edge of the operating area (and, when `avoidZones`, no zone's edge),
 *  - crosses no chord walked before, and
 *  - has the route's anchors on its left (the ring goes round the route counter-clockwise).
 * The ring is then checked whole: simple, counter-clockwise, the route inside.
 */
import { cross, pointInRing, pointSegmentDistance, ringIsSimple, ringSignedArea, segmentSegmentDistance, segmentsIntersect, type XY } from './geo';
import { partsInBox, pointInArea, pointInPart, segmentHitsArea, type ZoneIndex, type ZonePart } from './zone-index';
import { routeOutline, type OutlineVertex } from './route-outline';

// Math's functions as module constants (global lookups are slow in a vm context such as jest's).
const { hypot: MHypot, min: MMin, max: MMax, abs: MAbs, ceil: MCeil } = Math;

/** A polyline (the route) with per-segment bounding boxes, for clearance queries. */
export class RouteGeom {
  readonly pts: XY[];
  private readonly box: Float64Array;
  readonly minX: number; readonly minY: number; readonly maxX: number; readonly maxY: number;

  constructor(points: XY[]) {
    const pts: XY[] = [];
    for (const p of points) {
      const q = pts[pts.length - 1];
      if (!q || q[0] !== p[0] || q[1] !== p[1]) pts.push(p);
    }
    this.pts = pts;
    const n = MMax(0, pts.length - 1);
    this.box = new Float64Array(n * 4);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = pts[i], b = pts[i + 1];
      this.box[i * 4] = MMin(a[0], b[0]); this.box[i * 4 + 1] = MMin(a[1], b[1]);
      this.box[i * 4 + 2] = MMax(a[0], b[0]); this.box[i * 4 + 3] = MMax(a[1], b[1]);
    }
    for (const [x, y] of pts) { x0 = MMin(x0, x); y0 = MMin(y0, y); x1 = MMax(x1, x); y1 = MMax(y1, y); }
    this.minX = x0; this.minY = y0; this.maxX = x1; this.maxY = y1;
  }

  get segmentCount(): number { return this.box.length / 4; }

  /** Segment a–b keeps at least marginM from every route segment (and the route's single point). */
  segmentClear(a: XY, b: XY, marginM: number): boolean {
    const bx0 = MMin(a[0], b[0]) - marginM, by0 = MMin(a[1], b[1]) - marginM, bx1 = MMax(a[0], b[0]) + marginM, by1 = MMax(a[1], b[1]) + marginM;
    const B = this.box, P = this.pts;
    if (P.length === 1) return pointSegmentDistance(P[0], a, b) >= marginM;
    for (let i = 0, n = B.length / 4; i < n; i++) {
      if (B[i * 4] > bx1 || B[i * 4 + 2] < bx0 || B[i * 4 + 1] > by1 || B[i * 4 + 3] < by0) continue;
      if (segmentSegmentDistance(a, b, P[i], P[i + 1]) < marginM) return false;
    }
    return true;
  }

  /** Distance from p to the route. */
  distance(p: XY): number {
    const P = this.pts;
    if (P.length === 1) return MHypot(p[0] - P[0][0], p[1] - P[0][1]);
    let d = Infinity;
    for (let i = 0; i + 1 < P.length; i++) d = MMin(d, pointSegmentDistance(p, P[i], P[i + 1]));
    return d;
  }

  /** Point p keeps at least marginM from the route. */
  pointClear(p: XY, marginM: number): boolean {
    const B = this.box, P = this.pts;
    if (P.length === 1) return MHypot(p[0] - P[0][0], p[1] - P[0][1]) >= marginM;
    for (let i = 0, n = B.length / 4; i < n; i++) {
      if (B[i * 4] > p[0] + marginM || B[i * 4 + 2] < p[0] - marginM || B[i * 4 + 1] > p[1] + marginM || B[i * 4 + 3] < p[1] - marginM) continue;
      if (pointSegmentDistance(p, P[i], P[i + 1]) < marginM) return false;
    }
    return true;
  }

  /** p lies within limitM of the route; segments from `first` to `last` are tried first. */
  within(p: XY, limitM: number, first: number, last: number): boolean {
    const P = this.pts, n = P.length - 1;
    if (n < 1) return MHypot(p[0] - P[0][0], p[1] - P[0][1]) <= limitM;
    const lo = MMax(0, MMin(first, n - 1)), hi = MMax(lo, MMin(last, n - 1));
    for (let i = lo; i <= hi; i++) if (pointSegmentDistance(p, P[i], P[i + 1]) <= limitM) return true;
    for (let i = 0; i < n; i++) if ((i < lo || i > hi) && pointSegmentDistance(p, P[i], P[i + 1]) <= limitM) return true;
    return false;
  }

  /** Some route vertex lies inside (or on) the open ring. */
  vertexInRing(ring: XY[]): boolean {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [x, y] of ring) { x0 = MMin(x0, x); y0 = MMin(y0, y); x1 = MMax(x1, x); y1 = MMax(y1, y); }
    for (const p of this.pts) if (p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1 && (pointInRing(p, ring) || onRing(p, ring))) return true;
    return false;
  }

  /** The ring keeps marginM from the route and holds no route vertex: the route stays outside it. */
  ringClear(ring: XY[], marginM: number): boolean {
    for (let i = 0; i < ring.length; i++) if (!this.segmentClear(ring[i], ring[(i + 1) % ring.length], marginM)) return false;
    return !this.vertexInRing(ring);
  }
}

function onRing(p: XY, ring: XY[]): boolean {
  for (let i = 0; i < ring.length; i++) if (pointSegmentDistance(p, ring[i], ring[(i + 1) % ring.length]) === 0) return true;
  return false;
}

export interface CorridorOptions {
  /** The polygon's vertices lie about this far from the route (at most), metres. */
  widthM: number;
  /** Every edge keeps at least this far from the route, metres. */
  marginM: number;
  /**
   * Keep the polygon out of the zone parts (no-fly zones and area holes) for which this says true;
   * null: zones are not looked at.
   */
  avoid: ((part: ZonePart) => boolean) | null;
}

/** No point of the polygon's chords lies farther from the route than this multiple of widthM. */
const REACH = 1.5;
/** Positions tried per scan step past the last reachable one before the walk gives up looking farther. */
const LOOKAHEAD = 10;
/** The same round a closed route's outline, whose positions lie closer together (`outlinePositions`). */
const LOOP_LOOKAHEAD = 40;
/** Longest mitre on the inner side of a turn, as a multiple of the offset. */
const MAX_MITRE = 3;

interface Position { x: number; y: number; dx: number; dy: number; anchor: XY; /** where on the route the anchor is (a point's or segment's index: a hint for `within`) */ at: number }

function unit(x: number, y: number): XY {
  const l = MHypot(x, y);
  return l === 0 ? [0, 0] : [x / l, y / l];
}

/** Candidate positions around the route in ring order (counter-clockwise). */
function positions(pts: XY[]): Position[] {
  const k = pts.length;
  const u: XY[] = [], n: XY[] = [];
  for (let i = 0; i + 1 < k; i++) {
    const d = unit(pts[i + 1][0] - pts[i][0], pts[i + 1][1] - pts[i][1]);
    u.push(d);
    n.push([-d[1], d[0]]);
  }
  const out: Position[] = [];
  const push = (a: XY, dx: number, dy: number) => out.push({ x: a[0], y: a[1], dx, dy, anchor: a, at: pts.indexOf(a) });
  const turn = (i: number) => u[i - 1][0] * u[i][1] - u[i - 1][1] * u[i][0];
  const side = (i: number, sgn: 1 | -1, forward: boolean) => {
    // sgn 1: left side, -1: right side
    const np: XY = [sgn * n[i - 1][0], sgn * n[i - 1][1]], nn: XY = [sgn * n[i][0], sgn * n[i][1]];
    const t = turn(i) * sgn; // > 0: this side is the inner side of the turn
    const bis = unit(np[0] + nn[0], np[1] + nn[1]);
    if (MAbs(turn(i)) < 1e-9 || (bis[0] === 0 && bis[1] === 0)) { push(pts[i], np[0], np[1]); return; }
    if (t > 0) {
      const c = bis[0] * np[0] + bis[1] * np[1];
      const s = c > 1 / MAX_MITRE ? 1 / c : MAX_MITRE;
      push(pts[i], bis[0] * s, bis[1] * s);
    } else {
      const first = forward ? np : nn, last = forward ? nn : np;
      push(pts[i], first[0], first[1]);
      push(pts[i], bis[0], bis[1]);
      push(pts[i], last[0], last[1]);
    }
  };
  const u0 = u[0], n0 = n[0], ue = u[k - 2], ne = n[k - 2];
  push(pts[0], -u0[0] - n0[0], -u0[1] - n0[1]); // behind the launch, right
  for (let i = 1; i < k - 1; i++) side(i, -1, true);
  push(pts[k - 1], ue[0] - ne[0], ue[1] - ne[1]); // beyond the drop, right
  push(pts[k - 1], ue[0] + ne[0], ue[1] + ne[1]); // beyond the drop, left
  for (let i = k - 2; i >= 1; i--) side(i, 1, false);
  push(pts[0], -u0[0] + n0[0], -u0[1] + n0[1]); // behind the launch, left
  return out;
}

/**
 * Candidate positions round a closed route's outline (counter-clockwise, the route on its left),
 * on the outline's right: at each vertex the offsets of both edges and the bisector where the
 * outline turns left, the mitre point where it turns right, the two forward diagonals where it
 * turns back (a dead end, like the far end of an open route); along an edge longer than
 * `spacingM`, offsets at points at most that far apart (where two legs run close, the ring may
 * have to cross the gap between them partway along).
 */
function outlinePositions(w: OutlineVertex[], spacingM: number): Position[] {
  const k = w.length;
  const out: Position[] = [];
  for (let i = 0; i < k; i++) {
    const prev = w[(i - 1 + k) % k].p, cur = w[i].p, nxt = w[(i + 1) % k].p;
    const up = unit(cur[0] - prev[0], cur[1] - prev[1]), un = unit(nxt[0] - cur[0], nxt[1] - cur[1]);
    const push = (dx: number, dy: number) => out.push({ x: cur[0], y: cur[1], dx, dy, anchor: cur, at: w[i].seg });
    const np: XY = [up[1], -up[0]], nn: XY = [un[1], -un[0]]; // right-hand normals
    const turn = up[0] * un[1] - up[1] * un[0];
    const dot = up[0] * un[0] + up[1] * un[1];
    const bis = unit(np[0] + nn[0], np[1] + nn[1]);
    if (MAbs(turn) < 1e-9 && dot < 0) {
      push(up[0] + np[0], up[1] + np[1]); // ahead, right
      push(up[0] - np[0], up[1] - np[1]); // ahead, left: the right of the way back
    } else if (MAbs(turn) < 1e-9 || (bis[0] === 0 && bis[1] === 0)) {
      push(np[0], np[1]);
    } else if (turn < 0) {
      // a right turn: the right is the inner side
      const c = bis[0] * np[0] + bis[1] * np[1];
      const s = c > 1 / MAX_MITRE ? 1 / c : MAX_MITRE;
      push(bis[0] * s, bis[1] * s);
    } else {
      push(np[0], np[1]);
      push(bis[0], bis[1]);
      push(nn[0], nn[1]);
    }
    const len = MHypot(nxt[0] - cur[0], nxt[1] - cur[1]);
    const pieces = MMin(64, MCeil(len / spacingM));
    for (let j = 1; j < pieces; j++) {
      const a: XY = [cur[0] + ((nxt[0] - cur[0]) * j) / pieces, cur[1] + ((nxt[1] - cur[1]) * j) / pieces];
      out.push({ x: a[0], y: a[1], dx: nn[0], dy: nn[1], anchor: a, at: w[i].seg });
    }
  }
  return out;
}

/** True when the polyline ends where it starts (and has more than that one point). */
export function isClosedRoute(pts: XY[]): boolean {
  const n = pts.length;
  return n > 2 && pts[0][0] === pts[n - 1][0] && pts[0][1] === pts[n - 1][1];
}

/** Distances tried at each position: widthM, halving while above 1.6 × margin, then just above the margin. */
export function corridorLevels(widthM: number, marginM: number): number[] {
  const lowest = marginM + MMax(0.5, MMin(2, 0.1 * marginM));
  const w = MMax(widthM, lowest);
  const levels = [w];
  for (let d = w / 2; d > 1.6 * marginM && d > lowest; d /= 2) levels.push(d);
  if (levels[levels.length - 1] > lowest + 0.25) levels.push(lowest);
  return levels;
}

/**
 * The corridor's inclusion ring (counter-clockwise, open) or null when the walk finds none.
 * `route` must have at least two distinct points; a closed route is walked round its outline.
 */
export function corridorRing(route: RouteGeom, zi: ZoneIndex, o: CorridorOptions): XY[] | null {
  const pts = route.pts;
  if (pts.length < 2) return null;
  let pos: Position[];
  const loop = isClosedRoute(pts);
  if (loop) {
    const outline = routeOutline(pts);
    if (!outline || outline.length < 2) return null;
    pos = outlinePositions(outline, o.widthM);
  } else pos = positions(pts);
  const lookahead = loop ? LOOP_LOOKAHEAD : LOOKAHEAD;
  const levels = corridorLevels(o.widthM, o.marginM);
  const m = o.marginM;
  const reach = REACH * MMax(o.widthM, levels[0]);
  const avoid = o.avoid;
  const inZone = (p: XY): boolean => {
    for (const id of partsInBox(zi, p[0], p[1], p[0], p[1])) if (avoid!(zi.parts[id]) && pointInPart(p, zi.parts[id])) return true;
    return false;
  };
  const hitsZone = (a: XY, b: XY): boolean => {
    for (const id of partsInBox(zi, MMin(a[0], b[0]), MMin(a[1], b[1]), MMax(a[0], b[0]), MMax(a[1], b[1]))) {
      const part = zi.parts[id];
      if (!avoid!(part)) continue;
      for (const ring of [part.ring, ...part.holes]) {
        for (let i = 0; i < ring.length; i++) if (segmentsIntersect(a, b, ring[i], ring[(i + 1) % ring.length])) return true;
      }
    }
    return false;
  };
  // candidates per position, widest first (null: not usable)
  const cands: (XY | null)[][] = pos.map((p) => levels.map((d) => {
    const q: XY = [p.x + p.dx * d, p.y + p.dy * d];
    if (!pointInArea(zi, q) || !route.pointClear(q, m)) return null;
    if (avoid && inZone(q)) return null;
    // round a closed route, legs may run close together: the offset must not reach across one
    if (loop && !route.segmentClear([p.x + p.dx * 0.5 * m, p.y + p.dy * 0.5 * m], q, 1e-9)) return null;
    return q;
  }));
  const P = pos.length;
  const startLevel = cands[0].findIndex((c) => c !== null);
  if (startLevel < 0) return null;
  const ring: XY[] = [cands[0][startLevel]!];
  const chordOk = (a: XY, b: XY, ia: number, ib: number, closing: boolean): boolean => {
    const aa = pos[ia].anchor, ab = pos[ib % P].anchor;
    if (cross(a, b, aa) <= 0 || cross(a, b, ab) <= 0) return false;
    // round a closed route the chord may pass a stretch of the outline only on its outside
    if (loop) for (let k = ia + 1; k < ib; k++) if (cross(a, b, pos[k].anchor) <= 0) return false;
    if (!route.segmentClear(a, b, m)) return false;
    // within reach of the route all along (sampled): no bulge into the inner side of a bend
    const pa = pos[ia].at, pb = pos[ib % P].at;
    const s0 = MMin(pa, pb) - 1, s1 = MMax(pa, pb);
    const len = MHypot(b[0] - a[0], b[1] - a[1]);
    const k = MMin(16, MMax(1, MCeil(len / (0.5 * o.widthM))));
    for (let t = 0; t <= k; t++) if (!route.within([a[0] + ((b[0] - a[0]) * t) / k, a[1] + ((b[1] - a[1]) * t) / k], reach, s0, s1)) return false;
    if (segmentHitsArea(zi, a, b)) return false;
    if (avoid && hitsZone(a, b)) return false;
    const last = ring.length - 1;
    for (let t = 0; t < last; t++) {
      if (t === last - 1) continue; // the previous chord ends at a
      if (closing && t === 0) continue; // the first chord starts at b
      if (segmentsIntersect(a, b, ring[t], ring[t + 1])) return false;
    }
    return true;
  };
  // greedy walk: from each vertex to the farthest position reachable (the widest level there);
  // where it gets stuck it backs up one vertex and takes that vertex's next best choice
  const L = levels.length;
  const stack: { pos: number; key: number; tried: Set<number> }[] = [{ pos: 0, key: -1, tried: new Set() }];
  let closed = false, backtracks = 0;
  const maxBacktracks = 2 * P + 10;
  while (!closed) {
    const top = stack[stack.length - 1];
    const cur = top.pos;
    const a = ring[ring.length - 1];
    let best = -1, bestKey = -1, bestPt: XY | null = null;
    for (let j = cur + 1, lastOk = cur; j <= P && j - lastOk <= lookahead; j++) {
      const list = j === P ? [ring[0]] : cands[j];
      for (let li = 0; li < list.length; li++) {
        const q = list[li];
        if (!q || (q[0] === a[0] && q[1] === a[1]) || top.tried.has(j * L + li)) continue;
        if (chordOk(a, q, cur, j, j === P)) { best = j; bestKey = j * L + li; bestPt = q; lastOk = j; break; }
      }
    }
    if (best < 0 || !bestPt) {
      if (stack.length === 1 || ++backtracks > maxBacktracks) return null;
      const dead = stack.pop()!;
      ring.pop();
      stack[stack.length - 1].tried.add(dead.key);
      continue;
    }
    if (best === P) { closed = true; break; }
    ring.push(bestPt);
    stack.push({ pos: best, key: bestKey, tried: new Set() });
  }
  if (!closed || ring.length < 3 || ringSignedArea(ring) <= 0 || !pointInRing(pts[0], ring) || !ringIsSimple(ring)) return null;
  return ring;
}
