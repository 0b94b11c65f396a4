/**
 * Graph nodes of the route search: one just off each convex corner of the solid (obstacle outers,
 * holes of the operating area), with the corner's tangent wedges (the directions a taut path can
 * leave the corner in), the line-angle bins of the lines tangent there, and the uniform grid over
 * the nodes that the cone scan (`visibility.ts`) reads.
 */
import type { RouteIndex } from './route-index';

// Math's functions held in module constants: global lookups are slow where the module runs in
// a vm context (jest), and these run in the search's inner loops.
const { floor: MFloor, sqrt: MSqrt, min: MMin, max: MMax, sign: MSign, cos: MCos, sin: MSin, atan2: MAtan2, ceil: MCeil } = Math;

/** sqrt(x² + y²) without Math.hypot's overflow care (several times slower), for metres in a local frame. */
function MHypot(x: number, y: number): number {
  return MSqrt(x * x + y * y);
}

/** How far graph nodes sit off the obstacle corners, metres. */
export const NODE_OFFSET_M = 0.05;

/** Nodes per cell of the node grid used for the cone queries. */
const NODES_PER_CELL = 6;
/** sin of the angle by which the incoming direction may lie outside a corner's tangent wedge. */
export const CONE_TOLERANCE = 0.02;
/** How far each cone is widened beyond the tangent wedge, radians (> asin(CONE_TOLERANCE)). */
export const CONE_WIDEN_RAD = 0.03;
/**
 * Directions beyond the widened wedge that scanned nodes may still have, as seen from v: the scan's
 * half-planes pass through the corner (v lies NODE_OFFSET_M off it) with a pad of 4 × NODE_OFFSET_M,
 * so a node 20 m away or more (occluders judge no nearer node) is within asin(0.25 / 20) of it.
 */
export const OCCLUSION_SLOP_RAD = 0.02;

/** Uniform grid over the graph nodes (CSR), built with the index. */
export interface NodeGrid {
  x0: number; y0: number; cellM: number; nx: number; ny: number; start: Int32Array; items: Int32Array;
  /** Per entry of `items`, that node's position, corner and the corner's ring neighbours (8 numbers: x, y, cx, cy, ax, ay, bx, by). */
  data: Float64Array;
  /** Per entry of `items`, the line-angle bins (a bit each) of the lines through the node's corner that are tangent there (`tangentBinsOf`). */
  tangentBins: Int32Array;
}

/** Line-angle bins over directions modulo π (32: one bit each of an Int32). */
export const LINE_BINS = 32, HALF_BINS = LINE_BINS / 2;

/**
 * A stand-in for the angle of the line with direction (x, y), modulo π: in [0, 2], 0 along the x
 * axis, 1 along the y axis, 2 (the same line as 0) along −x. Increasing with the angle, and
 * changing by at most as much as the angle does (radians).
 */
export function lineAngle(x: number, y: number): number {
  if (y < 0 || (y === 0 && x < 0)) { x = -x; y = -y; }
  if (x >= 0) return x + y > 0 ? y / (x + y) : 0;
  return 1 - x / (y - x);
}

/** The bits of line-angle bins b0..b1 (taken modulo LINE_BINS; every bit when they span all). */
export function binMask(b0: number, b1: number): number {
  const n = b1 - b0 + 1;
  if (n >= LINE_BINS) return -1;
  const ones = 0xffffffff >>> (LINE_BINS - n), s = ((b0 % LINE_BINS) + LINE_BINS) % LINE_BINS;
  return ((ones << s) | (ones >>> (LINE_BINS - s))) | 0;
}

/**
 * The line-angle bins of the lines through corner c tangent there, i.e. keeping both ring
 * neighbours a and b on one side (cross(d, a − c)·cross(d, b − c) ≥ 0 for direction d): one arc of
 * directions modulo π between those of a − c and b − c, widened by a microradian, far more than
 * rounding can move the search's exact test. Every bin when the corner is degenerate.
 */
