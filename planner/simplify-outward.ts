/**
 * Outward simplification of huge no-fly rings, before they are buffered and indexed.
 *
 * A ring of tens of thousands of vertices (a zigzag whose teeth are a centimetre apart, a traced
 * outline) makes the exact buffer quadratic: the offset of every edge crosses the offsets of its
 * thousands of neighbours. The route only needs a polygon B containing everything within the
 * clearance of the zone, so the ring is first replaced by a coarse polygon Q that never shrinks it:
 *
 *  1. Rasterise at `cellM`: the cells of points along every edge (half a cell apart) and their
 *     eight neighbours (a band along the ring, which a 4-connected flood cannot cross) are marked;
 *     a flood from outside the ring's box finds the outside; every other cell (the zone, the band,
 *     and any pocket the band closes: pockets narrower than a cell, which the clearance closes
 *     anyway) forms U. U contains the zone; apart from such pockets it lies within 2·√2·cellM of it.
 *  2. Cells touching only at a corner are joined (a cell added) so U's outline is a simple
 *     rectilinear ring; it is traced counter-clockwise along the cell edges.
 *  3. That outline is simplified (Douglas–Peucker, every dropped vertex within `cellM` of the chord
 *     that replaces it; splits kept balanced, so O(n log n) on any input) into Q, kept only when
 *     simple. Every point of U's outline lies within `cellM` of Q's and vice versa, so U (and the
 *     zone) lies within Q grown by `cellM` (`growthM`): buffering Q by the clearance plus `growthM`
 *     covers the zone's clearance.
 *
 * Work and memory are O(ring + cells); cells are capped (the cell grows on very large rings).
 */
import { ringSignedArea, type XY } from './geo';
import { findSelfIntersection } from './ring-sweep';

const { floor: MFloor, max: MMax, min: MMin, ceil: MCeil, sqrt: MSqrt } = Math;

/** Rings with more vertices than this are simplified before buffering. */
export const HUGE_RING_VERTICES = 2_000;
/** Most raster cells used for one ring. */
const MAX_CELLS = 4_000_000;

export interface OutwardRing {
  /** Counter-clockwise open ring Q. */
  ring: XY[];
  /** The zone lies within Q grown by this, metres. */
  growthM: number;
  /** The raster cell used, metres. */
  cellM: number;
}

/**
 * A coarse counter-clockwise ring Q whose region grown by `growthM` contains the ring's region;
 * `cellM` is the raster cell (enlarged when the ring is too large for MAX_CELLS cells).
 */
export function simplifyOutward(ring: XY[], cellM: number): OutwardRing {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of ring) { x0 = MMin(x0, x); y0 = MMin(y0, y); x1 = MMax(x1, x); y1 = MMax(y1, y); }
  let s = cellM;
  if (((x1 - x0) / s + 6) * ((y1 - y0) / s + 6) > MAX_CELLS) s = MSqrt(((x1 - x0) * (y1 - y0)) / MAX_CELLS) * 1.05 + 1e-9 + MMax(x1 - x0, y1 - y0) / MAX_CELLS;
  // two free cells of padding round the ring's box: the flood starts in the corner
  const ox = x0 - 2.5 * s, oy = y0 - 2.5 * s;
  const nx = MCeil((x1 - ox) / s) + 3, ny = MCeil((y1 - oy) / s) + 3;
  // cells along the ring, then the band: those and their eight neighbours
  const hit = new Uint8Array(nx * ny);
  const n = ring.length;
  for (let k = 0; k < n; k++) markCells(ring[k], ring[(k + 1) % n], ox, oy, s, nx, ny, hit);
  const U = new Uint8Array(nx * ny); // 1: band, 2: outside, 0: inside
  for (let j = 1; j < ny - 1; j++) {
    for (let i = 1; i < nx - 1; i++) {
      if (!hit[j * nx + i]) continue;
      for (let b = j - 1; b <= j + 1; b++) for (let a = i - 1; a <= i + 1; a++) U[b * nx + a] = 1;
    }
  }
  // flood the outside (4-connected) from the corner
  const stack = new Int32Array(nx * ny);
  let top = 0;
  U[0] = 2; stack[top++] = 0;
  while (top > 0) {
    const c = stack[--top], i = c % nx, j = (c - i) / nx;
    if (i > 0 && U[c - 1] === 0) { U[c - 1] = 2; stack[top++] = c - 1; }
    if (i < nx - 1 && U[c + 1] === 0) { U[c + 1] = 2; stack[top++] = c + 1; }
    if (j > 0 && U[c - nx] === 0) { U[c - nx] = 2; stack[top++] = c - nx; }
    if (j < ny - 1 && U[c + nx] === 0) { U[c + nx] = 2; stack[top++] = c + nx; }
  }
  const inU = (i: number, j: number) => i >= 0 && j >= 0 && i < nx && j < ny && U[j * nx + i] !== 2;
  // join cells meeting only at a corner (the outline would touch itself there): add a cell, which
  // only grows U; repeat until none is left
  for (let changed = true; changed; ) {
    changed = false;
    for (let j = 0; j < ny - 1; j++) {
      for (let i = 0; i < nx - 1; i++) {
        const a = inU(i, j), b = inU(i + 1, j), c = inU(i, j + 1), d = inU(i + 1, j + 1);
        if (a && d && !b && !c) { U[j * nx + i + 1] = 1; changed = true; }
        else if (b && c && !a && !d) { U[j * nx + i] = 1; changed = true; }
      }
    }
  }
  const outline = traceOutline(inU, nx, ny, ox, oy, s);
  let q = simplifyClosed(outline, s);
  if (q.length < 3 || findSelfIntersection(q) !== null) q = outline;
  if (ringSignedArea(q) < 0) q.reverse();
  return { ring: q, growthM: s, cellM: s };
}

