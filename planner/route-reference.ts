/**
 * The reference route search: exact and slow (every node scanned per expansion), kept as the
 * baseline the fast search (`route-search.ts`) is measured and tested against.
 */
import TinyQueue from 'tinyqueue';
import { dist, type XY } from './geo';
import { inFreeSpace, type RouteIndex } from './route-index';
import { segmentIsFree } from './segment-check';
import type { FindPathOptions, FindPathResult } from './route-search';

// Math's functions held in module constants: global lookups are slow where the module runs in
// a vm context (jest), and these run in the search's inner loops.
const { sqrt: MSqrt } = Math;

/** sqrt(x² + y²) without Math.hypot's overflow care (several times slower), for metres in a local frame. */
function MHypot(x: number, y: number): number {
  return MSqrt(x * x + y * y);
}

/**
 * The reference search: A* over every candidate node, each expansion scanning all nodes (pruned by
 * the bitangent rule, checked against the obstacles when they would improve a node). Exact but
 * O(nodes) per expansion; kept as the baseline that findPath is measured and tested against.
 */
export function findPathFullScan(idx: RouteIndex, start: XY, goal: XY, opts: FindPathOptions = {}): FindPathResult {
  const useIndex = opts.useIndex ?? true;
  let segmentChecks = 0;
  if (!inFreeSpace(idx, start)) return { ok: false, reason: 'START_BLOCKED', expanded: 0, segmentChecks };
  if (!inFreeSpace(idx, goal)) return { ok: false, reason: 'GOAL_BLOCKED', expanded: 0, segmentChecks };
  segmentChecks++;
  if (segmentIsFree(idx, start, goal, useIndex)) return { ok: true, path: [start, goal], lengthM: dist(start, goal), expanded: 0, segmentChecks };

  const N = idx.nodeCount;
  const S = N, G = N + 1, total = N + 2;
  const X = new Float64Array(total), Y = new Float64Array(total);
  X.set(idx.nodeX); Y.set(idx.nodeY);
  X[S] = start[0]; Y[S] = start[1]; X[G] = goal[0]; Y[G] = goal[1];
  const g = new Float64Array(total).fill(Infinity);
  const parent = new Int32Array(total).fill(-1);
  const closed = new Uint8Array(total);
  const h = (i: number) => MHypot(X[i] - goal[0], Y[i] - goal[1]);
  const queue = new TinyQueue<[number, number]>([], (a, b) => a[0] - b[0] || a[1] - b[1]);
  g[S] = 0;
  queue.push([h(S), S]);
  let expanded = 0;
  // tangent test at a corner node v for the line through u: both ring neighbours on one side
  const tangentAt = (v: number, ux: number, uy: number): boolean => {
    if (v >= N) return true;
    const cx = idx.cornerX[v], cy = idx.cornerY[v];
    const sa = (cx - ux) * (idx.prevY[v] - uy) - (cy - uy) * (idx.prevX[v] - ux);
    const sb = (cx - ux) * (idx.nextY[v] - uy) - (cy - uy) * (idx.nextX[v] - ux);
    return sa * sb >= 0;
  };
  while (queue.length > 0) {
    const [f, u] = queue.pop()!;
    if (closed[u]) continue;
    if (f > g[u] + h(u) + 1e-9) continue; // stale
    closed[u] = 1;
    if (u === G) break;
    expanded++;
    const ux = X[u], uy = Y[u];
    for (let v = 0; v < total; v++) {
      if (v === u || closed[v] || v === S) continue;
      const d = MHypot(X[v] - ux, Y[v] - uy);
      const tentative = g[u] + d;
      if (tentative >= g[v] - 1e-9) continue;
      if (!tangentAt(v, ux, uy) || !tangentAt(u, X[v], Y[v])) continue;
      segmentChecks++;
      if (!segmentIsFree(idx, [ux, uy], [X[v], Y[v]], useIndex)) continue;
      g[v] = tentative;
      parent[v] = u;
      queue.push([tentative + h(v), v]);
    }
  }
  if (!Number.isFinite(g[G])) return { ok: false, reason: 'NO_PATH', expanded, segmentChecks };
  const path: XY[] = [];
  for (let v = G; v !== -1; v = parent[v]) path.push(v === S ? start : v === G ? goal : [X[v], Y[v]]);
  path.reverse();
  return { ok: true, path, lengthM: g[G], expanded, segmentChecks };
}
