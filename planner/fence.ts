/**
 * Geofence for a plan: the operating area as the inclusion polygon (simplified only inward), one
 * exclusion polygon per no-fly zone part and per area hole (simplified only outward), fitted to
 * the vehicle's fence storage, then checked against the route and encoded as MAVLink fence items
 * (5001/5002, param1 = vertex count, no repeated closing vertex). Rally points become 5100 items
 * when they lie inside the fence.
 */
import { Cmd, Frame, MissionType, type MissionItem } from '../src/mavlink/mission-item';
import { cross, dist, pointInRing, pointSegmentDistance, ringSignedArea, segmentSegmentDistance, type LocalProjection, type LonLat, type XY } from './geo';
import type { ParsedZones, SitePoint } from './zones';
import type { Warning } from './errors';

export interface FenceOptions {
  /** Most fence items the vehicle stores (all polygons together). Default 84. */
  fenceMaxItems?: number;
  /** The route keeps at least this far from every fence edge, metres. Default 10. */
  fenceMarginM?: number;
  /** No-fly zones within this distance of the route must be in the fence, metres. Default 2000. */
  fenceZoneRadiusM?: number;
}

export const DEFAULT_FENCE_OPTIONS: Required<FenceOptions> = { fenceMaxItems: 84, fenceMarginM: 10, fenceZoneRadiusM: 2000 };

export interface FencePolygon {
  inclusion: boolean;
  /** Open ring in the local frame, counter-clockwise. */
  ring: XY[];
  /** Where it came from: zone feature index, part, and name. */
  source: { featureIndex: number; part: number; name?: string; kind: 'operating-area' | 'no-fly' | 'area-hole' };
  /** Vertex count before simplification. */
  originalVertices: number;
}

export type BuildFenceResult =
  | { ok: true; polygons: FencePolygon[]; dropped: FencePolygon[]; warnings: Warning[] }
  | { ok: false; code: 'FENCE_BUDGET_EXCEEDED'; message: string; details: unknown };

/**
 * Builds the fence polygons for a route (local frame). `keep` are points (launch, drop) that must
 * stay inside the inclusion and outside exclusions by the margin as well.
 */
