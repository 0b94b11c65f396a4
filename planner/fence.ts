/**
 * The corridor fence: what the flight needs, not the whole map. One inclusion polygon around the
 * planned route (launch → drop → launch on the same line, or a sortie's closed route: launch →
 * drops → launch, with what it encloses), widened by the corridor margin and
 * never leaving the operating area, plus one exclusion polygon for each no-fly zone part (or hole
 * of the operating area) that reaches into it. The items always fit the vehicle's fence storage:
 * when they would not, the corridor is narrowed, first by fencing the zones out of the inclusion
 * polygon instead of excluding them, then by halving its margin down to just above the fence
 * margin, where no zone can reach in; past that the plan is refused with FENCE_CAPACITY.
 *
 * Polygons are encoded as MAVLink fence items (5001/5002, param1 = vertex count, lat/lon × 1e7)
 * and decoded again, as the vehicle will hold them, before the route is checked against them.
 * Rally points become 5100 items when they lie inside the fence. See planner/README.md for the
 * fence semantics of ArduPilot and PX4 and for how the storage is counted.
 */
import { Cmd, Frame, MissionType, type MissionItem } from '../src/mavlink/mission-item';
import { dist, pointInRing, pointSegmentDistance, ringIsSimple, segmentSegmentDistance, segmentsIntersect, type LocalProjection, type LonLat, type XY } from './geo';
import { corridorRing, RouteGeom } from './corridor';
import { exclusionRing } from './exclusion';
import { partsInBox, pointInPart, type ZoneIndex, type ZonePart } from './zone-index';
import type { SitePoint } from './zones';
import type { Warning } from './errors';

// Math's functions as module constants (global lookups are slow in a vm context such as jest's).
const { min: MMin, max: MMax, ceil: MCeil, round: MRound } = Math;

export interface FenceOptions {
  /** Items the vehicle stores (see fenceStorageItems). */
  fenceCapacity: number;
  /** The route keeps at least this far from every fence edge, metres. */
  fenceMarginM: number;
  /** The inclusion polygon lies within about this distance of the route, metres. */
  corridorMarginM: number;
  /** Clearance of no-fly zones without their own clearanceM, metres. */
  clearanceM: number;
  /** The route's margin inside the operating area (also the clearance of the area's holes), metres. */
  areaMarginM: number;
}

export interface FencePolygon {
  inclusion: boolean;
  /** Open ring in the local frame, counter-clockwise, as the vehicle holds it (after × 1e7 rounding). */
  ring: XY[];
  /** The least distance the route keeps from this polygon's edges, metres. */
  marginM: number;
  /** Where it came from (exclusions): zone feature index, part and name. */
  source: { featureIndex: number; part: number; name?: string; kind: 'corridor' | 'no-fly' | 'area-hole' };
}

export interface FenceFit {
  polygons: FencePolygon[];
  /** Storage the fence takes, in items (fenceStorageItems). */
  storageItems: number;
  /** The corridor margin the inclusion polygon was built with, metres. */
  corridorMarginM: number;
  /** True when the inclusion polygon was kept out of the no-fly zones (instead of excluding them). */
  zonesFencedOut: boolean;
}

export type BuildFenceResult =
  | { ok: true; fit: FenceFit; warnings: Warning[] }
  | { ok: false; code: 'FENCE_CAPACITY'; message: string; details: { fenceCapacity: number; itemsNeeded: number | null; vertices: number | null; polygons: number | null; attempts: FenceAttempt[] } };

/** One corridor tried while fitting the fence (reported when none fits). */
export interface FenceAttempt {
  corridorMarginM: number;
  zonesFencedOut: boolean;
  /** Storage items the fence needed; null when no fence could be built this way. */
  itemsNeeded: number | null;
  /** True when itemsNeeded is a lower bound (the exclusions were not built, as they could not fit). */
  atLeast?: boolean;
  reason?: string;
}

/**
 * Storage a fence takes, in items, for a vehicle whose capacity C means "one polygon of C
 * vertices fits": ArduPilot keeps a 4-byte header, then per polygon 1 type byte and 1 count
 * byte and 8 bytes per vertex, then an end marker (AC_PolyFence_loader). V vertices in P polygons
 * take 8V + 2P + 5 bytes, one polygon of C vertices 8C + 7; so the fence fits when
 * V + (P − 1)/4 ≤ C, counted here as V + ⌈(P − 1)/4⌉: every four polygons beyond the first cost
 * one item more. The item count V itself never exceeds it (the vehicle answers NO_SPACE beyond).
 */
