/**
 * Trainers start simulated vehicles of a kind beside the built-in ones (POST /api/sim/vehicles
 * {kind, count}), over real sockets: the built-in kind always, behind its link faults, audited and
 * stopped again; the SITL kinds refused by name where the service has no binary; and, when
 * ARDUPILOT_SITL / PX4_SITL name real firmware, an instance of each started through the API, its
 * link faults applied by the launcher's relay, its own faults through the firmware's SIM_*
 * parameters, a training scenario run on it, and stopped.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { Client, waitFor } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { sitlAvailable } from '../../sims/sitl';
import { px4SitlAvailable } from '../../sims/px4-sitl';
import type { SitlBinaries } from '../../src/sim-kinds';

jest.setTimeout(300_000);

async function serviceWith(sitl: SitlBinaries | undefined, simulators: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-simkinds-'));
  await seedTestUsers(dir);
  const svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators, simSpeedup: 5, demoUsers: false, logLevel: 'silent', sitl });
  const trainer = await new Client(svc.url).login('trainer');
  const operator = await new Client(svc.url).login('operator');
  return { dir, svc, trainer, operator, async close() { await svc.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

/** Start one vehicle of `kind` through the API; wait until the fleet hears it. */
async function startKind(c: Client, svc: Service, kind: string): Promise<{ id: string; vehicleId: string; index: number }> {
  const r = await c.post('/api/sim/vehicles', { kind, count: 1 });
  expect([r.status, r.body.instances?.[0]?.kind]).toEqual([201, kind]);
  const { id, vehicleId } = r.body.instances[0];
  await waitFor(() => svc.fleet.get(vehicleId)?.state.connected, 120_000, `${kind} vehicle connected`);
  return { id, vehicleId, index: Number(String(id).replace(/^sim/, '')) };
}

/** Link loss through the kind's relay: the fleet loses the vehicle, and has it back once cleared. */
async function linkFaultApplies(c: Client, svc: Service, vehicleId: string): Promise<void> {
  expect((await c.post('/api/sim/faults', { vehicleId, fault: { kind: 'link-loss' } })).status).toBe(200);
  await waitFor(() => svc.fleet.get(vehicleId)?.state.connected === false || Date.now() - (svc.fleet.get(vehicleId)?.state.lastSeenMs ?? 0) > 4000, 60_000, 'vehicle silent behind the link fault');
  expect((await c.req('DELETE', '/api/sim/faults', { vehicleId, kind: 'link-loss' })).status).toBe(200);
  await waitFor(() => Date.now() - (svc.fleet.get(vehicleId)?.state.lastSeenMs ?? 0) < 2000, 60_000, 'vehicle heard again');
}

