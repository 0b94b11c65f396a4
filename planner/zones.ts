/**
 * Zone validation: a GeoJSON FeatureCollection of operating area, no-fly zones, sealed zones,
 * launch sites and rally points → ParsedZones (deep copies, rings normalised to RFC 7946
 * winding: outer counter-clockwise, holes clockwise). Rings of either winding are accepted; a
 * normalised ring is reported as a WINDING_NORMALISED warning naming the feature.
 */
import { featureLabel, planError, type PlanError, type Warning } from './errors';
import type { LonLat } from './geo';

export type ZoneKind = 'operating-area' | 'no-fly' | 'sealed-zone' | 'launch-site' | 'rally-point';
export const ZONE_KINDS: readonly ZoneKind[] = ['operating-area', 'no-fly', 'sealed-zone', 'launch-site', 'rally-point'];

/** A polygon as open rings (no repeated closing vertex): [outer, ...holes]. */
export type PolygonLonLat = LonLat[][];

export interface AreaZone { index: number; name?: string; polygon: PolygonLonLat }
export interface NoFlyZone { index: number; name?: string; clearanceM?: number; polygons: PolygonLonLat[] }
export interface SealedZone { index: number; name: string; minAltM?: number; polygon: PolygonLonLat }
export interface SitePoint { index: number; name?: string; lon: number; lat: number }

export interface ParsedZones {
  area: AreaZone;
  noFly: NoFlyZone[];
  sealed: SealedZone[];
  launchSites: (SitePoint & { name: string })[];
  rallyPoints: SitePoint[];
  warnings: Warning[];
}

type Result<T> = { ok: true; value: T } | { ok: false; error: PlanError };

