import fs from 'fs';
import path from 'path';

/**
 * The zones the service and console tests are written against (their drop points, no-fly zones and
 * launch sites). The demo that `npm start` loads is the Fugou scenario in sims/scenarios/.
 */
export const TEST_ZONES_FILE = path.join(__dirname, '..', '..', 'planner', 'fixtures', 'demo-zones.geojson');

/**
 * A simple ring of `positions` positions (the closing one included) shaped as a zigzag whose edges
 * all overlap in longitude: the shape that made the old pairwise self-intersection check quadratic.
 * Spans 0.002° × 0.004° from [lon0, lat0], inside the demo operating area by default. With
 * `selfIntersecting`, one vertex near the end pokes out through the ring's closing edge.
 */
export function zigzagRing(positions: number, opts: { lon0?: number; lat0?: number; selfIntersecting?: boolean } = {}): [number, number][] {
  const lon0 = opts.lon0 ?? 114.392, lat0 = opts.lat0 ?? 34.055, w = 0.002, h = 0.004;
  const m = positions - 3;
  const d = h / m;
  const pts: [number, number][] = [];
  for (let k = 0; k < m; k++) pts.push([lon0 + (k % 2 ? w : 0), lat0 + k * d]);
  pts.push([lon0 - w / 2, lat0 + (m - 1) * d], [lon0 - w / 2, lat0]);
  if (opts.selfIntersecting) pts[Math.floor(m * 0.9) | 1][0] = lon0 - w;
  pts.push(pts[0]);
  return pts;
}

/** The test zones plus one no-fly zone shaped by `zigzagRing` (its feature index: `featureIndex`). */
export function zonesWithZigzag(positions: number, opts: { selfIntersecting?: boolean; name?: string } = {}): { zones: any; featureIndex: number } {
  const zones = JSON.parse(fs.readFileSync(TEST_ZONES_FILE, 'utf8'));
  zones.features.push({ type: 'Feature', properties: { kind: 'no-fly', name: opts.name ?? 'zigzag' }, geometry: { type: 'Polygon', coordinates: [zigzagRing(positions, opts)] } });
  return { zones, featureIndex: zones.features.length - 1 };
}
