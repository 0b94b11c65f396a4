/**
 * A whole delivery through the API on a PX4 vehicle: the built-in simulator's PX4 personality, or
 * PX4 SITL (the SIH quadcopter) when PX4_SITL names the px4 binary. Preflight in PX4's names with its
 * estimator health from ESTIMATOR_STATUS; the mission without ArduPilot's home placeholder; Hold
 * (AUTO.LOITER) → arm → MISSION_START → AUTO.MISSION takes off; the release on PX4's gripper (output 5,
 * function 430); landing and disarm → completed.
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

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 100 };
const DROP: [number, number] = [114.3935, 34.0515]; // Xinhua Block, ~1 km from home
const SPEEDUP = 10;
let dir: string;
let svc: Service;
let vehicles: SimFleet & { kind: 'builtin' | 'sitl' };
let V: string;
let VID: string;
let op: Client;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-delivery-px4-'));
  // The project's PX4 parameters (the launcher's PX4_PROJECT_PARAMS): a commissioned vehicle.
  vehicles = await startTestVehicles({ instances: 1, speedup: SPEEDUP, homes: [HOME], personality: 'px4', params: { NAV_DLL_ACT: 2, COM_LOW_BAT_ACT: 3, GF_ACTION: 3, GF_MAX_VER_DIST: 120, PWM_MAIN_FUNC5: 430 } });
  V = `link0/${vehicles.instances[0].sysid}`;
  VID = encodeURIComponent(V);
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [vehicles.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(SPEEDUP), logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${VID}`)).body), 120_000, 'PX4 vehicle ready');
});

afterAll(async () => {
  await svc?.close();
  await vehicles?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('PX4: requested → planned → uploading → ready → in-flight → delivered → returning → completed, released on the gripper at the drop point', async () => {
  expect(svc.fleet.get(V)!.state.autopilot).toBe('px4');
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin, 2 pens', massKg: 0.4 } });
  expect(created.status).toBe(201);
  const id = created.body.id;
  const planned = created.body.plan.mission;
  expect(planned[0].command).toBe(16); // the planner's home placeholder (ArduPilot)

  const pre = await op.get(`/api/deliveries/${id}/preflight?vehicleId=${VID}`);
  expect(pre.body.checks.filter((c: any) => !c.ok)).toEqual([]);
  const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
  expect(disp.status).toBe(202);
  // The mission as flown: no home placeholder, the takeoff first.
  expect(disp.body.plan.mission[0].command).toBe(22);
  expect(disp.body.plan.mission).toHaveLength(planned.length - 1);

  const done = await waitFor(async () => {
    const d = (await op.get(`/api/deliveries/${id}`)).body;
    return ['completed', 'failed', 'aborted'].includes(d.state) ? d : null;
  }, 240_000, 'delivery to finish', 250);
  expect(done.failure).toBeUndefined();
  expect(done.state).toBe('completed');
  const states = done.timeline.filter((e: any) => e.state).map((e: any) => e.state);
  expect(states).toEqual(['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed']);
  const inFlight = done.timeline.find((e: any) => e.state === 'in-flight');
  expect(inFlight.detail.mode).toMatch(/^AUTO\.(MISSION|TAKEOFF)$/);
  // Proof of drop: near the drop point, DO_GRIPPER executed as a mission item, servo output 5 recorded.
  const p = done.proofOfDrop;
  expect(p.ack).toMatchObject({ source: 'mission-item', command: 211 });
  expect(p.servo).toBe(5);
  expect(p.distanceToDropM).toBeLessThan(5);
  expect(p.altRelM).toBeGreaterThan(5);
  // PX4's gripper grabs at start (output 5 at its maximum, 2000) and releases to the minimum (PWM_MAIN_MIN5, 1000).
  if (vehicles.kind === 'sitl') expect(p.servoPwm).toBe(1000);
  const landed = done.timeline.find((e: any) => e.event === 'landed');
  expect(landed.detail.position.altRelM).toBeLessThan(2);
  expect(svc.fleet.get(V)!.state.armed).toBe(false);
});