export function validateZones(zones: unknown): { ok: true; zones: ParsedZones } | { ok: false; error: PlanError } {
  try {
    const r = parse(zones);
    return r.ok ? { ok: true, zones: r.value } : r;
  } catch (e) {
    // parse() is written not to throw; this keeps the "never a stack trace" promise regardless.
    return { ok: false, error: planError('INVALID_ZONES', `zones could not be read: ${(e as Error).message}`) };
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parse(zones: unknown): Result<ParsedZones> {
  if (!isObj(zones) || zones.type !== 'FeatureCollection') {
    return { ok: false, error: planError('INVALID_ZONES', 'zones must be a GeoJSON FeatureCollection') };
  }
  if (!Array.isArray(zones.features)) {
    return { ok: false, error: planError('INVALID_ZONES', 'zones.features must be an array') };
  }
  if (zones.features.length === 0) {
    return { ok: false, error: planError('EMPTY_ZONES', 'the zone collection has no features') };
  }
  const out: Omit<ParsedZones, 'area'> & { area?: AreaZone } = { noFly: [], sealed: [], launchSites: [], rallyPoints: [], warnings: [] };
  for (let i = 0; i < zones.features.length; i++) {
    const f = zones.features[i];
    if (!isObj(f) || f.type !== 'Feature') {
      return { ok: false, error: planError('INVALID_ZONES', `feature #${i} is not a GeoJSON Feature`, { featureIndex: i }) };
    }
    const props = isObj(f.properties) ? f.properties : {};
    const kind = props.kind;
    const name = props.name;
    const label = featureLabel(i, name, kind);
    const details = { featureIndex: i, name: typeof name === 'string' ? name : undefined, kind };
    if (typeof kind !== 'string' || !(ZONE_KINDS as readonly string[]).includes(kind)) {
      return { ok: false, error: planError('INVALID_ZONES', `${label}: properties.kind must be one of ${ZONE_KINDS.join(', ')}`, details) };
    }
    if (name !== undefined && typeof name !== 'string') {
      return { ok: false, error: planError('INVALID_PROPERTIES', `${label}: name must be a string`, details) };
    }
    const g = f.geometry;
    if (!isObj(g)) return { ok: false, error: planError('INVALID_GEOMETRY', `${label}: geometry is missing`, details) };
    const nm = typeof name === 'string' && name.length > 0 ? { name } : {};
    switch (kind as ZoneKind) {
      case 'operating-area': {
        if (g.type !== 'Polygon') return bad(`${label}: an operating area must be a Polygon, got ${String(g.type)}`, details);
        const p = readPolygon(g.coordinates, label, details, out.warnings);
        if (!p.ok) return p;
        if (out.area) {
          return { ok: false, error: planError('MULTIPLE_OPERATING_AREAS', `${label}: there is already an operating area (feature #${out.area.index})`, details) };
        }
        out.area = { index: i, ...nm, polygon: p.value };
        break;
      }
      case 'no-fly': {
        let polys: PolygonLonLat[] = [];
        if (g.type === 'Polygon') {
          const p = readPolygon(g.coordinates, label, details, out.warnings);
          if (!p.ok) return p;
          polys = [p.value];
        } else if (g.type === 'MultiPolygon') {
          if (!Array.isArray(g.coordinates) || g.coordinates.length === 0) return bad(`${label}: MultiPolygon has no polygons`, details);
          for (let k = 0; k < g.coordinates.length; k++) {
            const p = readPolygon(g.coordinates[k], `${label} part ${k}`, details, out.warnings);
            if (!p.ok) return p;
            polys.push(p.value);
          }
        } else return bad(`${label}: a no-fly zone must be a Polygon or MultiPolygon, got ${String(g.type)}`, details);
        const c = props.clearanceM;
        if (c !== undefined && (typeof c !== 'number' || !Number.isFinite(c) || c < 0 || c > 10000)) {
          return { ok: false, error: planError('INVALID_PROPERTIES', `${label}: clearanceM must be a number from 0 to 10000 metres`, details) };
        }
        out.noFly.push({ index: i, ...nm, ...(c !== undefined ? { clearanceM: c as number } : {}), polygons: polys });
        break;
      }
      case 'sealed-zone': {
        if (g.type !== 'Polygon') return bad(`${label}: a sealed zone must be a Polygon, got ${String(g.type)}`, details);
        if (typeof name !== 'string' || name.length === 0) {
          return { ok: false, error: planError('INVALID_PROPERTIES', `${label}: a sealed zone needs a name`, details) };
        }
        const m = props.minAltM;
        if (m !== undefined && (typeof m !== 'number' || !Number.isFinite(m) || m < 0 || m > 500)) {
          return { ok: false, error: planError('INVALID_PROPERTIES', `${label}: minAltM must be a number from 0 to 500 metres`, details) };
        }
        const p = readPolygon(g.coordinates, label, details, out.warnings);
        if (!p.ok) return p;
        out.sealed.push({ index: i, name, ...(m !== undefined ? { minAltM: m as number } : {}), polygon: p.value });
        break;
      }
      case 'launch-site':
      case 'rally-point': {
        if (g.type !== 'Point') return bad(`${label}: a ${kind} must be a Point, got ${String(g.type)}`, details);
        const pos = readPosition(g.coordinates, label, details);
        if (!pos.ok) return pos;
        if (kind === 'launch-site') {
          if (typeof name !== 'string' || name.length === 0) {
            return { ok: false, error: planError('INVALID_PROPERTIES', `${label}: a launch site needs a name`, details) };
          }
          const dup = out.launchSites.find((s) => s.name === name);
          if (dup) return { ok: false, error: planError('DUPLICATE_LAUNCH_SITE', `${label}: launch site name "${name}" is already used by feature #${dup.index}`, details) };
          out.launchSites.push({ index: i, name, lon: pos.value[0], lat: pos.value[1] });
        } else {
          out.rallyPoints.push({ index: i, ...nm, lon: pos.value[0], lat: pos.value[1] });
        }
        break;
      }
    }
  }
  if (!out.area) {
    return { ok: false, error: planError('MISSING_OPERATING_AREA', 'the zones have no feature with kind "operating-area"') };
  }
  return { ok: true, value: out as ParsedZones };
}

function bad(message: string, details: unknown): { ok: false; error: PlanError } {
  return { ok: false, error: planError('INVALID_GEOMETRY', message, details) };
}

function readPosition(c: unknown, label: string, details: object): Result<LonLat> {
  if (!Array.isArray(c) || c.length < 2 || c.length > 3) return bad(`${label}: a position must be [lon, lat] or [lon, lat, alt]`, details);
  const [lon, lat] = c;
  if (typeof lon !== 'number' || typeof lat !== 'number' || !Number.isFinite(lon) || !Number.isFinite(lat)) {
    return bad(`${label}: coordinates must be finite numbers, got [${String(lon)}, ${String(lat)}]`, details);
  }
  if (lon < -180 || lon > 180 || lat < -90 || lat > 90) {
    return bad(`${label}: coordinate [${lon}, ${lat}] is out of range (lon −180…180, lat −90…90)`, { ...details, position: [lon, lat] });
  }
  return { ok: true, value: [lon, lat] };
}

function readPolygon(c: unknown, label: string, details: object, warnings: Warning[]): Result<PolygonLonLat> {
  if (!Array.isArray(c) || c.length === 0) return bad(`${label}: a polygon needs at least one ring`, details);
  const rings: LonLat[][] = [];
  for (let r = 0; r < c.length; r++) {
    const ringLabel = `${label} ${r === 0 ? 'outer ring' : `hole ${r}`}`;
    const raw = c[r];
    if (!Array.isArray(raw)) return bad(`${ringLabel}: a ring must be an array of positions`, details);
    const pts: LonLat[] = [];
    for (let k = 0; k < raw.length; k++) {
      const p = readPosition(raw[k], `${ringLabel} position ${k}`, details);
      if (!p.ok) return p;
      pts.push(p.value);
    }
    if (pts.length < 4) return bad(`${ringLabel}: a ring needs at least 4 positions (3 corners and the closing one), got ${pts.length}`, details);
    const first = pts[0], last = pts[pts.length - 1];
    if (first[0] !== last[0] || first[1] !== last[1]) {
      return bad(`${ringLabel}: the ring is not closed (first position [${first}] ≠ last [${last}])`, details);
    }
    // open ring without consecutive duplicates
    const open: LonLat[] = [];
    for (let k = 0; k < pts.length - 1; k++) {
      const prev = open[open.length - 1];
      if (prev && prev[0] === pts[k][0] && prev[1] === pts[k][1]) continue;
      open.push(pts[k]);
    }
    if (open.length > 1 && open[0][0] === open[open.length - 1][0] && open[0][1] === open[open.length - 1][1]) open.pop();
    if (open.length < 3) return bad(`${ringLabel}: the ring has fewer than 3 distinct corners`, details);
    const area = signedAreaLonLat(open);
    if (area === 0) return bad(`${ringLabel}: the ring has no area`, details);
    const kink = findSelfIntersection(open);
    if (kink) return bad(`${ringLabel}: the ring intersects itself near [${kink[0].toFixed(7)}, ${kink[1].toFixed(7)}]`, { ...details, near: kink });
    const wantCcw = r === 0;
    if ((area > 0) !== wantCcw) {
      open.reverse();
      warnings.push({ code: 'WINDING_NORMALISED', message: `${ringLabel}: clockwise ${r === 0 ? 'outer ring' : 'hole'} accepted and reversed (RFC 7946 right-hand rule)`, details });
    }
    rings.push(open);
  }
  for (let r = 1; r < rings.length; r++) {
    for (const h of rings[r]) {
      if (!pointInRingLonLat(h, rings[0])) return bad(`${label}: hole ${r} is not inside the outer ring`, details);
    }
  }
  return { ok: true, value: rings };
}

function signedAreaLonLat(ring: LonLat[]): number {
  let s = 0;
  for (let i = 0; i < ring.length; i++) {
    const a = ring[i], b = ring[(i + 1) % ring.length];
    s += a[0] * b[1] - b[0] * a[1];
  }
  return s / 2;
}

function pointInRingLonLat(p: LonLat, ring: LonLat[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i], b = ring[j];
    if (a[1] > p[1] !== b[1] > p[1] && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0]) inside = !inside;
  }
  return inside;
}

