/**
 * Grid A* over the same free space as the visibility graph (8-connected, no corner cutting):
 * the comparison baseline for the any-angle planner in tests and benchmarks.
 */
import TinyQueue from 'tinyqueue';
import { type XY } from './geo';
import { inFreeSpace, type RouteIndex } from './route';

export type GridPathResult = { ok: true; lengthM: number; path: XY[]; cells: number; expanded: number } | { ok: false; cells: number; expanded: number };

/** Shortest 8-connected grid path between the cells holding start and goal; cellM default 10. */
export function gridPath(idx: RouteIndex, start: XY, goal: XY, cellM = 10): GridPathResult {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const part of idx.areaParts) for (const [x, y] of part[0]) { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
  const W = Math.ceil((maxX - minX) / cellM) + 1, H = Math.ceil((maxY - minY) / cellM) + 1;
  const cells = W * H;
  const free = new Uint8Array(cells);
  for (let j = 0; j < H; j++) for (let i = 0; i < W; i++) free[j * W + i] = inFreeSpace(idx, [minX + i * cellM, minY + j * cellM]) ? 1 : 0;
  const cellOf = (p: XY) => Math.round((p[1] - minY) / cellM) * W + Math.round((p[0] - minX) / cellM);
  const s = cellOf(start), t = cellOf(goal);
  if (!free[s] || !free[t]) return { ok: false, cells, expanded: 0 };
  const tx = t % W, ty = Math.floor(t / W);
  const h = (c: number) => {
    const dx = Math.abs((c % W) - tx), dy = Math.abs(Math.floor(c / W) - ty);
    return cellM * (Math.max(dx, dy) + (Math.SQRT2 - 1) * Math.min(dx, dy));
  };
  const g = new Float64Array(cells).fill(Infinity);
  const parent = new Int32Array(cells).fill(-1);
  const closed = new Uint8Array(cells);
  const q = new TinyQueue<[number, number]>([], (a, b) => a[0] - b[0] || a[1] - b[1]);
  g[s] = 0;
  q.push([h(s), s]);
  let expanded = 0;
  while (q.length) {
    const [, c] = q.pop()!;
    if (closed[c]) continue;
    closed[c] = 1;
    if (c === t) break;
    expanded++;
    const cx = c % W, cy = Math.floor(c / W);
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      if (!dx && !dy) continue;
      const nx = cx + dx, ny = cy + dy;
      if (nx < 0 || ny < 0 || nx >= W || ny >= H) continue;
      const n = ny * W + nx;
      if (!free[n] || closed[n]) continue;
      if (dx && dy && (!free[cy * W + nx] || !free[ny * W + cx])) continue;
      const ng = g[c] + (dx && dy ? Math.SQRT2 * cellM : cellM);
      if (ng < g[n]) { g[n] = ng; parent[n] = c; q.push([ng + h(n), n]); }
    }
  }
  if (!Number.isFinite(g[t])) return { ok: false, cells, expanded };
  const path: XY[] = [];
  for (let c = t; c !== -1; c = parent[c]) path.push([minX + (c % W) * cellM, minY + Math.floor(c / W) * cellM]);
  path.reverse();
  const startLeg = Math.hypot(path[0][0] - start[0], path[0][1] - start[1]);
  const endLeg = Math.hypot(path[path.length - 1][0] - goal[0], path[path.length - 1][1] - goal[1]);
  return { ok: true, lengthM: g[t] + startLeg + endLeg, path: [start, ...path, goal], cells, expanded };
}
