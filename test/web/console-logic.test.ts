/** Pure parts of the console: base-layer resolution, geometry helpers, formatting, queue order, role capabilities. */
import { resolveBasemap, PROVIDER_DEFAULTS } from '../../web/src/basemap-config';
import { fenceShapes, mapPositions, parseLatLon, rallyPoints, haversineM } from '../../web/src/geo';
import { formatDistanceM, formatDurationS, promiseStatus } from '../../web/src/format';
import { queueOrder } from '../../web/src/panels/jobs';
import { capabilitiesFor } from '../../web/src/context';
import type { Delivery, MissionItemJson } from '../../web/src/types';
import type { FeatureCollection } from 'geojson';

describe('resolveBasemap', () => {
  it('defaults to OpenStreetMap tiles in WGS-84', () => {
    const c = resolveBasemap({});
    expect(c.provider).toBe('osm');
    expect(c.url).toBe(PROVIDER_DEFAULTS.osm.url);
    expect(c.datum).toBe('wgs84');
  });
  it('takes the deployment config, then the stored choice, then the URL parameter', () => {
    const deployed = { provider: 'offline' as const, url: 'tiles/{z}/{x}/{y}.png', datum: 'gcj02' as const };
    expect(resolveBasemap({ deployed })).toMatchObject({ provider: 'offline', datum: 'gcj02' });
    expect(resolveBasemap({ deployed, stored: JSON.stringify({ provider: 'gcj02' }) })).toMatchObject({ provider: 'gcj02', datum: 'gcj02', url: PROVIDER_DEFAULTS.gcj02.url });
    expect(resolveBasemap({ deployed, stored: JSON.stringify({ provider: 'gcj02' }), query: 'none' })).toMatchObject({ provider: 'none', url: '' });
  });
  it('ignores garbage', () => {
    expect(resolveBasemap({ stored: '{not json', query: 'bogus', deployed: { provider: 'x' as never } }).provider).toBe('osm');
  });
});

describe('geo helpers', () => {
  const item = (seq: number, command: number, lat: number, lon: number, param1 = 0): MissionItemJson => ({ seq, frame: 0, command, param1, param2: 0, param3: 0, param4: 0, x: Math.round(lat * 1e7), y: Math.round(lon * 1e7), z: 0 });
  it('reads fence runs and circles into shapes, skipping malformed runs', () => {
    const items = [
      item(0, 5001, 34, 114, 3), item(1, 5001, 34.01, 114, 3), item(2, 5001, 34.01, 114.01, 3),
      item(3, 5002, 34.002, 114.002, 4), item(4, 5002, 34.003, 114.002, 4), // truncated run of 4
      item(5, 5004, 34.005, 114.005, 25),
      item(6, 5100, 34.004, 114.004),
    ];
    const shapes = fenceShapes(items);
    expect(shapes).toHaveLength(2);
    expect(shapes[0]).toMatchObject({ kind: 'inclusion', type: 'polygon' });
    expect((shapes[0] as { latLons: number[][] }).latLons[1]).toEqual([34.01, 114]);
    expect(shapes[1]).toEqual({ kind: 'exclusion', type: 'circle', center: [34.005, 114.005], radiusM: 25 });
    expect(rallyPoints(items)).toEqual([[34.004, 114.004]]);
    expect(fenceShapes(undefined)).toEqual([]);
  });
  it('maps positions without mutating the input', () => {
    const fc: FeatureCollection = { type: 'FeatureCollection', features: [{ type: 'Feature', properties: { kind: 'no-fly' }, geometry: { type: 'Polygon', coordinates: [[[1, 2], [3, 4], [5, 6], [1, 2]]] } }] };
    const before = JSON.stringify(fc);
    const out = mapPositions(fc, ([x, y]) => [x + 1, y + 1]);
    expect(JSON.stringify(fc)).toBe(before);
    expect((out.features[0].geometry as { coordinates: number[][][] }).coordinates[0][0]).toEqual([2, 3]);
    expect(out.features[0].properties).toEqual({ kind: 'no-fly' });
  });
  it('parses typed coordinates and refuses bad ones', () => {
    expect(parseLatLon(' 34.0612, 114.3921 ')).toEqual({ lat: 34.0612, lon: 114.3921 });
    expect(parseLatLon('34.0612 114.3921')).toEqual({ lat: 34.0612, lon: 114.3921 });
    expect(parseLatLon('95, 114')).toBeNull();
    expect(parseLatLon('north')).toBeNull();
  });
  it('measures a known distance', () => {
    expect(haversineM(34, 114, 35, 114)).toBeCloseTo(111195, -1);
  });
});

describe('format', () => {
  it('uses metric units', () => {
    expect(formatDistanceM(850.4)).toBe('850 m');
    expect(formatDistanceM(2055.77)).toBe('2.06 km');
    expect(formatDistanceM(NaN)).toBe('—');
    expect(formatDurationS(323)).toBe('5:23');
    expect(formatDurationS(3725)).toBe('1:02:05');
    expect(formatDurationS(-65)).toBe('-1:05');
  });
  it('measures a job against its 15-minute promise', () => {
    const created = '2026-01-01T00:00:00.000Z';
    const promise = '2026-01-01T00:15:00.000Z';
    const at5 = promiseStatus(created, promise, Date.parse('2026-01-01T00:05:00Z'));
    expect(at5.remainingS).toBe(600);
    expect(at5.used).toBeCloseTo(1 / 3);
    expect(at5.late).toBe(false);
    expect(promiseStatus(created, promise, Date.parse('2026-01-01T00:16:00Z'))).toMatchObject({ remainingS: -60, late: true });
  });
});

describe('job queue order', () => {
  const job = (id: string, priority: Delivery['priority'], createdAt: string, state: Delivery['state'] = 'planned'): Delivery =>
    ({ id, priority, createdAt, promiseBy: createdAt, state, drop: [114, 34] }) as Delivery;
  it('puts open jobs first, urgent before high before normal, oldest first', () => {
    const list = [
      job('n-old', 'normal', '2026-01-01T00:00:00Z'),
      job('u-new', 'urgent', '2026-01-01T00:10:00Z'),
      job('done', 'urgent', '2026-01-01T00:00:00Z', 'completed'),
      job('h', 'high', '2026-01-01T00:05:00Z'),
      job('u-old', 'urgent', '2026-01-01T00:01:00Z'),
    ];
    expect(list.sort(queueOrder).map((d) => d.id)).toEqual(['u-old', 'u-new', 'h', 'n-old', 'done']);
  });
});

describe('role capabilities in the console', () => {
  it('mirror the role matrix: supervisors never fly, trainers run the simulator', () => {
    expect(capabilitiesFor('supervisor')).toMatchObject({ fly: false, dispatch: false, approve: true, editZones: true, audit: true, train: false });
    expect(capabilitiesFor('operator')).toMatchObject({ fly: true, dispatch: true, createJobs: true, approve: false, editZones: false, audit: false });
    expect(capabilitiesFor('trainer')).toMatchObject({ fly: true, train: true, createJobs: true, editZones: false, audit: false });
    expect(Object.values(capabilitiesFor('admin')).every(Boolean)).toBe(true);
  });
});
