/**
 * Battery swaps over real HTTP against a running service (real SQLite file): two built-in simulators
 * in the service and one more simulator in this process connected as a "real" link, so the trainer's
 * sim-only grant is checked both ways. A swap seen in telemetry is the simulator's pack lowered then
 * raised on the ground (the `battery-set` fault); an operator's record is the POST route, audited
 * before effect; the operations report counts both, a confirmed pack once.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { startSimulators, type SimFleet } from '../../sims';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';

jest.setTimeout(240_000);

let dir: string;
let svc: Service;
let extSims: SimFleet;
const c: Record<string, Client> = {};
const SIM = 'sim0/1';
const SENTINEL = 'sim1/2';
const REAL = 'link0/1';
const at = (id: string) => `/api/vehicles/${encodeURIComponent(id)}`;
const swaps = async (id: string) => (await c.operator.get(`${at(id)}/battery-swaps`)).body as any[];
const battery = async (id: string) => (await c.operator.get(at(id))).body?.battery?.remainingPct as number | undefined;
const simOf = (sysid: number) => svc.sims!.instances.find((i) => i.sysid === sysid)!;

/** The pack lowered, seen lowered, then raised, seen raised (the vehicle on the ground, disarmed). */
async function lowerThenRaise(id: string, inject: (pct: number) => unknown, low = 20): Promise<void> {
  await inject(low);
  await waitFor(async () => ((await battery(id)) ?? 100) <= low + 2, 30_000, `${id} at ${low} %`);
  await inject(100);
  await waitFor(async () => ((await battery(id)) ?? 0) >= 99, 30_000, `${id} at 100 %`);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-battery-'));
  extSims = await startSimulators({ instances: 1, basePort: 0, speedup: 10 });
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 2, simSpeedup: 10, links: [extSims.instances[0].uri], logLevel: 'silent' });
  for (const r of ['admin', 'operator', 'supervisor', 'trainer']) c[r] = await new Client(svc.url).login(r);
  await waitFor(async () => {
    const vs = (await c.operator.get('/api/vehicles')).body as any[];
    return [SIM, SENTINEL, REAL].every((id) => vs.some((v) => v.id === id && v.connected && v.battery));
  }, 60_000, 'three vehicles with their batteries');
});

afterAll(async () => {
  await svc?.close();
  await extSims?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a fresh pack on a disarmed vehicle is seen in telemetry and recorded once', async () => {
  expect(await swaps(SIM)).toEqual([]);
  await lowerThenRaise(SIM, (pct) => simOf(1).inject({ kind: 'battery-set', pct }));
  const rows = await waitFor(async () => {
    const r = await swaps(SIM);
    return r.length ? r : null;
  }, 20_000, 'the swap recorded');
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ vehicleId: SIM, source: 'telemetry', username: null, toPct: 100, confirmsId: null });
  expect(rows[0].fromPct).toBeLessThanOrEqual(22);
});

test('operators, supervisors and admins record a swap; trainers on simulated vehicles only; audited before effect', async () => {
  // the trainer on a real vehicle: refused, and the refusal audited
  const tr = await c.trainer.post(`${at(REAL)}/battery-swap`, {});
  expect(tr.status).toBe(403);
  expect(tr.body.error.code).toBe('FORBIDDEN');
  // the trainer on a simulated vehicle, which telemetry saw swapped minutes ago: the same pack, confirmed
  const seen = (await swaps(SIM))[0];
  const ts = await c.trainer.post(`${at(SIM)}/battery-swap`, { note: 'practice' });
  expect(ts.status).toBe(201);
  expect(ts.body).toMatchObject({ vehicleId: SIM, source: 'operator', username: 'trainer', role: 'trainer', note: 'practice', packId: null, confirmsId: seen.id });
  // a supervisor on the real vehicle, with a pack label and a note in Chinese
  const sv = await c.supervisor.post(`${at(REAL)}/battery-swap`, { packId: ' PK-0042 ', note: '换了新电池' });
  expect(sv.status).toBe(201);
  expect(sv.body).toMatchObject({ vehicleId: REAL, source: 'operator', username: 'supervisor', packId: 'PK-0042', note: '换了新电池', confirmsId: null });
  expect(typeof sv.body.auditId).toBe('number');
  // an operator with no body at all
  const op = await c.operator.req('POST', `${at(REAL)}/battery-swap`);
  expect(op.status).toBe(201);
  expect(op.body).toMatchObject({ username: 'operator', note: null, packId: null });
  const listed = await swaps(REAL);
  expect(listed.map((s) => s.username)).toEqual(['operator', 'supervisor']);
  expect(listed[0].id).toBeGreaterThan(listed[1].id);

  const audit = (await c.supervisor.get('/api/audit?action=vehicle.batterySwap&limit=10')).body as any[];
  const bySup = audit.find((a) => a.username === 'supervisor');
  expect(bySup).toMatchObject({ id: sv.body.auditId, role: 'supervisor', vehicleId: REAL, params: { id: REAL, packId: ' PK-0042 ', note: '换了新电池' }, outcome: { ok: true, swapId: sv.body.id, confirmsId: null }, pending: false });
  expect(audit.find((a) => a.username === 'trainer' && a.vehicleId === REAL)).toMatchObject({ outcome: { ok: false, code: 'FORBIDDEN' }, pending: false });
});

