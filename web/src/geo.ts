/** GeoJSON helpers for the map: coordinate mapping (datum shifts) and MAVLink fence items → shapes. */
import type { Feature, FeatureCollection, Geometry, Position } from 'geojson';
import type { MissionItemJson } from './types';

/** Returns a deep copy of `g` with every [lon, lat] position passed through `fn`. Never mutates `g`. */
export function mapPositions<T extends Geometry | Feature | FeatureCollection>(g: T, fn: (p: Position) => Position): T {
  const mapCoords = (c: unknown): unknown => {
    if (Array.isArray(c) && typeof c[0] === 'number') return fn(c as Position);
    if (Array.isArray(c)) return c.map(mapCoords);
    return c;
  };
  const mapGeom = (geom: Geometry | null): Geometry | null => {
    if (!geom) return geom;
    if (geom.type === 'GeometryCollection') return { ...geom, geometries: geom.geometries.map((x) => mapGeom(x) as Geometry) };
    return { ...geom, coordinates: mapCoords((geom as { coordinates: unknown }).coordinates) } as Geometry;
  };
  if (g.type === 'FeatureCollection') {
    return { ...g, features: g.features.map((f) => ({ ...f, properties: f.properties ? { ...f.properties } : f.properties, geometry: mapGeom(f.geometry) as Geometry })) } as T;
  }
  if (g.type === 'Feature') return { ...g, properties: g.properties ? { ...g.properties } : g.properties, geometry: mapGeom(g.geometry) as Geometry } as T;
  return mapGeom(g as Geometry) as T;
}

export type FenceShape =
  | { kind: 'inclusion' | 'exclusion'; type: 'polygon'; latLons: Array<[number, number]> }
  | { kind: 'inclusion' | 'exclusion'; type: 'circle'; center: [number, number]; radiusM: number };

/**
 * Reads fence items (MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION 5001 / EXCLUSION 5002 runs with
 * param1 = vertex count; CIRCLE_INCLUSION 5003 / EXCLUSION 5004 with param1 = radius m) into shapes.
 * Positions are [lat, lon] in degrees. Malformed runs are skipped, never guessed.
 */
export function fenceShapes(items: MissionItemJson[] | null | undefined): FenceShape[] {
  const out: FenceShape[] = [];
  if (!Array.isArray(items)) return out;
  let i = 0;
  while (i < items.length) {
    const it = items[i];
    if (it.command === 5001 || it.command === 5002) {
      const n = Math.round(it.param1);
      const run = items.slice(i, i + n);
      if (n >= 3 && run.length === n && run.every((r) => r.command === it.command)) {
        out.push({ kind: it.command === 5001 ? 'inclusion' : 'exclusion', type: 'polygon', latLons: run.map((r) => [r.x / 1e7, r.y / 1e7]) });
        i += n;
        continue;
      }
      i++;
    } else if (it.command === 5003 || it.command === 5004) {
      out.push({ kind: it.command === 5003 ? 'inclusion' : 'exclusion', type: 'circle', center: [it.x / 1e7, it.y / 1e7], radiusM: it.param1 });
      i++;
    } else i++;
  }
  return out;
}

/** Rally points (5100) as [lat, lon]. */
export function rallyPoints(items: MissionItemJson[] | null | undefined): Array<[number, number]> {
  if (!Array.isArray(items)) return [];
  return items.filter((r) => r.command === 5100).map((r) => [r.x / 1e7, r.y / 1e7]);
}

/** Parses "lat, lon" or "lat lon" typed by a person; returns null when it is not a valid position. */
export function parseLatLon(text: string): { lat: number; lon: number } | null {
  const m = text.trim().match(/^(-?\d+(?:\.\d+)?)\s*[,\s]\s*(-?\d+(?:\.\d+)?)$/);
  if (!m) return null;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { lat, lon };
}

/** Great-circle distance in metres (haversine, mean Earth radius). */
export function haversineM(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const R = 6371008.8;
  const r = Math.PI / 180;
  const dLat = (lat2 - lat1) * r;
  const dLon = (lon2 - lon1) * r;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Twice the signed area of a ring in degrees (shoelace, x = lon, y = lat): positive when anticlockwise. */
export function ringArea2(ring: Position[]): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return a;
}

/**
 * A Polygon or MultiPolygon wound as RFC 7946 says (outer rings anticlockwise, holes clockwise), as a
 * copy: a shape drawn clockwise in the editor is stored the right way round, so no plan warns about it.
 */
export function rewind<T extends Geometry | null>(g: T): T {
  if (!g) return g;
  const fix = (rings: Position[][]) => rings.map((r, i) => ((ringArea2(r) > 0) === (i === 0) ? r : [...r].reverse()));
  if (g.type === 'Polygon') return { ...g, coordinates: fix(g.coordinates) } as T;
  if (g.type === 'MultiPolygon') return { ...g, coordinates: g.coordinates.map(fix) } as T;
  return g;
}
