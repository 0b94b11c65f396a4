/**
 * Interchange: QGroundControl .plan files round-trip with nothing dropped silently; Mission Planner
 * .waypoints (QGC WPL 110) import/export round trips; KML zones → the planner's GeoJSON zones.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Cmd, Frame, MissionType } from '../../src/mavlink/mission-item';
import { kmlToZones, planDelivery, validateZones, importWaypoints, exportWaypoints } from '../../planner';
import { exportQgcPlan, importQgcPlan } from '../../planner/qgc-plan';
import { DEMO_DROPS, demoZones } from './helpers';

const QGC_DIRS = [path.join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'qgc'), path.join(__dirname, 'in')];
function qgcFixture(name: string): string {
  for (const d of QGC_DIRS) if (fs.existsSync(path.join(d, name))) return fs.readFileSync(path.join(d, name), 'utf8');
  throw new Error(`fixture ${name} not found`);
}

/** Deep equality with numbers compared to `tol`; reports the first difference's path. */
function diff(a: unknown, b: unknown, tol: number, at = '$'): string | null {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= tol || (Number.isNaN(a) && Number.isNaN(b)) ? null : `${at}: ${a} ≠ ${b}`;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return `${at}: array shapes differ`;
    for (let i = 0; i < a.length; i++) { const d = diff(a[i], b[i], tol, `${at}[${i}]`); if (d) return d; }
    return null;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return `${at}: keys ${ka.join(',')} ≠ ${kb.join(',')}`;
    for (const k of ka) { const d = diff((a as any)[k], (b as any)[k], tol, `${at}.${k}`); if (d) return d; }
    return null;
  }
  return a === b ? null : `${at}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`;
}

const strip = (items: any[]) => items.map(({ seq, frame, command, param1, param2, param3, param4, x, y, z, autocontinue }) => ({ seq, frame, command, param1, param2, param3, param4, x, y, z, autocontinue }));

describe('QGroundControl .plan: nothing dropped silently', () => {
  test.each(['ArduPilotSITL-ArduCopter.plan', 'ce_geofence_home_base.plan'])('%s: export(import(file)) equals the file (positions to 1e-7°)', (name) => {
    const text = qgcFixture(name);
    const r = importQgcPlan(text);
    if (!r.ok) throw new Error(r.error.message);
    expect(diff(exportQgcPlan(r.plan), JSON.parse(text), 1e-7 + 1e-12)).toBeNull();
  });

  test('finer-than-1e-7° coordinates, unknown fields and foreign format versions are reported, and kept', () => {
    const fence = importQgcPlan(qgcFixture('ce_geofence_home_base.plan'));
    if (!fence.ok) throw new Error(fence.error.message);
    expect(fence.plan.warnings.map((w) => w.code)).toEqual(['PRECISION_REDUCED']);
    expect((exportQgcPlan(fence.plan) as any).rallyPoints.version).toBe(1); // the file's version, not ours
    const doc = JSON.parse(qgcFixture('ArduPilotSITL-ArduCopter.plan'));
    doc.geoFence.breachReturn = [1, 2, 3];
    doc.mission.extraThing = { a: 1 };
    doc.geoFence.polygons.push({ inclusion: false, polygon: [[1, 2], [1, 3], [2, 3]], version: 1, label: 'x' });
    const r = importQgcPlan(doc);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.plan.warnings.find((w) => w.code === 'UNKNOWN_FIELDS_KEPT')?.details).toEqual({ fields: ['mission.extraThing', 'geoFence.breachReturn'] });
    expect(diff(exportQgcPlan(r.plan), doc, 1e-7)).toBeNull();
  });
});