export function fenceStorageItems(vertices: number, polygons: number): number {
  return vertices + MCeil(MMax(0, polygons - 1) / 4);
}

/** Allowance for the × 1e7 rounding of the items (under 1 cm), metres. */
const ROUNDING_M = 0.05;

function roundTrip(ring: XY[], proj: LocalProjection): XY[] {
  const out: XY[] = [];
  for (const p of ring) {
    const [lon, lat] = proj.toLonLat(p);
    const q = proj.toXY([MRound(lon * 1e7) / 1e7, MRound(lat * 1e7) / 1e7]);
    const prev = out[out.length - 1];
    if (!prev || prev[0] !== q[0] || prev[1] !== q[1]) out.push(q);
  }
  if (out.length > 1 && out[0][0] === out[out.length - 1][0] && out[0][1] === out[out.length - 1][1]) out.pop();
  return out;
}

/** Zone parts whose area (outer ring less holes) meets the polygon `ring`, ascending. */
export function partsMeetingRing(zi: ZoneIndex, ring: XY[]): number[] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of ring) { x0 = MMin(x0, x); y0 = MMin(y0, y); x1 = MMax(x1, x); y1 = MMax(y1, y); }
  const n = ring.length;
  // parts whose box meets an edge's box may cross the ring; the others lie wholly in or out of it
  const nearEdge = new Set<number>();
  for (let k = 0; k < n; k++) {
    const c = ring[k], d = ring[(k + 1) % n];
    for (const id of partsInBox(zi, MMin(c[0], d[0]), MMin(c[1], d[1]), MMax(c[0], d[0]), MMax(c[1], d[1]))) nearEdge.add(id);
  }
  const out: number[] = [];
  for (const id of partsInBox(zi, x0, y0, x1, y1)) {
    const part = zi.parts[id];
    if (nearEdge.has(id) ? ringsMeet(part, ring) : pointInRing(part.ring[0], ring)) out.push(id);
  }
  return out;
  function ringsMeet(part: ZonePart, q: XY[]): boolean {
    for (const r of [part.ring, ...part.holes]) {
      for (let i = 0; i < r.length; i++) {
        const a = r[i], b = r[(i + 1) % r.length];
        const ax0 = MMin(a[0], b[0]), ax1 = MMax(a[0], b[0]), ay0 = MMin(a[1], b[1]), ay1 = MMax(a[1], b[1]);
        if (ax1 < x0 || ax0 > x1 || ay1 < y0 || ay0 > y1) continue;
        for (let k = 0; k < n; k++) {
          const c = q[k], d = q[(k + 1) % n];
          if (MMax(c[0], d[0]) < ax0 || MMin(c[0], d[0]) > ax1 || MMax(c[1], d[1]) < ay0 || MMin(c[1], d[1]) > ay1) continue;
          if (segmentsIntersect(a, b, c, d)) return true;
        }
      }
    }
    // no edges cross: one inside the other
    if (pointInRing(part.ring[0], q)) return true;
    return pointInPart(q[0], part);
  }
}

/** The clearance of a zone part for a request, metres. */
export function partClearanceM(part: ZonePart, o: Pick<FenceOptions, 'clearanceM' | 'areaMarginM'>): number {
  return part.kind === 'area-hole' ? o.areaMarginM : part.clearanceM ?? o.clearanceM;
}

/**
 * Builds the corridor fence for a route (local frame): an open one (launch → drop; the return
 * flies the same line) or a closed one (a sortie, launch → drops → launch). Exclusions keep
 * min(fenceMarginM, the zone's clearance) from the route and grow (when simplified) at most to
 * the zone's clearance less that; the inclusion polygon keeps min(fenceMarginM, areaMarginM).
 */
