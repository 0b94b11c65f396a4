/**
 * Imported zones are stored the right way round (issue 13, problem 6): a GeoJSON or KML file with
 * clockwise outer rings is accepted, told once at import (WINDING_NORMALISED), and stored with its
 * rings rewound as the zone editor stores them, so no plan made against it warns again.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { Client } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { normaliseWinding } from '../../planner/winding';

jest.setTimeout(60_000);

const XINHUA_BLOCK: [number, number] = [114.39445, 34.05146]; // a sealed zone of the test zones

type Ring = number[][];
const area2 = (ring: Ring) => {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return a;
};

/** The test zones with every polygon's outer ring turned clockwise. */
function clockwiseZones(): any {
  const zones = JSON.parse(fs.readFileSync(TEST_ZONES_FILE, 'utf8'));
  for (const f of zones.features) if (f.geometry?.type === 'Polygon') f.geometry.coordinates[0] = area2(f.geometry.coordinates[0]) > 0 ? [...f.geometry.coordinates[0]].reverse() : f.geometry.coordinates[0];
  return zones;
}

function polygonsOf(zones: any): Ring[][] {
  return zones.features.filter((f: any) => f.geometry?.type === 'Polygon').map((f: any) => f.geometry.coordinates);
}

function toKml(zones: any): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const placemark = (f: any) => {
    const name = `<name>${esc(String(f.properties?.name ?? ''))}</name><ExtendedData><Data name="kind"><value>${esc(String(f.properties?.kind ?? ''))}</value></Data></ExtendedData>`;
    if (f.geometry.type === 'Point') return `<Placemark>${name}<Point><coordinates>${f.geometry.coordinates.join(',')}</coordinates></Point></Placemark>`;
    const ring = (r: Ring) => `<LinearRing><coordinates>${r.map((p) => p.join(',')).join(' ')}</coordinates></LinearRing>`;
    const [outer, ...holes] = f.geometry.coordinates as Ring[];
    return `<Placemark>${name}<Polygon><outerBoundaryIs>${ring(outer)}</outerBoundaryIs>${holes.map((h) => `<innerBoundaryIs>${ring(h)}</innerBoundaryIs>`).join('')}</Polygon></Placemark>`;
  };
  return `<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>${zones.features.map(placemark).join('')}</Document></kml>`;
}

describe('normaliseWinding', () => {
  test('outer rings anticlockwise, holes clockwise; points and correct rings untouched', () => {
    const outerCw: Ring = [[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]];
    const holeCcw: Ring = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8], [0.2, 0.2]];
    const fc = {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', properties: { name: 'a' }, geometry: { type: 'Polygon', coordinates: [outerCw, holeCcw] } },
        { type: 'Feature', properties: { name: 'b' }, geometry: { type: 'Point', coordinates: [0.5, 0.5] } },
        { type: 'Feature', properties: { name: 'c' }, geometry: { type: 'MultiPolygon', coordinates: [[[...outerCw].reverse()]] } },
      ],
    };
    const { fc: out, reversed } = normaliseWinding(fc);
    expect(reversed).toBe(2);
    const [outer, hole] = (out.features[0].geometry as any).coordinates as Ring[];
    expect(area2(outer)).toBeGreaterThan(0);
    expect(area2(hole)).toBeLessThan(0);
    expect(out.features[1]).toBe(fc.features[1]);
    expect(area2((out.features[2].geometry as any).coordinates[0][0])).toBeGreaterThan(0);
    // The input is not changed.
    expect(fc.features[0].geometry.coordinates[0]).toBe(outerCw);
    expect(area2(outerCw)).toBeLessThan(0);
  });
});

describe('zone import stores rings anticlockwise', () => {
  let dir: string;
  let svc: Service;
  let sup: Client;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-winding-'));
    await seedTestUsers(dir);
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, logLevel: 'silent' });
    sup = await new Client(svc.url).login('supervisor');
  });

  afterAll(async () => {
    await svc?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const format of ['geojson', 'kml'] as const) {
    test(`${format}: clockwise rings warned once at import, stored anticlockwise, no plan warns`, async () => {
      const zones = clockwiseZones();
      expect(polygonsOf(zones).every((p) => area2(p[0]) < 0)).toBe(true);
      const text = format === 'kml' ? toKml(zones) : JSON.stringify(zones);
      const imported = await sup.post('/api/zones/import', { format, text, save: true });
      expect(imported.status).toBe(200);
      expect(imported.body.ok).toBe(true);
      // What the import answers (and the editor then shows) is already rewound.
      expect(polygonsOf(imported.body.zones).every((p) => area2(p[0]) > 0)).toBe(true);
      const stored = await sup.get('/api/zones');
      expect(stored.body.version).toBe(imported.body.version);
      const rings = polygonsOf(stored.body.zones);
      expect(rings.length).toBe(polygonsOf(zones).length);
      expect(rings.every((p) => area2(p[0]) > 0 && p.slice(1).every((h) => area2(h) < 0))).toBe(true);
      // Same corners, only their order changed.
      expect(rings.map((p) => p[0].length)).toEqual(polygonsOf(zones).map((p) => p[0].length));
      const plan = await sup.post('/api/plans', { drop: XINHUA_BLOCK });
      expect(plan.status).toBe(200);
      expect(plan.body.ok).toBe(true);
      expect((plan.body.warnings ?? []).map((w: { code: string }) => w.code)).not.toContain('WINDING_NORMALISED');
    });
  }

  test('a clockwise import that is only checked (not saved) changes nothing stored', async () => {
    const before = await sup.get('/api/zones');
    const r = await sup.post('/api/zones/import', { format: 'geojson', text: JSON.stringify(clockwiseZones()) });
    expect(r.status).toBe(200);
    expect(r.body.version).toBeUndefined();
    expect((await sup.get('/api/zones')).body.version).toBe(before.body.version);
  });
});
