/**
 * A whole delivery end to end over HTTP and WebSocket (real sockets, speed-up 10) against the
 * built-in simulator, or ArduPilot SITL when ARDUPILOT_SITL names the binary: requested →
 * completed, with the release recorded as proof of drop, the timeline complete, the flight recorded
 * and the audit rows present. Then an abort in flight and operator commands during a job.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import WebSocket from 'ws';
import { startService, DELIVERY_READY_SIM_PARAMS, type Service } from '../../src/service';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import type { SimFleet } from '../../sims';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';

jest.setTimeout(240_000);

const DROP: [number, number] = [114.3935, 34.0515]; // Xinhua Block (sealed zone), ~1 km from Police Post 1
let dir: string;
let svc: Service;
let vehicles: SimFleet & { kind: 'builtin' | 'sitl' };
const V = 'link0/1';
const VID = encodeURIComponent(V);
let op: Client;
let sup: Client;
const wsMessages: any[] = [];
let ws: WebSocket | null = null;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-delivery-'));
  vehicles = await startTestVehicles({ instances: 1, speedup: 10, homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }], params: DELIVERY_READY_SIM_PARAMS });
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [vehicles.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(10), logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  sup = await new Client(svc.url).login('supervisor');
  ws = new WebSocket(svc.url.replace('http', 'ws') + '/ws?token=' + encodeURIComponent(sup.token!));
  ws.on('message', (m) => wsMessages.push(JSON.parse(String(m))));
  await new Promise<void>((resolve, reject) => {
    ws!.once('open', () => {
      ws!.send(JSON.stringify({ type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: 2 }));
      resolve();
    });
    ws!.once('error', reject);
  });
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${VID}`)).body), 120_000, 'vehicle ready');
});

afterAll(async () => {
  ws?.close();
  await svc?.close();
  await vehicles?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function delivery(id: string) {
  return (await op.get(`/api/deliveries/${id}`)).body;
}

test('a whole delivery: requested → planned → uploading → ready → in-flight → delivered → returning → completed', async () => {
  const created = await op.post('/api/deliveries', {
    drop: DROP,
    priority: 'urgent',
    payload: { description: 'insulin, 2 pens', massKg: 0.4 },
    requester: { name: 'Wang Fang', contact: '+86 138 0000 0000' },
    note: 'building 3, courtyard',
  });
  expect(created.status).toBe(201);
  const id = created.body.id;
  expect(created.body).toMatchObject({ state: 'planned', priority: 'urgent', sealedZone: { name: expect.stringContaining('Xinhua') } });
  expect(created.body.plan.ok).toBe(true);

  const pre = await op.get(`/api/deliveries/${id}/preflight?vehicleId=${VID}`);
  expect(pre.status).toBe(200);
  expect(pre.body.ok).toBe(true);
  const names = pre.body.checks.map((x: any) => x.name);
  for (const n of ['gps_fix', 'ekf', 'battery', 'prearm', 'fs_gcs_enable', 'batt_fs_low_act', 'fence_enable', 'fence_action', 'circle_fence_radius', 'release_mechanism', 'energy_reserve'])
    expect(names).toContain(n);

  const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
  expect(disp.status).toBe(202);
  expect(disp.body.state).toBe('uploading');
  const again = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
  expect(again.status).toBe(409);

  const done = await waitFor(async () => {
    const d = await delivery(id);
    return ['completed', 'failed', 'aborted'].includes(d.state) ? d : null;
  }, 180_000, 'delivery to finish', 250);
  expect(done.failure).toBeUndefined();
  expect(done.state).toBe('completed');

  const states = done.timeline.filter((e: any) => e.state).map((e: any) => e.state);
  expect(states).toEqual(['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed']);
  const events = done.timeline.filter((e: any) => e.event).map((e: any) => e.event);
  expect(events).toEqual(expect.arrayContaining(['fence-uploaded', 'rally-uploaded', 'mission-uploaded', 'armed', 'mission-start', 'landed']));
  expect(events.indexOf('fence-uploaded')).toBeLessThan(events.indexOf('rally-uploaded'));
  expect(events.indexOf('rally-uploaded')).toBeLessThan(events.indexOf('mission-uploaded'));
  expect(done.preflight.checks.find((x: any) => x.name === 'upload_verification')).toMatchObject({ ok: true });
  const armEvt = done.timeline.find((e: any) => e.event === 'armed');
  expect(armEvt.detail.ack.result).toBe('ACCEPTED');
  const inFlight = done.timeline.find((e: any) => e.state === 'in-flight');
  expect(inFlight.detail.altRelM).toBeGreaterThanOrEqual(1.5); // confirmed from telemetry, not the ACK

  // Proof of drop: within a few metres of the drop point, the gripper servo at its release PWM.
  const p = done.proofOfDrop;
  expect(p.distanceToDropM).toBeLessThan(5);
  expect(p.servo).toBe(9);
  expect(p.servoPwm).toBe(1100);
  expect(p.ack).toMatchObject({ command: 211 });
  expect(p.altRelM).toBeGreaterThan(5);
  // What the vehicle itself reports (SITL: its SERVO9 output at the release PWM).
  const truth = vehicles.instances[0].truth();
  expect(truth.payloadAttached).toBe(false);
  expect(truth.releasedAt).not.toBeNull();

  // The flight is recorded and ended, its tlog downloadable.
  const flight = (await op.get(`/api/flights/${done.flightId}`)).body;
  expect(flight).toMatchObject({ state: 'ended', deliveryId: id, vehicleId: V });
  const tlog = await fetch(`${svc.url}/api/flights/${done.flightId}/tlog`, { headers: { authorization: `Bearer ${op.token}` } });
  expect(tlog.status).toBe(200);
  expect(tlog.headers.get('content-type')).toMatch(/octet-stream/);
  expect((await tlog.arrayBuffer()).byteLength).toBeGreaterThan(1000);

  // Audit: who created and dispatched it, with the job id.
  const audit = (await sup.get(`/api/audit?deliveryId=${id}`)).body;
  const actions = audit.map((a: any) => `${a.action}:${a.username}:${a.role}`);
  expect(actions).toEqual(expect.arrayContaining(['delivery.create:operator:operator', 'delivery.dispatch:operator:operator']));
  const dispatches = audit.filter((a: any) => a.action === 'delivery.dispatch');
  expect(dispatches.map((a: any) => a.outcome.ok).sort()).toEqual([false, true]); // the accepted one and the refused second try
  expect(dispatches.find((a: any) => a.outcome.ok)).toMatchObject({ vehicleId: V, params: { vehicleId: V, id } });
  expect(dispatches.find((a: any) => !a.outcome.ok).outcome.code).toBe('INVALID_STATE');

  // The console saw the job change over the WebSocket.
  const pushed = wsMessages.filter((m) => m.type === 'delivery' && m.delivery.id === id).map((m) => m.delivery.state);
  expect(pushed).toEqual(expect.arrayContaining(['uploading', 'in-flight', 'delivered', 'completed']));
  expect(wsMessages.some((m) => m.type === 'alert' && /completed/.test(m.alert.text))).toBe(true);
});

test('a recorded flight replays as a read-only vehicle (trainer)', async () => {
  const flights = (await op.get('/api/flights')).body;
  const f = flights.find((x: any) => x.state === 'ended');
  expect(f).toBeTruthy();
  const trainer = await new Client(svc.url).login('trainer');
  const r = await trainer.post('/api/replays', { flightId: f.id, speed: 50 });
  expect(r.status).toBe(201);
  expect(r.body.vehicleId).toMatch(/^replay-/);
  await waitFor(async () => (await op.get('/api/vehicles')).body.some((v: any) => v.id === r.body.vehicleId), 20_000, 'replay vehicle');
  const cmd = await op.post(`/api/vehicles/${encodeURIComponent(r.body.vehicleId)}/commands`, { action: 'rtl' });
  expect([cmd.status, cmd.body.error.code]).toEqual([409, 'INVALID_STATE']);
  const paused = (await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'pause' })).body.state;
  expect(paused.paused).toBe(true);
  const total: number = paused.progress.total;
  expect(total).toBeGreaterThan(10);
  expect(paused.progress.index).toBeGreaterThanOrEqual(0);
  expect(paused.progress.index).toBeLessThanOrEqual(total);
  // Seek anywhere in the recording, not only to what was played: by fraction, then back by index.
  const half = await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'seek', fraction: 0.5 });
  expect(half.status).toBe(200);
  expect(half.body.state).toMatchObject({ paused: true, progress: { index: Math.round(total * 0.5), total } });
  expect(BigInt(half.body.state.progress.timeUs)).toBeGreaterThan(0n);
  const start = await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'seek', index: 0 });
  expect(start.body.state.progress.index).toBe(0);
  const end = await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'seek', fraction: 1 });
  expect(end.body.state.progress).toMatchObject({ index: total, total });
  expect(BigInt(end.body.state.progress.timeUs)).toBeGreaterThan(BigInt(half.body.state.progress.timeUs));
  // By flight time (seconds since the recording's first record, as the trainer's timeline shows it).
  const { startUs, endUs } = end.body.state.progress;
  expect(BigInt(end.body.state.progress.timeUs)).toBe(BigInt(endUs));
  const midS = Number(BigInt(endUs) - BigInt(startUs)) / 2e6;
  const atMid = await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'seek', atS: midS });
  expect(atMid.status).toBe(200);
  expect(BigInt(atMid.body.state.progress.timeUs)).toBeGreaterThanOrEqual(BigInt(startUs) + BigInt(Math.round(midS * 1e6)));
  expect(atMid.body.state.progress.index).toBeGreaterThan(0);
  expect(atMid.body.state.progress.index).toBeLessThan(total);
  const atZero = await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'seek', atS: 0 });
  expect(atZero.body.state.progress).toMatchObject({ index: 1, timeUs: startUs });
  const atEnd = await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'seek', atS: midS * 2 + 1 });
  expect(atEnd.body.state.progress).toMatchObject({ index: total, total });
  for (const bad of [
    { action: 'seek' },
    { action: 'seek', index: 1, fraction: 0.5 },
    { action: 'seek', fraction: 1.5 },
    { action: 'seek', atS: -1 },
    { action: 'seek', atS: 1, index: 1 },
    { action: 'seek', fraction: -0.1 },
    { action: 'seek', index: -1 },
    { action: 'seek', index: 2.5 },
    { action: 'seek', index: '3' },
    { action: 'pause', index: 3 },
  ]) {
    const res = await trainer.post(`/api/replays/${r.body.id}/control`, bad);
    expect([JSON.stringify(bad), res.status, res.body.error.code]).toEqual([JSON.stringify(bad), 400, 'INVALID_BODY']);
  }
  const beyond = await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'seek', index: total + 1 });
  expect([beyond.status, beyond.body.error.code]).toEqual([400, 'REPLAY_INVALID_INDEX']);
  const stepped = (await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'step' })).body.state;
  expect(stepped.progress).toMatchObject({ index: total, total }); // already at the end: stays there
  expect((await trainer.get(`/api/replays/${r.body.id}`)).body.state).toEqual(stepped);
  expect((await op.get(`/api/replays/${r.body.id}`)).status).toBe(403);
  expect((await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'speed' })).body.error.code).toBe('INVALID_BODY');
  expect((await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'stop' })).status).toBe(200);
  expect((await trainer.post(`/api/replays/${r.body.id}/control`, { action: 'resume' })).status).toBe(404);
  expect((await trainer.get(`/api/replays/${r.body.id}`)).status).toBe(404);
});

test('abort in flight: RTL commanded and acknowledged, job aborted, the flight followed until it lands', async () => {
  await waitFor(async () => {
    const v = (await op.get(`/api/vehicles/${VID}`)).body;
    return vehicleReady(v) && !v.armed && !v.deliveryId;
  }, 60_000, 'vehicle back and idle');
  vehicles.instances[0].inject({ kind: 'battery-set', pct: 100 }); // battery swap between flights
  await waitFor(async () => ((await op.get(`/api/vehicles/${VID}`)).body.battery?.remainingPct ?? 0) > 90, 20_000, 'battery full');
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'high', payload: { description: 'antibiotics' }, requester: { name: 'Li' } });
  const id = created.body.id;
  const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
  expect([disp.status, disp.body.error]).toEqual([202, undefined]);
  await waitFor(async () => (await delivery(id)).state === 'in-flight', 60_000, 'in-flight');
  const ab = await op.post(`/api/deliveries/${id}/abort`, { reason: 'requester cancelled' });
  expect(ab.status).toBe(200);
  expect(ab.body.state).toBe('aborted');
  const rtl = ab.body.timeline.find((e: any) => e.event === 'rtl-commanded');
  expect(rtl.detail.ack.result).toBe('ACCEPTED');
  await waitFor(async () => (await op.get(`/api/vehicles/${VID}`)).body.mode === 'RTL', 10_000, 'mode RTL in telemetry');
  const d = await waitFor(async () => {
    const x = await delivery(id);
    return x.timeline.some((e: any) => e.event === 'landed') ? x : null;
  }, 120_000, 'landing after abort', 250);
  expect(d.state).toBe('aborted');
  expect(d.abortReason).toBe('requester cancelled');
  expect(d.proofOfDrop).toBeUndefined();
  expect((await op.get(`/api/flights/${d.flightId}`)).body.state).toBe('ended');
  const audit = (await sup.get(`/api/audit?deliveryId=${id}&action=delivery.abort`)).body;
  expect(audit[0]).toMatchObject({ username: 'operator', vehicleId: V, params: { reason: 'requester cancelled' }, outcome: { ok: true, ack: { result: 'ACCEPTED' } } });
});

test('operator commands during a job: hold pauses the mission in AUTO, continue resumes, RTL aborts the job with who did it', async () => {
  await waitFor(async () => {
    const v = (await op.get(`/api/vehicles/${VID}`)).body;
    return vehicleReady(v) && !v.armed && !v.deliveryId;
  }, 90_000, 'vehicle back and idle');
  vehicles.instances[0].inject({ kind: 'battery-set', pct: 100 });
  await waitFor(async () => ((await op.get(`/api/vehicles/${VID}`)).body.battery?.remainingPct ?? 0) > 90, 20_000, 'battery full');
  const id = (await op.post('/api/deliveries', { drop: DROP, payload: { description: 'test kit' } })).body.id;
  expect((await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V })).status).toBe(202);
  await waitFor(async () => {
    const v = (await op.get(`/api/vehicles/${VID}`)).body;
    return v.mode === 'AUTO' && v.groundSpeedMps > 3 ? v : null;
  }, 60_000, 'cruising in AUTO');
  const hold = await op.post(`/api/vehicles/${VID}/commands`, { action: 'hold' });
  expect(hold.body.result).toMatchObject({ result: 'ACCEPTED', command: 193 }); // DO_PAUSE_CONTINUE, not BRAKE
  await waitFor(async () => {
    const v = (await op.get(`/api/vehicles/${VID}`)).body;
    return v.mode === 'AUTO' && v.groundSpeedMps < 0.5;
  }, 20_000, 'holding in AUTO');
  expect((await delivery(id)).state).toBe('in-flight');
  const cont = await op.post(`/api/vehicles/${VID}/commands`, { action: 'continue' });
  expect(cont.body.result.result).toBe('ACCEPTED');
  await waitFor(async () => (await op.get(`/api/vehicles/${VID}`)).body.groundSpeedMps > 3, 20_000, 'moving again');
  const rtl = await op.post(`/api/vehicles/${VID}/commands`, { action: 'rtl' });
  expect(rtl.body.result.result).toBe('ACCEPTED');
  const d = await delivery(id);
  expect(d.state).toBe('aborted');
  expect(d.abortReason).toBe('RTL commanded by operator');
  expect(d.timeline.filter((e: any) => e.event === 'operator-command').map((e: any) => e.detail.action)).toEqual(['hold', 'continue', 'rtl']);
  await waitFor(async () => (await delivery(id)).timeline.some((e: any) => e.event === 'landed'), 120_000, 'landed at home', 250);
});
