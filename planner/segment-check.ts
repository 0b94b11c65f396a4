/**
 * Segment-vs-obstacle checks for the route search: exact (every obstacle and area edge the segment
 * could touch, through flatbush or the uniform edge grid), and the coarse grid of solid cells that
 * rejects most blocked segments first.
 */
import { segmentsIntersect, type XY } from './geo';
import type { RouteIndex, SolidGrid } from './route-index';

// Math's functions held in module constants: global lookups are slow where the module runs in
// a vm context (jest), and these run in the search's inner loops.
const { floor: MFloor, min: MMin, max: MMax, abs: MAbs } = Math;

/** Stands in for Infinity in the grid walks: an Infinity among a loop's doubles made V8 box them (an allocation per step). */
const NEVER = 1e300;

/** True when segment p–q passes through a solid cell: then it is blocked (its ends lie in free space). */
export function crossesSolid(g: SolidGrid, px: number, py: number, qx: number, qy: number): boolean {
  const cs = g.cellM, nx = g.nx, ny = g.ny, S = g.solid;
  const fx0 = (px - g.x0) / cs, fy0 = (py - g.y0) / cs, fx1 = (qx - g.x0) / cs, fy1 = (qy - g.y0) / cs;
  if (!(fx0 >= 0 && fy0 >= 0 && fx1 >= 0 && fy1 >= 0 && fx0 < nx && fx1 < nx && fy0 < ny && fy1 < ny)) return false;
  let ix = MFloor(fx0), iy = MFloor(fy0);
  const ix1 = MFloor(fx1), iy1 = MFloor(fy1);
  const dx = fx1 - fx0, dy = fy1 - fy0;
  const stepX = dx > 0 ? 1 : dx < 0 ? -1 : 0, stepY = dy > 0 ? 1 : dy < 0 ? -1 : 0;
  const tDX = stepX !== 0 ? MAbs(1 / dx) : NEVER, tDY = stepY !== 0 ? MAbs(1 / dy) : NEVER;
  let tMX = stepX > 0 ? (ix + 1 - fx0) * tDX : stepX < 0 ? (fx0 - ix) * tDX : NEVER;
  let tMY = stepY > 0 ? (iy + 1 - fy0) * tDY : stepY < 0 ? (fy0 - iy) * tDY : NEVER;
  let guard = MAbs(ix1 - ix) + MAbs(iy1 - iy) + 2;
  for (;;) {
    if (S[iy * nx + ix]) return true;
    if ((ix === ix1 && iy === iy1) || --guard < 0) return false;
    if (tMX < tMY) { tMX += tDX; ix += stepX; } else { tMY += tDY; iy += stepY; }
    if (ix < 0 || iy < 0 || ix >= nx || iy >= ny) return false;
  }
}

export interface EdgeCheckStats { edgeChecks: number }

/** True when the segment p–q touches no obstacle or area edge. */
export function segmentIsFree(idx: RouteIndex, p: XY, q: XY, useIndex = true): boolean {
  const E = idx.edges;
  if (useIndex) {
    return !idx.edgeIndex.collides(MMin(p[0], q[0]), MMin(p[1], q[1]), MMax(p[0], q[0]), MMax(p[1], q[1]), (i) =>
      i < idx.edgeCount && segmentsIntersect(p, q, [E[i * 4], E[i * 4 + 1]], [E[i * 4 + 2], E[i * 4 + 3]]));
  }
  for (let i = 0; i < idx.edgeCount; i++) {
    if (segmentsIntersect(p, q, [E[i * 4], E[i * 4 + 1]], [E[i * 4 + 2], E[i * 4 + 3]])) return false;
  }
  return true;
}

/** Closed-segment intersection on plain numbers (touching counts), without allocation. */
function segHit(ax: number, ay: number, bx: number, by: number, cx: number, cy: number, dx: number, dy: number): boolean {
  const d1 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx);
  const d2 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx);
  const d3 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
  const d4 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  if (d1 === 0 && within(cx, cy, dx, dy, ax, ay)) return true;
  if (d2 === 0 && within(cx, cy, dx, dy, bx, by)) return true;
  if (d3 === 0 && within(ax, ay, bx, by, cx, cy)) return true;
  if (d4 === 0 && within(ax, ay, bx, by, dx, dy)) return true;
  return false;
}

function within(px: number, py: number, qx: number, qy: number, rx: number, ry: number): boolean {
  return MMin(px, qx) <= rx && rx <= MMax(px, qx) && MMin(py, qy) <= ry && ry <= MMax(py, qy);
}

/**
 * Same answer as segmentIsFree, faster: walks the cells of the edge grid that the segment passes
 * through (Amanatides–Woo), from p to q, testing the edges registered there, and stops at the
 * first hit.
 */
