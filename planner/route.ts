/**
 * Any-angle shortest safe paths: a visibility graph over the no-fly zones buffered by their
 * clearance and the operating area shrunk by its margin, searched with A* (tinyqueue), with a
 * flatbush index over obstacle edges for the segment-vs-obstacle checks.
 *
 * Geometry is done in a local equirectangular frame (metres). Buffers never undershoot: Turf's
 * buffer puts its arc vertices on the circle, so its chords come as close as r·cos(π/4q) (q
 * segments per quadrant); the radius is inflated by 1/cos(π/4q), then by a safety margin.
 */
import { buffer } from '@turf/turf';
import Flatbush from 'flatbush';
import TinyQueue from 'tinyqueue';
import type { Feature, MultiPolygon, Polygon } from 'geojson';
import { closeRing, cross, dist, pointInPolygon, ringSignedArea, segmentsIntersect, type LocalProjection, type PolygonXY, type XY } from './geo';
import type { ParsedZones, PolygonLonLat } from './zones';

export interface RouteIndexOptions {
  /** Clearance from no-fly zones without their own `clearanceM`, metres. Default 30. */
  clearanceM?: number;
  /** How far inside the operating area's edge the route stays, metres. Default 20. */
  areaMarginM?: number;
  /** Arc segments per quadrant for buffers. Default 4. */
  bufferSteps?: number;
  /** Extra safety added to every buffer radius, metres; plus `safetyPct` of the radius. Default 0.5. */
  safetyM?: number;
  /** Default 0.5 (%): covers the local projection's scale error at county scale. */
  safetyPct?: number;
}

export interface Obstacle {
  /** Index into ParsedZones.noFly. */
  zone: number;
  polygon: PolygonXY;
  minX: number; minY: number; maxX: number; maxY: number;
}

export interface RouteIndex {
  projection: LocalProjection;
  options: Required<RouteIndexOptions>;
  /** Buffered no-fly polygons. */
  obstacles: Obstacle[];
  /** The operating area shrunk by its margin (may split into parts). */
  areaParts: PolygonXY[];
  /** Flat edge list: x1, y1, x2, y2 per edge. */
  edges: Float64Array;
  edgeCount: number;
  edgeIndex: Flatbush;
  obstacleIndex: Flatbush | null;
  /** Candidate graph nodes: position, then the original corner and its ring neighbours (tangent test). */
  nodeX: Float64Array; nodeY: Float64Array;
  cornerX: Float64Array; cornerY: Float64Array;
  prevX: Float64Array; prevY: Float64Array; nextX: Float64Array; nextY: Float64Array;
  nodeCount: number;
  /** The buffer radius actually used per zone (after inflation), metres. */
  bufferRadiusM: number[];
}

export const DEFAULT_ROUTE_OPTIONS: Required<RouteIndexOptions> = { clearanceM: 30, areaMarginM: 20, bufferSteps: 4, safetyM: 0.5, safetyPct: 0.5 };

/** How far graph nodes sit off the obstacle corners, metres. */
const NODE_OFFSET_M = 0.05;

export function inflatedRadiusM(r: number, o: Required<RouteIndexOptions>): number {
  if (r <= 0) return o.safetyM;
  return (r / Math.cos(Math.PI / (4 * o.bufferSteps))) * (1 + o.safetyPct / 100) + o.safetyM;
}

function toGeo(poly: PolygonLonLat): Polygon {
  return { type: 'Polygon', coordinates: poly.map((r) => closeRing(r)) };
}

function bufferedXY(poly: PolygonLonLat, radiusM: number, steps: number, proj: LocalProjection): PolygonXY[] {
  const f = buffer(toGeo(poly), radiusM, { units: 'meters', steps }) as Feature<Polygon | MultiPolygon> | undefined;
  if (!f || !f.geometry) return [];
  const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
  const out: PolygonXY[] = [];
  for (const p of polys) {
    if (!p.length || p[0].length < 4) continue;
    const rings = p.map((r, k) => {
      const open = r.slice(0, r.length - 1).map((c) => proj.toXY([c[0], c[1]]));
      const ccw = ringSignedArea(open) > 0;
      if ((k === 0) !== ccw) open.reverse();
      return open;
    });
    out.push(rings);
  }
  return out;
}