export function buildFence(zones: ParsedZones, proj: LocalProjection, route: XY[], keep: XY[], options: FenceOptions = {}): BuildFenceResult {
  const o = { ...DEFAULT_FENCE_OPTIONS, ...options };
  const warnings: Warning[] = [];
  const ccw = (r: XY[]) => (ringSignedArea(r) > 0 ? r : [...r].reverse());
  const areaXY = zones.area.polygon.map((r) => r.map((c) => proj.toXY(c)));
  const inclusion: FencePolygon = {
    inclusion: true, ring: ccw(areaXY[0]), originalVertices: areaXY[0].length,
    source: { featureIndex: zones.area.index, part: 0, ...(zones.area.name ? { name: zones.area.name } : {}), kind: 'operating-area' },
  };
  let exclusions: FencePolygon[] = [];
  for (let h = 1; h < areaXY.length; h++) {
    exclusions.push({ inclusion: false, ring: ccw(areaXY[h]), originalVertices: areaXY[h].length, source: { featureIndex: zones.area.index, part: h, kind: 'area-hole' } });
  }
  for (const z of zones.noFly) {
    z.polygons.forEach((p, k) => {
      const ring = ccw(p[0].map((c) => proj.toXY(c)));
      if (p.length > 1) warnings.push({ code: 'FENCE_HOLE_FILLED', message: `no-fly feature #${z.index}${z.name ? ` "${z.name}"` : ''}: its holes are not representable in a fence and are fenced as part of the zone`, details: { featureIndex: z.index, part: k } });
      exclusions.push({ inclusion: false, ring, originalVertices: ring.length, source: { featureIndex: z.index, part: k, ...(z.name ? { name: z.name } : {}), kind: 'no-fly' } });
    });
  }
  const routeSegs: [XY, XY][] = [];
  for (let i = 1; i < route.length; i++) routeSegs.push([route[i - 1], route[i]]);
  const distToRoute = (ring: XY[]) => {
    let d = Infinity;
    for (const [a, b] of routeSegs) for (let i = 0; i < ring.length; i++) d = Math.min(d, segmentSegmentDistance(a, b, ring[i], ring[(i + 1) % ring.length]));
    return d;
  };
  const guard = [...route, ...keep];
  const count = () => inclusion.ring.length + exclusions.reduce((s, p) => s + p.ring.length, 0);
  const dropped: FencePolygon[] = [];

  if (count() > o.fenceMaxItems) {
    // drop zones far from the route first (farthest first) while even a triangle each would not fit
    const far = exclusions.map((p) => ({ p, d: distToRoute(p.ring) })).filter((x) => x.d > o.fenceZoneRadiusM).sort((a, b) => b.d - a.d || a.p.source.featureIndex - b.p.source.featureIndex);
    const rawFits = () => count() <= o.fenceMaxItems * 4;
    for (const { p } of far) {
      if (rawFits() && 3 * (exclusions.length + 1) <= o.fenceMaxItems) break;
      exclusions = exclusions.filter((q) => q !== p);
      dropped.push(p);
    }
    const polys = [inclusion, ...exclusions];
    // a polygon's best reduction depends only on its own ring (and the route): cache it until that ring changes
    const cached = new Map<FencePolygon, { ring: XY[]; cost: number } | null>();
    let total = count();
    while (total > o.fenceMaxItems) {
      let best: { poly: FencePolygon; ring: XY[]; cost: number } | null = null;
      for (const poly of polys) {
        if (poly.ring.length <= 3) continue;
        let c = cached.get(poly);
        if (c === undefined) { c = bestReduction(poly, routeSegs, guard, o.fenceMarginM); cached.set(poly, c); }
        if (c && (!best || c.cost < best.cost)) best = { poly, ...c };
      }
      if (!best) {
        // cannot simplify further: drop the farthest zone that is beyond the radius
        const cand = exclusions.map((p) => ({ p, d: distToRoute(p.ring) })).filter((x) => x.d > o.fenceZoneRadiusM).sort((a, b) => b.d - a.d);
        if (cand.length === 0) {
          return {
            ok: false, code: 'FENCE_BUDGET_EXCEEDED',
            message: `the fence needs ${count()} items after simplification but the vehicle stores ${o.fenceMaxItems}; every remaining no-fly zone is within ${o.fenceZoneRadiusM} m of the route`,
            details: { items: count(), fenceMaxItems: o.fenceMaxItems },
          };
        }
        exclusions = exclusions.filter((q) => q !== cand[0].p);
        polys.splice(polys.indexOf(cand[0].p), 1);
        dropped.push(cand[0].p);
        total = count();
        continue;
      }
      best.poly.ring = best.ring;
      cached.delete(best.poly);
      total--;
    }
  }
  for (const p of [inclusion, ...exclusions]) {
    if (p.ring.length < p.originalVertices) {
      warnings.push({ code: 'FENCE_SIMPLIFIED', message: `${p.inclusion ? 'inclusion' : 'exclusion'} fence from feature #${p.source.featureIndex}${p.source.name ? ` "${p.source.name}"` : ''} simplified ${p.inclusion ? 'inward' : 'outward'} from ${p.originalVertices} to ${p.ring.length} vertices`, details: { featureIndex: p.source.featureIndex, part: p.source.part, from: p.originalVertices, to: p.ring.length } });
    }
  }
  for (const p of dropped) {
    warnings.push({ code: 'FENCE_ZONE_OMITTED', message: `no-fly feature #${p.source.featureIndex}${p.source.name ? ` "${p.source.name}"` : ''} is more than ${o.fenceZoneRadiusM} m from the route and was left out of the fence to fit ${o.fenceMaxItems} items`, details: { featureIndex: p.source.featureIndex, part: p.source.part } });
  }
  return { ok: true, polygons: [inclusion, ...exclusions], dropped, warnings };
}

