/**
 * The route index: the no-fly zones buffered by their clearance and the operating area shrunk by
 * its margin, in a local equirectangular frame (metres), with what the route search reads: obstacle
 * edges (flatbush and a uniform grid), a coarse grid of cells wholly inside the solid, graph nodes
 * at convex corners (`corner-nodes.ts`) and the occluders' table (`occluders.ts`).
 *
 * Buffers never undershoot: Turf's buffer puts its arc vertices on the circle, so its chords come as
 * close as r·cos(π/4q) (q segments per quadrant); the radius is inflated by 1/cos(π/4q), then by a
 * safety margin.
 */
import { buffer } from '@turf/turf';
import Flatbush from 'flatbush';
import type { Feature, MultiPolygon, Polygon } from 'geojson';
import { bufferRing } from './buffer';
import { HUGE_RING_VERTICES, simplifyOutward } from './simplify-outward';
import { buildOccluders, Occlusion, OCCLUSION_STRIDE, type OccluderIndex } from './occluders';
import { closeRing, cross, dist, pointInPolygon, ringSignedArea, type LocalProjection, type PolygonXY, type XY } from './geo';
import { buildNodeGrid, NODE_OFFSET_M, OCCLUSION_SLOP_RAD, tangentBinsOf, WEDGE, wedgeUnits, type NodeGrid } from './corner-nodes';
import type { ParsedZones, PolygonLonLat } from './zones';

// Math's functions held in module constants: global lookups are slow where the module runs in
// a vm context (jest), and these run in the search's inner loops.
const { round: MRound, floor: MFloor, sqrt: MSqrt, min: MMin, max: MMax, cos: MCos, ceil: MCeil } = Math;

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
