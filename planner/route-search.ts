/**
 * The route search: A* over the implicit visibility graph of the corner nodes, within an ellipse
 * bound that grows until a path fits, successors from the cone scan (`visibility.ts`), each
 * segment checked against the obstacles only when its queue entry is popped (`segment-check.ts`).
 */
import type { XY } from './geo';
import { dist } from './geo';
import { CONE_TOLERANCE } from './corner-nodes';
import { inFreeSpace, type RouteIndex } from './route-index';
import { segmentBlocked, segmentIsFreeFast } from './segment-check';
import { ConeScan, coneList, ellipseX } from './visibility';
import { findPathFullScan } from './route-reference';

// Math's functions held in module constants: global lookups are slow where the module runs in
// a vm context (jest), and these run in the search's inner loops.
const { floor: MFloor, sqrt: MSqrt, min: MMin, max: MMax, sign: MSign } = Math;

/** sqrt(x² + y²) without Math.hypot's overflow care (several times slower), for metres in a local frame. */
function MHypot(x: number, y: number): number {
  return MSqrt(x * x + y * y);
}

export interface FindPathOptions {
  /** Use the flatbush edge index for segment checks (default true); false = brute force, for benchmarks. */
  useIndex?: boolean;
  /** Use the occluders (default true); false = the search without them, the benchmark's baseline (same result). */
  occluders?: boolean;
}

export type FindPathResult =
  | { ok: true; path: XY[]; lengthM: number; expanded: number; segmentChecks: number }
  | { ok: false; reason: 'START_BLOCKED' | 'GOAL_BLOCKED' | 'NO_PATH'; expanded: number; segmentChecks: number };

/**
 * Shortest path start → goal in the local frame (both points must be in free space): an exact
 * any-angle shortest path over the buffered obstacles.
 *
 * - Early exit when the straight line is free.
 * - Only nodes v with |s v| + |v g| ≤ U can lie on a path no longer than U, so the search runs on
 *   that ellipse (nodes found with the flatbush node index), U growing from just above the straight
 *   distance until a path within U is found. Any path found with length L ≤ U is the optimum:
 *   the optimal path (L* ≤ L ≤ U) lies wholly inside the ellipse.
 * - Lazy edge evaluation: expanding a node pushes every candidate edge that is tangent at both ends
 *   and taut (the path bends around the corner it touches, never away from it); the segment is
 *   checked against the obstacles only when its entry is popped, so most candidate edges are never
 *   checked. Entries come off the queue in order of f = g + h with an admissible, consistent h, so
 *   the first verified entry of a node carries its shortest distance.
 */
export function findPath(idx: RouteIndex, start: XY, goal: XY, opts: FindPathOptions = {}): FindPathResult {
  if (opts.useIndex === false) return findPathFullScan(idx, start, goal, opts);
  let segmentChecks = 0, expanded = 0;
  if (!inFreeSpace(idx, start)) return { ok: false, reason: 'START_BLOCKED', expanded, segmentChecks };
  if (!inFreeSpace(idx, goal)) return { ok: false, reason: 'GOAL_BLOCKED', expanded, segmentChecks };
  segmentChecks++;
  if (segmentIsFreeFast(idx, start[0], start[1], goal[0], goal[1])) return { ok: true, path: [start, goal], lengthM: dist(start, goal), expanded, segmentChecks };
  const D = dist(start, goal);
  const occlusionFrom = opts.occluders === false ? Infinity : OCCLUSION_MIN_SCAN_M;
  const bounds = [D + MMax(0.01 * D, 60), D + MMax(0.04 * D, 200), D + MMax(0.12 * D, 500), D + MMax(0.4 * D, 1500), Infinity];
  for (let k = 0; k < bounds.length; k++) {
    const r = searchWithin(idx, start, goal, bounds[k], occlusionFrom);
    expanded += r.expanded;
    segmentChecks += r.segmentChecks;
    if (r.path) {
      if (r.lengthM <= bounds[k] + 1e-9) return { ok: true, path: r.path, lengthM: r.lengthM, expanded, segmentChecks };
      // found, but longer than the bound: the optimum is within this length
      const again = searchWithin(idx, start, goal, r.lengthM + 1e-6, occlusionFrom);
      expanded += again.expanded;
      segmentChecks += again.segmentChecks;
      if (again.path) return { ok: true, path: again.path, lengthM: again.lengthM, expanded, segmentChecks };
      return { ok: true, path: r.path, lengthM: r.lengthM, expanded, segmentChecks };
    }
  }
  return { ok: false, reason: 'NO_PATH', expanded, segmentChecks };
}

interface Bounded { path: XY[] | null; lengthM: number; expanded: number; segmentChecks: number }

