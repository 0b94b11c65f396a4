/**
 * The cone scan: the successors an expansion of the route search queues from a corner node. A
 * shortest path leaves a corner inside one of its tangent wedges and touches the next corner along
 * a line tangent there too, so only nodes in the wedge, tangent at both ends, on the side the path
 * turns to and within the search's budget are candidates; they are collected from the node grid.
 */
import { binMask, HALF_BINS, lineAngle, NODE_OFFSET_M, OCCLUSION_SLOP_RAD, WEDGE, wedgeUnits } from './corner-nodes';
import { Occlusion } from './occluders';
import type { RouteIndex } from './route-index';

// Math's functions held in module constants: global lookups are slow where the module runs in
// a vm context (jest), and these run in the search's inner loops.
const { floor: MFloor, sqrt: MSqrt, min: MMin, max: MMax, sign: MSign } = Math;

/** sqrt(x² + y²) without Math.hypot's overflow care (several times slower), for metres in a local frame. */
function MHypot(x: number, y: number): number {
  return MSqrt(x * x + y * y);
}

/**
 * What a cone scan reads besides the index, and where it writes: set by the search (its ellipse
 * and goal once per bounded search, the budget and the incoming direction per expansion), held in
 * fields rather than passed as arguments so that nothing is boxed per call.
 */
export class ConeScan {
  /** The search's ellipse: per row of the node grid, the columns holding its nodes, and membership per node (inside[w] === stamp). */
  readonly rowLo: Int32Array;
  readonly rowHi: Int32Array;
  readonly inside: Uint32Array;
  stamp = 0;
  /** The goal. */
  gx = NaN; gy = NaN;
  /** Occluders are used when the budget exceeds this (Infinity: never). */
  occlusionFromM = NaN;
  /** Per expansion: the budget |v w| + |w g| may not exceed, the parent p, and the side the path turns to at v (its sign; 0: any). */
  remainingM = NaN; px = NaN; py = NaN; turn = NaN;
  /** The candidates found (node ids), in the node grid's order. */
  readonly out: Int32Array;
  readonly occ = new Occlusion();
  /** Per row, the x-range the occluders leave visible (`Occlusion.fanRows`). */
  readonly fanLo: Float64Array;
  readonly fanHi: Float64Array;

  constructor(nodeCount: number, gridRows: number) {
    this.rowLo = new Int32Array(gridRows);
    this.rowHi = new Int32Array(gridRows);
    this.inside = new Uint32Array(nodeCount + 2);
    this.out = new Int32Array(Math.max(256, nodeCount));
    this.fanLo = new Float64Array(gridRows);
    this.fanHi = new Float64Array(gridRows);
  }
}

/** The leftmost or rightmost x (from the centre) of the ellipse qa·X² + qbk·Y·X + qc·Y² ≤ 1 at height Y. */
export function ellipseX(Y: number, qa: number, qbk: number, qc: number, right: boolean): number {
  const B = qbk * Y, C = qc * Y * Y - 1;
  const disc = MMax(0, B * B - 4 * qa * C);
  return right ? (-B + MSqrt(disc)) / (2 * qa) : (-B - MSqrt(disc)) / (2 * qa);
}

/**
 * The nodes w that a shortest path within the search's bound may continue to from corner node v,
 * arriving along a direction inside v's tangent wedge `side` (0: between e_b and −e_a, 1: between
 * e_a and −e_b, e_a/e_b = directions to the corner's ring neighbours): w lies in that wedge
 * (widened a little), in the search's ellipse, within the budget (|v w| + |w g| ≤ remainingM, the
 * ellipse with foci v and the goal g), and the line v–w is tangent at both corners; for a long
 * cone (budget above occlusionFromM), not hidden by the occluders. Written to `out`; returns the
 * count, in the grid's order (rows, then cells, then node ids): the same for every run.
 *
 * Only the grid cells those conditions leave possible are visited: rows within the wedge's sector
 * and the budget ellipse, and per row the columns within the wedge's half-planes, the budget
 * ellipse and the search's ellipse. For a long cone, also within the occluders' fan: each of the
 * wedge's angular bins only out to its own horizon (`Occlusion.fanRows`), where everything beyond
 * is hidden, instead of the whole wedge out to the farthest horizon. The nodes those cells hold
 * are tested exactly as before, so the candidates are the same; only cells that can hold none are
 * skipped.
 */
