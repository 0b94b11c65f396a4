/**
 * kill -9 in flight: the service runs in its own process (npx tsx), connected over TCP to a
 * simulator that lives in this process. The service is killed with SIGKILL while the vehicle is
 * flying to the drop, restarted on the same data directory, and must still hold everything it had
 * committed and go on tracking the flight to completion.
 */
import { spawn, type ChildProcess } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import readline from 'readline';
import type { SimFleet } from '../../sims';
import { startTestVehicles } from '../support/vehicles';
import { DELIVERY_READY_SIM_PARAMS } from '../../src/service';
import { Client, waitFor, vehicleReady } from './support/client';

jest.setTimeout(240_000);

const ROOT = path.join(__dirname, '..', '..');
const DROP: [number, number] = [114.3935, 34.0515];
const VID = 'link0/1';
let dir: string;
let sims: SimFleet & { kind: 'builtin' | 'sitl' };
const children: ChildProcess[] = [];

function startChild(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn('npx', ['tsx', path.join(ROOT, 'test/service/support/service-main.ts')], {
    cwd: ROOT,
    env: { ...process.env, DL_DATA_DIR: dir, DL_LINKS: sims.instances[0].uri, DL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: SIGKILL reaches npx, tsx and node alike
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (b) => (stderr += String(b)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start: ${stderr}`)), 90_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const m = JSON.parse(line);
        if (m.url) {
          clearTimeout(timer);
          resolve({ child, url: m.url });
        }
      } catch {
        /* log line */
      }
    });
    child.once('exit', (code) => reject(new Error(`service exited (${code}) before listening: ${stderr}`)));
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(-child.pid!, 'SIGKILL');
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-kill9-'));
  // Built-in simulator, or SITL when ARDUPILOT_SITL is set. A GCS failsafe long enough to outlast
  // the restart (in sim seconds: 120 s = 12 s wall at ×10).
  sims = await startTestVehicles({
    instances: 1,
    speedup: 10,
    homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }],
    params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_TIMEOUT: 120 },
  });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) await kill9(c).catch(() => undefined);
  await sims?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('kill -9 in flight, restart on the same data dir: nothing committed is lost and the flight is tracked to completion', async () => {
  const first = await startChild();
  const op = await new Client(first.url).login('operator');
  // The policy's vehicle profile must accept that long GCS failsafe (its default ceiling is 30 s).
  const sup = await new Client(first.url).login('supervisor');
  const pol = (await sup.get('/api/policy')).body.policy;
  expect((await sup.put('/api/policy', { ...pol, vehicle: { ...pol.vehicle, gcsLossTimeoutMaxS: 120 } })).status).toBe(200);
  await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${encodeURIComponent(VID)}`)).body), 60_000, 'vehicle ready');
  const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin' }, requester: { name: 'Zhao' } });
  const id = created.body.id;
  expect((await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: VID })).status).toBe(202);
  const before = await waitFor(async () => {
    const d = (await op.get(`/api/deliveries/${id}`)).body;
    return d.state === 'in-flight' ? d : null;
  }, 60_000, 'in-flight');
  expect(sims.instances[0].truth().armed).toBe(true);
  const tKill = Date.now();
  const admin1 = await new Client(first.url).login('admin');
  const auditBefore = (await admin1.get('/api/audit?limit=5000')).body;
  const zonesBefore = (await admin1.get('/api/zones/history')).body;
  expect(auditBefore.length).toBeGreaterThanOrEqual(4);

  await kill9(first.child);
  expect(sims.instances[0].truth().releasedAt).toBeNull(); // killed before the drop

  const second = await startChild();
  const restartMs = Date.now() - tKill;
  expect(restartMs).toBeLessThan(12_000); // inside the GCS failsafe window
  // The old session token is still valid: sessions are committed too.
  const op2 = new Client(second.url);
  op2.token = op.token;
  expect((await op2.get('/api/me')).body).toEqual({ username: 'operator', role: 'operator', mustChangePassword: false });

  const after = (await op2.get(`/api/deliveries/${id}`)).body;
  expect(after.flightId).toBe(before.flightId);
  expect(after.timeline.slice(0, before.timeline.length)).toEqual(before.timeline);
  expect(after.timeline.some((e: any) => e.event === 'tracking-resumed')).toBe(true);
  const flight = (await op2.get(`/api/flights/${before.flightId}`)).body;
  expect(flight).toMatchObject({ state: 'active', vehicleId: VID, deliveryId: id });
  const health = (await op2.get('/api/health')).body;
  expect(health.trackedFlights).toContain(VID);
  const admin = await new Client(second.url).login('admin');
  const auditAfter = (await admin.get('/api/audit?limit=5000')).body;
  // Every audit row committed before the kill is there, unchanged (newest first, so compare the tail).
  expect(auditAfter.slice(auditAfter.length - auditBefore.length)).toEqual(auditBefore);
  expect(auditAfter.filter((a: any) => a.deliveryId === id).map((a: any) => a.action)).toEqual(expect.arrayContaining(['delivery.create', 'delivery.dispatch']));
  expect((await admin.get('/api/zones/history')).body).toEqual(zonesBefore);

  const done = await waitFor(async () => {
    const d = (await op2.get(`/api/deliveries/${id}`)).body;
    return ['completed', 'failed', 'aborted'].includes(d.state) ? d : null;
  }, 150_000, 'completion after restart', 250);
  expect(done.failure).toBeUndefined();
  expect(done.state).toBe('completed');
  expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
  expect((await op2.get(`/api/flights/${before.flightId}`)).body.state).toBe('ended');

  await kill9(second.child);
}, 240_000);
