/**
 * The planner's previous fence, kept only as the benchmark's baseline: the whole operating area as
 * the inclusion polygon and one exclusion per no-fly zone part, simplified (greedily, one vertex
 * at a time) until it fits the budget, zones beyond fenceZoneRadiusM dropped when it cannot.
 * Copied from planner/fence.ts before the corridor fence replaced it; not used by the planner.
 */
import type { Warning } from '../planner/errors';
import { cross, ringSignedArea, pointSegmentDistance, segmentSegmentDistance, type LocalProjection, type XY } from '../planner/geo';
import type { ParsedZones } from '../planner/zones';

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
export function buildAreaFence(zones: ParsedZones, proj: LocalProjection, route: XY[], keep: XY[], options: FenceOptions = {}): BuildFenceResult {
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

