/**
 * The zones of one planner in its local frame (metres), projected and indexed once and shared by
 * every plan on those zones: the no-fly polygon parts and the operating area's holes (things the
 * route keeps clear of and the fence may have to exclude), the operating area's rings and edges
 * (the fence never leaves the area), and the sealed zones (altitude minimums).
 */
import Flatbush from 'flatbush';
import { pointInRing, ringSignedArea, segmentsIntersect, type LocalProjection, type XY } from './geo';
import type { ParsedZones } from './zones';

// Math's functions as module constants (global lookups are slow in a vm context such as jest's).
const { min: MMin, max: MMax } = Math;

export interface ZonePart {
  /** Index into ParsedZones.noFly, or -1 for a hole of the operating area. */
  zone: number;
  featureIndex: number;
  /** Part of a MultiPolygon (0 for a Polygon), or the hole's number for an area hole. */
  part: number;
  name?: string;
  kind: 'no-fly' | 'area-hole';
  /** The zone's own clearanceM; undefined: the request's clearanceM (area holes: its areaMarginM). */
  clearanceM?: number;
  /** Outer ring, counter-clockwise, open. */
  ring: XY[];
  /** Holes, clockwise, open (a fence cannot represent them). */
  holes: XY[][];
  minX: number; minY: number; maxX: number; maxY: number;
}

export interface SealedPart { index: number; name: string; minAltM?: number; polygon: XY[][]; minX: number; minY: number; maxX: number; maxY: number }

export interface ZoneIndex {
  projection: LocalProjection;
  parts: ZonePart[];
  /** Bounding boxes of parts (null without parts). */
  partIndex: Flatbush | null;
  /** Operating area: outer ring (CCW) then holes, open rings. */
  areaRings: XY[][];
  /** Area edges x1, y1, x2, y2 (outer ring and holes) and their index. */
  areaEdges: Float64Array;
  areaEdgeIndex: Flatbush;
  sealed: SealedPart[];
  sealedIndex: Flatbush | null;
  /** The largest clearanceM a no-fly zone sets itself (0 without), metres. */
  maxZoneClearanceM: number;
}

function bbox(ring: XY[]): { minX: number; minY: number; maxX: number; maxY: number } {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [x, y] of ring) { if (x < minX) minX = x; if (y < minY) minY = y; if (x > maxX) maxX = x; if (y > maxY) maxY = y; }
  return { minX, minY, maxX, maxY };
}

function ccw(r: XY[]): XY[] {
  return ringSignedArea(r) > 0 ? r : [...r].reverse();
}

export function buildZoneIndex(z: ParsedZones, proj: LocalProjection): ZoneIndex {
  const parts: ZonePart[] = [];
  z.noFly.forEach((nf, zi) => {
    nf.polygons.forEach((poly, k) => {
      const rings = poly.map((r) => r.map((c) => proj.toXY(c)));
      const ring = ccw(rings[0]);
      parts.push({
        zone: zi, featureIndex: nf.index, part: k, ...(nf.name ? { name: nf.name } : {}), kind: 'no-fly',
        ...(nf.clearanceM !== undefined ? { clearanceM: nf.clearanceM } : {}),
        ring, holes: rings.slice(1).map((h) => (ringSignedArea(h) < 0 ? h : [...h].reverse())), ...bbox(ring),
      });
    });
  });
  const areaRings = z.area.polygon.map((r, k) => {
    const xy = r.map((c) => proj.toXY(c));
    return k === 0 ? ccw(xy) : ringSignedArea(xy) < 0 ? xy : [...xy].reverse();
  });
  for (let h = 1; h < areaRings.length; h++) {
    const ring = [...areaRings[h]].reverse(); // the hole as a solid, counter-clockwise
    parts.push({ zone: -1, featureIndex: z.area.index, part: h, kind: 'area-hole', ring, holes: [], ...bbox(ring) });
  }
  let partIndex: Flatbush | null = null;
  if (parts.length > 0) {
    partIndex = new Flatbush(parts.length);
    for (const p of parts) partIndex.add(p.minX, p.minY, p.maxX, p.maxY);
    partIndex.finish();
  }
  let n = 0;
  for (const r of areaRings) n += r.length;
  const areaEdges = new Float64Array(n * 4);
  const areaEdgeIndex = new Flatbush(MMax(1, n));
  let e = 0;
  for (const r of areaRings) {
    for (let i = 0; i < r.length; i++) {
      const a = r[i], b = r[(i + 1) % r.length];
      areaEdges[e * 4] = a[0]; areaEdges[e * 4 + 1] = a[1]; areaEdges[e * 4 + 2] = b[0]; areaEdges[e * 4 + 3] = b[1];
      areaEdgeIndex.add(MMin(a[0], b[0]), MMin(a[1], b[1]), MMax(a[0], b[0]), MMax(a[1], b[1]));
      e++;
    }
  }
  if (n === 0) areaEdgeIndex.add(0, 0, 0, 0);
  areaEdgeIndex.finish();
  const sealed: SealedPart[] = z.sealed.map((s) => {
    const polygon = s.polygon.map((r) => r.map((c) => proj.toXY(c)));
    return { index: s.index, name: s.name, ...(s.minAltM !== undefined ? { minAltM: s.minAltM } : {}), polygon, ...bbox(polygon[0]) };
  });
  let sealedIndex: Flatbush | null = null;
  if (sealed.length > 0) {
    sealedIndex = new Flatbush(sealed.length);
    for (const s of sealed) sealedIndex.add(s.minX, s.minY, s.maxX, s.maxY);
    sealedIndex.finish();
  }
  const maxZoneClearanceM = z.noFly.reduce((m, nf) => MMax(m, nf.clearanceM ?? 0), 0);
  return { projection: proj, parts, partIndex, areaRings, areaEdges, areaEdgeIndex, sealed, sealedIndex, maxZoneClearanceM };
}

/** Part ids whose bounding box meets the box, ascending (a stable order whatever the index does). */
export function partsInBox(zi: ZoneIndex, minX: number, minY: number, maxX: number, maxY: number): number[] {
  if (!zi.partIndex) return [];
  const ids = zi.partIndex.search(minX, minY, maxX, maxY);
  ids.sort((a, b) => a - b);
  return ids;
}

/** Inside the part's outer ring and not in one of its holes. */
export function pointInPart(p: XY, part: ZonePart): boolean {
  if (p[0] < part.minX || p[0] > part.maxX || p[1] < part.minY || p[1] > part.maxY) return false;
  if (!pointInRing(p, part.ring)) return false;
  for (const h of part.holes) if (pointInRing(p, h)) return false;
  return true;
}

/** Inside the operating area (outer ring, not in a hole). */
export function pointInArea(zi: ZoneIndex, p: XY): boolean {
  if (!pointInRing(p, zi.areaRings[0])) return false;
  for (let h = 1; h < zi.areaRings.length; h++) if (pointInRing(p, zi.areaRings[h])) return false;
  return true;
}

/** True when segment a–b touches an edge of the operating area (outer ring or a hole). */
export function segmentHitsArea(zi: ZoneIndex, a: XY, b: XY): boolean {
  const E = zi.areaEdges;
  return zi.areaEdgeIndex.collides(MMin(a[0], b[0]), MMin(a[1], b[1]), MMax(a[0], b[0]), MMax(a[1], b[1]), (i) =>
    i * 4 < E.length && segmentsIntersect(a, b, [E[i * 4], E[i * 4 + 1]], [E[i * 4 + 2], E[i * 4 + 3]]));
}
