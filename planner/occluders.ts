/**
 * Occluders for the route search: disks that lie wholly inside a buffered no-fly polygon, used to
 * drop candidate edges that certainly cross an obstacle before they are queued, and to stop the
 * search's cone scan where everything beyond is hidden.
 *
 * A segment v–w whose direction lies strictly within the angle a disk (centre c, radius r, at
 * distance d = |v c| > r) subtends from v, and with |v w| ≥ d, passes closer than r to c at a point
 * of the segment (that point is at distance d·cos δ ≤ d from v): it enters the obstacle, so the
 * exact check would refuse it. Dropping such candidates changes no result, only the work: the
 * search pops the same entries in the same order otherwise.
 *
 * Per expansion (`Occlusion.gather`), the disks near the node that meet its tangent wedge give, per
 * angular bin of the wedge, the distance beyond which that bin is hidden (a disk covers a bin when
 * the whole bin lies within its angle); when every bin is covered, nothing beyond the largest of
 * those distances can be seen and the cone scan stops there. `fanRows` gives the scan, per row of
 * its grid, the x-range of the bins' sectors each out to its own horizon: the scan reads only
 * cells some bin can still see into.
 */
import { pointInPolygon, type PolygonXY, type XY } from './geo';

const { sqrt: MSqrt, min: MMin, max: MMax, floor: MFloor, ceil: MCeil, atan2: MAtan2, abs: MAbs, cos: MCos, sin: MSin } = Math;

export interface OccluderIndex {
  x: Float64Array; y: Float64Array; r: Float64Array; count: number;
  /** Uniform grid over the disk centres (CSR). */
  x0: number; y0: number; cellM: number; nx: number; ny: number; start: Int32Array; items: Int32Array;
  /** The largest radius. */
  maxR: number;
}

/** Disks this small are not worth testing. */
const MIN_RADIUS_M = 5;
/** Most disks per obstacle. */
const PER_OBSTACLE = 4;
/** Disk grid cell, metres. */
const GRID_CELL_M = 400;

/** Least distance from p to the polygon's edges. */
function edgeDistance(p: XY, poly: PolygonXY): number {
  let d = Infinity;
  for (const ring of poly) {
    const n = ring.length;
    for (let i = 0; i < n; i++) {
      const a = ring[i], b = ring[(i + 1) % n];
      const dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
      let t = l2 > 0 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = a[0] + t * dx - p[0], ey = a[1] + t * dy - p[1];
      d = MMin(d, ex * ex + ey * ey);
    }
  }
  return MSqrt(d);
}

/**
 * Up to PER_OBSTACLE disks inside each obstacle: centres tried at the area centroid and on a 4×4
 * grid over its box, the largest disk first, then others whose centres lie outside the disks taken.
 * Radii are shrunk by a millimetre so every disk lies strictly inside.
 */
