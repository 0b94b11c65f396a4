/**
 * MAVLink signing end to end: the service over real HTTP and TCP, a vehicle (the built-in
 * simulator, or ArduPilot SITL when ARDUPILOT_SITL is set; no branches for either) and an
 * attacker relaying the link between them. An admin provisions a key through the API (an operator
 * may not); from then on the vehicle signs, and frames the attacker forges or replays are dropped,
 * counted and change nothing in the fleet. After a restart the service takes the key from its
 * store for `?signing=require`. The key never shows in an API answer, an audit row or a log line.
 * (The key is provisioned through the relay too: there it stands for a trusted link, since
 * SETUP_SIGNING carries the key in clear; the attacker here only forges and replays.)
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { Writable } from 'stream';
import { startService, type Service } from '../../src/service';
import { MavlinkEncoder, type Frame } from '../../src/mavlink/codec';
import { msg, common, minimal } from '../../src/mavlink/registry';
import { Signer } from '../../src/mavlink/signing';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';
import { LinkAttacker } from '../support/mitm';
import { seedTestUsers } from './support/users';

jest.setTimeout(180_000);

let dir: string;
let vehicles: Awaited<ReturnType<typeof startTestVehicles>>;
let attacker: LinkAttacker;
let svc: Service;
let sysid: number;
let VID: string;
let V: string;
const logLines: string[] = [];
/** Every HTTP answer body any test received, as text. */
const answers: string[] = [];
const admin = () => recording(new Client(svc.url));

/** A client whose every answer is kept for the secrecy check. */
function recording(c: Client): Client {
  const req = c.req.bind(c);
  c.req = async (...args: Parameters<Client['req']>) => {
    const r = await req(...args);
    answers.push(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
    return r;
  };
  return c;
}

async function start(link: string): Promise<Service> {
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  await seedTestUsers(dir);
  return startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [link], logLevel: 'debug', logStream, heartbeatHz: gcsHeartbeatHzFor(10) });
}

/** Frames the fleet delivered for the vehicle (after the signature check), kept from now on. */
function delivered(s: Service): Frame[] {
  const out: Frame[] = [];
  s.fleet.on('frame', (id: string, f: Frame) => {
    if (id === VID) out.push(f);
  });
  return out;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-signing-'));
  vehicles = await startTestVehicles({ instances: 1, basePort: 0, speedup: 10 });
  sysid = vehicles.instances[0].sysid;
  attacker = await LinkAttacker.start(vehicles.instances[0].uri);
  svc = await start(attacker.uri);
  VID = `link0/${sysid}`;
  V = encodeURIComponent(VID);
  const a = await admin().login('admin');
  await waitFor(async () => vehicleReady((await a.get(`/api/vehicles/${V}`)).body), 120_000, 'vehicle ready');
});

afterAll(async () => {
  await svc?.close();
  await attacker?.close();
  await vehicles?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Unsigned frames as the vehicle would send them, from someone without the key. */
const forger = () => new MavlinkEncoder({ sysid, compid: 1 });
const forgeries = (enc: MavlinkEncoder, tag: string) => [
  enc.encode(msg(common.GlobalPositionInt, { timeBootMs: 1, lat: 100_000_000, lon: 200_000_000, alt: 5_000_000, relativeAlt: 4_000_000, hdg: 9000 })),
  enc.encode(msg(common.MissionItemReached, { seq: 42 })),
  enc.encode(msg(common.ServoOutputRaw, { timeUsec: 1, port: 0, servo9Raw: 1100 })),
  enc.encode(msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 209, customMode: 6, systemStatus: 4 })),
  enc.encode(msg(common.StatusText, { severity: 6, text: `forged ${tag}` })),
];