function projectPolygon(poly: PolygonLonLat, proj: LocalProjection): PolygonXY {
  return poly.map((r) => r.map((c) => proj.toXY(c)));
}

export function buildRouteIndex(zones: ParsedZones, proj: LocalProjection, options: RouteIndexOptions = {}): RouteIndex {
  const o: Required<RouteIndexOptions> = { ...DEFAULT_ROUTE_OPTIONS, ...options };
  const obstacles: Obstacle[] = [];
  const bufferRadiusM: number[] = [];
  zones.noFly.forEach((z, zi) => {
    const r = inflatedRadiusM(z.clearanceM ?? o.clearanceM, o);
    bufferRadiusM.push(r);
    for (const part of z.polygons) {
      for (const poly of bufferedXY(part, r, o.bufferSteps, proj)) {
        let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
        for (const [x, y] of poly[0]) { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
        obstacles.push({ zone: zi, polygon: poly, minX, minY, maxX, maxY });
      }
    }
  });
  const areaParts = o.areaMarginM > 0
    ? bufferedXY(zones.area.polygon, -inflatedRadiusM(o.areaMarginM, o), o.bufferSteps, proj)
    : [projectPolygon(zones.area.polygon, proj)];

  // rings with the side that is solid: obstacle outers and area holes are solid inside
  const rings: { pts: XY[]; solidInside: boolean }[] = [];
  for (const ob of obstacles) ob.polygon.forEach((r, k) => rings.push({ pts: r, solidInside: k === 0 }));
  for (const part of areaParts) part.forEach((r, k) => rings.push({ pts: r, solidInside: k !== 0 }));

  let edgeCount = 0;
  for (const r of rings) edgeCount += r.pts.length;
  const edges = new Float64Array(edgeCount * 4);
  const edgeIndex = new Flatbush(Math.max(1, edgeCount));
  let e = 0;
  for (const r of rings) {
    const n = r.pts.length;
    for (let i = 0; i < n; i++) {
      const a = r.pts[i], b = r.pts[(i + 1) % n];
      edges.set([a[0], a[1], b[0], b[1]], e * 4);
      edgeIndex.add(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1]));
      e++;
    }
  }
  if (edgeCount === 0) edgeIndex.add(0, 0, 0, 0);
  edgeIndex.finish();

  let obstacleIndex: Flatbush | null = null;
  if (obstacles.length > 0) {
    obstacleIndex = new Flatbush(obstacles.length);
    for (const ob of obstacles) obstacleIndex.add(ob.minX, ob.minY, ob.maxX, ob.maxY);
    obstacleIndex.finish();
  }

  const partial: Omit<RouteIndex, 'nodeX' | 'nodeY' | 'cornerX' | 'cornerY' | 'prevX' | 'prevY' | 'nextX' | 'nextY' | 'nodeCount'> = {
    projection: proj, options: o, obstacles, areaParts, edges, edgeCount, edgeIndex, obstacleIndex, bufferRadiusM,
  };

  const cand: number[][] = [];
  for (const r of rings) {
    const n = r.pts.length;
    const ccw = ringSignedArea(r.pts) > 0;
    for (let i = 0; i < n; i++) {
      const a = r.pts[(i + n - 1) % n], v = r.pts[i], b = r.pts[(i + 1) % n];
      let c = cross(a, v, b);
      if (!ccw) c = -c;
      const isCandidate = r.solidInside ? c > 0 : c < 0;
      if (!isCandidate) continue;
      const la = dist(a, v), lb = dist(b, v);
      if (la === 0 || lb === 0) continue;
      let dx = -((a[0] - v[0]) / la + (b[0] - v[0]) / lb);
      let dy = -((a[1] - v[1]) / la + (b[1] - v[1]) / lb);
      const ld = Math.hypot(dx, dy);
      if (ld < 1e-9) continue;
      dx /= ld; dy /= ld;
      const p: XY = [v[0] + dx * NODE_OFFSET_M, v[1] + dy * NODE_OFFSET_M];
      if (!inFreeSpace(partial as RouteIndex, p)) continue;
      cand.push([p[0], p[1], v[0], v[1], a[0], a[1], b[0], b[1]]);
    }
  }
  const N = cand.length;
  const arr = () => new Float64Array(N);
  const idx: RouteIndex = { ...partial, nodeX: arr(), nodeY: arr(), cornerX: arr(), cornerY: arr(), prevX: arr(), prevY: arr(), nextX: arr(), nextY: arr(), nodeCount: N };
  cand.forEach((c, i) => {
    idx.nodeX[i] = c[0]; idx.nodeY[i] = c[1]; idx.cornerX[i] = c[2]; idx.cornerY[i] = c[3];
    idx.prevX[i] = c[4]; idx.prevY[i] = c[5]; idx.nextX[i] = c[6]; idx.nextY[i] = c[7];
  });
  return idx;
}

