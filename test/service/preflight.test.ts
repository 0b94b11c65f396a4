/**
 * The preflight policy refusing with named checks, and a vehicle that stops answering in the
 * middle of the upload, against the built-in simulator over real sockets.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';

jest.setTimeout(180_000);

const DROP: [number, number] = [114.3935, 34.0515];
const VID = 'sim0/1';
let dir: string;
let svc: Service;
let op: Client;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-preflight-'));
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 1, simSpeedup: 10, logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 60_000, 'vehicle ready');
});

afterAll(async () => {
  await svc?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('preflight refuses with each failed check named: GCS failsafe off, circle fence too small, no gripper', async () => {
  const sim = svc.sims!.instances[0];
  const saved = { FS_GCS_ENABLE: sim.getParam('FS_GCS_ENABLE')!, FENCE_TYPE: sim.getParam('FENCE_TYPE')!, FENCE_RADIUS: sim.getParam('FENCE_RADIUS')!, GRIP_ENABLE: sim.getParam('GRIP_ENABLE')! };
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'epinephrine' } });
  const id = created.body.id;
  try {
    sim.setParam('FS_GCS_ENABLE', 0);
    sim.setParam('FENCE_TYPE', 7); // max alt + circle + polygon
    sim.setParam('FENCE_RADIUS', 150); // the SITL default: far smaller than a 1 km leg
    sim.setParam('GRIP_ENABLE', 0);
    const pre = await op.get(`/api/deliveries/${id}/preflight?vehicleId=${encodeURIComponent(VID)}`);
    expect(pre.body.ok).toBe(false);
    const failed = pre.body.checks.filter((x: any) => !x.ok).map((x: any) => x.name).sort();
    expect(failed).toEqual(['circle_fence_radius', 'fs_gcs_enable', 'release_mechanism']);
    expect(pre.body.checks.find((x: any) => x.name === 'circle_fence_radius').detail).toMatch(/FENCE_RADIUS 150 m/);

    const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID });
    expect(disp.status).toBe(409);
    expect(disp.body.error.code).toBe('PREFLIGHT_FAILED');
    expect(disp.body.error.details.failed.sort()).toEqual(['circle_fence_radius', 'fs_gcs_enable', 'release_mechanism']);
    expect(disp.body.error.message).toMatch(/fs_gcs_enable \(FS_GCS_ENABLE = 0/);
    const d = (await op.get(`/api/deliveries/${id}`)).body;
    expect(d.state).toBe('planned'); // refused, not failed: it can go once the vehicle is fixed
    expect(d.timeline.at(-1)).toMatchObject({ event: 'preflight-refused', detail: { vehicleId: VID } });
    expect(svc.fleet.get(VID)!.state.armed).toBe(false);
    const audit = await svc.store.queryAudit({ deliveryId: id, action: 'delivery.dispatch' });
    expect(audit[0].outcome).toMatchObject({ ok: false, code: 'PREFLIGHT_FAILED' });

    // A policy that does not require the GCS failsafe (versioned with the zones) skips that check by name.
    const sup = await new Client(svc.url).login('supervisor');
    const pol = (await sup.get('/api/policy')).body.policy;
    await sup.put('/api/policy', { ...pol, checks: pol.checks.filter((n: string) => n !== 'fs_gcs_enable') });
    const pre2 = await op.get(`/api/deliveries/${id}/preflight?vehicleId=${encodeURIComponent(VID)}`);
    expect(pre2.body.checks.find((x: any) => x.name === 'fs_gcs_enable')).toMatchObject({ ok: true, skipped: true });
    await sup.put('/api/policy', pol);
  } finally {
    for (const [k, v] of Object.entries(saved)) sim.setParam(k, v);
    await op.post(`/api/deliveries/${id}/abort`, { reason: 'test over' });
  }
});

test('a vehicle that stops answering mid-upload → failed with a named reason and the transfer code; nothing flies', async () => {
  const sim = svc.sims!.instances[0];
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin' } });
  const id = created.body.id;
  // Cut the link at the vehicle's first item request of the upload.
  let cut = false;
  const onFrame = (vehicleId: string, f: { name: string }) => {
    if (!cut && vehicleId === VID && (f.name === 'MISSION_REQUEST' || f.name === 'MISSION_REQUEST_INT')) {
      cut = true;
      sim.inject({ kind: 'link-loss' });
    }
  };
  svc.fleet.on('frame', onFrame);
  try {
    const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID });
    expect(disp.status).toBe(202);
    const d = await waitFor(async () => {
      const x = (await op.get(`/api/deliveries/${id}`)).body;
      return ['failed', 'completed', 'aborted', 'in-flight'].includes(x.state) ? x : null;
    }, 90_000, 'the job to fail', 250);
    expect(cut).toBe(true);
    expect(d.state).toBe('failed');
    expect(['VEHICLE_LOST', 'UPLOAD_FAILED']).toContain(d.failure.code);
    expect(d.failure.details).toMatchObject({ missionType: 'fence' });
    expect(typeof d.failure.details.transferCode).toBe('string');
    expect(d.timeline.map((e: any) => e.state).filter(Boolean)).toEqual(['requested', 'planned', 'uploading', 'failed']);
    expect(sim.truth().armed).toBe(false);
  } finally {
    svc.fleet.off('frame', onFrame);
    sim.clearFault('link-loss');
  }
  // The link comes back and the vehicle is usable again.
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 60_000, 'vehicle back');
});
