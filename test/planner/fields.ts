/**
 * Random dense fields for the fence and determinism properties: a concave operating area 3–12 km
 * across, up to 300 no-fly features (star polygons, some MultiPolygons, some with their own
 * clearance, a few below the fence margin), launch sites and rally points, all from one seed.
 */
import { rng } from './helpers';

const LON0 = 114.39, LAT0 = 34.06;
const KX = 6371008.8 * Math.cos((LAT0 * Math.PI) / 180) * (Math.PI / 180);
const KY = 6371008.8 * (Math.PI / 180);
export const llOf = (x: number, y: number): [number, number] => [LON0 + x / KX, LAT0 + y / KY];

function star(R: () => number, cx: number, cy: number, r: number, m: number, minF: number): [number, number][] {
  const ph = R() * Math.PI * 2;
  const pts: [number, number][] = [];
  for (let k = 0; k < m; k++) {
    const a = ph + (k / m) * Math.PI * 2;
    const rr = r * (minF + (1 - minF) * R());
    pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
  }
  return pts;
}
const ring = (p: [number, number][]) => { const r = p.map(([x, y]) => llOf(x, y)); return [...r, r[0]]; };

export interface DenseField {
  zones: any;
  /** Half the operating area's extent, metres (points drawn within 0.8 of it). */
  sizeM: number;
  /** Deterministic PRNG continuing the field's seed, for drawing points. */
  R: () => number;
}

/** A field of `count` no-fly features (0–300) from `seed`. */
export function denseField(seed: number, count: number): DenseField {
  const R = rng(seed);
  const sizeM = 1500 + R() * 4500;
  const features: any[] = [{ type: 'Feature', properties: { kind: 'operating-area', name: 'field' }, geometry: { type: 'Polygon', coordinates: [ring(star(R, 0, 0, sizeM, 8 + Math.floor(R() * 9), 0.6))] } }];
  for (let i = 0; i < count; i++) {
    const cx = (R() * 2 - 1) * sizeM, cy = (R() * 2 - 1) * sizeM;
    const r = 20 + R() * 180, m = 3 + Math.floor(R() * 14);
    const props: Record<string, unknown> = { kind: 'no-fly', name: `z${i}` };
    if (R() < 0.15) props.clearanceM = Math.round(R() * 60);
    if (R() < 0.1) {
      features.push({ type: 'Feature', properties: props, geometry: { type: 'MultiPolygon', coordinates: [[ring(star(R, cx, cy, r * 0.5, m, 0.45))], [ring(star(R, cx + r * 1.5, cy, r * 0.5, m, 0.45))]] } });
    } else {
      features.push({ type: 'Feature', properties: props, geometry: { type: 'Polygon', coordinates: [ring(star(R, cx, cy, r, m, 0.45))] } });
    }
  }
  for (let k = 0; k < 4; k++) features.push({ type: 'Feature', properties: { kind: 'rally-point', name: `rally ${k}` }, geometry: { type: 'Point', coordinates: llOf((R() * 2 - 1) * sizeM * 0.5, (R() * 2 - 1) * sizeM * 0.5) } });
  return { zones: { type: 'FeatureCollection', features }, sizeM, R };
}
