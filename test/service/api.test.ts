/**
 * The REST API over real HTTP against a running service (real SQLite file in a temp dir, one
 * built-in simulator in the service, one more simulator in this process connected as a "real"
 * link so the trainer's sim-only grant can be checked both ways).
 */
import fs from 'fs';
import net from 'net';
import os from 'os';
import path from 'path';
import WebSocket from 'ws';
import { startService, type Service } from '../../src/service';
import { startSimulators, type SimFleet } from '../../sims';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers, testPassword } from './support/users';

jest.setTimeout(120_000);

let dir: string;
let svc: Service;
let extSims: SimFleet;
const c: Record<string, Client> = {};
const SIM = encodeURIComponent('sim0/1');
const REAL = encodeURIComponent('link0/1');

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-api-'));
  extSims = await startSimulators({ instances: 1, basePort: 0, speedup: 10 });
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 1, simSpeedup: 10, links: [extSims.instances[0].uri], logLevel: 'silent' });
  for (const r of ['admin', 'operator', 'supervisor', 'trainer']) c[r] = await new Client(svc.url).login(r);
  await waitFor(() => svc.fleet.get('sim0/1') && svc.fleet.get('link0/1'), 30_000, 'both vehicles');
});

afterAll(async () => {
  await svc?.close();
  await extSims?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('auth', () => {
  test('each demo user logs in with its role; the cookie carries the session', async () => {
    for (const r of ['admin', 'operator', 'supervisor', 'trainer']) {
      const res = await new Client(svc.url).req('POST', '/api/login', { username: r, password: testPassword(r) });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ role: r, username: r });
      expect(typeof res.body.token).toBe('string');
      const cookie = res.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/dropline_session=/);
      expect(cookie).toMatch(/HttpOnly/i);
      expect(cookie).toMatch(/SameSite=Strict/i);
      const me = await new Client(svc.url).req('GET', '/api/me', undefined, { token: null, headers: { cookie: cookie.split(';')[0] } });
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ username: r, role: r, mustChangePassword: false });
    }
  });

  test('wrong password, no token, garbage token and a logged-out token get 401 UNAUTHENTICATED', async () => {
    const bad = await new Client(svc.url).req('POST', '/api/login', { username: 'operator', password: 'nope' });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('UNAUTHENTICATED');
    const unknown = await new Client(svc.url).req('POST', '/api/login', { username: 'ghost', password: 'x' });
    expect(unknown.status).toBe(401);
    for (const token of [null, 'garbage-token']) {
      const r = await new Client(svc.url).req('GET', '/api/deliveries', undefined, { token });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('UNAUTHENTICATED');
    }
    const tmp = await new Client(svc.url).login('operator');
    expect((await tmp.get('/api/me')).status).toBe(200);
    expect((await tmp.post('/api/logout')).status).toBe(200);
    const after = await tmp.get('/api/me');
    expect(after.status).toBe(401);
  });

  test('passwords are stored as scrypt hashes, never in clear', async () => {
    const u = (await svc.store.getUser('operator'))!;
    expect(u.passwordHash).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(u.passwordHash).not.toContain('operator');
  });
});