export function buildOccluders(obstacles: { polygon: PolygonXY; minX: number; minY: number; maxX: number; maxY: number }[]): OccluderIndex {
  const xs: number[] = [], ys: number[] = [], rs: number[] = [];
  for (const ob of obstacles) {
    const outer = ob.polygon[0];
    let a = 0, cx = 0, cy = 0;
    for (let i = 0, n = outer.length; i < n; i++) {
      const p = outer[i], q = outer[(i + 1) % n], c = p[0] * q[1] - q[0] * p[1];
      a += c; cx += (p[0] + q[0]) * c; cy += (p[1] + q[1]) * c;
    }
    const cand: XY[] = a !== 0 ? [[cx / (3 * a), cy / (3 * a)]] : [];
    for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) cand.push([ob.minX + ((i + 0.5) / 4) * (ob.maxX - ob.minX), ob.minY + ((j + 0.5) / 4) * (ob.maxY - ob.minY)]);
    const disks: [number, number, number][] = [];
    for (const c of cand) {
      if (!pointInPolygon(c, ob.polygon)) continue;
      const r = edgeDistance(c, ob.polygon) - 1e-3;
      if (r >= MIN_RADIUS_M) disks.push([c[0], c[1], r]);
    }
    disks.sort((p, q) => q[2] - p[2] || p[0] - q[0] || p[1] - q[1]);
    const taken: [number, number, number][] = [];
    for (const d of disks) {
      if (taken.length >= PER_OBSTACLE) break;
      if (taken.some((t) => (t[0] - d[0]) ** 2 + (t[1] - d[1]) ** 2 < t[2] * t[2])) continue;
      taken.push(d);
    }
    for (const t of taken) { xs.push(t[0]); ys.push(t[1]); rs.push(t[2]); }
  }
  const count = xs.length;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let k = 0; k < count; k++) { x0 = MMin(x0, xs[k]); y0 = MMin(y0, ys[k]); x1 = MMax(x1, xs[k]); y1 = MMax(y1, ys[k]); }
  if (count === 0) { x0 = y0 = 0; x1 = y1 = 1; }
  const cellM = GRID_CELL_M, nx = MCeil((x1 - x0) / cellM) + 1, ny = MCeil((y1 - y0) / cellM) + 1;
  const start = new Int32Array(nx * ny + 1), cellOf = new Int32Array(count);
  for (let k = 0; k < count; k++) { cellOf[k] = MFloor((ys[k] - y0) / cellM) * nx + MFloor((xs[k] - x0) / cellM); start[cellOf[k] + 1]++; }
  for (let c = 0; c < nx * ny; c++) start[c + 1] += start[c];
  const fill = start.slice(0, nx * ny), items = new Int32Array(count);
  for (let k = 0; k < count; k++) items[fill[cellOf[k]]++] = k;
  return { x: Float64Array.from(xs), y: Float64Array.from(ys), r: Float64Array.from(rs), count, x0, y0, cellM, nx, ny, start, items, maxR: rs.reduce((m, r) => MMax(m, r), 0) };
}

/** True when the square [x0, x0 + w] × [y0, y0 + w] (relative to v) lies wholly on the negative side of the line through v with normal (nx, ny). */
function outside(nx: number, ny: number, x0: number, y0: number, w: number): boolean {
  return MMax(nx * x0, nx * (x0 + w)) + MMax(ny * y0, ny * (y0 + w)) < 0;
}

/** Angular bins across a wedge. */
const BINS = 32;
/** Nodes nearer than this are never judged hidden (the wedge's pad makes directions uncertain close to the node). */
const NEAR_M = 20;
/** How far from the node disks are gathered, metres. */
const REACH_M = 2000;
/** REACH_M², a little more (cells are judged by their nearest point, with rounding). */
const REACH2 = REACH_M * REACH_M * (1 + 1e-9);

/** fanRows: how far each row's range is widened, metres. */
const FAN_PAD_M = 1;
/** fanRows: bins to a sector (a sector takes the largest of its bins' radii). */
const FAN_GROUP = 4;
/** fanRows: an empty row's bounds. */
const FAR = 1e300;

/** Widens rows j0..j1's x-ranges by the part of segment p–q within each row (rows `cell` high from y0, widened by FAN_PAD_M). */
function edgeRows(px: number, py: number, qx: number, qy: number, y0: number, cell: number, j0: number, j1: number, lo: Float64Array, hi: Float64Array): void {
  const ya = MMin(py, qy), yb = MMax(py, qy);
  const ja = MMax(j0, MFloor((ya - FAN_PAD_M - y0) / cell)), jb = MMin(j1, MFloor((yb + FAN_PAD_M - y0) / cell));
  if (ja > jb) return;
  if (ja === jb || yb - ya < 1e-9) {
    // within one row (or level): the whole segment
    const xa = MMin(px, qx) - FAN_PAD_M, xb = MMax(px, qx) + FAN_PAD_M;
    for (let j = ja; j <= jb; j++) { if (xa < lo[j]) lo[j] = xa; if (xb > hi[j]) hi[j] = xb; }
    return;
  }
  const k = (qx - px) / (qy - py);
  for (let j = ja; j <= jb; j++) {
    const ba = y0 + j * cell - FAN_PAD_M;
    const ylo = MMax(ya, ba), yhi = MMin(yb, ba + cell + 2 * FAN_PAD_M);
    let xa = px + (ylo - py) * k, xb = px + (yhi - py) * k;
    if (xa > xb) { const t = xa; xa = xb; xb = t; }
    xa -= FAN_PAD_M; xb += FAN_PAD_M;
    if (xa < lo[j]) lo[j] = xa;
    if (xb > hi[j]) hi[j] = xb;
  }
}