/** Cheapest valid single-vertex reduction of a polygon, keeping the route and guard points clear. */
function bestReduction(poly: FencePolygon, routeSegs: [XY, XY][], guard: XY[], marginM: number): { ring: XY[]; cost: number } | null {
  const r = poly.ring;
  const n = r.length;
  let best: { ring: XY[]; cost: number } | null = null;
  const clear = (newEdges: [XY, XY][], tri: XY[]) => {
    for (const [a, b] of newEdges) {
      for (const [p, q] of routeSegs) if (segmentSegmentDistance(p, q, a, b) < marginM) return false;
      for (const g of guard) if (pointSegmentDistance(g, a, b) < marginM) return false;
    }
    for (const g of guard) if (pointInTriangle(g, tri)) return false;
    for (let k = 0; k < n; k++) {
      const v = r[k];
      if (tri.some((t) => t === v)) continue;
      if (pointInTriangle(v, tri)) return false;
    }
    return true;
  };
  for (let i = 0; i < n; i++) {
    const a = r[(i + n - 1) % n], v = r[i], b = r[(i + 1) % n];
    const c = cross(a, v, b);
    const area = Math.abs(c) / 2;
    // inclusion: remove convex vertices (cuts inward); exclusion: remove reflex vertices (grows outward)
    const removable = poly.inclusion ? c > 0 : c < 0;
    if (removable && (!best || area < best.cost) && clear([[a, b]], [a, v, b])) {
      best = { ring: r.filter((_, k) => k !== i), cost: area };
    }
    if (!poly.inclusion && n >= 4) {
      // exclusion: replace edge v–b by extending a→v and c→b until they meet
      const p = a, q = r[(i + 2) % n];
      const x = lineIntersection(p, v, q, b);
      if (x && ahead(p, v, x) && ahead(q, b, x)) {
        const addArea = Math.abs(cross(v, x, b)) / 2;
        if ((!best || addArea < best.cost) && clear([[v, x], [x, b]], [v, x, b])) {
          const ring = r.slice();
          const bi = (i + 1) % n;
          ring[i] = x;
          ring.splice(bi, 1);
          best = { ring, cost: addArea };
        }
      }
    }
  }
  return best;
}

function lineIntersection(p1: XY, p2: XY, q1: XY, q2: XY): XY | null {
  const d = (p2[0] - p1[0]) * (q2[1] - q1[1]) - (p2[1] - p1[1]) * (q2[0] - q1[0]);
  if (Math.abs(d) < 1e-12) return null;
  const t = ((q1[0] - p1[0]) * (q2[1] - q1[1]) - (q1[1] - p1[1]) * (q2[0] - q1[0])) / d;
  return [p1[0] + t * (p2[0] - p1[0]), p1[1] + t * (p2[1] - p1[1])];
}

/** x lies on the ray from p through v, beyond v. */
function ahead(p: XY, v: XY, x: XY): boolean {
  const dx = v[0] - p[0], dy = v[1] - p[1];
  return (x[0] - v[0]) * dx + (x[1] - v[1]) * dy > 0;
}

function pointInTriangle(p: XY, t: XY[]): boolean {
  const d1 = cross(t[0], t[1], p), d2 = cross(t[1], t[2], p), d3 = cross(t[2], t[0], p);
  const neg = d1 < 0 || d2 < 0 || d3 < 0, pos = d1 > 0 || d2 > 0 || d3 > 0;
  return !(neg && pos);
}

/** Encodes fence polygons as MAVLink fence items (lat/lon × 1e7, rounded). */
export function fenceItems(polygons: FencePolygon[], proj: LocalProjection): MissionItem[] {
  const items: MissionItem[] = [];
  for (const p of polygons) {
    for (const v of p.ring) {
      const [lon, lat] = proj.toLonLat(v);
      items.push({
        seq: items.length, frame: Frame.GLOBAL, command: p.inclusion ? Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION : Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        current: 0, autocontinue: 1, param1: p.ring.length, param2: 0, param3: 0, param4: 0,
        x: Math.round(lat * 1e7), y: Math.round(lon * 1e7), z: 0, missionType: MissionType.FENCE,
      });
    }
  }
  return items;
}

/** Decodes fence items into polygons ([lon, lat] open rings). Circles are returned separately. */
export function decodeFencePolygons(items: MissionItem[]): { ok: true; polygons: { inclusion: boolean; ring: LonLat[] }[]; circles: { inclusion: boolean; center: LonLat; radiusM: number }[] } | { ok: false; message: string } {
  const polygons: { inclusion: boolean; ring: LonLat[] }[] = [];
  const circles: { inclusion: boolean; center: LonLat; radiusM: number }[] = [];
  let i = 0;
  while (i < items.length) {
    const it = items[i];
    if (it.command === Cmd.NAV_FENCE_CIRCLE_INCLUSION || it.command === Cmd.NAV_FENCE_CIRCLE_EXCLUSION) {
      circles.push({ inclusion: it.command === Cmd.NAV_FENCE_CIRCLE_INCLUSION, center: [it.y / 1e7, it.x / 1e7], radiusM: it.param1 });
      i++;
      continue;
    }
    if (it.command === Cmd.NAV_FENCE_RETURN_POINT) { i++; continue; }
    if (it.command !== Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION && it.command !== Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION) {
      return { ok: false, message: `fence item ${i} has command ${it.command}, not a fence command` };
    }
    const n = it.param1;
    if (!Number.isInteger(n) || n < 3 || i + n > items.length) return { ok: false, message: `fence item ${i}: vertex count ${n} is invalid` };
    const ring: LonLat[] = [];
    for (let k = 0; k < n; k++) {
      const v = items[i + k];
      if (v.command !== it.command || v.param1 !== n) return { ok: false, message: `fence item ${i + k}: expected ${n} vertices of command ${it.command}` };
      ring.push([v.y / 1e7, v.x / 1e7]);
    }
    polygons.push({ inclusion: it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, ring });
    i += n;
  }
  return { ok: true, polygons, circles };
}