describe('Mission Planner .waypoints (QGC WPL 110)', () => {
  const plan = planDelivery(demoZones(), { launch: 'Police Post 1', drop: DEMO_DROPS.xinhua, payload: { release: 'winch' } });
  if (!plan.ok) throw new Error(plan.error.message);

  test('a Dropline mission, fence and rally round-trip exactly', () => {
    expect(plan.rally.length).toBeGreaterThan(0); // the market square lies inside the corridor
    for (const [items, type] of [[plan.mission, MissionType.MISSION], [plan.fence, MissionType.FENCE], [plan.rally, MissionType.RALLY]] as const) {
      const out = exportWaypoints(items);
      expect(out.warnings).toEqual([]);
      expect(out.text.startsWith('QGC WPL 110\n')).toBe(true);
      expect(out.text.trimEnd().split('\n')).toHaveLength(items.length + 1);
      const back = importWaypoints(out.text);
      if (!back.ok) throw new Error(back.error.message);
      expect(back.missionType).toBe(type);
      expect(strip(back.items)).toEqual(strip(items));
      expect(exportWaypoints(back.items).text).toBe(out.text); // byte-stable
    }
  });

  test('the QGroundControl fixture goes .plan → .waypoints → items unchanged, with what the format cannot hold reported', () => {
    const r = importQgcPlan(qgcFixture('ArduPilotSITL-ArduCopter.plan'));
    if (!r.ok) throw new Error(r.error.message);
    const out = exportWaypoints(r.plan.mission, { itemExtras: r.plan.itemExtras, unsupported: r.plan.unsupported });
    const codes = out.warnings.map((w) => w.code);
    expect(codes).toContain('ITEM_METADATA_DROPPED');
    expect((out.warnings.find((w) => w.code === 'ITEM_METADATA_DROPPED')!.details as any).keys).toEqual(['AMSLAltAboveTerrain', 'Altitude', 'AltitudeMode', 'doJumpId']);
    expect(out.text).toContain('\tNaN\t'); // QGroundControl's null params stay "unchanged"
    const back = importWaypoints(out.text);
    if (!back.ok) throw new Error(back.error.message);
    const a = strip(back.items), b = strip(r.plan.mission);
    expect(a.length).toBe(b.length);
    a.forEach((it, i) => expect(diff(it, b[i], 0)).toBeNull());
    expect(back.items.map((i) => i.frame)).toEqual(r.plan.mission.map((i) => i.frame)); // mixed frames kept
  });

  test('reads a Mission Planner file: spaces or tabs, CRLF, 8-decimal numbers, home line', () => {
    const text = 'QGC WPL 110\r\n0\t1\t0\t16\t0\t0\t0\t0\t-35.363262\t149.165237\t584.090000\t1\r\n1 0 3 22 0.00000000 0.00000000 0.00000000 0.00000000 -35.36255700 149.16460000 20.000000 1\r\n2\t0\t3\t16\t0.00000000\t0.00000000\t0.00000000\t0.00000000\t-35.36198200\t149.16536300\t40.000000\t1\r\n3\t0\t3\t20\t0\t0\t0\t0\t0\t0\t0\t1\r\n\r\n';
    const r = importWaypoints(text);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.items).toHaveLength(4);
    expect(r.items[0]).toMatchObject({ seq: 0, current: 1, frame: Frame.GLOBAL, command: Cmd.NAV_WAYPOINT, x: -353632620, y: 1491652370, z: 584.09 });
    expect(r.items[1]).toMatchObject({ frame: Frame.GLOBAL_RELATIVE_ALT, command: Cmd.NAV_TAKEOFF, z: 20 });
    expect(r.items[3].command).toBe(Cmd.NAV_RETURN_TO_LAUNCH);
    expect(r.missionType).toBe(MissionType.MISSION);
    expect(r.warnings).toEqual([]);
  });

  test('bad files are refused with a code and the line', () => {
    const bad = (text: string, re: RegExp) => {
      const r = importWaypoints(text);
      expect(r.ok).toBe(false);
      if (!r.ok) { expect(r.error.code).toBe('INVALID_WAYPOINTS'); expect(r.error.message).toMatch(re); }
    };
    bad('', /header/);
    bad('QGC WPL 110\n0\t0\t0\t16\t0\t0\t0\t0\t1\t2\t3\n', /line 2: expected 12 fields/);
    bad('QGC WPL 110\n0\t0\t0\t16\t0\t0\t0\tx\t1\t2\t3\t1\n', /line 2: field 8/);
    bad('QGC WPL 110\n1\t0\t0\t16\t0\t0\t0\t0\t1\t2\t3\t1\n', /out of sequence/);
    bad('QGC WPL 110\n0\t0\t0\t16\t0\t0\t0\t0\t91\t2\t3\t1\n', /latitude 91/);
    bad('QGC WPL 110\n0\t0\t0\t16.5\t0\t0\t0\t0\t1\t2\t3\t1\n', /command must be a non-negative integer/);
    const fine = importWaypoints('QGC WPL 110\n0\t0\t0\t16\t0\t0\t0\t0\t1.123456789\t2\t3\t1\n');
    expect(fine.ok && fine.warnings.map((w) => w.code)).toEqual(['PRECISION_REDUCED']);
  });
});