export function tangentBinsOf(cx: number, cy: number, ax: number, ay: number, bx: number, by: number): number {
  const eax = ax - cx, eay = ay - cy, ebx = bx - cx, eby = by - cy;
  if (MHypot(eax, eay) < 0.01 || MHypot(ebx, eby) < 0.01) return -1;
  const mod = (t: number) => { let r = t - Math.PI * MFloor(t / Math.PI); if (r >= Math.PI) r -= Math.PI; return r; };
  const a = mod(MAtan2(eay, eax)), b = mod(MAtan2(eby, ebx));
  const lo = MMin(a, b), hi = MMax(a, b);
  if (hi - lo < 1e-6 || hi - lo > Math.PI - 1e-6) return -1;
  const m = (lo + hi) / 2, dx = MCos(m), dy = MSin(m);
  const inner = (dx * eay - dy * eax) * (dx * eby - dy * ebx) >= 0;
  const from = (inner ? lo : hi) - 1e-6, to = (inner ? hi : lo + Math.PI) + 1e-6;
  if (to - from >= Math.PI - 1e-3) return -1;
  const b0 = MFloor(lineAngle(MCos(from), MSin(from)) * HALF_BINS);
  let b1 = MFloor(lineAngle(MCos(to), MSin(to)) * HALF_BINS);
  if (b1 < b0) b1 += LINE_BINS;
  return binMask(b0, b1);
}

export function buildNodeGrid(x: Float64Array, y: Float64Array, n: number): NodeGrid {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let k = 0; k < n; k++) { x0 = MMin(x0, x[k]); y0 = MMin(y0, y[k]); x1 = MMax(x1, x[k]); y1 = MMax(y1, y[k]); }
  if (n === 0) return { x0: 0, y0: 0, cellM: 1, nx: 1, ny: 1, start: new Int32Array(2), items: new Int32Array(0), data: new Float64Array(0), tangentBins: new Int32Array(0) };
  const spanX = MMax(1, x1 - x0), spanY = MMax(1, y1 - y0);
  const cellM = MMax(1, MSqrt((spanX * spanY) / MMax(1, MCeil(n / NODES_PER_CELL))));
  const nx = MCeil(spanX / cellM) + 1, ny = MCeil(spanY / cellM) + 1;
  const start = new Int32Array(nx * ny + 1);
  const cellOf = new Int32Array(n);
  for (let k = 0; k < n; k++) { cellOf[k] = MMin(ny - 1, MFloor((y[k] - y0) / cellM)) * nx + MMin(nx - 1, MFloor((x[k] - x0) / cellM)); start[cellOf[k] + 1]++; }
  for (let c = 0; c < nx * ny; c++) start[c + 1] += start[c];
  const fill = start.slice(0, nx * ny);
  const items = new Int32Array(n);
  for (let k = 0; k < n; k++) items[fill[cellOf[k]]++] = k;
  return { x0, y0, cellM, nx, ny, start, items, data: new Float64Array(0), tangentBins: new Int32Array(0) };
}

const COS_WIDEN = MCos(CONE_WIDEN_RAD), SIN_WIDEN = MSin(CONE_WIDEN_RAD);

/** The last wedgeUnits result: u1 (x, y), u2 (x, y). */
export const WEDGE = new Float64Array(4);

/**
 * Corner node v's tangent wedge `side` (0: between e_b and −e_a, 1: between e_a and −e_b), each
 * side turned outward by CONE_WIDEN_RAD: its two unit vectors, written to WEDGE. Returns the
 * wedge's orientation (the sign of u1 × u2 before widening), 0 when degenerate (WEDGE unset).
 */
export function wedgeUnits(idx: RouteIndex, v: number, side: 0 | 1): number {
  const cvx = idx.cornerX[v], cvy = idx.cornerY[v];
  const eax = idx.prevX[v] - cvx, eay = idx.prevY[v] - cvy, ebx = idx.nextX[v] - cvx, eby = idx.nextY[v] - cvy;
  const ax1 = side === 0 ? ebx : eax, ay1 = side === 0 ? eby : eay, ax2 = side === 0 ? -eax : -ebx, ay2 = side === 0 ? -eay : -eby;
  const sgn = MSign(ax1 * ay2 - ay1 * ax2);
  if (sgn === 0) return 0;
  const l1 = MHypot(ax1, ay1), l2 = MHypot(ax2, ay2);
  const c = COS_WIDEN, sn = SIN_WIDEN * sgn;
  const x1 = ax1 / l1, y1 = ay1 / l1, x2 = ax2 / l2, y2 = ay2 / l2;
  WEDGE[0] = x1 * c + y1 * sn; WEDGE[1] = -x1 * sn + y1 * c; WEDGE[2] = x2 * c - y2 * sn; WEDGE[3] = x2 * sn + y2 * c;
  return sgn;
}