export function buildCorridorFence(zi: ZoneIndex, route: XY[], o: FenceOptions): BuildFenceResult {
  const proj = zi.projection;
  const warnings: Warning[] = [];
  const geom = new RouteGeom(route);
  const incMargin = MMin(o.fenceMarginM, o.areaMarginM);
  if (incMargin < o.fenceMarginM) {
    warnings.push({ code: 'FENCE_MARGIN_REDUCED', message: `the inclusion fence keeps ${incMargin} m from the route, the area margin, not the ${o.fenceMarginM} m fence margin`, details: { polygon: 'inclusion', marginM: incMargin } });
  }
  const w0 = MMax(o.corridorMarginM, incMargin + 1);
  const rungs: { w: number; avoid: boolean }[] = [{ w: w0, avoid: false }, { w: w0, avoid: true }];
  const lowest = incMargin + ROUNDING_M + MMax(0.5, MMin(2, 0.1 * incMargin)) + 0.5;
  for (let w = w0 / 2; w > lowest; w /= 2) rungs.push({ w, avoid: true });
  if (rungs[rungs.length - 1].w > lowest) rungs.push({ w: lowest, avoid: true });
  const attempts: FenceAttempt[] = [];
  let best: { items: number; vertices: number; polygons: number; atLeast: boolean } | null = null;
  for (const rung of rungs) {
    // zones are kept out of the corridor where there is room between them and the route
    const avoid = rung.avoid ? (part: ZonePart) => partClearanceM(part, o) >= lowest + 0.5 : null;
    const raw = corridorRing(geom, zi, { widthM: rung.w, marginM: incMargin + ROUNDING_M, avoid });
    const at: FenceAttempt = { corridorMarginM: round2(rung.w), zonesFencedOut: rung.avoid, itemsNeeded: null };
    attempts.push(at);
    if (!raw) { at.reason = 'no corridor polygon found'; continue; }
    const ring = roundTrip(raw, proj);
    if (ring.length < 3 || !ringIsSimple(ring)) { at.reason = 'the corridor polygon degenerates at 1e-7°'; continue; }
    const hits = partsMeetingRing(zi, ring);
    const lower = fenceStorageItems(ring.length + 3 * hits.length, 1 + hits.length);
    if (lower > o.fenceCapacity) {
      // without exclusions the count is exact, else a lower bound (3 vertices per exclusion)
      const atLeast = hits.length > 0;
      at.itemsNeeded = lower;
      if (atLeast) at.atLeast = true;
      if (!best || lower < best.items || (lower === best.items && best.atLeast && !atLeast)) best = { items: lower, vertices: ring.length + 3 * hits.length, polygons: 1 + hits.length, atLeast };
      continue;
    }
    const polygons: FencePolygon[] = [{ inclusion: true, ring, marginM: incMargin, source: { featureIndex: -1, part: 0, kind: 'corridor' } }];
    let failed: ZonePart | null = null;
    for (const id of hits) {
      const part = zi.parts[id];
      const c = partClearanceM(part, o);
      const m = MMin(o.fenceMarginM, c);
      const e = exclusionRing(part.ring, geom, m + ROUNDING_M, MMax(0, c - m - ROUNDING_M));
      const eq = e ? roundTrip(e, proj) : null;
      if (!eq || eq.length < 3 || !ringIsSimple(eq)) { failed = part; break; }
      polygons.push({ inclusion: false, ring: eq, marginM: m, source: { featureIndex: part.featureIndex, part: part.part, ...(part.name ? { name: part.name } : {}), kind: part.kind } });
    }
    if (failed) { at.reason = `no exclusion polygon for feature #${failed.featureIndex} keeps the margin from the route`; continue; }
    const vertices = polygons.reduce((s, p) => s + p.ring.length, 0);
    const items = fenceStorageItems(vertices, polygons.length);
    at.itemsNeeded = items;
    if (!best || items < best.items || (items === best.items && best.atLeast)) best = { items, vertices, polygons: polygons.length, atLeast: false };
    if (items > o.fenceCapacity) continue;
    if (rung !== rungs[0]) {
      const how = rung.w < w0 ? `keeps out of the no-fly zones within ${round2(rung.w)} m of the route` : 'keeps out of the no-fly zones';
      warnings.push({ code: 'FENCE_CORRIDOR_NARROWED', message: `the corridor fence ${how} instead of a ${round2(w0)} m corridor with an exclusion per zone, to fit ${o.fenceCapacity} items`, details: { corridorMarginM: round2(rung.w), requestedCorridorMarginM: round2(w0), zonesFencedOut: rung.avoid, attempts } });
    }
    for (const p of polygons) {
      if (p.inclusion) continue;
      const part = zi.parts.find((q) => q.featureIndex === p.source.featureIndex && q.part === p.source.part && q.kind === p.source.kind);
      if (part && part.holes.length > 0) warnings.push({ code: 'FENCE_HOLE_FILLED', message: `no-fly feature #${p.source.featureIndex}${p.source.name ? ` "${p.source.name}"` : ''}: its holes are not representable in a fence and are fenced as part of the zone`, details: { featureIndex: p.source.featureIndex, part: p.source.part } });
      if (p.marginM < o.fenceMarginM) warnings.push({ code: 'FENCE_MARGIN_REDUCED', message: `the exclusion fence of feature #${p.source.featureIndex}${p.source.name ? ` "${p.source.name}"` : ''} keeps ${p.marginM} m from the route, its clearance, not the ${o.fenceMarginM} m fence margin`, details: { featureIndex: p.source.featureIndex, part: p.source.part, marginM: p.marginM } });
    }
    return { ok: true, fit: { polygons, storageItems: items, corridorMarginM: round2(rung.w), zonesFencedOut: rung.avoid }, warnings };
  }
  return {
    ok: false, code: 'FENCE_CAPACITY',
    message: best
      ? `the fence needs ${best.atLeast ? 'at least ' : ''}${best.items} items but the vehicle stores ${o.fenceCapacity}, even with the corridor kept out of the no-fly zones and narrowed to ${round2(rungs[rungs.length - 1].w)} m`
      : `no corridor fence holds the route within the vehicle's ${o.fenceCapacity} items`,
    details: { fenceCapacity: o.fenceCapacity, itemsNeeded: best ? best.items : null, vertices: best ? best.vertices : null, polygons: best ? best.polygons : null, attempts },
  };
}