/**
 * Occlusion tables (`Occlusion.store`/`load`) hold per expansion (a node and one of its wedges)
 * the BINS horizons as 16-bit numbers: the distance in sixteenths of a metre rounded up (horizons
 * lie between NEAR_M and REACH_M), TABLE_NONE for none. Rounded up, a stored horizon hides nothing
 * the gathered one does not. 64 bytes an entry; the wedge's frame (bisector, bins) is computed
 * again from the wedge when loaded, with the same arithmetic.
 */
export const OCCLUSION_STRIDE = BINS;
const TABLE_SCALE = 16, TABLE_NONE = 0xffff;

/**
 * The occluders of one expansion (a node and the wedge it expands into): gathered for it, or read
 * from a table computed with the index (gathering depends only on the node and its wedge).
 * Nothing is kept between expansions.
 */
export class Occlusion {
  /** Per bin: the distance beyond which the bin is hidden (Infinity: not known to be). */
  readonly horizon = new Float64Array(BINS);
  /** A loaded table and its entry's first index, or null: hidden() reads `horizon`. */
  private T: Uint16Array | null = null;
  private base = 0;
  /** Every bin hidden beyond this (Infinity when some bin is not covered). */
  coverM = Infinity;
  private mx = 0; private my = 0; private lo = 0; private binW = 1; private vx = 0; private vy = 0;
  private active = false;

  /** Nothing known to be hidden. */
  clear(): void {
    this.active = false;
    this.coverM = Infinity;
    this.T = null;
  }

  /** Writes what the last gather found to `table` as entry `entry` (nothing hidden when it was inactive). */
  store(table: Uint16Array, entry: number): void {
    const b = entry * OCCLUSION_STRIDE, H = this.horizon;
    for (let k = 0; k < BINS; k++) table[b + k] = this.active && H[k] !== Infinity ? MCeil(H[k] * TABLE_SCALE) : TABLE_NONE;
  }

  /**
   * The occlusion stored as `entry` for the wedge u1–u2 at (vx, vy) (the one gathered there):
   * horizons read in place; the cover is the largest of them.
   */
  load(table: Uint16Array, entry: number, vx: number, vy: number, u1x: number, u1y: number, u2x: number, u2y: number, slopRad: number): void {
    this.active = false;
    this.coverM = Infinity;
    this.T = null;
    if (!this.frame(vx, vy, u1x, u1y, u2x, u2y, slopRad)) return;
    const b = entry * OCCLUSION_STRIDE;
    let cover = 0; // the largest stored horizon; TABLE_NONE (the largest number) when some bin has none
    for (let k = 0; k < BINS; k++) { const q = table[b + k]; if (q > cover) cover = q; }
    this.coverM = cover === TABLE_NONE ? Infinity : cover / TABLE_SCALE;
    this.T = table; this.base = b;
    this.active = true;
  }

  /** The wedge's bisector and bins (false: a wedge near a half-plane, nothing can be hidden). */
  private frame(vx: number, vy: number, u1x: number, u1y: number, u2x: number, u2y: number, slopRad: number): boolean {
    let mx = u1x + u2x, my = u1y + u2y;
    const ml = MSqrt(mx * mx + my * my);
    if (ml < 0.1) return false; // a wedge near a half-plane: no bisector to bin round
    mx /= ml; my /= ml;
    // half-width of the wedge round its bisector m, plus the slop
    const half = MAbs(MAtan2(u1x * my - u1y * mx, u1x * mx + u1y * my)) + slopRad;
    this.mx = mx; this.my = my; this.lo = -half; this.binW = (2 * half) / BINS; this.vx = vx; this.vy = vy;
    return true;
  }