describe('built-in kind (always)', () => {
  let s: Awaited<ReturnType<typeof serviceWith>>;
  beforeAll(async () => {
    s = await serviceWith(undefined, 1);
  });
  afterAll(async () => s?.close());

  test('the service says which kinds it can start; bad kinds and counts are 4xx with stable codes; operators may not', async () => {
    expect((await s.trainer.get('/api/sim')).body.kinds).toEqual(['builtin']);
    const ap = await s.trainer.post('/api/sim/vehicles', { kind: 'arducopter-sitl', count: 1 });
    expect([ap.status, ap.body.error.code]).toEqual([409, 'SITL_NOT_AVAILABLE']);
    expect(ap.body.error.message).toMatch(/--sitl PATH/);
    const px = await s.trainer.post('/api/sim/vehicles', { kind: 'px4-sitl' });
    expect([px.status, px.body.error.code]).toEqual([409, 'SITL_NOT_AVAILABLE']);
    expect(px.body.error.message).toMatch(/--px4-sitl PATH/);
    expect((await s.trainer.post('/api/sim/vehicles', { kind: 'gazebo' })).status).toBe(400);
    expect((await s.trainer.post('/api/sim/vehicles', { kind: 'builtin', count: 11 })).status).toBe(400);
    expect((await s.trainer.post('/api/sim/vehicles', { kind: 'builtin', count: 0 })).status).toBe(400);
    expect((await s.operator.post('/api/sim/vehicles', { kind: 'builtin' })).status).toBe(403);
    // Refusals are on record too.
    const audit = await s.svc.store.queryAudit({ action: 'sim.add' });
    expect(audit.some((a) => (a.params as any)?.kind === 'arducopter-sitl' && (a.outcome as any)?.code === 'SITL_NOT_AVAILABLE')).toBe(true);
  });

  test('a built-in vehicle started beside the others: listed with its kind, behind link faults, audited, stopped', async () => {
    const v = await startKind(s.trainer, s.svc, 'builtin');
    const listed = (await s.trainer.get('/api/sim')).body.instances;
    expect(listed.map((i: any) => [i.vehicleId, i.kind])).toEqual([['sim0/1', 'builtin'], [v.vehicleId, 'builtin']]);
    await linkFaultApplies(s.trainer, s.svc, v.vehicleId);
    const audit = await s.svc.store.queryAudit({ action: 'sim.add' });
    expect(audit.find((a) => (a.params as any)?.kind === 'builtin' && (a.outcome as any)?.ok !== false)).toMatchObject({ username: 'trainer' });
    expect((await s.trainer.req('DELETE', `/api/sim/vehicles/${v.index}`)).status).toBe(200);
    expect(s.svc.fleet.get(v.vehicleId)).toBeUndefined();
  });
});

describe('a SITL binary that does not run (always)', () => {
  let s: Awaited<ReturnType<typeof serviceWith>>;
  let bin: string;
  beforeAll(async () => {
    bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-fakesitl-')), 'arducopter');
    fs.writeFileSync(bin, '#!/bin/sh\necho "not an autopilot" >&2\nexit 3\n', { mode: 0o755 });
    s = await serviceWith({ arducopter: bin }, 1);
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(path.dirname(bin), { recursive: true, force: true });
  });

  test('more than 4 SITL processes are refused before any starts (SIM_LIMIT); one that exits is SITL_START_FAILED and leaves nothing behind', async () => {
    expect((await s.trainer.get('/api/sim')).body.kinds).toEqual(['builtin', 'arducopter-sitl']);
    const many = await s.trainer.post('/api/sim/vehicles', { kind: 'arducopter-sitl', count: 5 });
    expect([many.status, many.body.error.code]).toEqual([409, 'SIM_LIMIT']);
    const failed = await s.trainer.post('/api/sim/vehicles', { kind: 'arducopter-sitl', count: 1 });
    expect([failed.status, failed.body.error.code]).toEqual([503, 'SITL_START_FAILED']);
    expect((await s.trainer.get('/api/sim')).body.instances.map((i: any) => i.vehicleId)).toEqual(['sim0/1']);
    expect(s.svc.fleet.links().map((l) => l.id)).toEqual(['sim0']);
  });
});