function round2(v: number): number {
  return MRound(v * 100) / 100;
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
        x: MRound(lat * 1e7), y: MRound(lon * 1e7), z: 0, missionType: MissionType.FENCE,
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
export function checkRouteAgainstFence(route: LonLat[], fence: MissionItem[], proj: LocalProjection, marginM: number | number[]): FenceViolation[] {
  const dec = decodeFencePolygons(fence);
  if (!dec.ok) return [{ segment: -1, polygon: -1, inclusion: false, distanceM: 0, message: dec.message }];
  const pts = route.map((c) => proj.toXY(c));
  const out: FenceViolation[] = [];
  dec.polygons.forEach((poly, pi) => {
    const margin = typeof marginM === 'number' ? marginM : marginM[pi] ?? 0;
    const ring = poly.ring.map((c) => proj.toXY(c));
    for (let s = 0; s + 1 < pts.length; s++) {
      const a = pts[s], b = pts[s + 1];
      let d = Infinity;
      for (let k = 0; k < ring.length; k++) d = MMin(d, segmentSegmentDistance(a, b, ring[k], ring[(k + 1) % ring.length]));
      const inside = pointInRing(a, ring);
      const wrongSide = poly.inclusion ? !inside : inside;
      if (wrongSide || d < margin || d === 0) {
        out.push({ segment: s, polygon: pi, inclusion: poly.inclusion, distanceM: wrongSide ? 0 : d, message: `route segment ${s} ${wrongSide ? (poly.inclusion ? 'leaves' : 'enters') : `comes within ${d.toFixed(1)} m of`} ${poly.inclusion ? 'inclusion' : 'exclusion'} fence polygon ${pi}` });
      }
    }
  });
  for (const c of dec.circles) {
    const cm = typeof marginM === 'number' ? marginM : 0;
    const center = proj.toXY(c.center);
    for (let s = 0; s + 1 < pts.length; s++) {
      const dNear = pointSegmentDistance(center, pts[s], pts[s + 1]);
      const dFar = MMax(dist(center, pts[s]), dist(center, pts[s + 1]));
      const bad = c.inclusion ? dFar > c.radiusM - cm : dNear < c.radiusM + cm;
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
      param1: 0, param2: 0, param3: 0, param4: 0, x: MRound(p.lat * 1e7), y: MRound(p.lon * 1e7), z: altM, missionType: MissionType.RALLY,
    });
  }
  return { items, warnings };
}