function orient(a: LonLat, b: LonLat, c: LonLat): number {
  return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

/** First crossing between non-adjacent edges of an open ring, or null. O(n log n)-ish via x-sorting. */
function findSelfIntersection(ring: LonLat[]): LonLat | null {
  const n = ring.length;
  const edges = ring.map((a, i) => {
    const b = ring[(i + 1) % n];
    return { i, minX: Math.min(a[0], b[0]), maxX: Math.max(a[0], b[0]) };
  });
  edges.sort((p, q) => p.minX - q.minX || p.i - q.i);
  for (let s = 0; s < edges.length; s++) {
    const e = edges[s];
    for (let t = s + 1; t < edges.length && edges[t].minX <= e.maxX; t++) {
      const f = edges[t];
      const i = e.i, j = f.i;
      if (Math.abs(i - j) === 1 || Math.abs(i - j) === n - 1) {
        // adjacent edges only meet at their shared vertex unless they fold back onto each other
        const [k, m] = (j === (i + 1) % n) ? [i, j] : [j, i];
        const a = ring[k], v = ring[m], b = ring[(m + 1) % n];
        if (orient(a, v, b) === 0 && (b[0] - v[0]) * (a[0] - v[0]) + (b[1] - v[1]) * (a[1] - v[1]) > 0) return v;
        continue;
      }
      const a1 = ring[i], a2 = ring[(i + 1) % n], b1 = ring[j], b2 = ring[(j + 1) % n];
      const d1 = orient(b1, b2, a1), d2 = orient(b1, b2, a2), d3 = orient(a1, a2, b1), d4 = orient(a1, a2, b2);
      const proper = ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0));
      const touch = (d1 === 0 && within(b1, b2, a1)) || (d2 === 0 && within(b1, b2, a2)) || (d3 === 0 && within(a1, a2, b1)) || (d4 === 0 && within(a1, a2, b2));
      if (proper || touch) return a1;
    }
  }
  return null;
}

function within(a: LonLat, b: LonLat, p: LonLat): boolean {
  return Math.min(a[0], b[0]) <= p[0] && p[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= p[1] && p[1] <= Math.max(a[1], b[1]);
}