  /**
   * Disks near v that the wedge (directions from v between unit vectors u1 and u2) can meet,
   * binned by direction.
   */
  gather(o: OccluderIndex, vx: number, vy: number, u1x: number, u1y: number, u2x: number, u2y: number, slopRad: number): void {
    Occlusion.gatherPair(o, vx, vy, this, [u1x, u1y, u2x, u2y], this, null, slopRad);
  }

  /** Starts a gather for the wedge u1–u2 at v; false when nothing can be hidden (then inactive). */
  private begin(o: OccluderIndex, vx: number, vy: number, u: ArrayLike<number> | null, slopRad: number): boolean {
    this.active = false;
    this.coverM = Infinity;
    this.T = null;
    this.horizon.fill(Infinity);
    if (o.count === 0 || u === null) return false;
    const u1x = u[0], u1y = u[1], u2x = u[2], u2y = u[3];
    if (!this.frame(vx, vy, u1x, u1y, u2x, u2y, slopRad)) return false;
    const mx = this.mx, my = this.my;
    // the wedge's two sides as half-planes through v (inward normals)
    this.s1x = -u1y; this.s1y = u1x; this.s2x = u2y; this.s2y = -u2x;
    this.inner = this.s1x * mx + this.s1y * my > 0 ? 1 : -1;
    this.inner2 = this.s2x * mx + this.s2y * my > 0 ? 1 : -1;
    return true;
  }
  private s1x = 0; private s1y = 0; private s2x = 0; private s2y = 0; private inner = 1; private inner2 = 1;

  /** Every bin's horizon is known: the cover, and active. */
  private finish(): void {
    let cover = 0;
    for (let b = 0; b < BINS; b++) cover = MMax(cover, this.horizon[b]);
    this.coverM = cover;
    this.active = true;
  }