test('bad input and unknown vehicles get a typed 4xx and record nothing', async () => {
  const before = (await swaps(REAL)).length;
  const cases: Array<[unknown, string]> = [
    [{ note: 'x'.repeat(201) }, 'note'],
    [{ packId: 'P'.repeat(41) }, 'packId'],
    [{ packId: '   ' }, 'packId'],
    [{ note: 'line\u0007bell' }, 'note'],
    [{ note: 5 }, 'note'],
    [{ pct: 100 }, ''],
  ];
  for (const [body, p] of cases) {
    const r = await c.operator.post(`${at(REAL)}/battery-swap`, body);
    expect([body, r.status, r.body.error.code]).toEqual([body, 400, 'INVALID_BODY']);
    if (p) expect(r.body.error.details.map((d: any) => d.path)).toContain(p);
  }
  const arr = await c.operator.req('POST', `${at(REAL)}/battery-swap`, undefined, { raw: '[1]' });
  expect([arr.status, arr.body.error.code]).toEqual([400, 'INVALID_BODY']);
  const none = await c.operator.post(`${at('nope/9')}/battery-swap`, {});
  expect([none.status, none.body.error.code]).toEqual([404, 'VEHICLE_NOT_FOUND']);
  expect((await c.operator.get(`${at('nope/9')}/battery-swaps`)).status).toBe(404);
  expect((await c.operator.get(`${at(REAL)}/battery-swaps?limit=0`)).body.error.code).toBe('INVALID_QUERY');
  expect((await c.operator.get(`${at(REAL)}/battery-swaps?limit=1`)).body).toHaveLength(1);
  expect((await swaps(REAL)).length).toBe(before);
});

test('a pack an operator recorded in the last 10 minutes is not recorded again when telemetry sees it', async () => {
  const before = await swaps(REAL);
  await lowerThenRaise(REAL, (pct) => extSims.instances[0].inject({ kind: 'battery-set', pct }));
  // Swaps seen are recorded one after another: once the sentinel's (seen after the real vehicle's
  // rise) is on record, the real vehicle's would be too.
  await lowerThenRaise(SENTINEL, (pct) => simOf(2).inject({ kind: 'battery-set', pct }));
  await waitFor(async () => (await swaps(SENTINEL)).length === 1, 20_000, 'the sentinel swap recorded');
  expect(await swaps(REAL)).toEqual(before);
});

test('refused while the vehicle is armed (409 VEHICLE_ARMED, audited); the report counts swaps per vehicle', async () => {
  await waitFor(async () => vehicleReady((await c.trainer.get(at(SIM))).body), 90_000, `${SIM} ready`);
  const cmd = (b: object) => c.trainer.post(`${at(SIM)}/commands`, b);
  expect((await cmd({ action: 'mode', mode: 'GUIDED' })).status).toBe(200);
  await waitFor(async () => (await c.trainer.get(at(SIM))).body.mode === 'GUIDED', 20_000, 'GUIDED');
  expect((await cmd({ action: 'arm' })).status).toBe(200);
  expect((await cmd({ action: 'takeoff', altM: 10 })).status).toBe(200);
  await waitFor(async () => (await c.trainer.get(at(SIM))).body.armed === true, 20_000, 'armed');
  const before = (await swaps(SIM)).length;
  const r = await c.operator.post(`${at(SIM)}/battery-swap`, { note: 'in flight' });
  expect([r.status, r.body.error.code]).toEqual([409, 'VEHICLE_ARMED']);
  const a = (await c.supervisor.get('/api/audit?action=vehicle.batterySwap&username=operator&limit=1')).body[0];
  expect(a).toMatchObject({ vehicleId: SIM, params: { note: 'in flight' }, outcome: { ok: false, code: 'VEHICLE_ARMED' } });
  expect((await swaps(SIM)).length).toBe(before);
  expect((await cmd({ action: 'land' })).status).toBe(200);
  await waitFor(async () => (await c.trainer.get(at(SIM))).body.armed === false, 90_000, 'landed and disarmed');

  // Today's report (UTC days; yesterday too, in case the test runs over midnight): SIM 1 (its
  // telemetry swap; the trainer's record confirms it), REAL 2 (supervisor, operator), SENTINEL 1.
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const q = `from=${day(Date.now() - 86_400_000)}&to=${day(Date.now())}&tzOffsetMin=0`;
  const rep = await c.supervisor.get(`/api/reports/operations?${q}`);
  expect(rep.status).toBe(200);
  const cycles = Object.fromEntries((rep.body.vehicles as any[]).map((v) => [v.vehicleId, v.batteryCycles]));
  expect(cycles).toEqual({ [SIM]: 1, [REAL]: 2, [SENTINEL]: 1 });
  const csv = await c.supervisor.get(`/api/reports/operations.csv?${q}&table=vehicles`);
  expect(csv.status).toBe(200);
  const lines = String(csv.body).replace(/^\ufeff/, '').trim().split('\r\n');
  expect(lines[0]).toBe('vehicleId,flights,flightHours,endedFlights,batteryCycles');
  expect(lines.find((l) => l.startsWith(`${REAL},`))).toMatch(/,2$/);
});

test('the routes are in the OpenAPI document with their permission and audit action', async () => {
  const doc = (await c.operator.get('/api/openapi.json')).body;
  const post = doc.paths['/api/vehicles/{id}/battery-swap'].post;
  expect(post).toMatchObject({ 'x-permission': 'vehicle.battery', 'x-audit-action': 'vehicle.batterySwap' });
  expect(Object.keys(post.requestBody.content['application/json'].schema.properties ?? {}).sort()).toEqual(['note', 'packId']);
  expect(doc.paths['/api/vehicles/{id}/battery-swaps'].get['x-permission']).toBe('read');
});