const AP = process.env.ARDUPILOT_SITL;
(AP && sitlAvailable(AP) ? describe : describe.skip)('ArduCopter SITL kind (ARDUPILOT_SITL)', () => {
  let s: Awaited<ReturnType<typeof serviceWith>>;
  beforeAll(async () => {
    const defaults = (process.env.ARDUPILOT_SITL_DEFAULTS ?? '').split(',').map((f) => f.trim()).filter(Boolean);
    s = await serviceWith({ arducopter: AP, arducopterDefaults: defaults }, 0);
  });
  afterAll(async () => s?.close());

  test('started through the API; link faults through its relay; wind and GPS loss through SIM_*; a scenario runs on it; stopped', async () => {
    expect((await s.trainer.get('/api/sim')).body.kinds).toEqual(['builtin', 'arducopter-sitl']);
    const v = await startKind(s.trainer, s.svc, 'arducopter-sitl');
    const inst = s.svc.sims!.instances.find((i) => `sim${v.index}/${i.sysid}` === v.vehicleId)!;
    await linkFaultApplies(s.trainer, s.svc, v.vehicleId);
    expect((await s.trainer.post('/api/sim/faults', { vehicleId: v.vehicleId, fault: { kind: 'wind', speedMps: 6, fromDeg: 270, gustMps: 1 } })).status).toBe(200);
    await waitFor(() => inst.getParam('SIM_WIND_SPD') === 6, 30_000, 'SITL reports SIM_WIND_SPD 6');
    await waitFor(() => (s.svc.fleet.get(v.vehicleId)?.state.gps?.fixType ?? 0) >= 3, 120_000, 'SITL GPS fix');
    expect((await s.trainer.post('/api/sim/faults', { vehicleId: v.vehicleId, fault: { kind: 'gps-loss' } })).status).toBe(200);
    await waitFor(() => (s.svc.fleet.get(v.vehicleId)?.state.gps?.fixType ?? 3) < 3, 60_000, 'GPS fix lost on SITL');
    const faults = (await s.trainer.get('/api/sim')).body.instances.find((i: any) => i.vehicleId === v.vehicleId).faults.map((f: any) => f.kind);
    expect(faults.sort()).toEqual(['gps-loss', 'wind']);
    expect((await s.trainer.req('DELETE', '/api/sim/faults', { vehicleId: v.vehicleId, kind: 'gps-loss' })).status).toBe(200);
    // The strong-wind scenario on real firmware: its first step sets SITL's wind.
    expect((await s.trainer.post('/api/sim/scenarios', { name: 'strong-wind' })).status).toBe(200);
    await waitFor(() => inst.getParam('SIM_WIND_SPD') === 4, 60_000, 'scenario wind on SITL');
    expect((await s.trainer.req('DELETE', `/api/sim/vehicles/${v.index}`)).status).toBe(200);
    expect(s.svc.fleet.get(v.vehicleId)).toBeUndefined();
  });
});

(px4SitlAvailable() ? describe : describe.skip)('PX4 SITL kind (PX4_SITL)', () => {
  let s: Awaited<ReturnType<typeof serviceWith>>;
  beforeAll(async () => {
    s = await serviceWith({ px4: process.env.PX4_SITL }, 0);
  });
  afterAll(async () => s?.close());

  test('started through the API; link faults through its relay; GPS loss through SIM_GPS_USED; wind refused by name; stopped', async () => {
    const v = await startKind(s.trainer, s.svc, 'px4-sitl');
    await linkFaultApplies(s.trainer, s.svc, v.vehicleId);
    await waitFor(() => (s.svc.fleet.get(v.vehicleId)?.state.gps?.fixType ?? 0) >= 3, 120_000, 'PX4 GPS fix');
    expect((await s.trainer.post('/api/sim/faults', { vehicleId: v.vehicleId, fault: { kind: 'gps-loss' } })).status).toBe(200);
    await waitFor(() => (s.svc.fleet.get(v.vehicleId)?.state.gps?.fixType ?? 3) < 3, 60_000, 'GPS fix lost on PX4 SIH');
    const faults = (await s.trainer.get('/api/sim')).body.instances.find((i: any) => i.vehicleId === v.vehicleId).faults.map((f: any) => f.kind);
    expect(faults).toEqual(['gps-loss']);
    const wind = await s.trainer.post('/api/sim/faults', { vehicleId: v.vehicleId, fault: { kind: 'wind', speedMps: 5, fromDeg: 0 } });
    expect([wind.status, wind.body.error.code]).toEqual([400, 'SIM_UNKNOWN_FAULT']);
    expect((await s.trainer.req('DELETE', '/api/sim/faults', { vehicleId: v.vehicleId, kind: 'gps-loss' })).status).toBe(200);
    expect((await s.trainer.req('DELETE', `/api/sim/vehicles/${v.index}`)).status).toBe(200);
  });
});
