/**
 * Assisted dispatch over the real API with built-in simulated vehicles at the two launch sites
 * (speed-up 10): the queue's recommendation is the vehicle that drops soonest, with its reasons; a
 * vehicle whose battery is below the launch threshold is not ready until it is swapped; the
 * recommended vehicle flies the job when dispatched. Then auto-dispatch switched on by a supervisor
 * for urgent jobs: an urgent job flies on its recommended vehicle with nobody dispatching it, audited
 * as a dispatch; a normal job stays in the queue.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { DEMO_DROPS } from '../planner/helpers';

jest.setTimeout(300_000);

let dir: string;
let svc: Service;
let op: Client;
let sup: Client;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-recommend-'));
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 2, simSpeedup: 10, simParams: { BATT_CAPACITY: 20000 }, logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  sup = await new Client(svc.url).login('supervisor');
  await waitFor(async () => ((await op.get('/api/vehicles')).body as any[]).filter(vehicleReady).length === 2, 120_000, 'vehicles ready', 250);
});

afterAll(async () => {
  await svc?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the queue recommends the vehicle that drops soonest, with reasons; a low battery is not ready; the recommendation flies', async () => {
  // Xinhua Block lies nearer to Fire Station 2 (sim1) than to Police Post 1 (sim0)
  const c = await op.post('/api/deliveries', { drop: DEMO_DROPS.xinhua, priority: 'urgent', payload: { description: 'insulin' } });
  expect(c.status).toBe(201);
  const id = c.body.id;
  const rec = async () => {
    const r = await op.get('/api/queue/recommendations');
    expect(r.status).toBe(200);
    return (r.body as any[]).find((x) => x.jobId === id);
  };
  const first = await rec();
  expect(first.recommended).toBe('sim1/2');
  expect(first.candidates.map((x: any) => x.vehicleId)).toEqual(['sim1/2', 'sim0/1']);
  expect(first.candidates[0]).toMatchObject({ eligible: true, reasons: [{ code: 'ready' }, { code: 'on_time' }] });
  expect(first.candidates[0].dropAtS).toBeLessThan(first.candidates[1].dropAtS);

  // sim1's battery below the launch threshold (60 %): not ready until swapped; sim0 is recommended
  const sim1 = svc.sims!.instances.find((i) => i.sysid === 2)!;
  sim1.inject({ kind: 'battery-set', pct: 40 });
  const low = await waitFor(async () => {
    const r = await rec();
    return r.recommended === 'sim0/1' ? r : null;
  }, 20_000, 'the recommendation to change');
  const s1 = low.candidates.find((x: any) => x.vehicleId === 'sim1/2');
  expect(s1.reasons[0]).toEqual({ code: 'battery_swap', params: { batteryPct: 40, needPct: 60 } });

  // a bad query is a 400 with a stable code
  const bad = await op.get('/api/queue/recommendations?training=maybe');
  expect(bad.status).toBe(400);

  // the battery swapped: dispatch the recommendation, and it flies
  sim1.inject({ kind: 'battery-set', pct: 100 });
  const again = await waitFor(async () => {
    const r = await rec();
    return r.recommended === 'sim1/2' ? r : null;
  }, 20_000, 'the recommendation back');
  const d = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: again.recommended });
  expect(d.status).toBe(202);
  const done = await waitFor(async () => {
    const x = (await op.get(`/api/deliveries/${id}`)).body;
    return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
  }, 180_000, 'delivery to finish', 250);
  expect(done.state).toBe('completed');
  expect(done.vehicleId).toBe('sim1/2');
  // no longer queued
  expect(await rec()).toBeUndefined();
});

test('auto-dispatch for urgent jobs, switched on by a supervisor: dispatched to the recommended vehicle, audited; a normal job waits for a person', async () => {
  for (const i of svc.sims!.instances) i.inject({ kind: 'battery-set', pct: 100 });
  await waitFor(async () => ((await op.get('/api/vehicles')).body as any[]).filter((v) => vehicleReady(v) && !v.armed).length === 2, 60_000, 'vehicles ready');
  const policy = (await sup.get('/api/policy')).body.policy;
  expect(policy.autoDispatch).toEqual({ priorities: [] });
  // an operator cannot switch it on
  expect((await op.put('/api/policy', { ...policy, autoDispatch: { priorities: ['urgent'] } })).status).toBe(403);
  const normal = (await op.post('/api/deliveries', { drop: DEMO_DROPS.garden, priority: 'normal', payload: { description: 'bandages' } })).body.id;
  expect((await sup.put('/api/policy', { ...policy, autoDispatch: { priorities: ['urgent'] } })).status).toBe(200);
  try {
    const urgent = (await op.post('/api/deliveries', { drop: DEMO_DROPS.xinhua, priority: 'urgent', payload: { description: 'insulin' } })).body.id;
    const done = await waitFor(async () => {
      const x = (await op.get(`/api/deliveries/${urgent}`)).body;
      return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
    }, 180_000, 'the urgent job to be flown', 250);
    expect(done.state).toBe('completed');
    expect(done.vehicleId).toBe('sim1/2'); // the recommendation: nearer the drop
    expect(done.timeline.find((e: any) => e.state === 'uploading').detail).toMatchObject({ by: 'auto-dispatch', vehicleId: 'sim1/2' });
    const audit = (await sup.get(`/api/audit?deliveryId=${urgent}`)).body as any[];
    const row = audit.find((r) => r.action === 'delivery.dispatch');
    expect(row).toMatchObject({ username: 'auto-dispatch', role: 'system', vehicleId: 'sim1/2' });
    expect(JSON.stringify(row.outcome)).toContain('"ok":true');
    // the policy change itself is audited with the supervisor's name
    const changes = (await sup.get('/api/audit?action=policy.update')).body as any[];
    expect(changes.some((r) => r.username === 'supervisor')).toBe(true);
    // the normal job was never dispatched by itself
    const n = (await op.get(`/api/deliveries/${normal}`)).body;
    expect(n.state).toBe('planned');
  } finally {
    await sup.put('/api/policy', policy);
  }
});
