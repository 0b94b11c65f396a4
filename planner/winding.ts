/**
 * Zones stored the right way round: every Polygon and MultiPolygon of a FeatureCollection rewound as
 * RFC 7946 says (outer rings anticlockwise, holes clockwise), as the zone editor stores what is drawn.
 * Validation accepts either winding and warns (WINDING_NORMALISED); an imported file normalised once
 * at save time never warns again in any plan made against it.
 */

type Ring = unknown[];

/** Twice the signed area of a ring (x = lon, y = lat): positive when anticlockwise. */
function area2(ring: Ring): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const p = ring[i] as number[];
    const q = ring[j] as number[];
    a += (q[0] - p[0]) * (q[1] + p[1]);
  }
  return a;
}

function fixRings(rings: unknown): unknown {
  if (!Array.isArray(rings)) return rings;
  return rings.map((r, i) => {
    if (!Array.isArray(r) || r.length < 3) return r;
    const a = area2(r);
    return a === 0 || (a > 0) === (i === 0) ? r : [...r].reverse();
  });
}

function fixGeometry(g: unknown): unknown {
  if (!g || typeof g !== 'object') return g;
  const geom = g as { type?: unknown; coordinates?: unknown; geometries?: unknown };
  if (geom.type === 'Polygon') return { ...geom, coordinates: fixRings(geom.coordinates) };
  if (geom.type === 'MultiPolygon' && Array.isArray(geom.coordinates)) return { ...geom, coordinates: geom.coordinates.map(fixRings) };
  if (geom.type === 'GeometryCollection' && Array.isArray(geom.geometries)) return { ...geom, geometries: geom.geometries.map(fixGeometry) };
  return g;
}

/**
 * A copy of a (shape-checked) FeatureCollection with its rings wound anticlockwise outside and
 * clockwise for holes, and how many rings were reversed. Anything that is not a polygon is kept as is.
 */
export function normaliseWinding<T>(fc: T): { fc: T; reversed: number } {
  const src = fc as { features?: unknown };
  if (!src || typeof src !== 'object' || !Array.isArray(src.features)) return { fc, reversed: 0 };
  let reversed = 0;
  const features = src.features.map((f) => {
    if (!f || typeof f !== 'object') return f;
    const feat = f as { geometry?: unknown };
    const before = feat.geometry;
    const after = fixGeometry(before);
    if (after === before) return f;
    reversed += countReversed(before, after);
    return { ...feat, geometry: after };
  });
  return { fc: { ...(fc as object), features } as T, reversed };
}

function countReversed(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    // A ring is an array of positions: reversed when it is a different array.
    if (a.length && Array.isArray(a[0]) && typeof (a[0] as unknown[])[0] === 'number') return a === b ? 0 : 1;
    return a.reduce((n: number, x, i) => n + countReversed(x, b[i]), 0);
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ga = a as { coordinates?: unknown; geometries?: unknown };
    const gb = b as { coordinates?: unknown; geometries?: unknown };
    return countReversed(ga.coordinates, gb.coordinates) + countReversed(ga.geometries, gb.geometries);
  }
  return 0;
}
