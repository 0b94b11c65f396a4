/**
 * Commissioning a PX4 vehicle through the API: the same vehicle profile in PX4's names (NAV_DLL_ACT,
 * COM_DL_LOSS_T, COM_LOW_BAT_ACT, GF_ACTION, GF_MAX_HOR_DIST, GF_MAX_VER_DIST, PD_GRIPPER_TYPE,
 * PWM_MAIN_FUNCn), set without a reboot (PX4 applies them live, and PX4 SITL shuts down on reboot),
 * the fence capacity measured, and the preflight judging the vehicle in PX4's names with its estimator
 * health from ESTIMATOR_STATUS. Against the built-in simulator's PX4 personality, or PX4 SITL (SIH)
 * when PX4_SITL names the px4 binary.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import type { SimFleet } from '../../sims';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';

jest.setTimeout(300_000);

/** What PX4 1.18 SITL has where the project's parameters are not set: no data-link failsafe, no altitude ceiling, no output carrying the gripper. */
const STOCK_PX4: Record<string, number> = { NAV_DLL_ACT: 0, GF_MAX_VER_DIST: 0, PWM_MAIN_FUNC5: 0, COM_LOW_BAT_ACT: 0, BAT1_CAPACITY: 3300 };
const HOME = { lat: 34.06, lon: 114.39, altAmslM: 100 };
const DROP: [number, number] = [114.3935, 34.0515];
const SPEEDUP = 5;
let dir: string;
let svc: Service;
let vehicles: SimFleet & { kind: 'builtin' | 'sitl' };
let V: string;
let VID: string;
let op: Client;
let sup: Client;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-commission-px4-'));
  vehicles = await startTestVehicles({ instances: 1, speedup: SPEEDUP, homes: [HOME], personality: 'px4', params: STOCK_PX4 });
  V = `link0/${vehicles.instances[0].sysid}`;
  VID = encodeURIComponent(V);
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [vehicles.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(SPEEDUP), logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  sup = await new Client(svc.url).login('supervisor');
  await waitFor(async () => (await op.get(`/api/vehicles/${VID}`)).body?.connected && svc.fleet.get(V)?.state.home, 120_000, 'vehicle connected with a home');
});

afterAll(async () => {
  await svc?.close();
  await vehicles?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('GET setup on a PX4 vehicle: PX4 names only, not ready', async () => {
  const r = await op.get(`/api/vehicles/${VID}/setup`);
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ autopilot: 'px4', ready: false, fenceCapacity: { items: 64, source: 'profile' } });
  const byName = Object.fromEntries(r.body.params.map((p: any) => [p.name, p]));
  expect(byName.NAV_DLL_ACT).toMatchObject({ have: 0, want: 2, ok: false, needsReboot: false });
  expect(byName.COM_LOW_BAT_ACT).toMatchObject({ have: 0, want: 3, ok: false });
  expect(byName.GF_MAX_VER_DIST).toMatchObject({ have: 0, want: 120, ok: false });
  expect(byName.PWM_MAIN_FUNC5).toMatchObject({ want: 430, ok: false });
  expect(byName.COM_DL_LOSS_T).toMatchObject({ have: 10, ok: true });
  expect(byName.GF_ACTION.ok).toBe(true);
  expect(byName.GF_MAX_HOR_DIST).toMatchObject({ have: 0, ok: true });
  expect(byName.PD_GRIPPER_TYPE).toMatchObject({ have: 0, ok: true });
  // The airframe's 6S pack is known to PX4 (BAT1_N_CELLS); its capacity is not.
  expect(byName.BAT1_N_CELLS).toMatchObject({ have: 6, ok: true });
  expect(byName.BAT1_CAPACITY).toMatchObject({ have: 3300, want: 20000, ok: false });
  expect(r.body.params.every((p: any) => !p.needsReboot)).toBe(true);
  expect(Object.keys(byName).some((n) => /^(FS_|BATT_|FENCE_|GRIP_|SERVO)/.test(n))).toBe(false);
});

test('POST apply on PX4: set and read back without a reboot, fence capacity measured; then ready and the preflight passes in PX4 names', async () => {
  const r = await sup.post(`/api/vehicles/${VID}/setup`, { apply: true });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ ready: true, rebooted: false });
  const applied = Object.fromEntries(r.body.applied.map((a: any) => [a.name, a]));
  for (const [name, from, to] of [['NAV_DLL_ACT', 0, 2], ['COM_LOW_BAT_ACT', 0, 3], ['GF_MAX_VER_DIST', 0, 120], ['PWM_MAIN_FUNC5', 0, 430], ['BAT1_CAPACITY', 3300, 20000]] as const)
    expect(applied[name]).toMatchObject({ from, to, ok: true, readBack: to });
  const m = r.body.fenceMeasurement;
  expect(m).toMatchObject({ ok: true, restored: { items: 0 } });
  expect(r.body.fenceCapacity).toMatchObject({ items: m.items, source: 'measured' });
  if (vehicles.kind === 'sitl') expect(m.items).toBe(64); // PX4 1.18 SITL: 64 stored, NO_SPACE at 65
  expect((await svc.store.queryAudit({ action: 'vehicle.setup', vehicleId: V }))[0].outcome).toMatchObject({ ok: true, ready: true });

  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${VID}`)).body), 120_000, 'PX4 vehicle ready (ESTIMATOR_STATUS, GPS, home, prearm)');
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin' } });
  const id = created.body.id;
  try {
    const pre = await waitFor(async () => {
      const p = await op.get(`/api/deliveries/${id}/preflight?vehicleId=${VID}`);
      return p.body.ok ? p : null;
    }, 60_000, 'preflight ok');
    const checks = Object.fromEntries(pre.body.checks.map((c: any) => [c.name, c]));
    expect(checks.fs_gcs_enable.detail).toMatch(/NAV_DLL_ACT = 2/);
    expect(checks.release_mechanism.detail).toMatch(/PWM_MAIN_FUNC5 = 430/);
    expect(checks.ekf.detail).toMatch(/flags 0x3[0-9a-f]{2}/);
    expect(checks.battery_match).toMatchObject({ ok: true, detail: expect.stringMatching(/BAT1_N_CELLS = 6.*BAT1_CAPACITY = 20000/) });
    expect(checks.energy_reserve.detail).toMatch(/of 444\.0 Wh\)$/);
    expect(JSON.stringify(pre.body.checks)).not.toMatch(/FS_GCS_ENABLE|BATT_FS|GRIP_ENABLE|EKF_STATUS_REPORT/);
  } finally {
    await op.post(`/api/deliveries/${id}/abort`, { reason: 'test over' });
  }
});
