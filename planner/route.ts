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
import { bufferRing } from './buffer';
import { HUGE_RING_VERTICES, simplifyOutward } from './simplify-outward';
import { buildOccluders, Occlusion, OCCLUSION_STRIDE, type OccluderIndex } from './occluders';
import { closeRing, cross, dist, pointInPolygon, ringSignedArea, segmentsIntersect, type LocalProjection, type PolygonXY, type XY } from './geo';
import type { ParsedZones, PolygonLonLat } from './zones';

// Math's functions held in module constants: global lookups are slow where the module runs in
// a vm context (jest), and these run in the search's inner loops.
const { round: MRound, floor: MFloor, sqrt: MSqrt, min: MMin, max: MMax, abs: MAbs, sign: MSign, cos: MCos, sin: MSin, atan2: MAtan2, ceil: MCeil } = Math;

/** sqrt(x² + y²) without Math.hypot's overflow care (several times slower), for metres in a local frame. */
function MHypot(x: number, y: number): number {
  return MSqrt(x * x + y * y);
}

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
  /** Uniform grid over the edges (CSR: cell → edge ids), for walking long segments. */
  edgeGrid: EdgeGrid;
  /** Coarse cells lying wholly in an obstacle (or outside the area): any segment through one is blocked. */
  solidGrid: SolidGrid;
  /** Flatbush over the node positions (null without nodes). */
  nodeIndex: Flatbush | null;
  /** Uniform grid over the node positions, for cone queries. */
  nodeGrid: NodeGrid;
  /** The buffer radius actually used per zone (after inflation), metres. */
  bufferRadiusM: number[];
  /** Disks inside the obstacles: candidate edges through them are dropped before they are queued. */
  occluders: OccluderIndex;
  /** What the disks hide from each node in each of its wedges (`buildOcclusionTable`). */
  occlusion: Uint16Array;
}

export interface EdgeGrid { x0: number; y0: number; cellM: number; nx: number; ny: number; start: Int32Array; items: Int32Array }

export interface SolidGrid { x0: number; y0: number; cellM: number; nx: number; ny: number; solid: Uint8Array }

/** Side of the solid grid's cells, metres (more when the field is large: at most ~250,000 cells). */
const SOLID_CELL_M = 20;

/**
 * Marks the cells of a coarse grid that lie wholly in the solid. A cell is edge-free when none of
 * the fine edge-grid cells it covers lists an edge (edges are listed by their bounding boxes, so
 * this errs towards "not edge-free"); an edge-free cell is wholly on one side, and neighbouring
 * edge-free cells in a row share their side, so one free-space test per run of them decides.
 */
function buildSolidGrid(idx: Omit<RouteIndex, 'solidGrid' | 'nodeX' | 'nodeY' | 'cornerX' | 'cornerY' | 'prevX' | 'prevY' | 'nextX' | 'nextY' | 'nodeCount' | 'nodeIndex' | 'nodeGrid' | 'occlusion'>): SolidGrid {
  const eg = idx.edgeGrid;
  const x0 = eg.x0, y0 = eg.y0;
  // whole fine cells per coarse cell, about SOLID_CELL_M, at most ~250,000 coarse cells
  const k = MMax(1, MRound(SOLID_CELL_M / eg.cellM), MCeil(MSqrt((eg.nx * eg.ny) / 250_000)));
  const cellM = k * eg.cellM;
  const nx = MMax(1, MFloor(eg.nx / k)), ny = MMax(1, MFloor(eg.ny / k));
  const solid = new Uint8Array(nx * ny);
  for (let j = 0; j < ny; j++) {
    let run = -1; // side of the current run of edge-free cells: -1 none yet, 0 free, 1 solid
    for (let i = 0; i < nx; i++) {
      let edgeFree = true;
      for (let fj = j * k; fj < (j + 1) * k && edgeFree; fj++) if (eg.start[fj * eg.nx + (i + 1) * k] - eg.start[fj * eg.nx + i * k] > 0) edgeFree = false;
      if (!edgeFree) { run = -1; continue; }
      if (run < 0) run = inFreeSpace(idx as RouteIndex, [x0 + (i + 0.5) * cellM, y0 + (j + 0.5) * cellM]) ? 0 : 1;
      solid[j * nx + i] = run;
    }
  }
  return { x0, y0, cellM, nx, ny, solid };
}