export function segmentIsFreeFast(idx: RouteIndex, px: number, py: number, qx: number, qy: number): boolean {
  const E = idx.edges, gr = idx.edgeGrid, cs = gr.cellM, nx = gr.nx, ny = gr.ny, st = gr.start, it = gr.items;
  const fx0 = (px - gr.x0) / cs, fy0 = (py - gr.y0) / cs, fx1 = (qx - gr.x0) / cs, fy1 = (qy - gr.y0) / cs;
  if (!(fx0 >= 0 && fy0 >= 0 && fx1 >= 0 && fy1 >= 0 && fx0 < nx && fx1 < nx && fy0 < ny && fy1 < ny)) return segmentIsFree(idx, [px, py], [qx, qy]);
  let ix = MFloor(fx0), iy = MFloor(fy0);
  const ix1 = MFloor(fx1), iy1 = MFloor(fy1);
  const dx = fx1 - fx0, dy = fy1 - fy0;
  const stepX = dx > 0 ? 1 : dx < 0 ? -1 : 0, stepY = dy > 0 ? 1 : dy < 0 ? -1 : 0;
  const tDX = stepX !== 0 ? MAbs(1 / dx) : NEVER, tDY = stepY !== 0 ? MAbs(1 / dy) : NEVER;
  let tMX = stepX > 0 ? (ix + 1 - fx0) * tDX : stepX < 0 ? (fx0 - ix) * tDX : NEVER;
  let tMY = stepY > 0 ? (iy + 1 - fy0) * tDY : stepY < 0 ? (fy0 - iy) * tDY : NEVER;
  let guard = MAbs(ix1 - ix) + MAbs(iy1 - iy) + 2;
  for (;;) {
    const c = iy * nx + ix;
    for (let k = st[c], end = st[c + 1]; k < end; k++) {
      const e = it[k] * 4;
      if (segHit(px, py, qx, qy, E[e], E[e + 1], E[e + 2], E[e + 3])) return false;
    }
    if ((ix === ix1 && iy === iy1) || --guard < 0) break;
    if (tMX < tMY) { tMX += tDX; ix += stepX; } else { tMY += tDY; iy += stepY; }
    if (ix < 0 || iy < 0 || ix >= nx || iy >= ny) break;
  }
  return true;
}

/**
 * True when segment p–q is blocked: the same answer as crossesSolid(idx.solidGrid, …) ||
 * !segmentIsFreeFast(idx, …). Where the solid grid's cells are the edge grid's (as when the edges'
 * cells are 20 m or more), one walk does both: it stops at the first solid cell or the first edge
 * hit, whichever comes first along the segment.
 */
export function segmentBlocked(idx: RouteIndex, px: number, py: number, qx: number, qy: number): boolean {
  const gr = idx.edgeGrid, sg = idx.solidGrid;
  if (sg.cellM !== gr.cellM || sg.nx !== gr.nx || sg.ny !== gr.ny || sg.x0 !== gr.x0 || sg.y0 !== gr.y0) return crossesSolid(sg, px, py, qx, qy) || !segmentIsFreeFast(idx, px, py, qx, qy);
  const E = idx.edges, cs = gr.cellM, nx = gr.nx, ny = gr.ny, st = gr.start, it = gr.items, S = sg.solid;
  const fx0 = (px - gr.x0) / cs, fy0 = (py - gr.y0) / cs, fx1 = (qx - gr.x0) / cs, fy1 = (qy - gr.y0) / cs;
  if (!(fx0 >= 0 && fy0 >= 0 && fx1 >= 0 && fy1 >= 0 && fx0 < nx && fx1 < nx && fy0 < ny && fy1 < ny)) return !segmentIsFree(idx, [px, py], [qx, qy]);
  let ix = MFloor(fx0), iy = MFloor(fy0);
  const ix1 = MFloor(fx1), iy1 = MFloor(fy1);
  const dx = fx1 - fx0, dy = fy1 - fy0;
  const stepX = dx > 0 ? 1 : dx < 0 ? -1 : 0, stepY = dy > 0 ? 1 : dy < 0 ? -1 : 0;
  const tDX = stepX !== 0 ? MAbs(1 / dx) : NEVER, tDY = stepY !== 0 ? MAbs(1 / dy) : NEVER;
  let tMX = stepX > 0 ? (ix + 1 - fx0) * tDX : stepX < 0 ? (fx0 - ix) * tDX : NEVER;
  let tMY = stepY > 0 ? (iy + 1 - fy0) * tDY : stepY < 0 ? (fy0 - iy) * tDY : NEVER;
  let guard = MAbs(ix1 - ix) + MAbs(iy1 - iy) + 2;
  for (;;) {
    const c = iy * nx + ix;
    if (S[c]) return true;
    for (let k = st[c], end = st[c + 1]; k < end; k++) {
      const e = it[k] * 4;
      if (segHit(px, py, qx, qy, E[e], E[e + 1], E[e + 2], E[e + 3])) return true;
    }
    if ((ix === ix1 && iy === iy1) || --guard < 0) break;
    if (tMX < tMY) { tMX += tDX; ix += stepX; } else { tMY += tDY; iy += stepY; }
    if (ix < 0 || iy < 0 || ix >= nx || iy >= ny) break;
  }
  return false;
}