describe('role matrix, route by route', () => {
  const cases: Array<[string, string, string, unknown, boolean]> = [
    // role, method, path, body, allowed
    ['supervisor', 'POST', `/api/vehicles/${SIM}/commands`, { action: 'hold' }, false],
    ['supervisor', 'POST', `/api/vehicles/${REAL}/commands`, { action: 'rtl' }, false],
    ['supervisor', 'POST', '/api/deliveries/D99999/dispatch', { vehicleId: 'sim0/1' }, false],
    ['supervisor', 'POST', '/api/deliveries/D99999/abort', {}, false],
    ['supervisor', 'POST', '/api/deliveries', { drop: [114.3935, 34.0515] }, false],
    ['supervisor', 'POST', '/api/sim/faults', { vehicleId: 'sim0/1', fault: { kind: 'gps-loss' } }, false],
    ['supervisor', 'POST', '/api/deliveries/D99999/approve', {}, true],
    ['supervisor', 'GET', '/api/audit', undefined, true],
    ['operator', 'PUT', '/api/zones', { type: 'FeatureCollection', features: [] }, false],
    ['operator', 'PUT', '/api/policy', {}, false],
    ['operator', 'GET', '/api/audit', undefined, false],
    ['operator', 'POST', '/api/deliveries/D99999/approve', {}, false],
    ['operator', 'POST', '/api/sim/faults', { vehicleId: 'sim0/1', fault: { kind: 'gps-loss' } }, false],
    ['operator', 'POST', '/api/replays', { flightId: 'nope' }, false],
    ['operator', 'POST', `/api/vehicles/${REAL}/commands`, { action: 'mode', mode: 'BRAKE' }, true],
    // LOITER flies the pilot's sticks (nobody at them: ArduCopter descends): not a way for an operator to stop a drone.
    ['operator', 'POST', `/api/vehicles/${REAL}/commands`, { action: 'mode', mode: 'LOITER' }, false],
    ['operator', 'POST', '/api/deliveries/D99999/dispatch', { vehicleId: 'link0/1' }, true],
    ['trainer', 'POST', `/api/vehicles/${REAL}/commands`, { action: 'mode', mode: 'BRAKE' }, false],
    ['trainer', 'POST', '/api/deliveries/D99999/dispatch', { vehicleId: 'link0/1' }, false],
    ['trainer', 'POST', `/api/vehicles/${SIM}/commands`, { action: 'mode', mode: 'LOITER' }, true],
    ['trainer', 'POST', '/api/deliveries/D99999/approve', {}, false],
    ['trainer', 'PUT', '/api/zones', { type: 'FeatureCollection', features: [] }, false],
    ['trainer', 'GET', '/api/audit', undefined, false],
    ['trainer', 'POST', '/api/sim/faults', { vehicleId: 'sim0/1', fault: { kind: 'no-such-fault' } }, true],
    ['operator', 'POST', '/api/sim/parcels', { vehicleId: 'sim0/1', outputs: [10, 11] }, false],
    ['supervisor', 'POST', '/api/sim/parcels', { vehicleId: 'sim0/1', outputs: [10, 11] }, false],
    ['admin', 'GET', '/api/audit', undefined, true],
    ['admin', 'POST', `/api/vehicles/${REAL}/commands`, { action: 'mode', mode: 'LOITER' }, true],
  ];
  test.each(cases)('%s %s %s %j → allowed=%s', async (role, method, p, body, allowed) => {
    const r = await c[role].req(method, p, body);
    if (allowed) {
      expect(r.status).not.toBe(403);
      expect(r.status).not.toBe(401);
    } else {
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
    }
  });

  test('a trainer loads parcels into a simulated vehicle\'s bays (audited); bad outputs and real vehicles are refused', async () => {
    const r = await c.trainer.post('/api/sim/parcels', { vehicleId: 'sim0/1', outputs: [10, 11] });
    expect(r.status).toBe(200);
    const sim = (await c.trainer.get('/api/sim')).body.instances.find((i: any) => i.vehicleId === 'sim0/1');
    expect(sim.truth.parcelsAboard).toEqual([10, 11]);
    expect((await c.trainer.post('/api/sim/parcels', { vehicleId: 'sim0/1', outputs: [17] })).body.error.code).toBe('INVALID_BODY');
    expect((await c.trainer.post('/api/sim/parcels', { vehicleId: 'sim0/1', outputs: [10, 10] })).body.error.code).toBe('SIM_INVALID_OPTION');
    const real = await c.trainer.post('/api/sim/parcels', { vehicleId: 'link0/1', outputs: [10] });
    expect([real.status, real.body.error.code]).toEqual([404, 'VEHICLE_NOT_FOUND']);
    const a = await c.admin.get('/api/audit?action=sim.parcels&limit=5');
    expect(a.body.some((x: any) => x.username === 'trainer' && x.vehicleId === 'sim0/1' && x.outcome?.ok === true)).toBe(true);
  });

  test('every role reads vehicles, deliveries, zones, flights', async () => {
    for (const role of ['admin', 'operator', 'supervisor', 'trainer'])
      for (const p of ['/api/vehicles', '/api/deliveries', '/api/zones', '/api/zones/history', '/api/flights', '/api/policy', '/api/me']) {
        const r = await c[role].get(p);
        expect([role, p, r.status]).toEqual([role, p, 200]);
      }
  });

  test('a refused command is audited with who, role, action, vehicle and the refusal', async () => {
    await c.supervisor.post(`/api/vehicles/${SIM}/commands`, { action: 'rtl' });
    const a = await c.supervisor.get('/api/audit?action=vehicle.command&username=supervisor&limit=5');
    expect(a.status).toBe(200);
    expect(a.body[0]).toMatchObject({ username: 'supervisor', role: 'supervisor', action: 'vehicle.command', vehicleId: 'sim0/1', params: { action: 'rtl' }, outcome: { ok: false, code: 'FORBIDDEN' } });
    expect(Date.parse(a.body[0].at)).toBeGreaterThan(Date.now() - 60_000);
  });

  test('an executed command is audited with the ACK', async () => {
    // GUIDED needs a position: the vehicle must have warmed up (about 41 sim-seconds after boot).
    await waitFor(async () => vehicleReady((await c.operator.get(`/api/vehicles/${SIM}`)).body), 60_000, 'sim0/1 ready');
    const r = await c.operator.post(`/api/vehicles/${SIM}/commands`, { action: 'mode', mode: 'GUIDED' });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    expect(r.body.result.result).toBe('ACCEPTED');
    const a = await c.admin.get('/api/audit?action=vehicle.command&username=operator&limit=1');
    expect(a.body[0]).toMatchObject({ vehicleId: 'sim0/1', params: { action: 'mode', mode: 'GUIDED' }, outcome: { ok: true, ack: { result: 'ACCEPTED', command: 176 } } });
  });
});

