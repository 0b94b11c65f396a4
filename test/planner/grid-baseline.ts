/**
 * The grid baseline for tests and the benchmark: A* from npm `pathfinding` (8-connected, no
 * corner cutting, octile heuristic) over 10 m cells of the same free space as the planner's
 * route index. A cell is walkable only when its whole square is free (centre in free space and no
 * obstacle or area edge crossing it), so every grid path, with its legs from the start and to the
 * goal inside their cells, is a polyline in free space: the exact any-angle optimum can never be
 * longer.
 */
import PF from 'pathfinding';
import type { XY } from '../../planner/geo';
import { inFreeSpace, type RouteIndex } from '../../planner/route';

export interface GridRaster { grid: PF.Grid; x0: number; y0: number; cellM: number; width: number; height: number; buildMs: number }

export function rasterise(idx: RouteIndex, cellM = 10): GridRaster {
  const t0 = performance.now();
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const part of idx.areaParts) for (const [x, y] of part[0]) { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
  const width = Math.ceil((maxX - minX) / cellM) + 1, height = Math.ceil((maxY - minY) / cellM) + 1;
  const E = idx.edges;
  const grid = new PF.Grid(width, height);
  const h = cellM / 2;
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const cx = minX + i * cellM, cy = minY + j * cellM;
      let free = inFreeSpace(idx, [cx, cy]);
      if (free) {
        free = !idx.edgeIndex.collides(cx - h, cy - h, cx + h, cy + h, (e) => e < idx.edgeCount && segmentTouchesBox(E[e * 4], E[e * 4 + 1], E[e * 4 + 2], E[e * 4 + 3], cx - h, cy - h, cx + h, cy + h));
      }
      if (!free) grid.setWalkableAt(i, j, false);
    }
  }
  return { grid, x0: minX, y0: minY, cellM, width, height, buildMs: performance.now() - t0 };
}

/** Liang–Barsky clip: does segment a–b meet the closed box? */
function segmentTouchesBox(ax: number, ay: number, bx: number, by: number, x0: number, y0: number, x1: number, y1: number): boolean {
  let t0 = 0, t1 = 1;
  const dx = bx - ax, dy = by - ay;
  const p = [-dx, dx, -dy, dy], q = [ax - x0, x1 - ax, ay - y0, y1 - ay];
  for (let k = 0; k < 4; k++) {
    if (p[k] === 0) { if (q[k] < 0) return false; continue; }
    const r = q[k] / p[k];
    if (p[k] < 0) { if (r > t1) return false; if (r > t0) t0 = r; } else { if (r < t0) return false; if (r < t1) t1 = r; }
  }
  return true;
}

export type GridPathResult = { ok: true; lengthM: number; path: XY[]; ms: number } | { ok: false; ms: number };

/** Grid A* start → goal (local metres) on a raster; includes the legs to and from the cell centres. */
export function gridShortestPath(r: GridRaster, start: XY, goal: XY): GridPathResult {
  const t0 = performance.now();
  const cell = (p: XY): [number, number] => [Math.round((p[0] - r.x0) / r.cellM), Math.round((p[1] - r.y0) / r.cellM)];
  const [si, sj] = cell(start), [gi, gj] = cell(goal);
  const inside = (i: number, j: number) => i >= 0 && j >= 0 && i < r.width && j < r.height;
  if (!inside(si, sj) || !inside(gi, gj) || !r.grid.isWalkableAt(si, sj) || !r.grid.isWalkableAt(gi, gj)) return { ok: false, ms: performance.now() - t0 };
  const finder = new PF.AStarFinder({ diagonalMovement: PF.DiagonalMovement.OnlyWhenNoObstacles, heuristic: PF.Heuristic.octile });
  const cells = finder.findPath(si, sj, gi, gj, r.grid.clone());
  const ms = performance.now() - t0;
  if (cells.length === 0) return { ok: false, ms };
  const path: XY[] = [start, ...cells.map(([i, j]) => [r.x0 + i * r.cellM, r.y0 + j * r.cellM] as XY), goal];
  let lengthM = 0;
  for (let k = 1; k < path.length; k++) lengthM += Math.hypot(path[k][0] - path[k - 1][0], path[k][1] - path[k - 1][1]);
  return { ok: true, lengthM, path, ms };
}