/**
 * The search's open list: entries (f, g, node, parent) in growable typed arrays and a binary heap
 * of entry numbers ordered by f, ties by entry number (a total order: the same pops whatever the
 * heap's shape). The heap keeps each entry's f beside its number, so sifting reads one array.
 */
class EntryHeap {
  f = new Float64Array(1024);
  g = new Float64Array(1024);
  node = new Int32Array(1024);
  parent = new Int32Array(1024);
  /** The heap: entry numbers, and their keys at the same positions. */
  private heap = new Int32Array(1024);
  private keys = new Float64Array(1024);
  private entries = 0;
  size = 0;

  clear(): void { this.entries = 0; this.size = 0; }

  add(f: number, g: number, node: number, parent: number): void {
    if (this.entries === this.f.length) this.growEntries();
    const e = this.entries++;
    this.f[e] = f; this.g[e] = g; this.node[e] = node; this.parent[e] = parent;
    if (this.size === this.heap.length) this.growHeap();
    const H = this.heap, K = this.keys;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1, kp = K[p];
      if (kp < f || (kp === f && H[p] < e)) break;
      H[i] = H[p]; K[i] = kp;
      i = p;
    }
    H[i] = e; K[i] = f;
  }

  private growEntries(): void {
    const n = this.f.length * 2;
    const f = new Float64Array(n), g = new Float64Array(n), node = new Int32Array(n), parent = new Int32Array(n);
    f.set(this.f); g.set(this.g); node.set(this.node); parent.set(this.parent);
    this.f = f; this.g = g; this.node = node; this.parent = parent;
  }

  private growHeap(): void {
    const h = new Int32Array(this.heap.length * 2), k = new Float64Array(this.heap.length * 2);
    h.set(this.heap); k.set(this.keys);
    this.heap = h; this.keys = k;
  }

  pop(): number {
    const H = this.heap, K = this.keys;
    const top = H[0];
    const n = --this.size;
    if (n > 0) {
      const last = H[n], kl = K[n];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        const r = c + 1;
        if (r < n && (K[r] < K[c] || (K[r] === K[c] && H[r] < H[c]))) c = r;
        const kc = K[c];
        if (kc > kl || (kc === kl && H[c] > last)) break;
        H[i] = H[c]; K[i] = kc;
        i = c;
      }
      H[i] = last; K[i] = kl;
    }
    return top;
  }
}

/**
 * Per-index scratch of the searches (one runs at a time): node marks by search number instead of
 * cleared arrays, the open list's arrays, and the node positions with the start and goal after them
 * (ids N and N + 1), so a search allocates almost nothing.
 */
interface Scratch { stamp: number; closed: Uint32Array; parent: Int32Array; gBest: Float64Array; heap: EntryHeap; scan: ConeScan; ellipse: Int32Array; x: Float64Array; y: Float64Array }
const scratchOf = new WeakMap<RouteIndex, Scratch>();
function scratch(idx: RouteIndex): Scratch {
  let s = scratchOf.get(idx);
  const N = idx.nodeCount, T = N + 2;
  if (!s) {
    const x = new Float64Array(T), y = new Float64Array(T);
    x.set(idx.nodeX); y.set(idx.nodeY);
    s = { stamp: 0, closed: new Uint32Array(T), parent: new Int32Array(T), gBest: new Float64Array(T), heap: new EntryHeap(), scan: new ConeScan(N, idx.nodeGrid.ny), ellipse: new Int32Array(N), x, y };
    scratchOf.set(idx, s);
  }
  s.stamp++;
  if (s.stamp === 0xffffffff) { s.closed.fill(0); s.scan.inside.fill(0); s.stamp = 1; }
  s.heap.clear();
  return s;
}

/** Occluders are gathered only where the cone may reach this far (a short cone is scanned faster than they are found). */
const OCCLUSION_MIN_SCAN_M = 4000;

/**
 * The nodes v of the ellipse |s v| + |v g| ≤ boundM, in id order, written to `out`; returns their
 * count. Rows of the node grid across the ellipse, each scanned over the ellipse's x-range there.
 */