/** True when segment p–q passes through a solid cell: then it is blocked (its ends lie in free space). */
function crossesSolid(g: SolidGrid, px: number, py: number, qx: number, qy: number): boolean {
  const cs = g.cellM, nx = g.nx, ny = g.ny, S = g.solid;
  const fx0 = (px - g.x0) / cs, fy0 = (py - g.y0) / cs, fx1 = (qx - g.x0) / cs, fy1 = (qy - g.y0) / cs;
  if (!(fx0 >= 0 && fy0 >= 0 && fx1 >= 0 && fy1 >= 0 && fx0 < nx && fx1 < nx && fy0 < ny && fy1 < ny)) return false;
  let ix = MFloor(fx0), iy = MFloor(fy0);
  const ix1 = MFloor(fx1), iy1 = MFloor(fy1);
  const dx = fx1 - fx0, dy = fy1 - fy0;
  const stepX = dx > 0 ? 1 : dx < 0 ? -1 : 0, stepY = dy > 0 ? 1 : dy < 0 ? -1 : 0;
  const tDX = stepX !== 0 ? MAbs(1 / dx) : Infinity, tDY = stepY !== 0 ? MAbs(1 / dy) : Infinity;
  let tMX = stepX > 0 ? (ix + 1 - fx0) * tDX : stepX < 0 ? (fx0 - ix) * tDX : Infinity;
  let tMY = stepY > 0 ? (iy + 1 - fy0) * tDY : stepY < 0 ? (fy0 - iy) * tDY : Infinity;
  let guard = MAbs(ix1 - ix) + MAbs(iy1 - iy) + 2;
  for (;;) {
    if (S[iy * nx + ix]) return true;
    if ((ix === ix1 && iy === iy1) || --guard < 0) return false;
    if (tMX < tMY) { tMX += tDX; ix += stepX; } else { tMY += tDY; iy += stepY; }
    if (ix < 0 || iy < 0 || ix >= nx || iy >= ny) return false;
  }
}

/** Target edges per grid cell. */
const EDGES_PER_CELL = 2;

function buildEdgeGrid(edges: Float64Array, edgeCount: number): EdgeGrid {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, total = 0;
  for (let i = 0; i < edgeCount; i++) {
    const ax = edges[i * 4], ay = edges[i * 4 + 1], bx = edges[i * 4 + 2], by = edges[i * 4 + 3];
    x0 = MMin(x0, ax, bx); y0 = MMin(y0, ay, by); x1 = MMax(x1, ax, bx); y1 = MMax(y1, ay, by);
    total += MHypot(bx - ax, by - ay);
  }
  if (edgeCount === 0) return { x0: 0, y0: 0, cellM: 1, nx: 1, ny: 1, start: new Int32Array(2), items: new Int32Array(0) };
  x0 -= 1; y0 -= 1; x1 += 1; y1 += 1;
  // cells about as long as a few edges, at most ~4 M cells
  const area = (x1 - x0) * (y1 - y0);
  const cellM = MMax((total / edgeCount) * EDGES_PER_CELL, MSqrt(area / 4e6), 1);
  const nx = MCeil((x1 - x0) / cellM) + 1, ny = MCeil((y1 - y0) / cellM) + 1;
  const count = new Int32Array(nx * ny + 1);
  const EPS = 0.01;
  const range = (i: number, f: (c: number) => void) => {
    const ax = edges[i * 4], ay = edges[i * 4 + 1], bx = edges[i * 4 + 2], by = edges[i * 4 + 3];
    const cx0 = MMax(0, MFloor((MMin(ax, bx) - EPS - x0) / cellM)), cx1 = MMin(nx - 1, MFloor((MMax(ax, bx) + EPS - x0) / cellM));
    const cy0 = MMax(0, MFloor((MMin(ay, by) - EPS - y0) / cellM)), cy1 = MMin(ny - 1, MFloor((MMax(ay, by) + EPS - y0) / cellM));
    for (let cy = cy0; cy <= cy1; cy++) for (let cx = cx0; cx <= cx1; cx++) f(cy * nx + cx);
  };
  for (let i = 0; i < edgeCount; i++) range(i, (c) => { count[c + 1]++; });
  for (let c = 0; c < nx * ny; c++) count[c + 1] += count[c];
  const items = new Int32Array(count[nx * ny]);
  const fill = count.slice(0, nx * ny);
  for (let i = 0; i < edgeCount; i++) range(i, (c) => { items[fill[c]++] = i; });
  return { x0, y0, cellM, nx, ny, start: count, items };
}