  /**
   * Gathers for two wedges at the same point v (either absent: null), each exactly as a gather
   * of its own would: the walk over the grid and the disks' distances are shared.
   */
  static gatherPair(o: OccluderIndex, vx: number, vy: number, A: Occlusion, ua: ArrayLike<number> | null, B: Occlusion, ub: ArrayLike<number> | null, slopRad: number): void {
    let liveA = A.begin(o, vx, vy, ua, slopRad);
    let liveB = B !== A && B.begin(o, vx, vy, ub, slopRad);
    const usedA = liveA, usedB = liveB;
    if (!liveA && !liveB) return;
    const HA = A.horizon, HB = B.horizon;
    const amx = A.mx, amy = A.my, ahalf = -A.lo, abinW = A.binW;
    const bmx = B.mx, bmy = B.my, bhalf = -B.lo, bbinW = B.binW;
    const a1x = A.s1x * A.inner, a1y = A.s1y * A.inner, a2x = A.s2x * A.inner2, a2y = A.s2y * A.inner2;
    const b1x = B.s1x * B.inner, b1y = B.s1y * B.inner, b2x = B.s2x * B.inner2, b2y = B.s2y * B.inner2;
    // a disk with |phi| ≥ π/2 and alpha below this covers no bin (|phi| − alpha > half): no atan2 needed
    const abehind = Math.PI / 2 - ahalf - 1e-6, bbehind = Math.PI / 2 - bhalf - 1e-6;
    // ahead of v, off to the side: |phi| ≥ half + alpha when sin|phi| = |perp|/d ≥ sin(half + alpha),
    // and sin(half + alpha) ≤ sin(half) + cos(half)·r/d (alpha = r/d ≤ π/2 − half): no atan2 needed
    // when |perp| ≥ d·sin(half) + r·cos(half) + d·1e-7 (the margin dwarfs rounding)
    const asin = Math.sin(ahalf) + 1e-7, acos = Math.cos(ahalf), bsin = Math.sin(bhalf) + 1e-7, bcos = Math.cos(bhalf);
    // grid cells in rings round v's cell, nearest first, skipping cells wholly outside the wedge;
    // a wedge stops once no disk farther out could lower any of its bins' horizons
    const X = o.x, Y = o.y, R = o.r, cs = o.cellM;
    const ci = MFloor((vx - o.x0) / cs), cj = MFloor((vy - o.y0) / cs);
    const maxRing = MCeil(REACH_M / cs) + 1;
    for (let k = 0; k <= maxRing; k++) {
      // every disk in rings ≥ k lies at least (k − 1)·cs from v
      if (k >= 2) {
        const near = (k - 1) * cs;
        if (liveA) { let done = true; for (let b = 0; b < BINS && done; b++) if (HA[b] > near) done = false; if (done) liveA = false; }
        if (liveB) { let done = true; for (let b = 0; b < BINS && done; b++) if (HB[b] > near) done = false; if (done) liveB = false; }
        if (!liveA && !liveB) break;
      }
      for (let j = cj - k; j <= cj + k; j++) {
        if (j < 0 || j >= o.ny) continue;
        const edge = j === cj - k || j === cj + k;
        for (let i = ci - k; i <= ci + k; i += edge || k === 0 ? 1 : 2 * k) {
          if (i < 0 || i >= o.nx) continue;
          const c = j * o.nx + i;
          const t0 = o.start[c], t1 = o.start[c + 1];
          if (t0 === t1) continue;
          // every disk centre in the cell farther than REACH_M: none would be taken
          const ex = MMax(0, o.x0 + i * cs - vx, vx - (o.x0 + (i + 1) * cs)), ey = MMax(0, o.y0 + j * cs - vy, vy - (o.y0 + (j + 1) * cs));
          if (ex * ex + ey * ey > REACH2) continue;
          // the cell (grown by the largest disk radius) wholly outside one side of the wedge: skip
          const bx0 = o.x0 + i * cs - vx - o.maxR, by0 = o.y0 + j * cs - vy - o.maxR, bw = cs + 2 * o.maxR;
          const inA = liveA && !(outside(a1x, a1y, bx0, by0, bw) || outside(a2x, a2y, bx0, by0, bw));
          const inB = liveB && !(outside(b1x, b1y, bx0, by0, bw) || outside(b2x, b2y, bx0, by0, bw));
          if (!inA && !inB) continue;
          for (let t = t0; t < t1; t++) {
            const q = o.items[t];
            const dx = X[q] - vx, dy = Y[q] - vy, d = MSqrt(dx * dx + dy * dy), r = R[q];
            if (d <= r || d > REACH_M || d < NEAR_M) continue;
            // asin(r/d) ≥ r/d: the smaller angle is still wholly within the disk's
            const alpha = r / d;
            if (inA) {
              const along = amx * dx + amy * dy, perp = amx * dy - amy * dx;
              if (!(along <= 0 ? alpha < abehind : alpha < abehind && MAbs(perp) >= d * asin + r * acos)) {
                const phi = MAtan2(perp, along);
                if (!(phi + alpha <= -ahalf || phi - alpha >= ahalf)) {
                  // bins wholly within (phi − alpha, phi + alpha)
                  const b0 = MCeil((phi - alpha + ahalf) / abinW), b1 = MFloor((phi + alpha + ahalf) / abinW) - 1;
                  for (let b = MMax(0, b0); b <= MMin(BINS - 1, b1); b++) if (d < HA[b]) HA[b] = d;
                }
              }
            }
            if (inB) {
              const along = bmx * dx + bmy * dy, perp = bmx * dy - bmy * dx;
              if (!(along <= 0 ? alpha < bbehind : alpha < bbehind && MAbs(perp) >= d * bsin + r * bcos)) {
                const phi = MAtan2(perp, along);
                if (!(phi + alpha <= -bhalf || phi - alpha >= bhalf)) {
                  const b0 = MCeil((phi - alpha + bhalf) / bbinW), b1 = MFloor((phi + alpha + bhalf) / bbinW) - 1;
                  for (let b = MMax(0, b0); b <= MMin(BINS - 1, b1); b++) if (d < HB[b]) HB[b] = d;
                }
              }
            }
          }
        }
      }
    }
    if (usedA) A.finish();
    if (usedB) B.finish();
  }