/** Inside the shrunk operating area and outside every buffered no-fly zone. */
export function inFreeSpace(idx: RouteIndex, p: XY): boolean {
  if (!idx.areaParts.some((part) => pointInPolygon(p, part))) return false;
  return obstacleAt(idx, p) < 0;
}

/** Index of a buffered obstacle containing p, or -1. */
export function obstacleAt(idx: RouteIndex, p: XY): number {
  if (!idx.obstacleIndex) return -1;
  const hits = idx.obstacleIndex.search(p[0], p[1], p[0], p[1]);
  hits.sort((a, b) => a - b);
  for (const h of hits) if (pointInPolygon(p, idx.obstacles[h].polygon)) return h;
  return -1;
}

export interface EdgeCheckStats { edgeChecks: number }

/** True when the segment p–q touches no obstacle or area edge. */
export function segmentIsFree(idx: RouteIndex, p: XY, q: XY, useIndex = true): boolean {
  const E = idx.edges;
  if (useIndex) {
    return !idx.edgeIndex.collides(Math.min(p[0], q[0]), Math.min(p[1], q[1]), Math.max(p[0], q[0]), Math.max(p[1], q[1]), (i) =>
      i < idx.edgeCount && segmentsIntersect(p, q, [E[i * 4], E[i * 4 + 1]], [E[i * 4 + 2], E[i * 4 + 3]]));
  }
  for (let i = 0; i < idx.edgeCount; i++) {
    if (segmentsIntersect(p, q, [E[i * 4], E[i * 4 + 1]], [E[i * 4 + 2], E[i * 4 + 3]])) return false;
  }
  return true;
}

export interface FindPathOptions {
  /** Use the flatbush edge index for segment checks (default true); false = brute force, for benchmarks. */
  useIndex?: boolean;
}

export type FindPathResult =
  | { ok: true; path: XY[]; lengthM: number; expanded: number; segmentChecks: number }
  | { ok: false; reason: 'START_BLOCKED' | 'GOAL_BLOCKED' | 'NO_PATH'; expanded: number; segmentChecks: number };

/**
 * Shortest path start → goal in the local frame. Both points must be in free space. Lazy
 * visibility: neighbours are generated on expansion, pruned by the bitangent rule, and checked
 * against the obstacles only when they would improve a node.
 */
export function findPath(idx: RouteIndex, start: XY, goal: XY, opts: FindPathOptions = {}): FindPathResult {
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
  const h = (i: number) => Math.hypot(X[i] - goal[0], Y[i] - goal[1]);
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
      const d = Math.hypot(X[v] - ux, Y[v] - uy);
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