export const DEFAULT_ROUTE_OPTIONS: Required<RouteIndexOptions> = { clearanceM: 30, areaMarginM: 20, bufferSteps: 4, safetyM: 0.5, safetyPct: 0.5 };

/** How far graph nodes sit off the obstacle corners, metres. */
const NODE_OFFSET_M = 0.05;

export function inflatedRadiusM(r: number, o: Required<RouteIndexOptions>): number {
  if (r <= 0) return o.safetyM;
  return (r / MCos(Math.PI / (4 * o.bufferSteps))) * (1 + o.safetyPct / 100) + o.safetyM;
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

/**
 * A no-fly part buffered by its (inflated) radius: computed in the local frame (planner/buffer.ts)
 * for a polygon without holes, with Turf's buffer for polygons with holes or where that
 * construction does not pass its own check. `clearM`: the clearance every edge must keep.
 */
function bufferedPart(poly: PolygonLonLat, radiusM: number, clearM: number, steps: number, proj: LocalProjection): PolygonXY[] {
  if (poly.some((r) => r.length > HUGE_RING_VERTICES)) {
    // a huge ring: buffer a coarse ring containing the part (holes filled) instead, by the
    // clearance plus the distance the coarse ring may lie inside the part's outline
    const q = simplifyOutward(poly[0].map((c) => proj.toXY(c)), MMax(0.5, clearM / 8));
    const b = bufferRing(q.ring, radiusM + q.growthM, steps, clearM + q.growthM);
    if (b) return [b];
    return bufferedXY([q.ring.map((p) => proj.toLonLat(p))], radiusM + q.growthM, steps, proj);
  }
  if (poly.length === 1) {
    const ring = poly[0].map((c) => proj.toXY(c));
    const b = bufferRing(ringSignedArea(ring) > 0 ? ring : ring.reverse(), radiusM, steps, clearM);
    if (b) return [b];
  }
  return bufferedXY(poly, radiusM, steps, proj);
}

function projectPolygon(poly: PolygonLonLat, proj: LocalProjection): PolygonXY {
  return poly.map((r) => r.map((c) => proj.toXY(c)));
}

export function buildRouteIndex(zones: ParsedZones, proj: LocalProjection, options: RouteIndexOptions = {}): RouteIndex {
  const o: Required<RouteIndexOptions> = { ...DEFAULT_ROUTE_OPTIONS, ...options };
  const obstacles: Obstacle[] = [];
  const bufferRadiusM: number[] = [];
  zones.noFly.forEach((z, zi) => {
    const c = z.clearanceM ?? o.clearanceM;
    const r = inflatedRadiusM(c, o);
    bufferRadiusM.push(r);
    for (const part of z.polygons) {
      for (const poly of bufferedPart(part, r, c, o.bufferSteps, proj)) {
        let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
        for (const [x, y] of poly[0]) { minX = MMin(minX, x); minY = MMin(minY, y); maxX = MMax(maxX, x); maxY = MMax(maxY, y); }
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
  const edgeIndex = new Flatbush(MMax(1, edgeCount));
  let e = 0;
  for (const r of rings) {
    const n = r.pts.length;
    for (let i = 0; i < n; i++) {
      const a = r.pts[i], b = r.pts[(i + 1) % n];
      edges.set([a[0], a[1], b[0], b[1]], e * 4);
      edgeIndex.add(MMin(a[0], b[0]), MMin(a[1], b[1]), MMax(a[0], b[0]), MMax(a[1], b[1]));
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

  const partial: Omit<RouteIndex, 'solidGrid' | 'nodeX' | 'nodeY' | 'cornerX' | 'cornerY' | 'prevX' | 'prevY' | 'nextX' | 'nextY' | 'nodeCount' | 'nodeIndex' | 'nodeGrid' | 'occlusion'> = {
    projection: proj, options: o, obstacles, areaParts, edges, edgeCount, edgeIndex, obstacleIndex, bufferRadiusM, edgeGrid: buildEdgeGrid(edges, edgeCount),
    occluders: buildOccluders(obstacles),
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
      const ld = MHypot(dx, dy);
      if (ld < 1e-9) continue;
      dx /= ld; dy /= ld;
      const p: XY = [v[0] + dx * NODE_OFFSET_M, v[1] + dy * NODE_OFFSET_M];
      if (!inFreeSpace(partial as RouteIndex, p)) continue;
      cand.push([p[0], p[1], v[0], v[1], a[0], a[1], b[0], b[1]]);
    }
  }
  const N = cand.length;
  const arr = () => new Float64Array(N);
  let nodeIndex: Flatbush | null = null;
  if (N > 0) {
    nodeIndex = new Flatbush(N);
    for (const c of cand) nodeIndex.add(c[0], c[1], c[0], c[1]);
    nodeIndex.finish();
  }
  const idx: RouteIndex = { ...partial, nodeX: arr(), nodeY: arr(), cornerX: arr(), cornerY: arr(), prevX: arr(), prevY: arr(), nextX: arr(), nextY: arr(), nodeCount: N, nodeIndex,
    nodeGrid: buildNodeGrid(new Float64Array(0), new Float64Array(0), 0), solidGrid: { x0: 0, y0: 0, cellM: 1, nx: 0, ny: 0, solid: new Uint8Array(0) }, occlusion: new Uint16Array(0) };
  cand.forEach((c, i) => {
    idx.nodeX[i] = c[0]; idx.nodeY[i] = c[1]; idx.cornerX[i] = c[2]; idx.cornerY[i] = c[3];
    idx.prevX[i] = c[4]; idx.prevY[i] = c[5]; idx.nextX[i] = c[6]; idx.nextY[i] = c[7];
  });
  idx.nodeGrid = buildNodeGrid(idx.nodeX, idx.nodeY, N);
  const D = (idx.nodeGrid.data = new Float64Array(N * 8));
  idx.nodeGrid.items.forEach((w, t) => D.set([idx.nodeX[w], idx.nodeY[w], idx.cornerX[w], idx.cornerY[w], idx.prevX[w], idx.prevY[w], idx.nextX[w], idx.nextY[w]], t * 8));
  const TB = (idx.nodeGrid.tangentBins = new Int32Array(N));
  idx.nodeGrid.items.forEach((w, t) => { TB[t] = tangentBinsOf(idx.cornerX[w], idx.cornerY[w], idx.prevX[w], idx.prevY[w], idx.nextX[w], idx.nextY[w]); });
  idx.solidGrid = buildSolidGrid(partial);
  idx.occlusion = buildOcclusionTable(idx);
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
    return !idx.edgeIndex.collides(MMin(p[0], q[0]), MMin(p[1], q[1]), MMax(p[0], q[0]), MMax(p[1], q[1]), (i) =>
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
  /** Use the occluders (default true); false = the search without them, the benchmark's baseline (same result). */
  occluders?: boolean;
}

export type FindPathResult =
  | { ok: true; path: XY[]; lengthM: number; expanded: number; segmentChecks: number }
  | { ok: false; reason: 'START_BLOCKED' | 'GOAL_BLOCKED' | 'NO_PATH'; expanded: number; segmentChecks: number };

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
  const tDX = stepX !== 0 ? MAbs(1 / dx) : Infinity, tDY = stepY !== 0 ? MAbs(1 / dy) : Infinity;
  let tMX = stepX > 0 ? (ix + 1 - fx0) * tDX : stepX < 0 ? (fx0 - ix) * tDX : Infinity;
  let tMY = stepY > 0 ? (iy + 1 - fy0) * tDY : stepY < 0 ? (fy0 - iy) * tDY : Infinity;
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
 * heap's shape).
 */
class EntryHeap {
  f = new Float64Array(1024);
  g = new Float64Array(1024);
  node = new Int32Array(1024);
  parent = new Int32Array(1024);
  private heap = new Int32Array(1024);
  private entries = 0;
  size = 0;

  clear(): void { this.entries = 0; this.size = 0; }

  add(f: number, g: number, node: number, parent: number): void {
    if (this.entries === this.f.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T): T => { const b = new (a.constructor as { new(n: number): T })(a.length * 2); b.set(a); return b; };
      this.f = grow(this.f); this.g = grow(this.g); this.node = grow(this.node); this.parent = grow(this.parent);
    }
    const e = this.entries++;
    this.f[e] = f; this.g[e] = g; this.node[e] = node; this.parent[e] = parent;
    if (this.size === this.heap.length) { const h = new Int32Array(this.heap.length * 2); h.set(this.heap); this.heap = h; }
    const H = this.heap, F = this.f;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1, q = H[p];
      if (F[q] < f || (F[q] === f && q < e)) break;
      H[i] = q;
      i = p;
    }
    H[i] = e;
  }

  pop(): number {
    const H = this.heap, F = this.f;
    const top = H[0];
    const last = H[--this.size];
    const n = this.size;
    if (n > 0) {
      const fl = F[last];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        const r = c + 1;
        if (r < n && (F[H[r]] < F[H[c]] || (F[H[r]] === F[H[c]] && H[r] < H[c]))) c = r;
        const hc = H[c];
        if (F[hc] > fl || (F[hc] === fl && hc > last)) break;
        H[i] = hc;
        i = c;
      }
      H[i] = last;
    }
    return top;
  }
}

/**
 * Per-index scratch of the searches (one runs at a time): node marks by search number instead of
 * cleared arrays, and the open list's arrays, so a search allocates almost nothing.
 */
interface Scratch { stamp: number; closed: Uint32Array; inside: Uint32Array; parent: Int32Array; gBest: Float64Array; heap: EntryHeap; cone: Int32Array; rowLo: Int32Array; rowHi: Int32Array; occ: Occlusion; ellipse: Int32Array }
const scratchOf = new WeakMap<RouteIndex, Scratch>();
function scratch(idx: RouteIndex): Scratch {
  let s = scratchOf.get(idx);
  const T = idx.nodeCount + 2;
  if (!s) {
    s = { stamp: 0, closed: new Uint32Array(T), inside: new Uint32Array(T), parent: new Int32Array(T), gBest: new Float64Array(T), heap: new EntryHeap(), cone: new Int32Array(MMax(256, idx.nodeCount)), rowLo: new Int32Array(idx.nodeGrid.ny), rowHi: new Int32Array(idx.nodeGrid.ny), occ: new Occlusion(), ellipse: new Int32Array(idx.nodeCount) };
    scratchOf.set(idx, s);
  }
  s.stamp++;
  if (s.stamp === 0xffffffff) { s.closed.fill(0); s.inside.fill(0); s.stamp = 1; }
  s.heap.clear();
  return s;
}

/** Nodes per cell of the node grid used for the cone queries. */
const NODES_PER_CELL = 6;
/** sin of the angle by which the incoming direction may lie outside a corner's tangent wedge. */
const CONE_TOLERANCE = 0.02;
/** How far each cone is widened beyond the tangent wedge, radians (> asin(CONE_TOLERANCE)). */
const CONE_WIDEN_RAD = 0.03;
/**
 * Directions beyond the widened wedge that scanned nodes may still have, as seen from v: the scan's
 * half-planes pass through the corner (v lies NODE_OFFSET_M off it) with a pad of 4 × NODE_OFFSET_M,
 * so a node 20 m away or more (occluders judge no nearer node) is within asin(0.25 / 20) of it.
 */
const OCCLUSION_SLOP_RAD = 0.02;
/** Occluders are gathered only where the cone may reach this far (a short cone is scanned faster than they are found). */
const OCCLUSION_MIN_SCAN_M = 4000;
/** A search's ellipse: per row of the node grid, the columns holding ellipse nodes, and membership per node. */
interface ConeClip { rowLo: Int32Array; rowHi: Int32Array; inside: Uint32Array; stamp: number }

/** Uniform grid over the graph nodes (CSR), built with the index. */
export interface NodeGrid {
  x0: number; y0: number; cellM: number; nx: number; ny: number; start: Int32Array; items: Int32Array;
  /** Per entry of `items`, that node's position, corner and the corner's ring neighbours (8 numbers: x, y, cx, cy, ax, ay, bx, by). */
  data: Float64Array;
  /** Per entry of `items`, the line-angle bins (a bit each) of the lines through the node's corner that are tangent there (`tangentBinsOf`). */
  tangentBins: Int32Array;
}

/** Line-angle bins over directions modulo π (32: one bit each of an Int32). */
const LINE_BINS = 32, HALF_BINS = LINE_BINS / 2;

/**
 * A stand-in for the angle of the line with direction (x, y), modulo π: in [0, 2], 0 along the x
 * axis, 1 along the y axis, 2 (the same line as 0) along −x. Increasing with the angle, and
 * changing by at most as much as the angle does (radians).
 */
function lineAngle(x: number, y: number): number {
  if (y < 0 || (y === 0 && x < 0)) { x = -x; y = -y; }
  if (x >= 0) return x + y > 0 ? y / (x + y) : 0;
  return 1 - x / (y - x);
}

/** The bits of line-angle bins b0..b1 (taken modulo LINE_BINS; every bit when they span all). */
function binMask(b0: number, b1: number): number {
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
function tangentBinsOf(cx: number, cy: number, ax: number, ay: number, bx: number, by: number): number {
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

/** The leftmost or rightmost x (from the centre) of the ellipse qa·X² + qbk·Y·X + qc·Y² ≤ 1 at height Y. */
function ellipseX(Y: number, qa: number, qbk: number, qc: number, right: boolean): number {
  const B = qbk * Y, C = qc * Y * Y - 1;
  const disc = MMax(0, B * B - 4 * qa * C);
  return right ? (-B + MSqrt(disc)) / (2 * qa) : (-B - MSqrt(disc)) / (2 * qa);
}

/** The last wedgeUnits result: u1 (x, y), u2 (x, y). */
const WEDGE = new Float64Array(4);

/**
 * Corner node v's tangent wedge `side` (0: between e_b and −e_a, 1: between e_a and −e_b), each
 * side turned outward by CONE_WIDEN_RAD: its two unit vectors, written to WEDGE. Returns the
 * wedge's orientation (the sign of u1 × u2 before widening), 0 when degenerate (WEDGE unset).
 */
function wedgeUnits(idx: RouteIndex, v: number, side: 0 | 1): number {
  const cvx = idx.cornerX[v], cvy = idx.cornerY[v];
  const eax = idx.prevX[v] - cvx, eay = idx.prevY[v] - cvy, ebx = idx.nextX[v] - cvx, eby = idx.nextY[v] - cvy;
  const ax1 = side === 0 ? ebx : eax, ay1 = side === 0 ? eby : eay, ax2 = side === 0 ? -eax : -ebx, ay2 = side === 0 ? -eay : -eby;
  const sgn = MSign(ax1 * ay2 - ay1 * ax2);
  if (sgn === 0) return 0;
  const l1 = MHypot(ax1, ay1), l2 = MHypot(ax2, ay2);
  const c = MCos(CONE_WIDEN_RAD), sn = MSin(CONE_WIDEN_RAD) * sgn;
  const x1 = ax1 / l1, y1 = ay1 / l1, x2 = ax2 / l2, y2 = ay2 / l2;
  WEDGE[0] = x1 * c + y1 * sn; WEDGE[1] = -x1 * sn + y1 * c; WEDGE[2] = x2 * c - y2 * sn; WEDGE[3] = x2 * sn + y2 * c;
  return sgn;
}

/**
 * The occlusion of every expansion a search can make (node v, wedge side: entry 2v + side),
 * gathered once with the index: gathering depends only on the node and its wedge, so a search
 * reads the same numbers it would gather (`Occlusion.load`).
 */
function buildOcclusionTable(idx: RouteIndex): Uint16Array {
  const table = new Uint16Array(2 * idx.nodeCount * OCCLUSION_STRIDE);
  const a = new Occlusion(), b = new Occlusion();
  const ua = new Float64Array(4), ub = new Float64Array(4);
  for (let v = 0; v < idx.nodeCount; v++) {
    const hasA = wedgeUnits(idx, v, 0) !== 0;
    ua.set(WEDGE);
    const hasB = wedgeUnits(idx, v, 1) !== 0;
    ub.set(WEDGE);
    Occlusion.gatherPair(idx.occluders, idx.nodeX[v], idx.nodeY[v], a, hasA ? ua : null, b, hasB ? ub : null, OCCLUSION_SLOP_RAD);
    a.store(table, 2 * v);
    b.store(table, 2 * v + 1);
  }
  return table;
}

/**
 * The nodes w that a shortest path within the search's bound may continue to from corner node v,
 * arriving along a direction inside v's tangent wedge `side` (0: between e_b and −e_a, 1: between
 * e_a and −e_b, e_a/e_b = directions to the corner's ring neighbours): w lies in that wedge
 * (widened a little), in the search's ellipse, within the budget (|v w| + |w g| ≤ remainingM, the
 * ellipse with foci v and the goal g), and the line v–w is tangent at both corners. Only the grid
 * cells that wedge, ellipse and budget ellipse can share are visited. Written to `out`; returns
 * the count, in the grid's order (rows, then cells, then node ids): the same for every run.
 */
function coneList(idx: RouteIndex, v: number, side: 0 | 1, clip: ConeClip, gx: number, gy: number, remainingM: number, px: number, py: number, turn: number, out: Int32Array, occ: Occlusion, occlusionFromM: number): number {
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
  if (remainingM > occlusionFromM) occ.load(idx.occlusion, 2 * v + side, vx, vy, u1x, u1y, u2x, u2y, OCCLUSION_SLOP_RAD);
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
  const j0 = MMax(0, MFloor((MMax(ecy - ehy, vy - coverM) - PAD - gr.y0) / cell)), j1 = MMin(gr.ny - 1, MFloor((MMin(ecy + ehy, vy + coverM) + PAD - gr.y0) / cell));
  const inside = clip.inside, stamp = clip.stamp;
  let count = 0;
  for (let j = j0; j <= j1; j++) {
    if (clip.rowLo[j] > clip.rowHi[j]) continue;
    const rya = gr.y0 + j * cell, ryb = rya + cell;
    // the budget ellipse's x-range over this row
    const Ya = MMax(-ehy, rya - ecy), Yb = MMin(ehy, ryb - ecy);
    if (Ya > Yb + PAD) continue;
    const ex0 = ecx + ellipseX(MMin(Yb, MMax(Ya, -yExt)), qa, qbk, qc, false) - PAD, ex1 = ecx + ellipseX(MMin(Yb, MMax(Ya, yExt)), qa, qbk, qc, true) + PAD;
    const ya = rya - cvy, yb = ya + cell;
    let lo = MMax(ex0, vx - coverM - PAD) - cvx, hi = MMin(ex1, vx + coverM + PAD) - cvx;
    const m1 = MMax(n1y * ya, n1y * yb), m2 = MMax(n2y * ya, n2y * yb);
    if (n1x > 1e-12) lo = MMax(lo, (-pad - m1) / n1x); else if (n1x < -1e-12) hi = MMin(hi, (-pad - m1) / n1x); else if (m1 < -pad) continue;
    if (n2x > 1e-12) lo = MMax(lo, (-pad - m2) / n2x); else if (n2x < -1e-12) hi = MMin(hi, (-pad - m2) / n2x); else if (m2 < -pad) continue;
    if (taut) {
      const m3 = MMax(n3y * ya, n3y * yb), c3 = -o3 - pad;
      if (n3x > 1e-12) lo = MMax(lo, (c3 - m3) / n3x); else if (n3x < -1e-12) hi = MMin(hi, (c3 - m3) / n3x); else if (m3 < c3) continue;
    }
    if (lo > hi) continue;
    const i0 = MMax(clip.rowLo[j], MFloor((lo + cvx - gr.x0) / cell)), i1 = MMin(clip.rowHi[j], MFloor((hi + cvx - gr.x0) / cell));
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

/**
 * A* restricted to paths of length ≤ boundM (nodes outside the ellipse |s v| + |v g| ≤ boundM are
 * never pushed: f = g + h ≥ |s v| + |v g|). Node ids are the index's; start = N, goal = N + 1.
 */
function searchWithin(idx: RouteIndex, start: XY, goal: XY, boundM: number, occlusionFromM: number): Bounded {
  const N = idx.nodeCount, S = N, G = N + 1;
  const sx = start[0], sy = start[1], gx = goal[0], gy = goal[1];
  const NX = idx.nodeX, NYa = idx.nodeY, CX = idx.cornerX, CY = idx.cornerY, AX = idx.prevX, AY = idx.prevY, BX = idx.nextX, BY = idx.nextY;
  const px_ = (w: number) => (w < N ? NX[w] : w === S ? sx : gx);
  const py_ = (w: number) => (w < N ? NYa[w] : w === S ? sy : gy);
  const sc = scratch(idx);
  const { parent, gBest, closed, stamp } = sc;
  // queue entries (f, g, node, parent) in a binary heap ordered by f, then by entry number
  const queue = sc.heap;
  queue.add(MHypot(gx - sx, gy - sy), 0, S, -1);
  const eG = queue, eV = queue, eU = queue;
  let expanded = 0, segmentChecks = 0;
  const limit = boundM + 1e-6;
  let ellipse: Int32Array | null = null;
  const ellipseNodes = (): Int32Array => {
    if (ellipse) return ellipse;
    if (!idx.nodeIndex) return (ellipse = new Int32Array(0));
    if (!Number.isFinite(boundM)) return (ellipse = Int32Array.from({ length: N }, (_, i) => i));
    // rows of the node grid across the ellipse, each scanned over the ellipse's x-range there
    const a = boundM / 2, fd = MHypot(gx - sx, gy - sy);
    const b = MMax(1e-3, MSqrt(MMax(0, a * a - (fd / 2) ** 2)));
    const cos = fd > 0 ? (gx - sx) / fd : 1, sin = fd > 0 ? (gy - sy) / fd : 0;
    const hx = MSqrt(a * a * cos * cos + b * b * sin * sin), hy = MSqrt(a * a * sin * sin + b * b * cos * cos);
    const yExt = hx > 0 ? ((a * a - b * b) * sin * cos) / hx : 0;
    const qa = cos * cos / (a * a) + sin * sin / (b * b), qbk = 2 * cos * sin * (1 / (a * a) - 1 / (b * b)), qc = sin * sin / (a * a) + cos * cos / (b * b);
    const mx = (sx + gx) / 2, my = (sy + gy) / 2;
    const gr = idx.nodeGrid, cell = gr.cellM, PAD = 1;
    const out = sc.ellipse;
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
    return (ellipse = out.subarray(0, n).sort());
  };

  let clip: ConeClip | null = null;
  const inEllipse = (): ConeClip => {
    if (clip) return clip;
    const inside = sc.inside;
    const gr = idx.nodeGrid;
    const rowLo = sc.rowLo.fill(gr.nx), rowHi = sc.rowHi.fill(-1);
    const nodes = ellipseNodes();
    for (let k = 0, n = nodes.length; k < n; k++) {
      const w = nodes[k];
      inside[w] = stamp;
      const j = MMin(gr.ny - 1, MFloor((NYa[w] - gr.y0) / gr.cellM)), i = MMin(gr.nx - 1, MFloor((NX[w] - gr.x0) / gr.cellM));
      if (i < rowLo[j]) rowLo[j] = i;
      if (i > rowHi[j]) rowHi[j] = i;
    }
    return (clip = { rowLo, rowHi, inside, stamp });
  };
  const coneBuf = sc.cone;

  while (queue.size > 0) {
    const e = queue.pop();
    const v = eV.node[e];
    if (closed[v] === stamp) continue;
    const u = eU.parent[e];
    const vx = px_(v), vy = py_(v);
    if (u >= 0) {
      segmentChecks++;
      const ux = px_(u), uy = py_(u);
      if (crossesSolid(idx.solidGrid, ux, uy, vx, vy) || !segmentIsFreeFast(idx, ux, uy, vx, vy)) continue;
    }
    closed[v] = stamp;
    const gv = eG.g[e];
    gBest[v] = gv;
    parent[v] = u;
    if (v === G) break;
    expanded++;
    const corner = v < N;
    const cvx = corner ? CX[v] : 0, cvy = corner ? CY[v] : 0;
    let side = 0, px = 0, py = 0;
    // taut: turn towards the obstacle at v (the side its ring neighbours lie on, seen from the parent)
    if (corner && u >= 0) {
      px = px_(u); py = py_(u);
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
    if (wedge >= 0) {
      const c = inEllipse();
      const inside = c.inside;
      const count = coneList(idx, v, wedge as 0 | 1, c, gx, gy, limit - gv, px, py, side, coneBuf, sc.occ, occlusionFromM);
      for (let t = 0; t < count; t++) {
        const w = coneBuf[t];
        if (closed[w] === stamp || inside[w] !== stamp) continue;
        const wx = NX[w], wy = NYa[w];
        const f = gv + MHypot(wx - vx, wy - vy);
        const h = MHypot(wx - gx, wy - gy);
        if (f + h > limit) continue;
        if (side !== 0 && ((vx - px) * (wy - py) - (vy - py) * (wx - px)) * side < 0) continue;
        queue.add(f + h, f, w, v);
      }
    }
    // the goal, and (for the start, or a corner whose wedge is unclear) every node of the ellipse
    const rest = wedge >= 0 ? null : ellipseNodes();
    for (let t = -1, n = rest ? rest.length : 0; t < n; t++) {
      const w = t < 0 ? G : rest![t];
      if (closed[w] === stamp) continue;
      const wx = px_(w), wy = py_(w);
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
  for (let w = G; w !== -1; w = parent[w]) path.push(w === S ? start : w === G ? goal : [NX[w], NYa[w]]);
  path.reverse();
  return { path, lengthM: gBest[G], expanded, segmentChecks };
}
