/**
 * A plan's fence made for the vehicle that flies it, over HTTP against the built-in simulator (or
 * ArduPilot SITL when ARDUPILOT_SITL names the binary), which stores fences as ArduCopter does
 * (560 bytes; refused beyond with "Fence exceeds storage size"):
 *
 * the airframe profile claims 200 fence items, so a job across a district of 600 compounds is
 * planned with a fence of about 70 items; commissioning measures what the vehicle really stores;
 * at dispatch the plan is made again within that capacity (a `replanned` timeline entry naming
 * both), the fence uploaded is the new one and the vehicle holds it. A vehicle that stores fewer
 * items than any fence for the route needs is refused with FENCE_CAPACITY before anything is sent.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, DELIVERY_READY_SIM_PARAMS, type Service } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import type { SimFleet } from '../../sims';
import { MissionType } from '../../src/mavlink/mission-item';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { ll, pointFeature, polygonFeature, rng, square } from '../planner/helpers';

jest.setTimeout(300_000);

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 100 }; // ll(0, 0): the depot
const V = 'link0/1';
const VID = encodeURIComponent(V);
const DROP = ll(1900, 1500);
let dir: string;
let svc: Service;
let vehicles: SimFleet & { kind: 'builtin' | 'sitl' };
let op: Client;
let sup: Client;

/** A 6 km district: about 600 walled compounds (8–13-vertex no-fly polygons) on a 230 m grid, a depot at its centre. */
function district(seed: number): any {
  const r = rng(seed);
  const features: any[] = [polygonFeature({ kind: 'operating-area', name: 'district' }, square(0, 0, 3000))];
  const pitch = 230;
  for (let j = -12; j <= 12; j++) {
    for (let i = -12; i <= 12; i++) {
      const cx = i * pitch + (r() - 0.5) * 80, cy = j * pitch + (r() - 0.5) * 80;
      if (Math.hypot(cx, cy) < 250 || Math.abs(cx) > 2800 || Math.abs(cy) > 2800) continue;
      const m = 8 + Math.floor(r() * 6), r0 = 40 + r() * 30, ph = r() * 6.28;
      const pts: [number, number][] = [];
      for (let v = 0; v < m; v++) {
        const a = ph + (v / m) * 2 * Math.PI, rad = r0 * (0.6 + 0.4 * r());
        pts.push([cx + rad * Math.cos(a), cy + rad * Math.sin(a)]);
      }
      features.push(polygonFeature({ kind: 'no-fly', name: `compound ${i},${j}` }, pts));
    }
  }
  features.push(pointFeature({ kind: 'launch-site', name: 'Depot' }, 0, 0));
  return { type: 'FeatureCollection', features };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-fence-fit-'));
  vehicles = await startTestVehicles({ instances: 1, speedup: 10, homes: [HOME], params: DELIVERY_READY_SIM_PARAMS });
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [vehicles.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(10), logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  sup = await new Client(svc.url).login('supervisor');
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${VID}`)).body), 120_000, 'vehicle ready');
  expect((await sup.put('/api/zones', district(1))).status).toBe(200);
  const { policy } = (await sup.get('/api/policy')).body;
  const put = await sup.put('/api/policy', { ...policy, vehicle: { ...policy.vehicle, fenceCapacityArdupilot: 200, fenceCapacityPx4: 200 } });
  expect(put.status).toBe(200);
});

afterAll(async () => {
  await svc?.close();
  await vehicles?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a vehicle that stores fewer items than any fence for the route needs: FENCE_CAPACITY at dispatch, nothing sent, the job still planned', async () => {
  // before commissioning the profile's figure is all that is known
  expect((await op.get(`/api/vehicles/${VID}/setup`)).body.fenceCapacity).toEqual({ items: 200, source: 'profile' });
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin' } });
  expect(created.status).toBe(201);
  const id = created.body.id;
  svc.store.setFenceCapacity(V, { autopilot: 'ardupilot', items: 3, measuredBy: 'test' });
  try {
    const d = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
    expect(d.status).toBe(409);
    expect(d.body.error).toMatchObject({ code: 'FENCE_CAPACITY', details: { vehicleId: V, capacity: 3, source: 'measured' } });
    expect(d.body.error.message).toMatch(new RegExp(`but ${V} stores 3 \\(measured`));
    const job = (await op.get(`/api/deliveries/${id}`)).body;
    expect(job.state).toBe('planned');
    expect(job.timeline.at(-1)).toMatchObject({ event: 'fence-capacity-refused', detail: { capacity: 3 } });
    expect(svc.fleet.get(V)!.state.armed).toBe(false);
  } finally {
    await op.post(`/api/deliveries/${id}/abort`, { reason: 'test over' });
  }
});

test('a job planned for the airframe profile (200 items) is planned again at dispatch within what commissioning measured, and the vehicle stores that fence', async () => {
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin' } });
  expect(created.status).toBe(201);
  const id = created.body.id;
  expect(created.body.plan.request.fenceCapacity).toBe(200);
  const planned = created.body.plan.fenceSummary.storageItems;

  // commissioning: the parameters already match, so it only measures the fence capacity
  const setup = await sup.post(`/api/vehicles/${VID}/setup`, { apply: true });
  expect(setup.status).toBe(200);
  const cap = setup.body.fenceCapacity;
  expect(cap).toMatchObject({ source: 'measured' });
  expect(planned).toBeGreaterThan(cap.items); // the job's fence would not fit this vehicle

  try {
    const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
    expect(disp.status).toBe(202);
    const job = await waitFor(async () => {
      const d = (await op.get(`/api/deliveries/${id}`)).body;
      return d.timeline.some((e: any) => e.event === 'fence-uploaded') || ['failed', 'aborted'].includes(d.state) ? d : null;
    }, 120_000, 'the fence uploaded', 250);
    expect(job.failure).toBeUndefined();
    const re = job.timeline.find((e: any) => e.event === 'replanned');
    expect(re.detail).toMatchObject({ vehicleId: V, fenceCapacity: cap.items });
    expect(re.detail.reason).toContain(`the plan's fence takes ${planned} items but ${V} stores ${cap.items}`);
    expect(re.detail.fenceItems).toBeLessThanOrEqual(cap.items);
    expect(job.plan.request.fenceCapacity).toBe(cap.items);
    expect(job.plan.fenceSummary.storageItems).toBeLessThanOrEqual(cap.items);
    // what the vehicle holds is the new fence, item for item
    const held = await svc.fleet.get(V)!.downloadItems(MissionType.FENCE);
    expect(held.ok).toBe(true);
    if (held.ok) {
      expect(held.items.length).toBe(job.plan.fence.length);
      expect(held.items.map((i: any) => [i.command, i.param1, i.x, i.y])).toEqual(job.plan.fence.map((i: any) => [i.command, i.param1, i.x, i.y]));
    }
  } finally {
    await op.post(`/api/deliveries/${id}/abort`, { reason: 'test over' });
  }
});
