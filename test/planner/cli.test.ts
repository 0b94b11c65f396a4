/**
 * `dropline plan` run as the real command (node bin/dropline.js plan ...): one JSON document on
 * stdout, exit 0 with the plan and 2 with the typed error, never a stack trace. A few more cases
 * run runPlanCli in-process with injected I/O.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { importWaypoints } from '../../planner';
import { parsePlanArgs, runPlanCli } from '../../planner/cli';
import { DEMO_DROPS, DEMO_ZONES_PATH } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'dropline.js');
const DROP = DEMO_DROPS.riverside.join(',');

interface Run { code: number; stdout: string; stderr: string; json: any }

function dropline(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'plan', ...args], { cwd: ROOT, timeout: 60000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : -1) : 0;
      let json: any;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({ code, stdout, stderr, json });
    });
  });
}

function expectClean(r: Run) {
  expect(r.json).toBeDefined(); // stdout is exactly one JSON document
  expect(r.stdout.trim().startsWith('{')).toBe(true);
  expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
  expect(r.stdout).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-plan-cli-'));
  fs.writeFileSync(path.join(tmp, 'broken.geojson'), '{"type": "FeatureCollection", "features": [');
  fs.writeFileSync(path.join(tmp, 'small-battery.json'), JSON.stringify({ batteryWh: 60 }));
  fs.writeFileSync(path.join(tmp, 'zones.kml'), `<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
    <Folder><name>Operating area</name><Placemark><name>a</name><Polygon><outerBoundaryIs><LinearRing><coordinates>114.37,34.04 114.42,34.04 114.42,34.08 114.37,34.08 114.37,34.04</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Folder>
    <Folder><name>Launch sites</name><Placemark><name>Base Camp</name><Point><coordinates>114.39,34.06</coordinates></Point></Placemark></Folder>
  </Document></kml>`);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('dropline plan (spawned)', () => {
  test('plans with a launch name containing spaces, in each format', async () => {
    const [json, unquoted, plan, wpl] = await Promise.all([
      dropline([DEMO_ZONES_PATH, '--launch', 'Police Post 1', '--drop', DROP, '--wind', '6,200']),
      dropline(['--launch', 'Police', 'Post', '1', DEMO_ZONES_PATH, '--drop', DROP, '--wind', '6,200']),
      dropline([DEMO_ZONES_PATH, '--launch=Police Post 1', '--drop', DROP, '--format', 'plan']),
      dropline([DEMO_ZONES_PATH, '--launch', 'Police Post 1', '--drop', DROP, '--format', 'waypoints']),
    ]);
    for (const r of [json, unquoted, plan, wpl]) { expect(r.code).toBe(0); expectClean(r); }
    expect(json.json).toMatchObject({ ok: true, launch: { name: 'Police Post 1' }, request: { wind: { speedMps: 6, fromDeg: 200 } } });
    expect(json.json.mission.length).toBeGreaterThan(5);
    expect(json.stderr).toMatch(/dropline plan: \d+ route points/);
    expect(unquoted.json.distanceM).toBe(json.json.distanceM);
    expect(plan.json.fileType).toBe('Plan');
    expect(plan.json.mission.items).toHaveLength(json.json.mission.length - 1);
    expect(wpl.json).toMatchObject({ ok: true, format: 'waypoints' });
    const m = importWaypoints(wpl.json.files.mission);
    if (!m.ok) throw new Error(m.error.message);
    expect(m.items.map((i) => [i.command, i.x, i.y, i.z])).toEqual(json.json.mission.map((i: any) => [i.command, i.x, i.y, i.z]));
    expect(importWaypoints(wpl.json.files.fence).ok).toBe(true);
  });

  test('errors: exit 2 with the error JSON, never a stack trace', async () => {
    const cases: [string[], string][] = [
      [[path.join(tmp, 'missing.geojson'), '--drop', DROP], 'FILE_NOT_FOUND'],
      [[path.join(tmp, 'broken.geojson'), '--drop', DROP], 'INVALID_JSON'],
      [[DEMO_ZONES_PATH, '--drop', 'east,north'], 'INVALID_ARGUMENTS'],
      [[DEMO_ZONES_PATH], 'INVALID_ARGUMENTS'],
      [[DEMO_ZONES_PATH, '--launch', 'Police Post 9', '--drop', DROP], 'UNKNOWN_LAUNCH_SITE'],
      [[DEMO_ZONES_PATH, '--drop', DROP, '--profile', path.join(tmp, 'small-battery.json')], 'INSUFFICIENT_ENERGY'],
    ];
    const runs = await Promise.all(cases.map(([args]) => dropline(args)));
    runs.forEach((r, i) => {
      expect(r.code).toBe(2);
      expectClean(r);
      expect(r.json).toMatchObject({ ok: false, error: { code: cases[i][1], message: expect.any(String) } });
      expect(r.stderr).toContain(cases[i][1]);
    });
  });

  test('KML zones file', async () => {
    const r = await dropline([path.join(tmp, 'zones.kml'), '--launch', 'Base Camp', '--drop', '114.40,34.07']);
    expect(r.code).toBe(0);
    expectClean(r);
    expect(r.json).toMatchObject({ ok: true, launch: { name: 'Base Camp' } });
  });
});

describe('runPlanCli in-process', () => {
  const io = (files: Record<string, string>) => {
    const out: string[] = [], err: string[] = [];
    return {
      out, err,
      io: {
        stdout: (s: string) => { out.push(s); }, stderr: (s: string) => { err.push(s); },
        readFile: (p: string) => { if (!(p in files)) throw Object.assign(new Error('nope'), { code: p.includes('locked') ? 'EACCES' : 'ENOENT' }); return files[p]; },
      },
    };
  };

  test('unreadable file, help, launch as coordinates, profile wrapped in {profile}', async () => {
    const zones = fs.readFileSync(DEMO_ZONES_PATH, 'utf8');
    let t = io({});
    expect(await runPlanCli(['locked.geojson', '--drop', DROP], t.io)).toBe(2);
    expect(JSON.parse(t.out.join(''))).toMatchObject({ ok: false, error: { code: 'FILE_UNREADABLE' } });
    t = io({});
    expect(await runPlanCli(['--help'], t.io)).toBe(0);
    expect(JSON.parse(t.out.join('')).usage).toMatch(/dropline plan/);
    t = io({ 'z.geojson': zones, 'p.json': JSON.stringify({ profile: { cruiseAltM: 80 } }) });
    expect(await runPlanCli(['z.geojson', '--launch', '114.39,34.06', '--drop', DROP, '--profile', 'p.json'], t.io)).toBe(0);
    const plan = JSON.parse(t.out.join(''));
    expect(plan).toMatchObject({ ok: true, cruiseAltM: 80, launch: { lon: 114.39, lat: 34.06 } });
    expect(plan.launch.name).toBeUndefined();
    t = io({ 'z.geojson': '{"type":"FeatureCollection","features":[]}' });
    expect(await runPlanCli(['z.geojson', '--drop', DROP], t.io)).toBe(2);
    expect(JSON.parse(t.out.join(''))).toMatchObject({ ok: false, error: { code: 'EMPTY_ZONES' } });
  });

  test('a sortie: repeated --drop, --order, --release servo and a profile with a release output per parcel', async () => {
    const zones = fs.readFileSync(DEMO_ZONES_PATH, 'utf8');
    const B = '114.403,34.0684', C = '114.4035,34.0668';
    const files = { 'z.geojson': zones, 'p.json': JSON.stringify({ releaseServos: [9, 10, 11] }) };
    let t = io(files);
    expect(await runPlanCli(['z.geojson', '--launch', 'Police Post 1', '--drop', DROP, '--drop', B, '--drop', C, '--order', 'shortest', '--release', 'servo', '--profile', 'p.json'], t.io)).toBe(0);
    const plan = JSON.parse(t.out.join(''));
    expect(plan).toMatchObject({ ok: true, request: { drop: DEMO_DROPS.riverside, stops: [{ drop: [114.403, 34.0684], massKg: 1 }, { drop: [114.4035, 34.0668], massKg: 1 }], options: { orderStops: 'shortest' }, payload: { release: 'servo' } } });
    expect(plan.drops).toHaveLength(3);
    expect(plan.mission.filter((i: any) => i.command === 183).map((i: any) => i.param1).sort((a: number, b: number) => a - b)).toEqual([9, 10, 11]);
    expect(t.err.join('')).toMatch(/dropline plan: 3 drops \(order \d, \d, \d\)/);
    // without --release servo the default gripper cannot drop one parcel at a time
    t = io(files);
    expect(await runPlanCli(['z.geojson', '--drop', DROP, '--drop', B, '--profile', 'p.json'], t.io)).toBe(2);
    expect(JSON.parse(t.out.join(''))).toMatchObject({ ok: false, error: { code: 'MULTI_DROP_UNSUPPORTED' } });
    t = io({});
    expect(await runPlanCli(['--help'], t.io)).toBe(0);
    expect(JSON.parse(t.out.join('')).usage).toMatch(/--drop LON,LAT \.\.\.\] \[--order given\|shortest\]/);
  });

  test('more typed errors', async () => {
    const zones = fs.readFileSync(DEMO_ZONES_PATH, 'utf8');
    const cases: [string[], string][] = [
      [['z.geojson', '--drop', DROP, '--format', 'kml'], 'INVALID_ARGUMENTS'],
      [['z.geojson', '--drop', DROP, '--speed', '3'], 'INVALID_ARGUMENTS'],
      [['z.geojson', '--drop', DROP, '--wind', '15'], 'INVALID_ARGUMENTS'],
      [['z.geojson', '--drop', DROP, '--wind', '15,0'], 'WIND_TOO_STRONG'],
      [['z.geojson', '--launch', '114.30,34.06', '--drop', DROP], 'LAUNCH_OUTSIDE_AREA'],
      [['z.geojson', '--drop', DROP, '--profile', 'bad.json'], 'INVALID_JSON'],
      [['z.geojson', '--drop', DROP, '--profile', 'p.json'], 'INVALID_REQUEST'],
      [['z.kml', '--drop', DROP], 'INVALID_KML'],
    ];
    for (const [args, code] of cases) {
      const t = io({ 'z.geojson': zones, 'bad.json': '{', 'p.json': '{"cruiseSpeedMps": -3}', 'z.kml': '<kml><Document>' });
      expect(await runPlanCli(args, t.io)).toBe(2);
      expect(JSON.parse(t.out.join(''))).toMatchObject({ ok: false, error: { code } });
    }
  });

  test('argument parsing', () => {
    expect(parsePlanArgs(['z.geojson', '--launch', 'Fire', 'Station', '2', '--drop', '1,2'])).toMatchObject({ zones: 'z.geojson', launch: 'Fire Station 2', drop: [1, 2] });
    expect(parsePlanArgs(['z.geojson', '--wind=4.5,270', '--drop=1,2', '--clearance', '40', '--fence-capacity', '200'])).toMatchObject({ wind: { speedMps: 4.5, fromDeg: 270 }, clearanceM: 40, fenceCapacity: 200 });
    expect(parsePlanArgs(['z.geojson', '--drop=1,2', '--fence-max-items', '84'])).toMatchObject({ fenceCapacity: 84 }); // the old name
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--fence-max-items', '2.5'])).toThrow(/fence-max-items/);
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--fence-capacity', '2'])).toThrow(/fence-capacity/);
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--fence-capacity', '60', '--fence-max-items', '60'])).toThrow(/twice/);
    // a repeated --drop is a sortie: the first is the drop, the others stops
    expect(parsePlanArgs(['z.geojson', '--drop', '1,2', '--drop=3,4', '--drop', '5,6', '--order', 'shortest', '--release', 'servo'])).toMatchObject({ drop: [1, 2], stops: [[3, 4], [5, 6]], order: 'shortest', release: 'servo' });
    expect(parsePlanArgs(['z.geojson', '--drop', '1,2']).stops).toBeUndefined();
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--drop', '3,4', '--drop', '5,6', '--drop', '7,8', '--drop', '9,10'])).toThrow(/at most 4 drops/);
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--drop', 'x'])).toThrow(/--drop must be LON,LAT/);
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--order', 'fastest'])).toThrow(/--order must be given or shortest/);
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--release', 'magnet'])).toThrow(/--release must be/);
    expect(() => parsePlanArgs(['z.geojson', '--drop', '1,2', '--order', 'given', '--order', 'given'])).toThrow(/twice/);
    expect(() => parsePlanArgs(['a.geojson', 'b.geojson', '--drop', '1,2'])).toThrow(/one ZONES file/);
  });
});