function ellipseNodes(idx: RouteIndex, sx: number, sy: number, gx: number, gy: number, boundM: number, out: Int32Array): number {
  const N = idx.nodeCount, NX = idx.nodeX, NYa = idx.nodeY;
  if (N === 0) return 0;
  if (!Number.isFinite(boundM)) { for (let i = 0; i < N; i++) out[i] = i; return N; }
  const a = boundM / 2, fd = MHypot(gx - sx, gy - sy);
  const b = MMax(1e-3, MSqrt(MMax(0, a * a - (fd / 2) ** 2)));
  const cos = fd > 0 ? (gx - sx) / fd : 1, sin = fd > 0 ? (gy - sy) / fd : 0;
  const hx = MSqrt(a * a * cos * cos + b * b * sin * sin), hy = MSqrt(a * a * sin * sin + b * b * cos * cos);
  const yExt = hx > 0 ? ((a * a - b * b) * sin * cos) / hx : 0;
  const qa = cos * cos / (a * a) + sin * sin / (b * b), qbk = 2 * cos * sin * (1 / (a * a) - 1 / (b * b)), qc = sin * sin / (a * a) + cos * cos / (b * b);
  const mx = (sx + gx) / 2, my = (sy + gy) / 2;
  const gr = idx.nodeGrid, cell = gr.cellM, PAD = 1;
  let n = 0;
  const j0 = MMax(0, MFloor((my - hy - PAD - gr.y0) / cell)), j1 = MMin(gr.ny - 1, MFloor((my + hy + PAD - gr.y0) / cell));
  for (let j = j0; j <= j1; j++) {
    const rya = gr.y0 + j * cell;
    const Ya = MMax(-hy, rya - my), Yb = MMin(hy, rya + cell - my);
    if (Ya > Yb + PAD) continue;
    const x0 = mx + ellipseX(MMin(Yb, MMax(Ya, -yExt)), qa, qbk, qc, false) - PAD, x1 = mx + ellipseX(MMin(Yb, MMax(Ya, yExt)), qa, qbk, qc, true) + PAD;
    const i0 = MMax(0, MFloor((x0 - gr.x0) / cell)), i1 = MMin(gr.nx - 1, MFloor((x1 - gr.x0) / cell));
    if (i0 > i1) continue;
    for (let t = gr.start[j * gr.nx + i0], end = gr.start[j * gr.nx + i1 + 1]; t < end; t++) {
      const i = gr.items[t];
      const ux = NX[i] - sx, uy = NYa[i] - sy, wx = NX[i] - gx, wy = NYa[i] - gy;
      if (MSqrt(ux * ux + uy * uy) + MSqrt(wx * wx + wy * wy) <= boundM) out[n++] = i;
    }
  }
  out.subarray(0, n).sort();
  return n;
}

/**
 * A* restricted to paths of length ≤ boundM (nodes outside the ellipse |s v| + |v g| ≤ boundM are
 * never pushed: f = g + h ≥ |s v| + |v g|). Node ids are the index's; start = N, goal = N + 1.
 */