describe('bad input gets a typed 4xx and changes nothing', () => {
  test('zod errors are typed, with the failing paths', async () => {
    const before = (await c.operator.get('/api/deliveries')).body.length;
    const r = await c.operator.post('/api/deliveries', { drop: [500, 34], priority: 'asap', extra: 1 });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_BODY');
    const paths = r.body.error.details.map((d: any) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['drop.0', 'priority']));
    expect(r.body.error.details.some((d: any) => d.code === 'unrecognized_keys')).toBe(true);
    const m = await c.operator.post(`/api/vehicles/${SIM}/commands`, { action: 'mode' });
    expect(m.status).toBe(400);
    expect(m.body.error.details[0].path).toBe('mode');
    const a = await c.operator.post(`/api/vehicles/${SIM}/commands`, { action: 'fly' });
    expect(a.body.error.code).toBe('INVALID_BODY');
    expect((await c.operator.get('/api/deliveries')).body.length).toBe(before);
  });

  test('malformed JSON → 400 MALFORMED_JSON; oversized → 413 PAYLOAD_TOO_LARGE; bad query → INVALID_QUERY', async () => {
    const r = await c.operator.req('POST', '/api/deliveries', undefined, { raw: '{"drop": [114.39,' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('MALFORMED_JSON');
    const big = await c.supervisor.req('PUT', '/api/zones', undefined, { raw: JSON.stringify({ type: 'FeatureCollection', features: [], pad: 'x'.repeat(7_000_000) }) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const q = await c.supervisor.get('/api/audit?limit=abc');
    expect(q.status).toBe(400);
    expect(q.body.error.code).toBe('INVALID_QUERY');
  });

  test('unknown vehicle, delivery, flight and route → 404 with stable codes', async () => {
    const v = await c.operator.get(`/api/vehicles/${encodeURIComponent('nope/9')}`);
    expect([v.status, v.body.error.code]).toEqual([404, 'VEHICLE_NOT_FOUND']);
    const cmd = await c.operator.post(`/api/vehicles/${encodeURIComponent('nope/9')}/commands`, { action: 'rtl' });
    expect([cmd.status, cmd.body.error.code]).toEqual([404, 'VEHICLE_NOT_FOUND']);
    const d = await c.operator.get('/api/deliveries/D424242');
    expect([d.status, d.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const f = await c.operator.get('/api/flights/F0');
    expect([f.status, f.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const x = await c.operator.get('/api/does-not-exist');
    expect([x.status, x.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const created = await c.operator.post('/api/deliveries', { drop: [114.3935, 34.0515] });
    expect(created.status).toBe(201);
    const disp = await c.operator.post(`/api/deliveries/${created.body.id}/dispatch`, { vehicleId: 'nope/9' });
    expect([disp.status, disp.body.error.code]).toEqual([404, 'VEHICLE_NOT_FOUND']);
    expect((await c.operator.get(`/api/deliveries/${created.body.id}`)).body.state).toBe('planned');
  });

  test('odd requests never produce a 500: each gets a 4xx with a stable code', async () => {
    const odd: Array<[string, string, { raw?: string; headers?: Record<string, string> }?]> = [
      ['GET', '/api/vehicles/%E0%A4%A'],
      ['GET', '/api/zones/history/abc'],
      ['GET', '/api/deliveries/D1/preflight'],
      ['GET', '/api/deliveries/D1/preflight?vehicleId=a&vehicleId=b'],
      ['POST', '/api/deliveries', { raw: '[]' }],
      ['POST', '/api/deliveries', { raw: 'null' }],
      ['POST', '/api/deliveries', { raw: '"text"' }],
      ['POST', '/api/deliveries', { raw: '{"__proto__": {"admin": true}, "drop": [114.39, 34.05]}' }],
      ['POST', '/api/deliveries', { raw: 'drop=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['POST', '/api/deliveries', { raw: '{"drop":[114.39,34.05]}', headers: { 'content-type': 'text/plain' } }],
      ['POST', '/api/deliveries', { raw: '{"drop":[1e999, 34]}' }],
      ['POST', `/api/vehicles/${SIM}/commands`, { raw: '{"action":"takeoff","altM":-5}' }],
      ['POST', '/api/deliveries/D1/abort', { raw: '{"reason": 5}' }],
      ['DELETE', '/api/sim/vehicles/abc'],
      ['PUT', '/api/zones', { raw: '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,"properties":null}]}' }],
      ['PUT', '/api/zones', { raw: '{"type":"FeatureCollection","features":[]}', headers: { 'if-match': 'banana' } }],
      ['POST', '/api/zones/import', { raw: '{"format":"geojson","text":"{not json"}' }],
      ['POST', '/api/replays', { raw: '{"flightId":"F-none","speed":5}' }],
      ['POST', '/api/replays/none/control', { raw: '{"action":"pause"}' }],
    ];
    for (const [method, p, o] of odd) {
      const r = await c.admin.req(method, p, undefined, o ?? {});
      expect([method, p, r.status >= 400 && r.status < 500]).toEqual([method, p, true]);
      expect(typeof r.body?.error?.code).toBe('string');
    }
  });

  test('trainer simulator API: list, inject and clear a fault; unknown scenario named', async () => {
    const list = await c.trainer.get('/api/sim');
    expect(list.body.instances[0]).toMatchObject({ id: 'sim0', vehicleId: 'sim0/1', sysid: 1 });
    expect(typeof list.body.instances[0].truth.lat).toBe('number');
    const inj = await c.trainer.post('/api/sim/faults', { vehicleId: 'sim0/1', fault: { kind: 'wind', speedMps: 2, fromDeg: 90 } });
    expect(inj.status).toBe(200);
    const clr = await c.trainer.req('DELETE', '/api/sim/faults', { vehicleId: 'sim0/1', kind: 'wind' });
    expect(clr.status).toBe(200);
    const notSim = await c.trainer.post('/api/sim/faults', { vehicleId: 'link0/1', fault: { kind: 'gps-loss' } });
    expect([notSim.status, notSim.body.error.code]).toEqual([404, 'VEHICLE_NOT_FOUND']); // not a built-in simulator
    const sc = await c.trainer.post('/api/sim/scenarios', { name: 'no-such' });
    expect([sc.status, sc.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const demo = await c.trainer.post('/api/sim/scenarios', { name: 'demo' });
    expect(demo.status).toBe(200);
    // Its progress, from the simulator: the one step (at 0 s) applied on its own clock.
    const running = await c.trainer.get('/api/sim');
    expect(running.body.instances[0].scenario).toMatchObject({ name: 'demo', steps: [{ n: 0, atS: 0, note: 'light north-easterly breeze' }] });
    expect(['running', 'done']).toContain(running.body.instances[0].scenario.status);
    const listed = await c.trainer.get('/api/sim/scenarios');
    expect(listed.status).toBe(200);
    const linkLoss = listed.body.find((x: { name: string }) => x.name === 'link-loss');
    expect(linkLoss.description).toMatch(/link/i);
    expect(linkLoss.steps.some((st: { atS: number }) => st.atS === 120)).toBe(true);
  });

  test('trainer adds a simulated vehicle and stops it again: its simulator really stops', async () => {
    const added = await c.trainer.post('/api/sim/vehicles', { count: 1 });
    expect(added.status).toBe(201);
    const { id, vehicleId, uri } = added.body.instances[0];
    expect(id).toBe('sim1');
    expect(vehicleId).toBe('sim1/2');
    await waitFor(async () => (await c.operator.get('/api/vehicles')).body.some((v: { id: string }) => v.id === vehicleId), 30_000, 'added vehicle');
    const port = Number(String(uri).split(':').pop());
    const del = await c.trainer.req('DELETE', '/api/sim/vehicles/1');
    expect(del.status).toBe(200);
    // Nothing listens on its port any more, and it has left the fleet.
    const refused = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => (sock.destroy(), resolve(false)));
      sock.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    expect(svc.fleet.get(vehicleId)).toBeUndefined();
    expect((await c.trainer.get('/api/sim')).body.instances.map((i: { id: string }) => i.id)).toEqual(['sim0']);
    const again = await c.trainer.req('DELETE', '/api/sim/vehicles/1');
    expect([again.status, again.body.error.code]).toEqual([404, 'NOT_FOUND']);
  });

  test('release without confirm → 400 CONFIRMATION_REQUIRED', async () => {
    const r = await c.operator.post(`/api/vehicles/${SIM}/commands`, { action: 'release' });
    expect([r.status, r.body.error.code]).toEqual([400, 'CONFIRMATION_REQUIRED']);
  });

  test('a drop the planner refuses → 422 PLAN_FAILED with the planner error; the request is recorded as failed', async () => {
    const r = await c.operator.post('/api/deliveries', { drop: [114.396, 34.0633], payload: { description: 'test' } }); // hospital helipad (no-fly)
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('PLAN_FAILED');
    expect(r.body.error.details.planner.code).toMatch(/NO_FLY|UNREACHABLE|OUTSIDE/);
    const id = r.body.error.details.delivery.id;
    const d = await c.operator.get(`/api/deliveries/${id}`);
    expect(d.body.state).toBe('failed');
    expect(d.body.failure.code).toBe('PLAN_FAILED');
  });
});

describe('alerts: kept, coded, acknowledged once', () => {
  test('a refused job leaves a coded alert (a warning: no vehicle was committed); acknowledged once, audited, by any role', async () => {
    const list = await c.operator.get('/api/alerts?limit=50');
    expect(list.status).toBe(200);
    const failed = list.body.find((a: any) => a.code === 'delivery.failed');
    expect(failed).toMatchObject({ level: 'warning', params: { failureCode: 'PLAN_FAILED' }, text: expect.stringMatching(/^Delivery D\d+ failed: PLAN_FAILED/) });
    expect(failed.ackedAt).toBeUndefined();
    expect((await new Client(svc.url).get('/api/alerts')).status).toBe(401);
    const ack = await c.supervisor.post(`/api/alerts/${encodeURIComponent(failed.id)}/ack`, {});
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id: failed.id, ackedBy: 'supervisor', ackedAt: expect.any(String) });
    const again = await c.operator.post(`/api/alerts/${encodeURIComponent(failed.id)}/ack`, {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'INVALID_STATE', details: { ackedBy: 'supervisor' } });
    expect((await c.trainer.post('/api/alerts/no-such-alert/ack', {})).status).toBe(404);
    const open = await c.operator.get('/api/alerts?unacked=true');
    expect(open.body.map((a: any) => a.id)).not.toContain(failed.id);
    expect((await c.operator.get('/api/alerts?unacked=maybe')).body.error.code).toBe('INVALID_QUERY');
    const audit = await c.supervisor.get('/api/audit?action=alert.ack');
    expect(audit.body.map((r: any) => [r.username, r.params.id, r.outcome.ok])).toEqual([
      ['trainer', 'no-such-alert', false],
      ['operator', failed.id, false],
      ['supervisor', failed.id, true],
    ]);
  });
});

/** GeoJSON zones → KML with one folder per kind (what a GIS user would draw). */
function zonesToKml(fc: any): string {
  const coords = (ring: number[][]) => ring.map((p) => `${p[0]},${p[1]}`).join(' ');
  const poly = (rings: number[][][]) =>
    `<Polygon><outerBoundaryIs><LinearRing><coordinates>${coords(rings[0])}</coordinates></LinearRing></outerBoundaryIs>${rings
      .slice(1)
      .map((r) => `<innerBoundaryIs><LinearRing><coordinates>${coords(r)}</coordinates></LinearRing></innerBoundaryIs>`)
      .join('')}</Polygon>`;
  const geom = (g: any) =>
    g.type === 'Point'
      ? `<Point><coordinates>${g.coordinates[0]},${g.coordinates[1]}</coordinates></Point>`
      : g.type === 'Polygon'
        ? poly(g.coordinates)
        : `<MultiGeometry>${g.coordinates.map(poly).join('')}</MultiGeometry>`;
  const esc = (x: string) => x.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const kinds = [...new Set(fc.features.map((f: any) => f.properties.kind))] as string[];
  const folders = kinds.map((k) => {
    const pms = fc.features
      .filter((f: any) => f.properties.kind === k)
      .map((f: any) => {
        const extra = Object.entries(f.properties)
          .filter(([n]) => n !== 'name')
          .map(([n, v]) => `<Data name="${n}"><value>${esc(String(v))}</value></Data>`)
          .join('');
        return `<Placemark><name>${esc(f.properties.name ?? '')}</name><ExtendedData>${extra}</ExtendedData>${geom(f.geometry)}</Placemark>`;
      })
      .join('');
    return `<Folder><name>${k}</name>${pms}</Folder>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>${folders.join('')}</Document></kml>`;
}

describe('zones: versioned, validated, never lost', () => {
  test('every edit keeps the previous version; invalid geometry is rejected without touching the stored one', async () => {
    const cur = await c.supervisor.get('/api/zones');
    expect(cur.status).toBe(200);
    const v1 = cur.body.version;
    const edited = structuredClone(cur.body.zones);
    edited.features[1].properties.name = 'Helipad (renamed)';
    const put = await c.supervisor.put('/api/zones', edited);
    expect(put.status).toBe(200);
    expect(put.body.version).toBe(v1 + 1);
    const hist = await c.supervisor.get('/api/zones/history');
    expect(hist.body[0]).toMatchObject({ version: v1 + 1, updatedBy: 'supervisor' });
    expect(hist.body.map((h: any) => h.version)).toContain(v1);
    const old = await c.supervisor.get(`/api/zones/history/${v1}`);
    expect(old.body.zones).toEqual(cur.body.zones);

    // Self-intersecting ("bow-tie") ring.
    const broken = structuredClone(edited);
    broken.features[1].geometry = { type: 'Polygon', coordinates: [[[114.39, 34.06], [114.40, 34.07], [114.40, 34.06], [114.39, 34.07], [114.39, 34.06]]] };
    const bad = await c.supervisor.put('/api/zones', broken);
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('INVALID_ZONES');
    expect(bad.body.error.details.code).toBe('INVALID_GEOMETRY');
    const nan = structuredClone(edited);
    nan.features[1].geometry = { type: 'Polygon', coordinates: [[[114.39, 34.06], [114.40]]] };
    expect((await c.supervisor.put('/api/zones', nan)).status).toBe(422);
    const notFc = await c.supervisor.put('/api/zones', { type: 'Feature' });
    expect([notFc.status, notFc.body.error.code]).toEqual([400, 'INVALID_BODY']);
    const after = await c.supervisor.get('/api/zones');
    expect(after.body.version).toBe(v1 + 1);
    expect(after.body.zones).toEqual(edited);

    // Optimistic concurrency with If-Match.
    const stale = await c.supervisor.req('PUT', '/api/zones', edited, { headers: { 'if-match': String(v1) } });
    expect([stale.status, stale.body.error.code]).toEqual([409, 'CONFLICT']);
    // Zone versions are immutable in the database itself.
    expect(() => svc.store.db!.prepare('UPDATE zone_versions SET updated_by = ? WHERE version = ?').run('x', v1)).toThrow(/immutable/);
  });

  test('import: GeoJSON text validates; malformed KML is a typed 400', async () => {
    const zones = (await c.supervisor.get('/api/zones')).body.zones;
    const ok = await c.supervisor.post('/api/zones/import', { format: 'geojson', text: JSON.stringify(zones) });
    expect(ok.status).toBe(200);
    expect(ok.body.ok).toBe(true);
    const kml = await c.supervisor.post('/api/zones/import', { format: 'kml', text: '<kml><Document><Placemark>' });
    expect(kml.status).toBe(400);
    expect(kml.body.error.code).toBe('INVALID_IMPORT');
    const kmlNoKind = await c.supervisor.post('/api/zones/import', {
      format: 'kml',
      text: '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>Pad</name><Point><coordinates>114.39,34.06</coordinates></Point></Placemark></Document></kml>',
    });
    expect(kmlNoKind.status).toBe(422);
    expect(kmlNoKind.body.error.code).toBe('INVALID_IMPORT');
    // The demo zones written as KML (one folder per kind) import, validate and are saved as a new version.
    const before = await c.supervisor.get('/api/zones');
    const imported = await c.supervisor.post('/api/zones/import', { format: 'kml', text: zonesToKml(zones), save: true });
    expect(imported.status).toBe(200);
    expect(imported.body.ok).toBe(true);
    expect(imported.body.version).toBe(before.body.version + 1);
    expect(imported.body.zones.features.length).toBe(zones.features.length);
    const hist = (await c.supervisor.get('/api/zones/history')).body;
    expect(hist[0]).toMatchObject({ version: before.body.version + 1, change: 'import kml', featureCount: zones.features.length });
  });

  test('policy is versioned with the zones; approval required → dispatch refused until a supervisor approves', async () => {
    const before = await c.supervisor.get('/api/policy');
    const put = await c.supervisor.put('/api/policy', { ...before.body.policy, requireApproval: true });
    expect(put.status).toBe(200);
    expect(put.body.version).toBe(before.body.version + 1);
    const zonesNow = await c.supervisor.get('/api/zones');
    expect(zonesNow.body.version).toBe(put.body.version);
    try {
      const d = await c.operator.post('/api/deliveries', { drop: [114.3935, 34.0515], priority: 'normal' });
      expect(d.body.state).toBe('planned');
      const disp = await c.operator.post(`/api/deliveries/${d.body.id}/dispatch`, { vehicleId: 'sim0/1' });
      expect([disp.status, disp.body.error.code]).toEqual([409, 'INVALID_STATE']);
      const ap = await c.supervisor.post(`/api/deliveries/${d.body.id}/approve`);
      expect(ap.status).toBe(200);
      expect(ap.body.state).toBe('approved');
      expect(ap.body.approvedBy).toBe('supervisor');
      const again = await c.supervisor.post(`/api/deliveries/${d.body.id}/approve`);
      expect([again.status, again.body.error.code]).toEqual([409, 'INVALID_STATE']);
      const ab = await c.operator.post(`/api/deliveries/${d.body.id}/abort`, { reason: 'test over' });
      expect(ab.body.state).toBe('aborted');
      const urgent = await c.operator.post('/api/deliveries', { drop: [114.3935, 34.0515], priority: 'urgent' });
      expect(urgent.body.timeline.some((e: any) => e.event === 'awaiting-approval')).toBe(false);
      await c.operator.post(`/api/deliveries/${urgent.body.id}/abort`, {});
    } finally {
      const restore = await c.supervisor.put('/api/policy', before.body.policy);
      expect(restore.status).toBe(200);
    }
    const badPolicy = await c.supervisor.put('/api/policy', { minBatteryPct: 150 });
    expect(badPolicy.body.error.code).toBe('INVALID_BODY');
  });
});

describe('plans, queue, documents, health, metrics, console, websocket', () => {
  test('POST /api/plans returns the planner output or PLAN_FAILED', async () => {
    const ok = await c.operator.post('/api/plans', { drop: [114.3935, 34.0515] });
    expect(ok.status).toBe(200);
    expect(ok.body.ok).toBe(true);
    expect(ok.body.mission.length).toBeGreaterThan(3);
    const bad = await c.operator.post('/api/plans', { drop: [114.396, 34.0633] });
    expect([bad.status, bad.body.error.code]).toEqual([422, 'PLAN_FAILED']);
  });

  test('queue: urgent first, then oldest first', async () => {
    const n = await c.operator.post('/api/deliveries', { drop: [114.3935, 34.0515], priority: 'normal' });
    const u = await c.operator.post('/api/deliveries', { drop: [114.3935, 34.0515], priority: 'urgent' });
    const q = (await c.operator.get('/api/deliveries/queue')).body.map((d: any) => d.id);
    expect(q.indexOf(u.body.id)).toBeLessThan(q.indexOf(n.body.id));
    expect(u.body.promiseBy).toBe(new Date(Date.parse(u.body.createdAt) + 15 * 60_000).toISOString());
    for (const id of [n.body.id, u.body.id]) await c.operator.post(`/api/deliveries/${id}/abort`, {});
  });

  test('OpenAPI document lists the routes with their body schemas (for users with a session only)', async () => {
    expect((await new Client(svc.url).req('GET', '/api/openapi.json', undefined, { token: null })).status).toBe(401);
    const r = await c.supervisor.get('/api/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    expect(r.body.paths['/api/deliveries/{id}/dispatch'].post.requestBody.content['application/json'].schema.properties.vehicleId).toBeTruthy();
    expect(r.body.paths['/api/login'].post.requestBody).toBeTruthy();
    expect(r.body.paths['/api/vehicles/{id}/commands'].post['x-permission']).toBe('vehicle.command');
  });

  test('health says only ok and version to strangers; the fleet detail and metrics need a session', async () => {
    const anon = await new Client(svc.url).req('GET', '/api/health', undefined, { token: null });
    expect(anon.status).toBe(200);
    expect(anon.body).toEqual({ ok: true, version: expect.any(String) });
    const h = await c.operator.get('/api/health');
    expect(h.status).toBe(200);
    expect(h.body.ok).toBe(true);
    expect(h.body.vehicles.map((v: any) => v.id).sort()).toEqual(['link0/1', 'sim0/1']);
    const anonMetrics = await fetch(svc.url + '/metrics');
    expect(anonMetrics.status).toBe(401);
    expect(await anonMetrics.text()).not.toMatch(/sim0|link0/);
    const m = await fetch(svc.url + '/metrics', { headers: { authorization: `Bearer ${c.supervisor.token}` } });
    expect(m.status).toBe(200);
    const text = await m.text();
    expect(text).toMatch(/# TYPE dropline_http_requests_total counter/);
    expect(text).toMatch(/dropline_vehicle_connected\{vehicle="sim0\/1"\} 1/);
    expect(text).toMatch(/dropline_deliveries\{state="failed"\} \d+/);
  });

  test('the console is served from web/dist, or a clear message says it is not built', async () => {
    const r = await fetch(svc.url + '/');
    const body = await r.text();
    if (fs.existsSync(path.join(__dirname, '..', '..', 'web', 'dist', 'index.html'))) expect(r.status).toBe(200);
    else {
      expect(r.status).toBe(503);
      expect(body).toMatch(/npm run build:web/);
    }
  });

  test('WebSocket /ws: 401 without a session, hello with one', async () => {
    const wsUrl = svc.url.replace('http', 'ws') + '/ws';
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe(401);
    const hello = await new Promise<any>((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${c.trainer.token}` } });
      ws.on('message', (m) => {
        resolve(JSON.parse(String(m)));
        ws.close();
      });
      ws.on('error', reject);
    });
    expect(hello).toMatchObject({ type: 'hello', user: { username: 'trainer', role: 'trainer' } });
  });
});