export interface FenceViolation { segment: number; polygon: number; inclusion: boolean; distanceM: number; message: string }

/**
 * Checks a route (lon/lat) against fence items as the vehicle will hold them: every segment
 * inside every inclusion polygon and outside every exclusion polygon, at least `marginM` from
 * their edges. Returns the violations (empty = the route respects the fence).
 */
export function checkRouteAgainstFence(route: LonLat[], fence: MissionItem[], proj: LocalProjection, marginM: number): FenceViolation[] {
  const dec = decodeFencePolygons(fence);
  if (!dec.ok) return [{ segment: -1, polygon: -1, inclusion: false, distanceM: 0, message: dec.message }];
  const pts = route.map((c) => proj.toXY(c));
  const out: FenceViolation[] = [];
  dec.polygons.forEach((poly, pi) => {
    const ring = poly.ring.map((c) => proj.toXY(c));
    for (let s = 0; s + 1 < pts.length; s++) {
      const a = pts[s], b = pts[s + 1];
      let d = Infinity;
      for (let k = 0; k < ring.length; k++) d = Math.min(d, segmentSegmentDistance(a, b, ring[k], ring[(k + 1) % ring.length]));
      const inside = pointInRing(a, ring);
      const wrongSide = poly.inclusion ? !inside : inside;
      if (wrongSide || d < marginM) {
        out.push({ segment: s, polygon: pi, inclusion: poly.inclusion, distanceM: wrongSide ? 0 : d, message: `route segment ${s} ${wrongSide ? (poly.inclusion ? 'leaves' : 'enters') : `comes within ${d.toFixed(1)} m of`} ${poly.inclusion ? 'inclusion' : 'exclusion'} fence polygon ${pi}` });
      }
    }
  });
  for (const c of dec.circles) {
    const center = proj.toXY(c.center);
    for (let s = 0; s + 1 < pts.length; s++) {
      const dNear = pointSegmentDistance(center, pts[s], pts[s + 1]);
      const dFar = Math.max(dist(center, pts[s]), dist(center, pts[s + 1]));
      const bad = c.inclusion ? dFar > c.radiusM - marginM : dNear < c.radiusM + marginM;
      if (bad) out.push({ segment: s, polygon: -1, inclusion: c.inclusion, distanceM: 0, message: `route segment ${s} breaches a ${c.inclusion ? 'inclusion' : 'exclusion'} circle` });
    }
  }
  return out;
}

/** Rally points inside the fence → 5100 items; the others are reported. */
export function rallyItems(points: SitePoint[], fence: MissionItem[], proj: LocalProjection, altM: number): { items: MissionItem[]; warnings: Warning[] } {
  const dec = decodeFencePolygons(fence);
  const polys = dec.ok ? dec.polygons.map((p) => ({ inclusion: p.inclusion, ring: p.ring.map((c) => proj.toXY(c)) })) : [];
  const items: MissionItem[] = [];
  const warnings: Warning[] = [];
  for (const p of points) {
    const xy = proj.toXY([p.lon, p.lat]);
    const inside = polys.every((q) => (q.inclusion ? pointInRing(xy, q.ring) : !pointInRing(xy, q.ring)));
    if (!inside) {
      warnings.push({ code: 'RALLY_OUTSIDE_FENCE', message: `rally point feature #${p.index}${p.name ? ` "${p.name}"` : ''} lies outside the fence and is not uploaded (ArduPilot rejects it)`, details: { featureIndex: p.index } });
      continue;
    }
    items.push({
      seq: items.length, frame: Frame.GLOBAL_RELATIVE_ALT_INT, command: Cmd.NAV_RALLY_POINT, current: 0, autocontinue: 1,
      param1: 0, param2: 0, param3: 0, param4: 0, x: Math.round(p.lat * 1e7), y: Math.round(p.lon * 1e7), z: altM, missionType: MissionType.RALLY,
    });
  }
  return { items, warnings };
}