export function coneList(idx: RouteIndex, v: number, side: 0 | 1, scan: ConeScan): number {
  const gx = scan.gx, gy = scan.gy, remainingM = scan.remainingM, px = scan.px, py = scan.py, turn = scan.turn, out = scan.out, occ = scan.occ;
  const NX = idx.nodeX, NYa = idx.nodeY, CX = idx.cornerX, CY = idx.cornerY, AX = idx.prevX, AY = idx.prevY, BX = idx.nextX, BY = idx.nextY;
  const vx = NX[v], vy = NYa[v], cvx = CX[v], cvy = CY[v];
  const sgn = wedgeUnits(idx, v, side);
  if (sgn === 0) return 0;
  // the budget ellipse: foci v and the goal, |p v| + |p g| ≤ remainingM
  const fd = MHypot(gx - vx, gy - vy);
  if (remainingM < fd) return 0;
  const ea = remainingM / 2, eb = MMax(1e-3, MSqrt(MMax(0, ea * ea - (fd / 2) ** 2)));
  const ecx = (vx + gx) / 2, ecy = (vy + gy) / 2;
  const cos = fd > 0 ? (gx - vx) / fd : 1, sin = fd > 0 ? (gy - vy) / fd : 0;
  const ehx = MSqrt(ea * ea * cos * cos + eb * eb * sin * sin), ehy = MSqrt(ea * ea * sin * sin + eb * eb * cos * cos);
  // y offset (from the centre) of the rightmost point; the leftmost is at its opposite
  const yExt = ehx > 0 ? ((ea * ea - eb * eb) * sin * cos) / ehx : 0;
  const qa = cos * cos / (ea * ea) + sin * sin / (eb * eb), qbk = 2 * cos * sin * (1 / (ea * ea) - 1 / (eb * eb)), qc = sin * sin / (ea * ea) + cos * cos / (eb * eb);

  const PAD = 1;
  const u1x = WEDGE[0], u1y = WEDGE[1], u2x = WEDGE[2], u2y = WEDGE[3];
  // what the disks near v hide in this wedge (gathered with the index); when they hide all of it
  // beyond coverM, rows and columns farther than that from v are not scanned
  const occluded = remainingM > scan.occlusionFromM;
  if (occluded) occ.load(idx.occlusion, 2 * v + side, vx, vy, u1x, u1y, u2x, u2y, OCCLUSION_SLOP_RAD);
  else occ.clear();
  const coverM = occ.coverM;
  // per row of cells, the x-range where the widened cone can be: the intersection of its two
  // half-planes n·(p − corner) ≥ −pad, each taken at its most favourable y within the row
  const pad = NODE_OFFSET_M * 4;
  const n1x = -sgn * u1y, n1y = sgn * u1x, n2x = sgn * u2y, n2y = -sgn * u2x;
  // taut: w on the side the path turns to, cross(v − p, w − p)·turn ≥ 0 (a third half-plane,
  // through p along v − p; for the row ranges taken with a pad, per node exactly as the search does)
  const tdx = vx - px, tdy = vy - py, tl = MHypot(tdx, tdy);
  const taut = turn !== 0 && tl > 0;
  const n3x = taut ? (-tdy * MSign(turn)) / tl : 0, n3y = taut ? (tdx * MSign(turn)) / tl : 0;
  const o3 = n3x * (cvx - px) + n3y * (cvy - py); // n3·(corner − p): the half-plane is n3·(w − corner) ≥ −o3
  const gr = idx.nodeGrid, cell = gr.cellM, D = gr.data, TM = gr.tangentBins;
  // a cell's corners seen from v: within cellR of its centre (corners lie NODE_OFFSET_M off their
  // nodes); nearer than cellFar every direction is taken
  const cellR = (cell / 2 + 2 * NODE_OFFSET_M) * Math.SQRT2, cellFar2 = 4 * cellR * cellR;
  const avx = AX[v], avy = AY[v], bvx = BX[v], bvy = BY[v];
  // rows: those of the budget ellipse, within coverM of v, and within the wedge's sector (apex at the
  // corner, radius the budget; the pad moves its apex back by at most pad / sin(opening / 2))
  const reach = MMin(remainingM, coverM) + PAD;
  const sinHalf = MSqrt(MMax(0, (1 - (u1x * u2x + u1y * u2y)) / 2));
  const back = 2 * (pad / MMax(sinHalf, 0.01) + PAD);
  const sy0 = MMin(0, reach * u1y, reach * u2y, n1y <= 0 && n2y <= 0 ? -reach : 0) - back, sy1 = MMax(0, reach * u1y, reach * u2y, n1y >= 0 && n2y >= 0 ? reach : 0) + back;
  const j0 = MMax(0, MFloor((MMax(ecy - ehy, vy - coverM, cvy + sy0) - PAD - gr.y0) / cell)), j1 = MMin(gr.ny - 1, MFloor((MMin(ecy + ehy, vy + coverM, cvy + sy1) + PAD - gr.y0) / cell));
  // per row, the x-range of the sectors the occluders leave visible, each out to its own horizon:
  // a node beyond it is hidden. fanRows covers only directions inside the bins, and a node the
  // wedge test keeps is there: 20 m or more from v, its direction is within asin(0.25 / 20) of the
  // widened wedge, less than OCCLUSION_SLOP_RAD (nearer nodes are in fanRows' square round v)
  const fanLo = scan.fanLo, fanHi = scan.fanHi;
  const fan = occluded && occ.fanRows(gr.y0, cell, j0, j1, remainingM, fanLo, fanHi);
  const inside = scan.inside, stamp = scan.stamp, rowLo = scan.rowLo, rowHi = scan.rowHi;
  let count = 0;
  for (let j = j0; j <= j1; j++) {
    if (rowLo[j] > rowHi[j]) continue;
    if (fan && fanLo[j] > fanHi[j]) continue;
    const rya = gr.y0 + j * cell, ryb = rya + cell;
    const ya = rya - cvy, yb = ya + cell;
    let lo = vx - coverM - PAD - cvx, hi = vx + coverM + PAD - cvx;
    if (fan) { lo = MMax(lo, fanLo[j] - cvx); hi = MMin(hi, fanHi[j] - cvx); }
    const m1 = MMax(n1y * ya, n1y * yb), m2 = MMax(n2y * ya, n2y * yb);
    if (n1x > 1e-12) lo = MMax(lo, (-pad - m1) / n1x); else if (n1x < -1e-12) hi = MMin(hi, (-pad - m1) / n1x); else if (m1 < -pad) continue;
    if (n2x > 1e-12) lo = MMax(lo, (-pad - m2) / n2x); else if (n2x < -1e-12) hi = MMin(hi, (-pad - m2) / n2x); else if (m2 < -pad) continue;
    if (taut) {
      const m3 = MMax(n3y * ya, n3y * yb), c3 = -o3 - pad;
      if (n3x > 1e-12) lo = MMax(lo, (c3 - m3) / n3x); else if (n3x < -1e-12) hi = MMin(hi, (c3 - m3) / n3x); else if (m3 < c3) continue;
    }
    if (lo > hi) continue;
    // the budget ellipse's x-range over this row (last: two square roots)
    const Ya = MMax(-ehy, rya - ecy), Yb = MMin(ehy, ryb - ecy);
    if (Ya > Yb + PAD) continue;
    const ex0 = ecx + ellipseX(MMin(Yb, MMax(Ya, -yExt)), qa, qbk, qc, false) - PAD, ex1 = ecx + ellipseX(MMin(Yb, MMax(Ya, yExt)), qa, qbk, qc, true) + PAD;
    lo = MMax(lo, ex0 - cvx); hi = MMin(hi, ex1 - cvx);
    if (lo > hi) continue;
    const i0 = MMax(rowLo[j], MFloor((lo + cvx - gr.x0) / cell)), i1 = MMin(rowHi[j], MFloor((hi + cvx - gr.x0) / cell));
    if (i0 > i1) continue;
    // per cell, the directions (modulo π) from v to the cell's corners, as line-angle bins: a node
    // whose tangent bins (TM) share none is not tangent at its corner to a line from v
    const ccy = rya + cell / 2 - vy;
    for (let i = i0, c = j * gr.nx + i0; i <= i1; i++, c++) {
      let t = gr.start[c];
      const tEnd = gr.start[c + 1];
      if (t === tEnd) continue;
      let qm = -1;
      const ccx = gr.x0 + (i + 0.5) * cell - vx, d2 = ccx * ccx + ccy * ccy;
      if (d2 > cellFar2) {
        const hw = (1.05 * cellR) / MSqrt(d2) + 1e-6, p = lineAngle(ccx, ccy);
        qm = binMask(MFloor((p - hw) * HALF_BINS), MFloor((p + hw) * HALF_BINS));
      }
    for (; t < tEnd; t++) {
      if ((TM[t] & qm) === 0) continue;
      // the node's data, packed in the grid's order (one sequential read per node)
      const b = t * 8;
      const wx = D[b], wy = D[b + 1];
      // cheapest tests first: in the (widened) wedge, tangent at w, tangent at v, then the budget
      const dx = wx - cvx, dy = wy - cvy;
      if (n1x * dx + n1y * dy < -pad || n2x * dx + n2y * dy < -pad) continue;
      if (turn !== 0 && (tdx * (wy - py) - tdy * (wx - px)) * turn < 0) continue;
      const cwx = D[b + 2] - vx, cwy = D[b + 3] - vy;
      let sa = cwx * (D[b + 5] - vy) - cwy * (D[b + 4] - vx);
      let sb = cwx * (D[b + 7] - vy) - cwy * (D[b + 6] - vx);
      if (sa * sb < 0) continue;
      // tangent at v: both ring neighbours of v's corner on one side of the line w–corner
      sa = (cvx - wx) * (avy - wy) - (cvy - wy) * (avx - wx);
      sb = (cvx - wx) * (bvy - wy) - (cvy - wy) * (bvx - wx);
      if (sa * sb < 0) continue;
      const w = gr.items[t];
      if (w === v || inside[w] !== stamp) continue;
      const ax = wx - vx, ay = wy - vy, bx = gx - wx, by = gy - wy;
      const len = MSqrt(ax * ax + ay * ay);
      if (len + MSqrt(bx * bx + by * by) > remainingM) continue;
      if (occ.hidden(wx, wy, len)) continue;
      out[count++] = w;
    }
    }
  }
  return count;
}
