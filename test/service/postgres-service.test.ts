/**
 * The service on PostgreSQL (`--store postgres://…`), two nodes sharing one database (a fresh schema):
 * node A holds the vehicle link (the built-in simulator, or ArduPilot SITL when ARDUPILOT_SITL names
 * the binary), node B none. A session made on one node works on the other; zones and policy edited
 * on one are the other's; a delivery flown by A is complete, with its audit, when read through B; the
 * audit stays append-only in the database itself.
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
import { freshSchema, pgSuite, type TestSchema } from '../support/postgres';

jest.setTimeout(240_000);

const DROP: [number, number] = [114.3935, 34.0515];
const V = 'link0/1';
const VID = encodeURIComponent(V);

pgSuite('service on PostgreSQL, two nodes', () => {
  let schema: TestSchema;
  const dirs: string[] = [];
  let a: Service;
  let b: Service;
  let vehicles: SimFleet;

  beforeAll(async () => {
    schema = freshSchema();
    const dir = () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-pg-'));
      dirs.push(d);
      return d;
    };
    vehicles = await startTestVehicles({ instances: 1, speedup: 10, homes: [{ lat: 34.06, lon: 114.39, altAmslM: 100 }], params: DELIVERY_READY_SIM_PARAMS });
    const dirA = dir();
    await seedTestUsers(dirA, schema.url);
    a = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dirA, store: schema.url, links: [vehicles.instances[0].uri], heartbeatHz: gcsHeartbeatHzFor(10), logLevel: 'silent' });
    b = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir(), store: schema.url, simulators: 0, demoUsers: false, logLevel: 'silent' });
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await vehicles?.stop();
    await schema?.drop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('both nodes keep their data in PostgreSQL, nothing in a SQLite file', () => {
    expect([a.store.kind, b.store.kind]).toEqual(['postgres', 'postgres']);
    for (const d of dirs) expect(fs.existsSync(path.join(d, 'dropline.sqlite'))).toBe(false);
  });

  test('a session made on node A is valid on node B; logging out on B ends it on A', async () => {
    const op = await new Client(a.url).login('operator');
    const onB = new Client(b.url);
    onB.token = op.token;
    expect((await onB.get('/api/me')).body).toMatchObject({ username: 'operator', role: 'operator' });
    expect((await onB.post('/api/logout')).status).toBe(200);
    expect((await op.get('/api/me')).status).toBe(401);
    // Wrong passwords are refused on either node.
    expect((await new Client(b.url).post('/api/login', { username: 'operator', password: 'nope-nope' })).status).toBe(401);
  });

  test("zones and policy: one history; an edit on B is what A serves (and A's consoles are told); a stale edit on A is a conflict", async () => {
    const supA = await new Client(a.url).login('supervisor');
    const supB = await new Client(b.url).login('supervisor');
    const onA: any[] = [];
    const ws = new WebSocket(a.url.replace('http', 'ws') + '/ws?token=' + encodeURIComponent(supA.token!));
    ws.on('message', (m) => onA.push(JSON.parse(String(m))));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        ws.send(JSON.stringify({ type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: 2 }));
        resolve();
      });
      ws.once('error', reject);
    });
    const before = (await supA.get('/api/policy')).body;
    expect((await supB.get('/api/policy')).body).toEqual(before);
    const put = await supB.req('PUT', '/api/policy', { ...before.policy, promiseMin: 45 }, { headers: { 'if-match': String(before.version) } });
    expect(put.status).toBe(200);
    expect((await supA.get('/api/policy')).body).toMatchObject({ version: before.version + 1, policy: { promiseMin: 45 } });
    await waitFor(() => onA.some((m) => m.type === 'zones' && m.version === before.version + 1), 10_000, "A's console told of B's edit");
    ws.close();
    const stale = await supA.req('PUT', '/api/policy', { ...before.policy, promiseMin: 50 }, { headers: { 'if-match': String(before.version) } });
    expect([stale.status, stale.body.error?.code]).toEqual([409, 'CONFLICT']);
    expect((await supA.get('/api/zones/history')).body.map((h: any) => h.version)).toEqual((await supB.get('/api/zones/history')).body.map((h: any) => h.version));
    // Versions are immutable in the database itself.
    await expect(schema.sql('UPDATE zone_versions SET change = $1', ['x'])).rejects.toThrow(/immutable/);
  });

  test('a delivery flown by node A on the simulator completes, and node B reads it with its audit', async () => {
    const op = await new Client(a.url).login('operator');
    await waitFor(async () => vehicleReady((await op.get(`/api/vehicles/${VID}`)).body), 120_000, 'vehicle ready');
    const created = await op.post('/api/deliveries', { drop: DROP, priority: 'urgent', payload: { description: 'insulin', massKg: 0.4 } });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const disp = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId: V });
    expect([disp.status, disp.body.state]).toEqual([202, 'uploading']);
    const supB = await new Client(b.url).login('supervisor');
    const done = await waitFor(async () => {
      const d = (await supB.get(`/api/deliveries/${id}`)).body;
      return ['completed', 'failed', 'aborted'].includes(d.state) ? d : null;
    }, 180_000, 'delivery to finish', 250);
    expect(done.failure).toBeUndefined();
    expect(done.timeline.filter((e: any) => e.state).map((e: any) => e.state)).toEqual(['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed']);
    expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
    expect((await supB.get(`/api/flights/${done.flightId}`)).body).toMatchObject({ state: 'ended', deliveryId: id, vehicleId: V });
    // The report's facts of the job were written by A as the job ended.
    const facts = await waitFor(async () => (await schema.sql('SELECT site, promise_by, failure_code, reason FROM report_job_facts WHERE delivery_id = $1', [id])).rows[0], 10_000, 'facts row');
    expect(facts).toEqual({ site: done.launch.name, promise_by: done.promiseBy, failure_code: null, reason: null });
    // The audit written by A (before the command left), read on B, each with its outcome.
    const audit = (await supB.get(`/api/audit?deliveryId=${id}`)).body;
    expect(audit.map((x: any) => x.action)).toEqual(expect.arrayContaining(['delivery.create', 'delivery.dispatch']));
    expect(audit.every((x: any) => x.pending === false)).toBe(true);
    const rows = (await schema.sql("SELECT a.id, o.audit_id FROM audit a LEFT JOIN audit_outcomes o ON o.audit_id = a.id WHERE a.action = 'delivery.dispatch'")).rows;
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r.audit_id !== null)).toBe(true);
    await expect(schema.sql('DELETE FROM audit')).rejects.toThrow(/append-only/);
    await expect(schema.sql("UPDATE audit_outcomes SET outcome = '{}'")).rejects.toThrow(/append-only/);
  });
});