describe('MAVLink signing through the API, against an attacker on the link', () => {
  test('before provisioning, the link is open: a forged STATUSTEXT reaches the vehicle state', async () => {
    const a = await admin().login('admin');
    const st = await a.get(`/api/vehicles/${V}/signing`);
    expect(st.status).toBe(200);
    expect(st.body).toEqual({ enabled: false, mode: 'off', keyId: null, counters: { accepted: 0, rejectedUnsigned: 0, rejectedBadSignature: 0, rejectedReplay: 0 } });
    attacker.inject(forger().encode(msg(common.StatusText, { severity: 6, text: 'forged before signing' })));
    await waitFor(() => svc.fleet.get(VID)!.state.statusText.some((t) => t.text === 'forged before signing'), 10_000, 'forged text accepted');
    // A loopback link is not reported as reachable from a network.
    expect(logLines.some((l) => l.includes('without signing=require'))).toBe(false);
  });

  test('only an admin may provision (vehicle.maintain): operator and supervisor get 403, audited', async () => {
    for (const who of ['operator', 'supervisor', 'trainer']) {
      const c = await admin().login(who);
      const r = await c.post(`/api/vehicles/${V}/signing`, {});
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
      // Reading the signing status is allowed (it holds no secret).
      expect((await c.get(`/api/vehicles/${V}/signing`)).status).toBe(200);
    }
    const denied = await svc.store.queryAudit({ action: 'vehicle.signing', username: 'operator' });
    expect(denied[0]).toMatchObject({ vehicleId: VID, outcome: { ok: false, code: 'FORBIDDEN' } });
    // A caller cannot hand in a key of their own; an unknown vehicle is a 404.
    const a = await admin().login('admin');
    expect((await a.post(`/api/vehicles/${V}/signing`, { key: 'aa'.repeat(32) })).body.error.code).toBe('INVALID_BODY');
    expect((await a.post(`/api/vehicles/${encodeURIComponent('link0/99')}/signing`, {})).status).toBe(404);
    expect(await svc.store.listSigningKeys()).toEqual([]);
    const doc = (await a.get('/api/openapi.json')).body.paths['/api/vehicles/{id}/signing'];
    expect(doc.post).toMatchObject({ 'x-permission': 'vehicle.maintain', 'x-audit-action': 'vehicle.signing' });
    expect(doc.get['x-permission']).toBe('read');
  });

  test('an admin provisions a key: the vehicle answers signed and the link requires signatures', async () => {
    const a = await admin().login('admin');
    const r = await a.post(`/api/vehicles/${V}/signing`, {});
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, keyId: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(await svc.store.getSigningKeyInfo('link0')).toMatchObject({ linkId: 'link0', vehicleId: VID, keyId: r.body.keyId, createdBy: 'admin' });
    const st = (await a.get(`/api/vehicles/${V}/signing`)).body;
    expect(st).toMatchObject({ enabled: true, mode: 'require', keyId: r.body.keyId });
    // What the vehicle sends from now on is signed (seen on the wire by the attacker too).
    const n = attacker.fromVehicle.length;
    await waitFor(() => attacker.fromVehicle.slice(n).some((f) => f.name === 'HEARTBEAT' && f.sysid === sysid), 10_000, 'a heartbeat after provisioning');
    expect(attacker.fromVehicle.slice(n).filter((f) => f.sysid === sysid).every((f) => f.signed)).toBe(true);
    await waitFor(async () => (await a.get(`/api/vehicles/${V}/signing`)).body.counters.accepted > 20, 10_000, 'signed frames accepted');
    const audit = await svc.store.queryAudit({ action: 'vehicle.signing', username: 'admin' });
    expect(audit[0]).toMatchObject({ vehicleId: VID, params: { id: VID }, outcome: { ok: true, keyId: r.body.keyId } });
    // The vehicle still obeys the service (whose commands are now signed).
    const op = await admin().login('operator');
    const cmd = await op.post(`/api/vehicles/${V}/commands`, { action: 'mode', mode: 'BRAKE' });
    expect(cmd.status).toBe(200);
    await waitFor(() => svc.fleet.get(VID)!.state.mode === 'BRAKE', 10_000, 'BRAKE');
  });

  test('forged unsigned or wrongly signed frames are dropped and counted, and change nothing', async () => {
    const a = await admin().login('admin');
    const before = (await a.get(`/api/vehicles/${V}/signing`)).body.counters;
    const seen = delivered(svc);
    const unsigned = forgeries(forger(), 'after signing');
    const wrongKey = forgeries(new MavlinkEncoder({ sysid, compid: 1, signer: new Signer({ key: Buffer.alloc(32, 0xee) }) }), 'with a wrong key');
    attacker.inject(...unsigned, ...wrongKey);
    await waitFor(async () => {
      const c = (await a.get(`/api/vehicles/${V}/signing`)).body.counters;
      return c.rejectedUnsigned >= before.rejectedUnsigned + unsigned.length && c.rejectedBadSignature >= before.rejectedBadSignature + wrongKey.length;
    }, 10_000, 'forgeries counted');
    // Let a few real frames pass after them: nothing forged was delivered, the state is the vehicle's own.
    const n = seen.length;
    await waitFor(() => seen.length > n + 5, 10_000, 'real frames after the forgeries');
    expect(seen.some((f) => [...unsigned, ...wrongKey].some((b) => b.equals(f.raw)))).toBe(false);
    const s = (await a.get(`/api/vehicles/${V}`)).body;
    expect(s.position.lat).toBeCloseTo(vehicles.instances[0].truth().lat, 3);
    expect(s.mission.reached).not.toContain(42);
    expect(s.armed).toBe(false);
    expect(s.mode).toBe('BRAKE');
    expect(s.statusText.some((t: { text: string }) => t.text.startsWith('forged after') || t.text.startsWith('forged with'))).toBe(false);
    expect(s.servos[8]).not.toBe(1100);
  });

  test('a captured signed frame replayed is dropped and counted as a replay', async () => {
    const a = await admin().login('admin');
    const captured = attacker.last((f) => f.sysid === sysid && f.signed && f.name === 'GLOBAL_POSITION_INT')!;
    expect(captured).toBeDefined();
    // Wait until the vehicle has sent newer frames on that stream, then play the old one again.
    await waitFor(() => attacker.fromVehicle.indexOf(captured) < attacker.fromVehicle.length - 10, 10_000, 'newer frames');
    const before = (await a.get(`/api/vehicles/${V}/signing`)).body.counters.rejectedReplay;
    const seen = delivered(svc);
    attacker.inject(captured.raw, captured.raw);
    await waitFor(async () => (await a.get(`/api/vehicles/${V}/signing`)).body.counters.rejectedReplay >= before + 2, 10_000, 'replays counted');
    expect(seen.some((f) => f.raw.equals(captured.raw))).toBe(false);
  });

  test('link health shows the counters in /api/health and /metrics', async () => {
    const c = recording(await new Client(svc.url).login('supervisor'));
    const h = await c.get('/api/health');
    expect(h.body.links[0]).toMatchObject({ id: 'link0', up: true, signing: { mode: 'require' } });
    expect(h.body.links[0].signing.rejectedUnsigned).toBeGreaterThanOrEqual(5);
    expect(h.body.links[0].signing.rejectedReplay).toBeGreaterThanOrEqual(2);
    const m = await c.get('/metrics');
    expect(m.body).toMatch(/dropline_link_signing_frames_total\{link="link0",result="unsigned"\} [1-9]/);
    expect(m.body).toMatch(/dropline_link_signing_frames_total\{link="link0",result="replay"\} [1-9]/);
    expect(m.body).toContain('dropline_link_signing_mode{link="link0",mode="require"} 1');
  });

  test('restarted with ?signing=require, the service takes the key from its store and the vehicle answers', async () => {
    const keyId = (await svc.store.getSigningKeyInfo('link0'))!.keyId;
    await svc.close();
    svc = await start(`${attacker.uri}?signing=require`);
    const a = await admin().login('admin');
    await waitFor(async () => vehicleReady((await a.get(`/api/vehicles/${V}`)).body), 60_000, 'vehicle back');
    const st = (await a.get(`/api/vehicles/${V}/signing`)).body;
    expect(st).toMatchObject({ enabled: true, mode: 'require', keyId });
    expect(st.counters.accepted).toBeGreaterThan(0);
    const op = await admin().login('operator');
    expect((await op.post(`/api/vehicles/${V}/commands`, { action: 'mode', mode: 'BRAKE' })).status).toBe(200);
    await waitFor(() => svc.fleet.get(VID)!.state.mode === 'BRAKE', 10_000, 'BRAKE');
  });

  test('the key never appears in an API answer, an audit row or a log line', async () => {
    const key = (await svc.store.getSigningKey('link0'))!;
    const a = await admin().login('admin');
    for (const p of ['/api/audit?limit=5000', '/api/vehicles', `/api/vehicles/${V}`, `/api/vehicles/${V}/signing`, '/api/health', '/api/openapi.json', '/metrics']) {
      expect((await a.get(p)).status).toBe(200);
    }
    const forms = [key.toString('hex'), key.toString('hex').toUpperCase(), key.toString('base64'), key.toString('base64url'), JSON.stringify([...key]).slice(1, -1), [...key].join(' ')];
    const haystacks = { answers: answers.join('\n'), audit: JSON.stringify(await svc.store.queryAudit({ limit: 5000 })), logs: logLines.join('\n') };
    expect(answers.length).toBeGreaterThan(20);
    expect(logLines.some((l) => l.includes('signing key provisioned'))).toBe(true);
    for (const [where, text] of Object.entries(haystacks)) {
      for (const form of forms) expect({ where, leaked: text.includes(form) }).toEqual({ where, leaked: false });
    }
  });
});