  /**
   * Per row j0..j1 of a grid (rows `cell` high from y0), an x-range [rowLo[j], rowHi[j]] holding
   * every point w within reachM of v, with its direction from v inside the bins, that hidden()
   * leaves visible, each range widened by a metre (rounding at bin edges and row edges is far
   * smaller): the square round v of half-side NEAR_M (nearer, nothing is hidden) and, per bin, the
   * sector out to its horizon (reachM when it has none), FAN_GROUP bins at a time at the largest of
   * their radii, taken as the triangle that contains it. The sectors make one polygon, star-shaped
   * round v, whose per-row extent is that of its edges. rowLo[j] > rowHi[j]: nothing visible in the
   * row. Points in directions outside the bins are never hidden and not covered: the caller keeps to
   * directions inside them. False (nothing written) when inactive, or for a wedge within 0.1 rad of
   * a half-plane (its bisector would not be the wedge's).
   */
  fanRows(y0: number, cell: number, j0: number, j1: number, reachM: number, rowLo: Float64Array, rowHi: Float64Array): boolean {
    if (!this.active || -this.lo > Math.PI / 2 - 0.05) return false;
    for (let j = j0; j <= j1; j++) { rowLo[j] = FAR; rowHi[j] = -FAR; }
    const vx = this.vx, vy = this.vy, mx = this.mx, my = this.my, binW = this.binW;
    const near = NEAR_M + FAN_PAD_M;
    const na = MMax(j0, MFloor((vy - near - FAN_PAD_M - y0) / cell)), nb = MMin(j1, MFloor((vy + near + FAN_PAD_M - y0) / cell));
    for (let j = na; j <= nb; j++) { rowLo[j] = MMin(rowLo[j], vx - near); rowHi[j] = MMax(rowHi[j], vx + near); }
    // the bins' edges turned round v from the bisector m, FAN_GROUP bins to a sector of the largest
    // of their radii; a sector of radius R within the triangle of side R / cos(its angle / 2)
    const G = FAN_GROUP, c = MCos(G * binW), s = MSin(G * binW), sec = 1 / MCos((G * binW) / 2);
    let dx = mx * MCos(this.lo) - my * MSin(this.lo), dy = mx * MSin(this.lo) + my * MCos(this.lo);
    const T = this.T, H = this.horizon, base = this.base;
    let qx = vx, qy = vy, prevR = -1;
    for (let b0 = 0; b0 < BINS; b0 += G) {
      let r = 0;
      for (let b = b0; b < b0 + G; b++) {
        let rb = reachM;
        if (T !== null) { const q = T[base + b]; if (q !== TABLE_NONE) rb = MMin(rb, q / TABLE_SCALE); } else if (H[b] < rb) rb = H[b];
        if (rb > r) r = rb;
      }
      r = MMax(r, NEAR_M) * sec;
      if (r !== prevR) {
        const ax = vx + r * dx, ay = vy + r * dy;
        edgeRows(qx, qy, ax, ay, y0, cell, j0, j1, rowLo, rowHi);
        qx = ax; qy = ay;
      }
      const ndx = dx * c - dy * s, ndy = dx * s + dy * c;
      dx = ndx; dy = ndy;
      const bx = vx + r * dx, by = vy + r * dy;
      edgeRows(qx, qy, bx, by, y0, cell, j0, j1, rowLo, rowHi);
      qx = bx; qy = by; prevR = r;
    }
    edgeRows(qx, qy, vx, vy, y0, cell, j0, j1, rowLo, rowHi);
    return true;
  }

  /** True when the segment from v to w (at distance len) certainly enters an obstacle. */
  hidden(wx: number, wy: number, len: number): boolean {
    if (!this.active || len < NEAR_M) return false;
    const dx = wx - this.vx, dy = wy - this.vy;
    const phi = MAtan2(this.mx * dy - this.my * dx, this.mx * dx + this.my * dy);
    const b = MFloor((phi - this.lo) / this.binW);
    if (b < 0 || b >= BINS) return false;
    const T = this.T;
    if (T === null) return len >= this.horizon[b];
    const q = T[this.base + b];
    return q !== TABLE_NONE && len * TABLE_SCALE >= q;
  }
}