describe('KML zones', () => {
  const kml = `<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Demo district</name>
  <Folder><name>Operating area</name>
    <Placemark><name>district</name><Polygon><outerBoundaryIs><LinearRing><coordinates>
      114.37,34.04,0 114.42,34.04,0 114.42,34.08,0 114.37,34.08,0 114.37,34.04,0
    </coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
  </Folder>
  <Folder><name>No-fly zones</name>
    <Placemark><name>Hospital helipad</name><ExtendedData><Data name="clearanceM"><value>50</value></Data></ExtendedData>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>114.385,34.055 114.387,34.055 114.387,34.057 114.385,34.057 114.385,34.055</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
    <Placemark><name>School (two parts)</name><MultiGeometry>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>114.400,34.050 114.401,34.050 114.401,34.051 114.400,34.051 114.400,34.050</coordinates></LinearRing></outerBoundaryIs></Polygon>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>114.403,34.050 114.404,34.050 114.404,34.051 114.403,34.051 114.403,34.050</coordinates></LinearRing></outerBoundaryIs></Polygon>
    </MultiGeometry></Placemark>
  </Folder>
  <Folder><name>Sealed zones</name>
    <Placemark><name>Riverside Estate</name><ExtendedData><Data name="minAltM"><value>40</value></Data></ExtendedData>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>114.400,34.065 114.405,34.065 114.405,34.070 114.400,34.070 114.400,34.065</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
  </Folder>
  <Placemark><name>Police Post 1</name><ExtendedData><Data name="kind"><value>launch-site</value></Data></ExtendedData><Point><coordinates>114.39,34.06</coordinates></Point></Placemark>
  <Folder><name>Rally points</name><Placemark><name>Park</name><Point><coordinates>114.395,34.062,0</coordinates></Point></Placemark></Folder>
</Document></kml>`;

  test('kinds from folder names and ExtendedData; numbers parsed; MultiGeometry no-fly → MultiPolygon; plannable', () => {
    const r = kmlToZones(kml);
    if (!r.ok) throw new Error(r.error.message);
    const f = r.zones.features as any[];
    expect(f.map((x) => [x.properties.kind, x.properties.name, x.geometry.type])).toEqual([
      ['operating-area', 'district', 'Polygon'],
      ['no-fly', 'Hospital helipad', 'Polygon'],
      ['no-fly', 'School (two parts)', 'MultiPolygon'],
      ['sealed-zone', 'Riverside Estate', 'Polygon'],
      ['launch-site', 'Police Post 1', 'Point'],
      ['rally-point', 'Park', 'Point'],
    ]);
    expect(f[1].properties.clearanceM).toBe(50);
    expect(f[3].properties.minAltM).toBe(40);
    expect(validateZones(r.zones).ok).toBe(true);
    const plan = planDelivery(r.zones, { launch: 'Police Post 1', drop: [114.4025, 34.0675] });
    if (!plan.ok) throw new Error(plan.error.message);
    expect(plan.drop.sealedZone).toBe('Riverside Estate');
    expect(plan.dropAltM).toBe(40);
    expect(plan.fence.filter((i) => i.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION).length).toBeGreaterThanOrEqual(4);
    expect(plan.fenceSummary.storageItems).toBeLessThanOrEqual(60);
  });

  test('errors: not XML, not KML, a placemark without a kind (named)', () => {
    expect(kmlToZones('')).toMatchObject({ ok: false, error: { code: 'INVALID_KML' } });
    expect(kmlToZones('<kml><Document>')).toMatchObject({ ok: false, error: { code: 'INVALID_KML' } });
    expect(kmlToZones('<gpx></gpx>')).toMatchObject({ ok: false, error: { code: 'INVALID_KML', message: expect.stringMatching(/<gpx>/) } });
    const r = kmlToZones('<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder><name>Misc</name><Placemark><name>Thing</name><Point><coordinates>1,2</coordinates></Point></Placemark></Folder></Document></kml>');
    expect(r).toMatchObject({ ok: false, error: { code: 'KML_KIND_UNKNOWN', message: expect.stringMatching(/"Thing" in folder "Misc"/) } });
  });
});
