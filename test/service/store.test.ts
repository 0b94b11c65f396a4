/** The SQLite store and the auth layer on a real database file in a temp directory. */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { openStore, type Store } from '../../src/store';
import { MIGRATIONS } from '../../src/store/migrations';
import { Auth, hashPassword, verifyPassword } from '../../src/auth';
import type { Delivery } from '../../src/delivery/types';
import { canTransition, TRANSITIONS, DELIVERY_STATES } from '../../src/delivery/types';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-store-'));
  store = openStore({ dataDir: dir });
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const fc = (name: string): GeoJSON.FeatureCollection => ({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { name }, geometry: { type: 'Point', coordinates: [114.39, 34.06] } }] });

function job(id: string, priority: Delivery['priority'], createdAt: string): Delivery {
  return { id, state: 'planned', priority, drop: [114.39, 34.05], launch: null, payload: { description: 'x' }, requester: { name: 'r' }, createdAt, updatedAt: createdAt, promiseBy: createdAt, timeline: [] };
}

test('schema: WAL, synchronous FULL, migrations numbered in user_version, reopen keeps data', () => {
  expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
  expect(store.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
  const latest = Math.max(...MIGRATIONS.map((m) => m.version));
  // Increasing, not necessarily consecutive: a number may be reserved by work not merged yet (migrations.ts).
  const versions = MIGRATIONS.map((m) => m.version);
  expect(versions).toEqual([...versions].sort((a, b) => a - b));
  expect(store.schemaVersion).toBe(latest);
  store.addUser('u1', 'operator', 'scrypt$x');
  store.close();
  store = openStore({ dataDir: dir });
  expect(store.schemaVersion).toBe(latest);
  expect(store.getUser('u1')?.role).toBe('operator');
});

test('audit is append-only in the database itself, and queryable by user, vehicle, job and time', () => {
  const t0 = new Date(Date.now() - 1000).toISOString();
  store.audit({ username: 'op', role: 'operator', action: 'vehicle.command', vehicleId: 'sim0/1', params: { action: 'rtl' }, outcome: { ok: true } });
  store.audit({ username: 'sup', role: 'supervisor', action: 'delivery.approve', deliveryId: 'D00001' });
  expect(() => store.db.prepare("UPDATE audit SET username = 'x'").run()).toThrow(/append-only/);
  expect(() => store.db.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
  expect(store.queryAudit({ username: 'op' }).map((a) => a.action)).toEqual(['vehicle.command']);
  expect(store.queryAudit({ vehicleId: 'sim0/1' })[0].params).toEqual({ action: 'rtl' });
  expect(store.queryAudit({ deliveryId: 'D00001' })[0].role).toBe('supervisor');
  expect(store.queryAudit({ since: t0 }).length).toBe(2);
  expect(store.queryAudit({ until: t0 }).length).toBe(0);
});

test('zones: every save is a new immutable version; optimistic concurrency; the first version needs zones and policy', () => {
  expect(store.saveZones({ zones: fc('a'), by: 'x', change: 'first' })).toMatchObject({ ok: false, code: 'INVALID_STATE' });
  const v1 = store.saveZones({ zones: fc('a'), policy: { requireApproval: false }, by: 'sys', change: 'seed' });
  expect(v1.ok && v1.version.version).toBe(1);
  const v2 = store.saveZones({ policy: { requireApproval: true }, by: 'sup', change: 'policy' });
  expect(v2.ok && v2.version).toMatchObject({ version: 2, zones: fc('a'), policy: { requireApproval: true } });
  expect(store.saveZones({ zones: fc('b'), by: 'sup', change: 'zones', expectVersion: 1 })).toMatchObject({ ok: false, code: 'CONFLICT' });
  expect(store.saveZones({ zones: fc('b'), by: 'sup', change: 'zones', expectVersion: 2 }).ok).toBe(true);
  expect(store.zoneHistory().map((h) => [h.version, h.change])).toEqual([[3, 'zones'], [2, 'policy'], [1, 'seed']]);
  expect(store.zoneVersion(1)!.zones).toEqual(fc('a'));
  expect(() => store.db.prepare('DELETE FROM zone_versions').run()).toThrow(/immutable/);
});

test('deliveries: document + timeline written together; queue order urgent first then oldest', () => {
  const a = job('D1', 'normal', '2026-01-01T00:00:00.000Z');
  const b = job('D2', 'urgent', '2026-01-01T00:01:00.000Z');
  const c = job('D3', 'normal', '2026-01-01T00:02:00.000Z');
  store.insertDelivery(a, 1, [{ at: a.createdAt, state: 'requested' }]);
  store.insertDelivery(b, 2, [{ at: b.createdAt, state: 'requested' }]);
  store.insertDelivery(c, 3, []);
  expect(store.deliveriesInStates(['planned']).map((d) => d.id)).toEqual(['D2', 'D1', 'D3']);
  a.state = 'uploading';
  a.vehicleId = 'sim0/1';
  store.updateDelivery(a, [{ at: 'x', state: 'uploading', detail: { vehicleId: 'sim0/1' } }]);
  const got = store.getDelivery('D1')!;
  expect(got.state).toBe('uploading');
  expect(got.timeline).toEqual([{ at: a.createdAt, state: 'requested' }, { at: 'x', state: 'uploading', detail: { vehicleId: 'sim0/1' } }]);
  expect(store.nextDeliverySeq()).toBe(4);
});

test('flights: active ones are found after a reopen', () => {
  store.insertDelivery(job('D1', 'urgent', new Date().toISOString()), 1, []);
  store.insertFlight({ id: 'F1', deliveryId: 'D1', vehicleId: 'link0/1' });
  store.insertFlight({ id: 'F2', deliveryId: null, vehicleId: 'link1/1' });
  store.endFlight('F2', { landed: true });
  store.close();
  store = openStore({ dataDir: dir });
  expect(store.activeFlights().map((f) => f.id)).toEqual(['F1']);
  expect(store.getFlight('F2')).toMatchObject({ state: 'ended', summary: { landed: true } });
});

test('passwords: scrypt, salted, verified in constant time; wrong ones refused', async () => {
  const h1 = await hashPassword('secret');
  const h2 = await hashPassword('secret');
  expect(h1).not.toBe(h2);
  expect(await verifyPassword('secret', h1)).toBe(true);
  expect(await verifyPassword('Secret', h1)).toBe(false);
  expect(await verifyPassword('secret', 'garbage')).toBe(false);
});

test('sessions expire and can be revoked; only the token hash is stored', async () => {
  const auth = new Auth(store, { sessionTtlMs: 200 });
  await auth.addUser('op', 'operator', 'pw');
  const r = await auth.login('op', 'pw');
  if (!r.ok) throw new Error('login failed');
  expect(auth.authenticate(r.token)).toMatchObject({ username: 'op', role: 'operator' });
  const rows = store.db.prepare('SELECT token_hash FROM sessions').all() as Array<{ token_hash: string }>;
  expect(rows.some((x) => x.token_hash === r.token)).toBe(false);
  await new Promise((res) => setTimeout(res, 300));
  expect(auth.authenticate(r.token)).toBeNull();
  const r2 = await auth.login('op', 'pw');
  if (!r2.ok) throw new Error('login failed');
  auth.logout(r2.token);
  expect(auth.authenticate(r2.token)).toBeNull();
  expect((await auth.login('op', 'nope')).ok).toBe(false);
  await expect(auth.addUser('x', 'pilot' as any, 'pw')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
});

test('seeding: demo users once; without demo users the admin password is generated and returned once', async () => {
  const auth = new Auth(store);
  const s1 = await auth.seed({ demoUsers: false });
  expect(s1.created).toEqual(['admin']);
  expect(s1.generatedAdminPassword).toMatch(/^[A-Za-z0-9_-]{16}$/);
  expect((await auth.login('admin', s1.generatedAdminPassword!)).ok).toBe(true);
  expect(await auth.seed({ demoUsers: true })).toEqual({ created: [] });
  expect(store.getUser('operator')).toBeUndefined();
});

test('job state machine: terminal states are final; approval is optional', () => {
  for (const t of ['completed', 'failed', 'aborted'] as const) expect(TRANSITIONS[t]).toEqual([]);
  expect(canTransition('planned', 'uploading')).toBe(true);
  expect(canTransition('planned', 'approved')).toBe(true);
  expect(canTransition('requested', 'in-flight')).toBe(false);
  expect(canTransition('delivered', 'in-flight')).toBe(false);
  for (const s of DELIVERY_STATES) if (!['completed', 'failed', 'aborted'].includes(s)) expect(canTransition(s, 'aborted')).toBe(true);
});

test('addUser (for `dropline users add`): validated input, no silent overwrite, password reset with replace', async () => {
  const { addUser, Auth } = await import('../../src/auth');
  expect(await addUser(store, 'nurse.li', 'operator', 'correct horse')).toEqual({ ok: true, username: 'nurse.li', role: 'operator' });
  expect(await addUser(store, 'nurse.li', 'operator', 'another one')).toMatchObject({ ok: false, code: 'CONFLICT' });
  expect(await addUser(store, 'bad name', 'operator', 'correct horse')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
  expect(await addUser(store, 'x', 'pilot', 'correct horse')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
  expect(await addUser(store, 'y', 'trainer', 'short')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
  expect(await addUser(store, 'nurse.li', 'operator', 'another one', { replace: true })).toMatchObject({ ok: true });
  const auth = new Auth(store);
  expect((await auth.login('nurse.li', 'another one')).ok).toBe(true);
  expect((await auth.login('nurse.li', 'correct horse')).ok).toBe(false);
});

test('migrations: unique versions; a database at version 1 moves up to the signing keys table', () => {
  const versions = MIGRATIONS.map((m) => m.version);
  expect(new Set(versions).size).toBe(versions.length);
  expect(versions).toContain(3);
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  // A database written by a release that knew only migration 1.
  const Database = require('better-sqlite3');
  const old = new Database(path.join(dir, 'dropline.sqlite'));
  old.exec(MIGRATIONS.find((m) => m.version === 1)!.sql);
  old.pragma('user_version = 1');
  old.close();
  store = openStore({ dataDir: dir });
  expect(store.schemaVersion).toBe(Math.max(...versions));
  expect(store.listSigningKeys()).toEqual([]);
});

test('fence capacity per vehicle (migration 4): stored, replaced by a new measurement, absent for others', () => {
  expect(MIGRATIONS.find((m) => m.version === 4)?.name).toMatch(/fence capacity/);
  expect(store.getFenceCapacity('link0/1')).toBeUndefined();
  const a = store.setFenceCapacity('link0/1', { autopilot: 'ardupilot', items: 64, measuredBy: 'supervisor', detail: { probes: [{ items: 60, accepted: true }] } });
  expect(a).toMatchObject({ vehicleId: 'link0/1', autopilot: 'ardupilot', items: 64, atLeast: false, measuredBy: 'supervisor', detail: { probes: [{ items: 60, accepted: true }] } });
  const b = store.setFenceCapacity('link0/1', { autopilot: 'ardupilot', items: 100, atLeast: true });
  expect(b).toMatchObject({ items: 100, atLeast: true, measuredBy: null });
  expect(store.getFenceCapacity('link1/1')).toBeUndefined();
  expect(() => store.setFenceCapacity('link0/1', { autopilot: 'px4', items: -1 })).toThrow(/whole number/);
});

test('signing keys: one per link, stored as 32 bytes, listed and described without key material', () => {
  const key = Buffer.alloc(32, 7);
  const info = store.setSigningKey('link0', key, { vehicleId: 'link0/1', createdBy: 'admin' });
  const keyId = require('crypto').createHash('sha256').update(key).digest('hex').slice(0, 8);
  expect(info).toMatchObject({ linkId: 'link0', vehicleId: 'link0/1', keyId, createdBy: 'admin' });
  expect(store.getSigningKey('link0')!.equals(key)).toBe(true);
  expect(store.getSigningKey('link1')).toBeUndefined();
  const listed = store.listSigningKeys();
  expect(listed).toEqual([info]);
  const text = JSON.stringify(listed) + JSON.stringify(store.getSigningKeyInfo('link0'));
  expect(text).not.toContain(key.toString('hex'));
  expect(text).not.toContain(key.toString('base64'));
  // Replacing keeps one row per link.
  const key2 = Buffer.alloc(32, 9);
  expect(store.setSigningKey('link0', key2).keyId).not.toBe(keyId);
  expect(store.listSigningKeys()).toHaveLength(1);
  expect(store.getSigningKey('link0')!.equals(key2)).toBe(true);
  expect(() => store.setSigningKey('link0', Buffer.alloc(16))).toThrow(expect.objectContaining({ code: 'INVALID_SIGNING_KEY' }));
  expect(() => store.db.prepare("INSERT INTO signing_keys (link_id, key, key_id, created_at) VALUES ('x', x'00', 'k', 't')").run()).toThrow(/CHECK/);
  expect(store.deleteSigningKey('link0')).toBe(true);
  expect(store.getSigningKey('link0')).toBeUndefined();
});

test('alerts (migration 5): kept newest first, listed unacknowledged by level, acknowledged once with who and when', () => {
  expect(MIGRATIONS.find((m) => m.name === 'alerts')?.version).toBe(5);
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  store.insertAlert({ id: 'a1', at: at(1), level: 'info', code: 'link.up', params: { vehicle: 'sim0/1' }, text: 'Link to sim0/1 up', vehicleId: 'sim0/1' });
  store.insertAlert({ id: 'a2', at: at(2), level: 'critical', code: 'link.lostInFlight', params: { vehicle: 'sim0/1' }, text: 'Link to sim0/1 lost in flight', vehicleId: 'sim0/1', deliveryId: 'D00001' });
  store.insertAlert({ id: 'a2', at: at(3), level: 'info', code: 'text', params: {}, text: 'the same id again is ignored' });
  expect(store.listAlerts().map((a) => a.id)).toEqual(['a2', 'a1']);
  expect(store.getAlert('a2')).toEqual({ id: 'a2', at: at(2), level: 'critical', code: 'link.lostInFlight', params: { vehicle: 'sim0/1' }, text: 'Link to sim0/1 lost in flight', vehicleId: 'sim0/1', deliveryId: 'D00001' });
  expect(store.listAlerts({ unacked: true, levels: ['critical'] }).map((a) => a.id)).toEqual(['a2']);
  const ack = store.ackAlert('a2', 'operator');
  expect(ack.ok && ack.alert).toMatchObject({ id: 'a2', ackedBy: 'operator', ackedAt: expect.stringMatching(/^\d{4}-/) });
  expect(store.ackAlert('a2', 'supervisor')).toMatchObject({ ok: false, code: 'INVALID_STATE', alert: { ackedBy: 'operator' } });
  expect(store.ackAlert('nope', 'operator')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  expect(store.listAlerts({ unacked: true, levels: ['critical'] })).toEqual([]);
  // The database itself keeps an acknowledgement and the alert's words as they were.
  expect(() => store.db.prepare("UPDATE alerts SET acked_by = 'x' WHERE id = 'a2'").run()).toThrow(/acknowledged once/);
  expect(() => store.db.prepare("UPDATE alerts SET text = 'x' WHERE id = 'a1'").run()).toThrow(/acknowledged once/);
  store.close();
  store = openStore({ dataDir: dir });
  expect(store.getAlert('a2')?.ackedBy).toBe('operator');
});

test('zones: listeners hear of every committed version, not of a refused one', () => {
  const heard: number[] = [];
  const off = store.onZonesSaved((v) => heard.push(v));
  store.saveZones({ zones: fc('a'), policy: { requireApproval: false }, by: 'sys', change: 'seed' });
  store.saveZones({ zones: fc('b'), by: 'sup', change: 'zones', expectVersion: 7 });
  store.saveZones({ policy: { requireApproval: true }, by: 'sup', change: 'policy' });
  off();
  store.saveZones({ zones: fc('c'), by: 'sup', change: 'zones' });
  expect(heard).toEqual([1, 2]);
});
