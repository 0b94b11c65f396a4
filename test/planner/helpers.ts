import * as fs from 'fs';
import * as path from 'path';
import { mulberry32 } from '../../sims/index';

export const DEMO_ZONES_PATH = path.join(__dirname, '..', '..', 'planner', 'fixtures', 'demo-zones.geojson');

export function demoZones(): any {
  return JSON.parse(fs.readFileSync(DEMO_ZONES_PATH, 'utf8'));
}

/** Drop points inside the demo's sealed zones. */
export const DEMO_DROPS = {
  riverside: [114.4023209, 34.0677342] as [number, number],
  garden: [114.3799044, 34.0658456] as [number, number],
  xinhua: [114.3944507, 34.0514565] as [number, number],
};

/** Deterministic PRNG (mulberry32) for generated obstacle fields. */
export const rng = mulberry32;

const LON0 = 114.39, LAT0 = 34.06;
const KX = 6371008.8 * Math.cos((LAT0 * Math.PI) / 180) * (Math.PI / 180);
const KY = 6371008.8 * (Math.PI / 180);
/** Metres east/north of 34.06 N 114.39 E → [lon, lat]. */
export function ll(x: number, y: number): [number, number] {
  return [LON0 + x / KX, LAT0 + y / KY];
}
export function ringLL(pts: [number, number][]): [number, number][] {
  const r = pts.map(([x, y]) => ll(x, y));
  return [...r, r[0]];
}
export function polygonFeature(props: Record<string, unknown>, pts: [number, number][]): any {
  return { type: 'Feature', properties: props, geometry: { type: 'Polygon', coordinates: [ringLL(pts)] } };
}
export function pointFeature(props: Record<string, unknown>, x: number, y: number): any {
  return { type: 'Feature', properties: props, geometry: { type: 'Point', coordinates: ll(x, y) } };
}
export function square(cx: number, cy: number, half: number): [number, number][] {
  return [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]];
}

/**
 * A city of `count` rectangular no-fly blocks on a jittered grid inside a square operating area of
 * `sizeM`, with a launch site at the south-west and free corridors between blocks.
 */
export function syntheticCity(seed: number, count: number, sizeM: number): any {
  const r = rng(seed);
  const half = sizeM / 2;
  const features: any[] = [polygonFeature({ kind: 'operating-area', name: 'city' }, square(0, 0, half))];
  const n = Math.ceil(Math.sqrt(count));
  const pitch = (sizeM - 400) / n;
  let k = 0;
  for (let j = 0; j < n && k < count; j++) {
    for (let i = 0; i < n && k < count; i++, k++) {
      const cx = -half + 200 + pitch * (i + 0.5) + (r() - 0.5) * pitch * 0.2;
      const cy = -half + 200 + pitch * (j + 0.5) + (r() - 0.5) * pitch * 0.2;
      const w = pitch * (0.15 + r() * 0.2), h = pitch * (0.15 + r() * 0.2);
      features.push(polygonFeature({ kind: 'no-fly', name: `block ${k}` }, [[cx - w, cy - h], [cx + w, cy - h], [cx + w, cy + h], [cx - w, cy + h]]));
    }
  }
  features.push(pointFeature({ kind: 'launch-site', name: 'SW' }, -half + 60, -half + 60));
  return { type: 'FeatureCollection', features };
}

/**
 * A county-scale field: `count` star-shaped no-fly polygons (12–28 vertices, about 20 on average)
 * on a jittered grid inside a square operating area of `sizeM`, and four launch sites near the
 * corners ("North West", ...) on free ground.
 */
export function countyField(seed: number, count = 1000, sizeM = 12000): any {
  const r = rng(seed);
  const half = sizeM / 2;
  const features: any[] = [polygonFeature({ kind: 'operating-area', name: 'county' }, square(0, 0, half))];
  const sites: [string, number, number][] = [['South West', -half + 150, -half + 150], ['South East', half - 150, -half + 150], ['North East', half - 150, half - 150], ['North West', -half + 150, half - 150]];
  const n = Math.ceil(Math.sqrt(count));
  const pitch = (sizeM - 600) / n;
  let k = 0;
  for (let j = 0; j < n && k < count; j++) {
    for (let i = 0; i < n && k < count; i++) {
      const cx = -half + 300 + pitch * (i + 0.5) + (r() - 0.5) * pitch * 0.5;
      const cy = -half + 300 + pitch * (j + 0.5) + (r() - 0.5) * pitch * 0.5;
      const r0 = 30 + r() * 80;
      const m = 12 + Math.floor(r() * 17);
      if (sites.some(([, x, y]) => Math.hypot(cx - x, cy - y) < r0 + 150)) { r(); continue; }
      const pts: [number, number][] = [];
      const phase = r() * Math.PI * 2;
      for (let v = 0; v < m; v++) {
        const a = phase + (v / m) * Math.PI * 2;
        const rad = r0 * (0.55 + 0.45 * r());
        pts.push([cx + rad * Math.cos(a), cy + rad * Math.sin(a)]);
      }
      features.push(polygonFeature({ kind: 'no-fly', name: `zone ${k}` }, pts));
      k++;
    }
  }
  for (const [name, x, y] of sites) features.push(pointFeature({ kind: 'launch-site', name }, x, y));
  return { type: 'FeatureCollection', features };
}
