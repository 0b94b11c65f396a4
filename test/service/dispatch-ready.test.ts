/**
 * Dispatch when ready, over HTTP against a vehicle that has just rebooted (the built-in simulator,
 * or ArduPilot SITL when ARDUPILOT_SITL names the binary): the job waits, showing "waiting for
 * vehicle: …" in the API and its timeline, while the vehicle gets its GPS fix, home, pre-arm checks
 * and EKF, then flies. Hard refusals (failsafe off) still fail at once; a vehicle not ready within
 * the policy's readyWaitMs leaves the job refused and dispatchable.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, DELIVERY_READY_SIM_PARAMS, type Service } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import type { SimFleet } from '../../sims';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';

jest.setTimeout(240_000);

const DROP: [number, number] = [114.3935, 34.0515];
const V = 'link0/1';
const VID = encodeURIComponent(V);
let dir: string;
let svc: Service;
let vehicles: SimFleet & { kind: 'builtin' | 'sitl' };
let op: Client;
let sup: Client;

const vehicle = async () => (await op.get(`/api/vehicles/${VID}`)).body;
const delivery = async (id: string) => (await op.get(`/api/deliveries/${id}`)).body;

/** Reboot the vehicle (its TCP link drops and reconnects) and wait until the API shows it connected again and warming up. */
async function rebootAndWaitWarmingUp(): Promise<void> {
  const reconnects = svc.fleet.links()[0].stats.reconnects;
  await vehicles.instances[0].reboot();
  await waitFor(() => svc.fleet.links()[0].stats.reconnects > reconnects, 30_000, 'the link to reconnect');
  await waitFor(async () => {
    const v = await vehicle();
    return v.connected && v.readiness.ready === false;
  }, 30_000, 'the vehicle back and warming up');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-ready-'));
  vehicles = await startTestVehicles({ instances: 1, speedup: 10, homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }], params: DELIVERY_READY_SIM_PARAMS });
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [vehicles.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(10), logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  sup = await new Client(svc.url).login('supervisor');
  await waitFor(async () => vehicleReady(await vehicle()), 120_000, 'vehicle ready');
});

afterAll(async () => {
  await svc?.close();
  await vehicles?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('while warming up: a failsafe that is off refuses at once; a vehicle not ready within readyWaitMs leaves the job refused with what is missing', async () => {
  const policy = (await sup.get('/api/policy')).body.policy;
  expect(policy.readyWaitMs).toBe(90_000);
  await rebootAndWaitWarmingUp();
  const id = (await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin' } })).body.id;

  // A hard refusal: no waiting, the reasons at once.
  vehicles.instances[0].setParam('FS_GCS_ENABLE', 0);
  try {
    await waitFor(async () => (await svc.fleet.get(V)!.getParam('FS_GCS_ENABLE')).ok, 10_000, 'parameter read');
    const refused = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('PREFLIGHT_FAILED');
    expect(refused.body.error.details.failed).toContain('fs_gcs_enable');
    expect((await delivery(id)).waiting).toBeUndefined();
  } finally {
    vehicles.instances[0].setParam('FS_GCS_ENABLE', 1);
  }

  // Warm-up only, but a short wait allowed: refused when it runs out, the job dispatchable again.
  expect((await sup.put('/api/policy', { ...policy, readyWaitMs: 300 })).status).toBe(200);
  try {
    await waitFor(async () => {
      const r = await svc.fleet.get(V)!.getParam('FS_GCS_ENABLE');
      return r.ok && r.value === 1;
    }, 10_000, 'FS_GCS_ENABLE back on');
    const waited = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
    expect(waited.status).toBe(202);
    expect(waited.body.waiting.message).toMatch(/^waiting for vehicle: /);
    const d = await waitFor(async () => {
      const x = await delivery(id);
      return x.waiting ? null : x;
    }, 10_000, 'the wait to run out');
    expect(d.state).toBe('planned');
    expect(d.timeline.at(-1)).toMatchObject({ event: 'preflight-refused', detail: { vehicleId: V, reason: expect.stringMatching(/not ready after \d+ s: .*ekf/) } });
  } finally {
    await sup.put('/api/policy', policy);
    await op.post(`/api/deliveries/${id}/abort`, { reason: 'test over' });
  }
});

test('dispatched while warming up: the job shows "waiting for vehicle: …", the EKF last, then flies once the vehicle is ready', async () => {
  await rebootAndWaitWarmingUp();
  const id = (await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'antibiotics' } })).body.id;
  const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
  expect([disp.status, disp.body.error]).toEqual([202, undefined]);
  expect(disp.body.state).toBe('planned');
  expect(disp.body.waiting).toMatchObject({ vehicleId: V, message: expect.stringMatching(/^waiting for vehicle: .*ekf/) });
  expect(disp.body.waiting.checks).toContain('ekf');
  const shown = await delivery(id);
  expect(shown.waiting.message).toBe(disp.body.waiting.message);
  expect(shown.timeline.at(-1)).toMatchObject({ event: 'waiting-for-vehicle', detail: { message: disp.body.waiting.message } });
  expect((await vehicle()).deliveryId).toBe(id);
  const audit = (await sup.get(`/api/audit?deliveryId=${id}&action=delivery.dispatch`)).body;
  expect(audit[0].outcome).toMatchObject({ ok: true, state: 'planned', waiting: disp.body.waiting.checks });

  const flying = await waitFor(async () => {
    const d = await delivery(id);
    return ['in-flight', 'failed', 'aborted'].includes(d.state) ? d : null;
  }, 120_000, 'in-flight', 250);
  expect(flying.failure).toBeUndefined();
  expect(flying.state).toBe('in-flight');
  expect(flying.waiting).toBeUndefined();
  const waits = flying.timeline.filter((e: any) => e.event === 'waiting-for-vehicle').map((e: any) => e.detail.message);
  expect(waits[waits.length - 1]).toBe('waiting for vehicle: ekf'); // the EKF converges last, as on ArduCopter
  const events = flying.timeline.map((e: any) => e.event ?? e.state);
  expect(events.indexOf('vehicle-ready')).toBeGreaterThan(events.indexOf('waiting-for-vehicle'));
  expect(events.indexOf('uploading')).toBeGreaterThan(events.indexOf('vehicle-ready'));
  expect(flying.preflight.checks.filter((c: any) => !c.ok)).toEqual([]);

  const ab = await op.post(`/api/deliveries/${id}/abort`, { reason: 'test over', land: true });
  expect(ab.status).toBe(200);
  await waitFor(async () => (await delivery(id)).timeline.some((e: any) => e.event === 'landed'), 120_000, 'landed', 250);
});