/**
 * Marks the cells of points along a–b at most half a cell apart. Every point of the segment is
 * then within a quarter cell of a marked point, so the band (marked cells and their neighbours)
 * holds every point within ¾ cell of the ring: a cell outside the band lies wholly on one side.
 */
function markCells(a: XY, b: XY, ox: number, oy: number, s: number, nx: number, ny: number, hit: Uint8Array): void {
  const steps = MMax(1, MCeil((2 * Math.hypot(b[0] - a[0], b[1] - a[1])) / s));
  for (let k = 0; k <= steps; k++) {
    const t = k / steps;
    const i = MFloor((a[0] + t * (b[0] - a[0]) - ox) / s), j = MFloor((a[1] + t * (b[1] - a[1]) - oy) / s);
    if (i >= 1 && j >= 1 && i < nx - 1 && j < ny - 1) hit[j * nx + i] = 1;
  }
}

/**
 * The outline of the cells in U (one 4-connected region, no cells meeting only at a corner, no
 * holes), counter-clockwise along the cell edges, vertices only where it turns.
 */
function traceOutline(inU: (i: number, j: number) => boolean, nx: number, ny: number, ox: number, oy: number, s: number): XY[] {
  // start: the lowest row's leftmost cell; its bottom-left corner, heading east (U on the left)
  let si = -1, sj = -1;
  for (let j = 0; j < ny && si < 0; j++) for (let i = 0; i < nx; i++) if (inU(i, j)) { si = i; sj = j; break; }
  if (si < 0) return [];
  // position: lattice vertex (x, y); direction d: 0 east, 1 north, 2 west, 3 south
  const DX = [1, 0, -1, 0], DY = [0, 1, 0, -1];
  // the cells left and right ahead of a vertex, heading d: left-ahead and right-ahead
  const leftAhead = (x: number, y: number, d: number) => (d === 0 ? inU(x, y) : d === 1 ? inU(x - 1, y) : d === 2 ? inU(x - 1, y - 1) : inU(x, y - 1));
  const rightAhead = (x: number, y: number, d: number) => (d === 0 ? inU(x, y - 1) : d === 1 ? inU(x, y) : d === 2 ? inU(x - 1, y) : inU(x - 1, y - 1));
  const out: XY[] = [];
  let x = si, y = sj, d = 0;
  const x0 = x, y0 = y;
  let guard = 4 * nx * ny + 8;
  do {
    // choose the next direction: right turn, straight, left turn (U stays on the left)
    let nd: number;
    if (rightAhead(x, y, d)) nd = (d + 3) % 4;
    else if (leftAhead(x, y, d)) nd = d;
    else nd = (d + 1) % 4;
    if (nd !== d || out.length === 0) out.push([ox + x * s, oy + y * s]);
    d = nd;
    x += DX[d]; y += DY[d];
    // a right turn needs the cell it turns round to hold: re-evaluated at the next vertex
  } while ((x !== x0 || y !== y0) && --guard > 0);
  // the start vertex is a corner only when the last move was not eastward
  if (d === 0 && out.length > 1) out.shift();
  return out;
}

/** Douglas–Peucker on a closed ring (every removed vertex within `tol` of its chord), balanced splits. */
export function simplifyClosed(ring: XY[], tol: number): XY[] {
  const n = ring.length;
  if (n <= 4) return ring.slice();
  // split the ring at vertex 0 and the vertex farthest from it
  let far = 1, best = -1;
  for (let k = 1; k < n; k++) {
    const d = (ring[k][0] - ring[0][0]) ** 2 + (ring[k][1] - ring[0][1]) ** 2;
    if (d > best) { best = d; far = k; }
  }
  const keep = new Uint8Array(n + 1);
  keep[0] = keep[far] = keep[n] = 1;
  const at = (k: number) => ring[k % n];
  const stack: number[] = [0, far, far, n];
  while (stack.length > 0) {
    const b = stack.pop()!, a = stack.pop()!;
    if (b - a < 2) continue;
    const pa = at(a), pb = at(b);
    let worst = -1, wi = -1;
    for (let k = a + 1; k < b; k++) {
      const d = segDist(at(k), pa, pb);
      if (d > worst) { worst = d; wi = k; }
    }
    if (worst <= tol) continue;
    // keep the recursion balanced: a split in the outer eighth is moved to the middle
    const len = b - a;
    if (wi - a < len / 8 || b - wi < len / 8) wi = a + (len >> 1);
    keep[wi] = 1;
    stack.push(a, wi, wi, b);
  }
  const out: XY[] = [];
  for (let k = 0; k < n; k++) if (keep[k]) out.push(ring[k]);
  return out;
}

function segDist(p: XY, a: XY, b: XY): number {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const l2 = dx * dx + dy * dy;
  let t = l2 > 0 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const ex = a[0] + t * dx - p[0], ey = a[1] + t * dy - p[1];
  return MSqrt(ex * ex + ey * ey);
}