function searchWithin(idx: RouteIndex, start: XY, goal: XY, boundM: number, occlusionFromM: number): Bounded {
  const N = idx.nodeCount, S = N, G = N + 1;
  const sx = start[0], sy = start[1], gx = goal[0], gy = goal[1];
  const CX = idx.cornerX, CY = idx.cornerY, AX = idx.prevX, AY = idx.prevY, BX = idx.nextX, BY = idx.nextY;
  const sc = scratch(idx);
  const { parent, gBest, closed, stamp } = sc;
  // positions by id: the nodes, then the start and the goal
  const X = sc.x, Y = sc.y;
  X[S] = sx; Y[S] = sy; X[G] = gx; Y[G] = gy;
  // queue entries (f, g, node, parent) in a binary heap ordered by f, then by entry number
  const queue = sc.heap;
  queue.add(MHypot(gx - sx, gy - sy), 0, S, -1);
  let expanded = 0, segmentChecks = 0;
  const limit = boundM + 1e-6;
  // the ellipse's nodes and, for the cone scans, their rows and membership: collected when first needed
  const scan = sc.scan, ellipse = sc.ellipse, inside = scan.inside;
  let ellipseCount = -1, clipped = false;
  scan.gx = gx; scan.gy = gy; scan.occlusionFromM = occlusionFromM; scan.stamp = stamp;

  while (queue.size > 0) {
    const e = queue.pop();
    const v = queue.node[e];
    if (closed[v] === stamp) continue;
    const u = queue.parent[e];
    const vx = X[v], vy = Y[v];
    if (u >= 0) {
      segmentChecks++;
      const ux = X[u], uy = Y[u];
      if (segmentBlocked(idx, ux, uy, vx, vy)) continue;
    }
    closed[v] = stamp;
    const gv = queue.g[e];
    gBest[v] = gv;
    parent[v] = u;
    if (v === G) break;
    expanded++;
    const corner = v < N;
    const cvx = corner ? CX[v] : 0, cvy = corner ? CY[v] : 0;
    let side = 0, px = 0, py = 0;
    // taut: turn towards the obstacle at v (the side its ring neighbours lie on, seen from the parent)
    if (corner && u >= 0) {
      px = X[u]; py = Y[u];
      side = ((vx - px) * (AY[v] - py) - (vy - py) * (AX[v] - px)) + ((vx - px) * (BY[v] - py) - (vy - py) * (BX[v] - px));
    }
    // which of the corner's two tangent wedges holds the incoming direction
    let wedge: 0 | 1 | -1 = -1;
    if (corner && u >= 0) {
      const dx = vx - px, dy = vy - py, ld = MHypot(dx, dy);
      const eax = AX[v] - cvx, eay = AY[v] - cvy, ebx = BX[v] - cvx, eby = BY[v] - cvy;
      for (let k = 0; k < 2 && ld > 0; k++) {
        const ax1 = k === 0 ? ebx : eax, ay1 = k === 0 ? eby : eay, ax2 = k === 0 ? -eax : -ebx, ay2 = k === 0 ? -eay : -eby;
        const s = MSign(ax1 * ay2 - ay1 * ax2);
        if (s === 0) continue;
        const l1 = MHypot(ax1, ay1), l2 = MHypot(ax2, ay2);
        // with a tolerance: the incoming direction often runs along a ring edge (a boundary)
        if (s * (ax1 * dy - ay1 * dx) >= -CONE_TOLERANCE * l1 * ld && s * (dx * ay2 - dy * ax2) >= -CONE_TOLERANCE * l2 * ld) { wedge = k as 0 | 1; break; }
      }
    }
    if (ellipseCount < 0) ellipseCount = ellipseNodes(idx, sx, sy, gx, gy, boundM, ellipse);
    if (wedge >= 0) {
      if (!clipped) { clipRows(idx, ellipse, ellipseCount, scan); clipped = true; }
      scan.remainingM = limit - gv; scan.px = px; scan.py = py; scan.turn = side;
      const count = coneList(idx, v, wedge as 0 | 1, scan);
      const out = scan.out;
      for (let t = 0; t < count; t++) {
        const w = out[t];
        if (closed[w] === stamp || inside[w] !== stamp) continue;
        const wx = X[w], wy = Y[w];
        const f = gv + MHypot(wx - vx, wy - vy);
        const h = MHypot(wx - gx, wy - gy);
        if (f + h > limit) continue;
        if (side !== 0 && ((vx - px) * (wy - py) - (vy - py) * (wx - px)) * side < 0) continue;
        queue.add(f + h, f, w, v);
      }
    }
    // the goal, and (for the start, or a corner whose wedge is unclear) every node of the ellipse
    const n = wedge >= 0 ? 0 : ellipseCount;
    for (let t = -1; t < n; t++) {
      const w = t < 0 ? G : ellipse[t];
      if (closed[w] === stamp) continue;
      const wx = X[w], wy = Y[w];
      const f = gv + MHypot(wx - vx, wy - vy);
      const h = MHypot(wx - gx, wy - gy);
      if (f + h > limit) continue;
      if (side !== 0 && ((vx - px) * (wy - py) - (vy - py) * (wx - px)) * side < 0) continue;
      if (corner) {
        const sa = (cvx - wx) * (AY[v] - wy) - (cvy - wy) * (AX[v] - wx);
        const sb = (cvx - wx) * (BY[v] - wy) - (cvy - wy) * (BX[v] - wx);
        if (sa * sb < 0) continue;
      }
      if (w < N) {
        const cwx = CX[w], cwy = CY[w];
        const sa = (cwx - vx) * (AY[w] - vy) - (cwy - vy) * (AX[w] - vx);
        const sb = (cwx - vx) * (BY[w] - vy) - (cwy - vy) * (BX[w] - vx);
        if (sa * sb < 0) continue;
      }
      queue.add(f + h, f, w, v);
    }
  }
  if (closed[G] !== stamp) return { path: null, lengthM: Infinity, expanded, segmentChecks };
  const path: XY[] = [];
  for (let w = G; w !== -1; w = parent[w]) path.push(w === S ? start : w === G ? goal : [X[w], Y[w]]);
  path.reverse();
  return { path, lengthM: gBest[G], expanded, segmentChecks };
}

/** Marks the ellipse's nodes in the scan (inside[w] = stamp) and, per row of the node grid, the columns that hold them. */
function clipRows(idx: RouteIndex, nodes: Int32Array, n: number, scan: ConeScan): void {
  const gr = idx.nodeGrid, NX = idx.nodeX, NYa = idx.nodeY, inside = scan.inside, stamp = scan.stamp;
  const rowLo = scan.rowLo.fill(gr.nx), rowHi = scan.rowHi.fill(-1);
  for (let k = 0; k < n; k++) {
    const w = nodes[k];
    inside[w] = stamp;
    const j = MMin(gr.ny - 1, MFloor((NYa[w] - gr.y0) / gr.cellM)), i = MMin(gr.nx - 1, MFloor((NX[w] - gr.x0) / gr.cellM));
    if (i < rowLo[j]) rowLo[j] = i;
    if (i > rowHi[j]) rowHi[j] = i;
  }
}
