/**
 * Zone validation: a GeoJSON FeatureCollection of operating area, no-fly zones, sealed zones,
 * launch sites and rally points → ParsedZones (deep copies, rings normalised to RFC 7946
 * winding: outer counter-clockwise, holes clockwise). Rings of either winding are accepted; a
 * normalised ring is reported as a WINDING_NORMALISED warning naming the feature.
 *
 * Validation costs O(n log n) in the number of positions whatever their shape (a sweep line finds
 * self-intersections and checks holes: ring-sweep.ts), and the size caps below are checked first.
 */
import { featureLabel, planError, type PlanError, type Warning } from './errors';
import type { LonLat } from './geo';
import { findSelfIntersection, firstPointOutside } from './ring-sweep';

/** Most features a zone collection may have (ZONES_TOO_LARGE beyond). */
export const MAX_FEATURES = 5_000;
/** Most positions one ring may have, its closing position included (ZONES_TOO_LARGE beyond). */
export const MAX_RING_VERTICES = 50_000;
/** Most positions all features together may have, points included (ZONES_TOO_LARGE beyond). */
export const MAX_TOTAL_VERTICES = 200_000;
export type ZoneLimitName = 'MAX_FEATURES' | 'MAX_RING_VERTICES' | 'MAX_TOTAL_VERTICES';

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
  const tooLarge = checkSize(zones.features);
  if (tooLarge) return { ok: false, error: tooLarge };
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

/**
 * The size caps, checked before any geometry is read (a count of array lengths, O(features +
 * rings)): the collection's feature count and total positions first, then each ring's positions.
 * ZONES_TOO_LARGE names the limit; details: {limit, actual, limitName} (and the feature for a ring).
 */
function checkSize(features: unknown[]): PlanError | null {
  const tooLarge = (limitName: ZoneLimitName, limit: number, actual: number, message: string, more: object = {}) =>
    planError('ZONES_TOO_LARGE', message, { limitName, limit, actual, ...more });
  if (features.length > MAX_FEATURES) {
    return tooLarge('MAX_FEATURES', MAX_FEATURES, features.length, `the zones have ${features.length} features; the limit (MAX_FEATURES) is ${MAX_FEATURES}`);
  }
  let total = 0;
  let long: { featureIndex: number; ring: string; length: number } | null = null; // the first ring over the cap
  for (let i = 0; i < features.length; i++) {
    const f = features[i];
    if (!isObj(f) || !isObj(f.geometry)) continue;
    const g = f.geometry;
    if (g.type === 'Point') {
      total += 1;
      continue;
    }
    const polygons: unknown[] = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' && Array.isArray(g.coordinates) ? g.coordinates : [];
    for (let k = 0; k < polygons.length; k++) {
      const p = polygons[k];
      if (!Array.isArray(p)) continue;
      for (let r = 0; r < p.length; r++) {
        if (!Array.isArray(p[r])) continue;
        total += p[r].length;
        if (p[r].length > MAX_RING_VERTICES && !long) {
          long = { featureIndex: i, ring: `${g.type === 'MultiPolygon' ? `part ${k} ` : ''}${r === 0 ? 'outer ring' : `hole ${r}`}`, length: p[r].length };
        }
      }
    }
  }
  if (total > MAX_TOTAL_VERTICES) {
    return tooLarge('MAX_TOTAL_VERTICES', MAX_TOTAL_VERTICES, total, `the zones have ${total} positions in all; the limit (MAX_TOTAL_VERTICES) is ${MAX_TOTAL_VERTICES}`);
  }
  if (long) {
    const f = features[long.featureIndex] as Record<string, unknown>;
    const props = isObj(f.properties) ? f.properties : {};
    const name = typeof props.name === 'string' ? props.name : undefined;
    return tooLarge(
      'MAX_RING_VERTICES',
      MAX_RING_VERTICES,
      long.length,
      `${featureLabel(long.featureIndex, name, props.kind)} ${long.ring}: ${long.length} positions; the limit (MAX_RING_VERTICES) is ${MAX_RING_VERTICES}`,
      { featureIndex: long.featureIndex, name, kind: props.kind },
    );
  }
  return null;
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
  if (rings.length > 1) {
    // Every hole vertex inside (or on) the outer ring, all holes in one sweep: O(n log n).
    const holeOf: number[] = [];
    const points: LonLat[] = [];
    for (let r = 1; r < rings.length; r++) for (const h of rings[r]) points.push(h), holeOf.push(r);
    const out = firstPointOutside(rings[0], points);
    if (out >= 0) return bad(`${label}: hole ${holeOf[out]} is not inside the outer ring`, details);
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
