/**
 * The store and the auth layer on real databases: a SQLite file in a temp directory, and PostgreSQL
 * (test/support/postgres.ts: a fresh schema per test, dropped afterwards). Every behaviour is checked
 * on both; what only one engine has (SQLite's pragmas, PostgreSQL's nodes sharing a database) after.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { openStore, type Store } from '../../src/store';
import { MIGRATIONS } from '../../src/store/migrations';
import { Auth, hashPassword, verifyPassword } from '../../src/auth';
import type { Delivery } from '../../src/delivery/types';
import { canTransition, TRANSITIONS, DELIVERY_STATES } from '../../src/delivery/types';
import { freshSchema, pgSuite, type TestSchema } from '../support/postgres';

const fc = (name: string): GeoJSON.FeatureCollection => ({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { name }, geometry: { type: 'Point', coordinates: [114.39, 34.06] } }] });

function job(id: string, priority: Delivery['priority'], createdAt: string): Delivery {
  return { id, state: 'planned', priority, drop: [114.39, 34.05], launch: null, payload: { description: 'x' }, requester: { name: 'r' }, createdAt, updatedAt: createdAt, promiseBy: createdAt, timeline: [] };
}

/**
 * The message a promise rejects with, or null when it resolves. Not `.rejects.toThrow()`: errors made
 * by a native module (better-sqlite3's SqliteError) belong to whichever test file loaded it first in
 * the worker, and jest does not recognise them as errors in another file's context.
 */
async function failureOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return String((e as { message?: unknown })?.message ?? e);
  }
}

/** One engine under test: how to open its store again and run SQL in its database directly. */
interface Engine {
  open(): Promise<Store>;
  /** SQL run in the database itself, around the store (as someone with a database client would). */
  sql(text: string): Promise<unknown>;
  /** A 1-byte key literal in this dialect (the CHECK on signing keys). */
  shortKey: string;
}

function storeTests(name: 'sqlite' | 'postgres', setup: () => Promise<Engine & { cleanup(): Promise<void> }>) {
  describe(`${name} store`, () => storeCases(name, setup));
}

function storeCases(name: 'sqlite' | 'postgres', setup: () => Promise<Engine & { cleanup(): Promise<void> }>) {
  let engine: Engine & { cleanup(): Promise<void> };
  let store: Store;

  beforeEach(async () => {
    engine = await setup();
    store = await engine.open();
  });
  afterEach(async () => {
    await store.close();
    await engine.cleanup();
  });
  const reopen = async () => {
    await store.close();
    store = await engine.open();
  };

  test(`${name}: migrations numbered, reopen keeps data`, async () => {
    expect(store.kind).toBe(name);
    const latest = Math.max(...MIGRATIONS.map((m) => m.version));
    // Increasing, not necessarily consecutive: a number may be reserved by work not merged yet (migrations.ts).
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(store.schemaVersion).toBe(latest);
    await store.addUser('u1', 'operator', 'scrypt$x');
    await reopen();
    expect(store.schemaVersion).toBe(latest);
    expect((await store.getUser('u1'))?.role).toBe('operator');
  });

  test(`${name}: audit is append-only in the database itself, and queryable by user, vehicle, job and time`, async () => {
    const t0 = new Date(Date.now() - 1000).toISOString();
    const id = await store.audit({ username: 'op', role: 'operator', action: 'vehicle.command', vehicleId: 'sim0/1', params: { action: 'rtl' }, outcome: { pending: true } });
    await store.audit({ username: 'sup', role: 'supervisor', action: 'delivery.approve', deliveryId: 'D00001' });
    expect((await store.queryAudit({ username: 'op' }))[0]).toMatchObject({ id, pending: true });
    await store.completeAudit(id, { ok: true });
    expect(await failureOf(engine.sql("UPDATE audit SET username = 'x'"))).toMatch(/append-only/);
    expect(await failureOf(engine.sql('DELETE FROM audit'))).toMatch(/append-only/);
    expect(await failureOf(engine.sql('UPDATE audit_outcomes SET outcome = \'{}\''))).toMatch(/append-only/);
    expect(await failureOf(engine.sql('DELETE FROM audit_outcomes'))).toMatch(/append-only/);
    // The outcome is written once.
    expect(await failureOf(store.completeAudit(id, { ok: false }))).not.toBeNull();
    expect((await store.queryAudit({ username: 'op' })).map((a) => [a.action, a.outcome, a.pending])).toEqual([['vehicle.command', { ok: true }, false]]);
    expect((await store.queryAudit({ vehicleId: 'sim0/1' }))[0].params).toEqual({ action: 'rtl' });
    expect((await store.queryAudit({ deliveryId: 'D00001' }))[0].role).toBe('supervisor');
    expect((await store.queryAudit({ since: t0 })).length).toBe(2);
    expect((await store.queryAudit({ until: t0 })).length).toBe(0);
  });

  test(`${name}: zones: every save is a new immutable version; optimistic concurrency; the first version needs zones and policy`, async () => {
    expect(await store.saveZones({ zones: fc('a'), by: 'x', change: 'first' })).toMatchObject({ ok: false, code: 'INVALID_STATE' });
    const v1 = await store.saveZones({ zones: fc('a'), policy: { requireApproval: false }, by: 'sys', change: 'seed' });
    expect(v1.ok && v1.version.version).toBe(1);
    const v2 = await store.saveZones({ policy: { requireApproval: true }, by: 'sup', change: 'policy' });
    expect(v2.ok && v2.version).toMatchObject({ version: 2, zones: fc('a'), policy: { requireApproval: true } });
    expect(await store.saveZones({ zones: fc('b'), by: 'sup', change: 'zones', expectVersion: 1 })).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect((await store.saveZones({ zones: fc('b'), by: 'sup', change: 'zones', expectVersion: 2 })).ok).toBe(true);
    expect((await store.zoneHistory()).map((h) => [h.version, h.change])).toEqual([
      [3, 'zones'],
      [2, 'policy'],
      [1, 'seed'],
    ]);
    expect((await store.zoneVersion(1))!.zones).toEqual(fc('a'));
    expect((await store.latestPolicy())).toEqual({ version: 3, policy: { requireApproval: true } });
    expect(await failureOf(engine.sql('DELETE FROM zone_versions'))).toMatch(/immutable/);
    expect(await failureOf(engine.sql("UPDATE zone_versions SET updated_by = 'x'"))).toMatch(/immutable/);
    expect((await store.zoneVersion(1))!.updatedBy).toBe('sys');
  });

  test(`${name}: concurrent zone saves with the same expected version: one wins, the other is told CONFLICT`, async () => {
    await store.saveZones({ zones: fc('a'), policy: { requireApproval: false }, by: 'sys', change: 'seed' });
    const r = await Promise.all([1, 2, 3].map((i) => store.saveZones({ zones: fc(`z${i}`), by: `sup${i}`, change: 'zones', expectVersion: 1 })));
    expect(r.filter((x) => x.ok)).toHaveLength(1);
    expect(r.filter((x) => !x.ok).map((x) => !x.ok && x.code)).toEqual(['CONFLICT', 'CONFLICT']);
    expect((await store.zoneHistory()).map((h) => h.version)).toEqual([2, 1]);
  });

  test(`${name}: deliveries: document + timeline written together; queue order urgent first then oldest`, async () => {
    const a = job('D1', 'normal', '2026-01-01T00:00:00.000Z');
    const b = job('D2', 'urgent', '2026-01-01T00:01:00.000Z');
    const c = job('D3', 'normal', '2026-01-01T00:02:00.000Z');
    await store.insertDelivery(a, 1, [{ at: a.createdAt, state: 'requested' }]);
    await store.insertDelivery(b, 2, [{ at: b.createdAt, state: 'requested' }]);
    await store.insertDelivery({ ...c, training: true }, 3, []);
    expect((await store.deliveriesInStates(['planned'])).map((d) => d.id)).toEqual(['D2', 'D1', 'D3']);
    expect((await store.deliveriesInStates(['planned'], true)).map((d) => d.id)).toEqual(['D3']);
    expect((await store.deliveriesInStates(['planned'], false)).map((d) => d.id)).toEqual(['D2', 'D1']);
    a.state = 'uploading';
    a.vehicleId = 'sim0/1';
    await store.updateDelivery(a, [{ at: 'x', state: 'uploading', detail: { vehicleId: 'sim0/1' } }]);
    const got = (await store.getDelivery('D1'))!;
    expect(got.state).toBe('uploading');
    expect(got.timeline).toEqual([
      { at: a.createdAt, state: 'requested' },
      { at: 'x', state: 'uploading', detail: { vehicleId: 'sim0/1' } },
    ]);
    expect(await store.nextDeliverySeq()).toBe(4);
    expect(await store.countDeliveriesByState()).toEqual({ planned: 2, uploading: 1 });
    expect((await store.listDeliveries(2)).map((d) => d.id)).toEqual(['D3', 'D2']);
  });

  test(`${name}: a transaction commits all or nothing, and concurrent ones on the same job do not interleave`, async () => {
    await store.insertDelivery(job('D1', 'normal', new Date().toISOString()), 1, []);
    await expect(
      store.tx(async (t) => {
        const d = (await t.getDelivery('D1'))!;
        await t.updateDelivery({ ...d, state: 'approved' }, [{ at: 'x', state: 'approved' }]);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect((await store.getDelivery('D1'))!).toMatchObject({ state: 'planned', timeline: [] });
    // Ten concurrent "move planned → uploading if still planned": exactly one moves it.
    const moved = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.tx(async (t) => {
          await t.lockDelivery('D1');
          const d = (await t.getDelivery('D1'))!;
          if (d.state !== 'planned') return false;
          await new Promise((r) => setTimeout(r, 5)); // a pause between the read and the write
          await t.updateDelivery({ ...d, state: 'uploading', vehicleId: `v${i}` }, [{ at: String(i), state: 'uploading' }]);
          return true;
        }),
      ),
    );
    expect(moved.filter(Boolean)).toHaveLength(1);
    expect((await store.getDelivery('D1'))!.timeline).toHaveLength(1);
    // Numbers drawn and used in one transaction each: all distinct.
    const ids = await Promise.all(
      Array.from({ length: 8 }, () =>
        store.tx(async (t) => {
          const seq = await t.nextDeliverySeq();
          await new Promise((r) => setTimeout(r, 2));
          await t.insertDelivery(job(`N${seq}`, 'normal', new Date().toISOString()), seq, []);
          return seq;
        }),
      ),
    );
    expect(new Set(ids).size).toBe(8);
  });

  test(`${name}: flights: active ones are found after a reopen`, async () => {
    await store.insertDelivery(job('D1', 'urgent', new Date().toISOString()), 1, []);
    expect(await store.insertFlight({ id: 'F1', deliveryId: 'D1', vehicleId: 'link0/1' })).toMatchObject({ id: 'F1', state: 'active', summary: {} });
    await store.insertFlight({ id: 'F2', deliveryId: null, vehicleId: 'link1/1' });
    await store.endFlight('F2', { landed: true });
    await store.updateFlight('F1', { launch: 1 }, '/tmp/F1.tlog');
    await reopen();
    expect((await store.activeFlights()).map((f) => f.id)).toEqual(['F1']);
    expect(await store.getFlight('F2')).toMatchObject({ state: 'ended', summary: { landed: true } });
    expect(await store.getFlight('F1')).toMatchObject({ tlogPath: '/tmp/F1.tlog', summary: { launch: 1 } });
    expect((await store.listFlights()).map((f) => f.id).sort()).toEqual(['F1', 'F2']);
  });

  test(`${name}: sessions expire and can be revoked; only the token hash is stored`, async () => {
    const auth = new Auth(store, { sessionTtlMs: 200 });
    await auth.addUser('op', 'operator', 'pw');
    const r = await auth.login('op', 'pw');
    if (!r.ok) throw new Error('login failed');
    expect(await auth.authenticate(r.token)).toMatchObject({ username: 'op', role: 'operator' });
    const rows = (await engine.sql('SELECT token_hash FROM sessions')) as Array<{ token_hash: string }>;
    expect(rows).toHaveLength(1);
    expect(rows.some((x) => x.token_hash === r.token)).toBe(false);
    await new Promise((res) => setTimeout(res, 300));
    expect(await auth.authenticate(r.token)).toBeNull();
    const r2 = await auth.login('op', 'pw');
    if (!r2.ok) throw new Error('login failed');
    await auth.logout(r2.token);
    expect(await auth.authenticate(r2.token)).toBeNull();
    expect((await auth.login('op', 'nope')).ok).toBe(false);
    await expect(auth.addUser('x', 'pilot' as any, 'pw')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  test(`${name}: login throttling counts concurrent failures, and a disabled user's sessions end`, async () => {
    const auth = new Auth(store, { throttle: { userFreeFailures: 100, addressFreeFailures: 100 } });
    await auth.addUser('op', 'operator', 'pw');
    await Promise.all(Array.from({ length: 6 }, () => auth.login('op', 'wrong', '10.0.0.1')));
    expect(await store.loginFailure('user:op')).toMatchObject({ failures: 6 });
    expect(await store.loginFailure('addr:10.0.0.1')).toMatchObject({ failures: 6 });
    const r = await auth.login('op', 'pw', '10.0.0.1');
    if (!r.ok) throw new Error('login failed');
    expect(await store.loginFailure('user:op')).toBeUndefined();
    expect(await auth.setDisabled('op', true)).toBe(true);
    expect(await auth.authenticate(r.token)).toBeNull();
    expect(await auth.setDisabled('nobody', true)).toBe(false);
  });

  test(`${name}: seeding: demo users once; without demo users the admin password is generated and returned once`, async () => {
    const auth = new Auth(store);
    const s1 = await auth.seed({ demoUsers: false });
    expect(s1.created).toEqual(['admin']);
    expect(s1.generatedAdminPassword).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect((await auth.login('admin', s1.generatedAdminPassword!)).ok).toBe(true);
    expect(await auth.seed({ demoUsers: true })).toEqual({ created: [] });
    expect(await store.getUser('operator')).toBeUndefined();
    expect((await store.usersWithDefaultPasswords()).map((u) => u.username)).toEqual(['admin']);
  });

  test(`${name}: addUser (for \`dropline users add\`): validated input, no silent overwrite, password reset with replace`, async () => {
    const { addUser } = await import('../../src/auth');
    expect(await addUser(store, 'nurse.li', 'operator', 'correct horse')).toEqual({ ok: true, username: 'nurse.li', role: 'operator' });
    expect(await addUser(store, 'nurse.li', 'operator', 'another one')).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(await addUser(store, 'bad name', 'operator', 'correct horse')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await addUser(store, 'x', 'pilot', 'correct horse')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await addUser(store, 'y', 'trainer', 'short')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await addUser(store, 'nurse.li', 'operator', 'another one', { replace: true })).toMatchObject({ ok: true });
    const auth = new Auth(store);
    expect((await auth.login('nurse.li', 'another one')).ok).toBe(true);
    expect((await auth.login('nurse.li', 'correct horse')).ok).toBe(false);
    expect(await failureOf(store.addUser('nurse.li', 'operator', 'x'))).not.toBeNull(); // the name is unique in the database
  });

  test(`${name}: fence capacity per vehicle (migration 4): stored, replaced by a new measurement, absent for others`, async () => {
    expect(MIGRATIONS.find((m) => m.version === 4)?.name).toMatch(/fence capacity/);
    expect(await store.getFenceCapacity('link0/1')).toBeUndefined();
    const a = await store.setFenceCapacity('link0/1', { autopilot: 'ardupilot', items: 64, measuredBy: 'supervisor', detail: { probes: [{ items: 60, accepted: true }] } });
    expect(a).toMatchObject({ vehicleId: 'link0/1', autopilot: 'ardupilot', items: 64, atLeast: false, measuredBy: 'supervisor', detail: { probes: [{ items: 60, accepted: true }] } });
    const b = await store.setFenceCapacity('link0/1', { autopilot: 'ardupilot', items: 100, atLeast: true });
    expect(b).toMatchObject({ items: 100, atLeast: true, measuredBy: null });
    expect(await store.getFenceCapacity('link1/1')).toBeUndefined();
    expect(await failureOf(store.setFenceCapacity('link0/1', { autopilot: 'px4', items: -1 }))).toMatch(/whole number/);
  });

  test(`${name}: battery swaps (migration 9): recorded with who or the readings, listed newest first per vehicle, append-only`, async () => {
    expect(MIGRATIONS.find((m) => m.version === 9)?.name).toMatch(/battery swaps/);
    expect(await store.listBatterySwaps('sim0/1')).toEqual([]);
    const seen = await store.recordBatterySwap({ vehicleId: 'sim0/1', source: 'telemetry', at: '2026-03-10T08:00:00.000Z', fromPct: 22, toPct: 100 });
    expect(seen).toEqual({ id: seen.id, vehicleId: 'sim0/1', at: '2026-03-10T08:00:00.000Z', source: 'telemetry', username: null, role: null, packId: null, note: null, fromPct: 22, toPct: 100, auditId: null, confirmsId: null });
    const auditId = await store.audit({ username: 'op', role: 'operator', action: 'vehicle.batterySwap', vehicleId: 'sim0/1', outcome: { pending: true } });
    const op = await store.recordBatterySwap({ vehicleId: 'sim0/1', source: 'operator', at: '2026-03-10T08:02:00.000Z', username: 'op', role: 'operator', packId: 'PK-1', note: '换电池', auditId, confirmsId: seen.id });
    expect(op).toMatchObject({ source: 'operator', username: 'op', role: 'operator', packId: 'PK-1', note: '换电池', auditId, confirmsId: seen.id, fromPct: null });
    await store.recordBatterySwap({ vehicleId: 'link0/1', source: 'operator', at: '2026-03-10T08:01:00.000Z', username: 'sup' });
    expect((await store.listBatterySwaps('sim0/1')).map((x) => x.id)).toEqual([op.id, seen.id]);
    expect((await store.listBatterySwaps('sim0/1', { limit: 1 })).map((x) => x.id)).toEqual([op.id]);
    expect((await store.listBatterySwaps('sim0/1', { since: '2026-03-10T08:01:00.000Z' })).map((x) => x.id)).toEqual([op.id]);
    expect(await failureOf(engine.sql("UPDATE battery_swaps SET note = 'x'"))).toMatch(/append-only/);
    expect(await failureOf(engine.sql('DELETE FROM battery_swaps'))).toMatch(/append-only/);
    expect(await failureOf(store.recordBatterySwap({ vehicleId: 'sim0/1', source: 'guess' as any }))).not.toBeNull();
  });

  test(`${name}: signing keys: one per link, stored as 32 bytes, listed and described without key material`, async () => {
    const key = Buffer.alloc(32, 7);
    const info = await store.setSigningKey('link0', key, { vehicleId: 'link0/1', createdBy: 'admin' });
    const keyId = require('crypto').createHash('sha256').update(key).digest('hex').slice(0, 8);
    expect(info).toMatchObject({ linkId: 'link0', vehicleId: 'link0/1', keyId, createdBy: 'admin' });
    expect((await store.getSigningKey('link0'))!.equals(key)).toBe(true);
    expect(await store.getSigningKey('link1')).toBeUndefined();
    const listed = await store.listSigningKeys();
    expect(listed).toEqual([info]);
    const text = JSON.stringify(listed) + JSON.stringify(await store.getSigningKeyInfo('link0'));
    expect(text).not.toContain(key.toString('hex'));
    expect(text).not.toContain(key.toString('base64'));
    // Replacing keeps one row per link.
    const key2 = Buffer.alloc(32, 9);
    expect((await store.setSigningKey('link0', key2)).keyId).not.toBe(keyId);
    expect(await store.listSigningKeys()).toHaveLength(1);
    expect((await store.getSigningKey('link0'))!.equals(key2)).toBe(true);
    await expect(store.setSigningKey('link0', Buffer.alloc(16))).rejects.toMatchObject({ code: 'INVALID_SIGNING_KEY' });
    expect(await failureOf(engine.sql(`INSERT INTO signing_keys (link_id, key, key_id, created_at) VALUES ('x', ${engine.shortKey}, 'k', 't')`))).toMatch(/CHECK|check constraint/);
    expect(await store.deleteSigningKey('link0')).toBe(true);
    expect(await store.deleteSigningKey('link0')).toBe(false);
    expect(await store.getSigningKey('link0')).toBeUndefined();
  });

  test(`${name}: alerts (migration 5): kept newest first, listed unacknowledged by level, acknowledged once with who and when`, async () => {
    expect(MIGRATIONS.find((m) => m.name === 'alerts')?.version).toBe(5);
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    await store.insertAlert({ id: 'a1', at: at(1), level: 'info', code: 'link.up', params: { vehicle: 'sim0/1' }, text: 'Link to sim0/1 up', vehicleId: 'sim0/1' });
    await store.insertAlert({ id: 'a2', at: at(2), level: 'critical', code: 'link.lostInFlight', params: { vehicle: 'sim0/1' }, text: 'Link to sim0/1 lost in flight', vehicleId: 'sim0/1', deliveryId: 'D00001' });
    await store.insertAlert({ id: 'a2', at: at(3), level: 'info', code: 'text', params: {}, text: 'the same id again is ignored' });
    expect((await store.listAlerts()).map((a) => a.id)).toEqual(['a2', 'a1']);
    expect(await store.getAlert('a2')).toEqual({ id: 'a2', at: at(2), level: 'critical', code: 'link.lostInFlight', params: { vehicle: 'sim0/1' }, text: 'Link to sim0/1 lost in flight', vehicleId: 'sim0/1', deliveryId: 'D00001' });
    expect((await store.listAlerts({ unacked: true, levels: ['critical'] })).map((a) => a.id)).toEqual(['a2']);
    const ack = await store.ackAlert('a2', 'operator');
    expect(ack.ok && ack.alert).toMatchObject({ id: 'a2', ackedBy: 'operator', ackedAt: expect.stringMatching(/^\d{4}-/) });
    expect(await store.ackAlert('a2', 'supervisor')).toMatchObject({ ok: false, code: 'INVALID_STATE', alert: { ackedBy: 'operator' } });
    expect(await store.ackAlert('nope', 'operator')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await store.listAlerts({ unacked: true, levels: ['critical'] })).toEqual([]);
    // The database itself keeps an acknowledgement and the alert's words as they were.
    expect(await failureOf(engine.sql("UPDATE alerts SET acked_by = 'x' WHERE id = 'a2'"))).toMatch(/acknowledged once/);
    expect(await failureOf(engine.sql("UPDATE alerts SET text = 'x' WHERE id = 'a1'"))).toMatch(/acknowledged once/);
    await reopen();
    expect((await store.getAlert('a2'))?.ackedBy).toBe('operator');
  });

  test(`${name}: zones: listeners hear of every committed version, not of a refused one`, async () => {
    const heard: number[] = [];
    const off = store.onZonesSaved((v) => heard.push(v));
    await store.saveZones({ zones: fc('a'), policy: { requireApproval: false }, by: 'sys', change: 'seed' });
    await store.saveZones({ zones: fc('b'), by: 'sup', change: 'zones', expectVersion: 7 });
    await store.saveZones({ policy: { requireApproval: true }, by: 'sup', change: 'policy' });
    off();
    await store.saveZones({ zones: fc('c'), by: 'sup', change: 'zones' });
    expect(heard).toEqual([1, 2]);
  });
}

describe('sqlite', () => {
  storeTests('sqlite', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-store-'));
    let current: Store | undefined;
    return {
      open: async () => (current = await openStore({ dataDir: dir })),
      // A second connection to the file, as the sqlite3 shell would be.
      sql: async (text) => {
        const Database = require('better-sqlite3');
        const db = new Database(path.join(dir, 'dropline.sqlite'));
        try {
          const st = db.prepare(text);
          return st.reader ? st.all() : st.run();
        } finally {
          db.close();
        }
      },
      shortKey: "x'00'",
      cleanup: async () => {
        try {
          await current?.close();
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  });

  test('sqlite: WAL journal with synchronous FULL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-store-'));
    const store = await openStore({ dataDir: dir });
    try {
      expect(store.db!.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.db!.pragma('synchronous', { simple: true })).toBe(2); // FULL
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('sqlite: a database at version 1 moves up to the latest', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-store-'));
    const versions = MIGRATIONS.map((m) => m.version);
    expect(new Set(versions).size).toBe(versions.length);
    // A database written by a release that knew only migration 1.
    const Database = require('better-sqlite3');
    const old = new Database(path.join(dir, 'dropline.sqlite'));
    old.exec(MIGRATIONS.find((m) => m.version === 1)!.sql);
    old.pragma('user_version = 1');
    old.close();
    const store = await openStore({ dataDir: dir });
    try {
      expect(store.schemaVersion).toBe(Math.max(...versions));
      expect(await store.listSigningKeys()).toEqual([]);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('every migration has its PostgreSQL version (migrations.ts: add both)', () => {
  expect(MIGRATIONS.filter((m) => !m.pg).map((m) => m.version)).toEqual([]);
});

pgSuite('postgres', () => {
  storeTests('postgres', async () => {
    const s = freshSchema();
    let current: Store | undefined;
    return {
      open: async () => (current = await openStore({ dataDir: os.tmpdir(), url: s.url })),
      sql: async (text) => (await s.sql(text)).rows,
      shortKey: "'\\x00'::bytea",
      cleanup: async () => {
        try {
          await current?.close();
        } finally {
          await s.drop();
        }
      },
    };
  });

  describe('postgres only', () => {
    let s: TestSchema;
    const open: Store[] = [];
    const node = async () => {
      const st = await openStore({ dataDir: os.tmpdir(), url: s.url });
      open.push(st);
      return st;
    };
    beforeEach(() => {
      s = freshSchema();
    });
    afterEach(async () => {
      try {
        for (const st of open.splice(0)) await st.close();
      } finally {
        await s.drop();
      }
    });

    test('append-only survives TRUNCATE, and the tables live in the schema the URL names', async () => {
      const store = await node();
      await store.audit({ action: 'x' });
      await store.saveZones({ zones: fc('a'), policy: {}, by: 'sys', change: 'seed' });
      expect(await failureOf(s.sql('TRUNCATE audit_outcomes, audit'))).toMatch(/append-only/);
      expect(await failureOf(s.sql('TRUNCATE zone_versions'))).toMatch(/immutable/);
      const tables = (await s.sql('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [s.schema])).rows.map((r) => r.table_name);
      expect(tables).toEqual(expect.arrayContaining(['audit', 'audit_outcomes', 'deliveries', 'schema_migrations', 'sessions', 'users', 'zone_versions']));
      expect((await s.sql('SELECT COUNT(*)::int AS n FROM audit')).rows[0].n).toBe(1);
    });

    test('nodes started together migrate once; a database at version 1 moves up to the latest', async () => {
      const [a, b, c] = await Promise.all([node(), node(), node()]);
      const latest = Math.max(...MIGRATIONS.map((m) => m.version));
      expect([a.schemaVersion, b.schemaVersion, c.schemaVersion]).toEqual([latest, latest, latest]);
      expect((await s.sql('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));

      const old = freshSchema();
      try {
        await old.sql(`CREATE SCHEMA ${old.schema}`);
        await old.sql(MIGRATIONS.find((m) => m.version === 1)!.pg!);
        await old.sql("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL); INSERT INTO schema_migrations VALUES (1, 'initial schema', 'then')");
        await old.sql("INSERT INTO users (username, role, password_hash, created_at) VALUES ('kept', 'operator', 'h', 'then')");
        const st = await openStore({ dataDir: os.tmpdir(), url: old.url });
        try {
          expect(st.schemaVersion).toBe(latest);
          expect(await st.getUser('kept')).toMatchObject({ role: 'operator', passwordState: 'set' });
        } finally {
          await st.close();
        }
      } finally {
        await old.drop();
      }
    });

    test('sessions created on one node are valid on another sharing the database; a logout on either ends them on both', async () => {
      const [storeA, storeB] = [await node(), await node()];
      const [authA, authB] = [new Auth(storeA), new Auth(storeB)];
      await authA.addUser('op', 'operator', 'pw-long-enough');
      const r = await authA.login('op', 'pw-long-enough');
      if (!r.ok) throw new Error('login failed');
      expect(await authB.authenticate(r.token)).toMatchObject({ username: 'op', role: 'operator' });
      await authB.logout(r.token);
      expect(await authA.authenticate(r.token)).toBeNull();
      const r2 = await authB.login('op', 'pw-long-enough');
      if (!r2.ok) throw new Error('login failed');
      expect(await authA.authenticate(r2.token)).not.toBeNull();
      await authA.setDisabled('op', true);
      expect(await authB.authenticate(r2.token)).toBeNull();
    });

    test('two nodes moving the same job at once: one moves it; numbers drawn on both never collide', async () => {
      const [a, b] = [await node(), await node()];
      await a.insertDelivery(job('D1', 'normal', new Date().toISOString()), 1, []);
      const move = (st: Store, who: string) =>
        st.tx(async (t) => {
          await t.lockDelivery('D1');
          const d = (await t.getDelivery('D1'))!;
          if (d.state !== 'planned') return null;
          await new Promise((r) => setTimeout(r, 20));
          await t.updateDelivery({ ...d, state: 'uploading', vehicleId: who }, [{ at: new Date().toISOString(), state: 'uploading', detail: { who } }]);
          return who;
        });
      const r = await Promise.all([move(a, 'A'), move(b, 'B'), move(a, 'A2'), move(b, 'B2')]);
      expect(r.filter((x) => x !== null)).toHaveLength(1);
      expect((await b.getDelivery('D1'))!.timeline).toHaveLength(1);
      const draw = (st: Store) =>
        st.tx(async (t) => {
          const seq = await t.nextDeliverySeq();
          await t.insertDelivery(job(`N${seq}`, 'normal', new Date().toISOString()), seq, []);
          return seq;
        });
      const seqs = await Promise.all([a, b, a, b, a, b].map(draw));
      expect(new Set(seqs).size).toBe(6);
    });

    test('zone versions saved on one node are heard on the others, once each, and only in the same schema', async () => {
      const [a, b] = [await node(), await node()];
      const other = freshSchema();
      const elsewhere = await openStore({ dataDir: os.tmpdir(), url: other.url });
      try {
        const heardA: number[] = [];
        const heardB: number[] = [];
        const heardElsewhere: number[] = [];
        a.onZonesSaved((v) => heardA.push(v));
        b.onZonesSaved((v) => heardB.push(v));
        elsewhere.onZonesSaved((v) => heardElsewhere.push(v));
        await a.saveZones({ zones: fc('a'), policy: {}, by: 'sys', change: 'seed' });
        // heard on B before B saves the next (a NOTIFY leaves after the save returns: one heard after a
        // newer version was saved is superseded and not told, so listeners only see versions increase)
        for (let k = 0; k < 100 && !heardB.includes(1); k++) await new Promise((r) => setTimeout(r, 20));
        await b.saveZones({ policy: { requireApproval: true }, by: 'sup', change: 'policy' });
        await new Promise((r) => setTimeout(r, 500));
        expect(heardA).toEqual([1, 2]);
        expect(heardB).toEqual([1, 2]);
        expect(heardElsewhere).toEqual([]);
      } finally {
        await elsewhere.close();
        await other.drop();
      }
    });

    test('a URL naming a schema that is not an identifier is refused', async () => {
      await expect(openStore({ dataDir: os.tmpdir(), url: 'postgres://127.0.0.1:5432/test?schema=a;drop' })).rejects.toMatchObject({ code: 'INVALID_STORE_URL' });
      await expect(openStore({ dataDir: os.tmpdir(), url: 'mysql://127.0.0.1/test' })).rejects.toMatchObject({ code: 'INVALID_STORE_URL' });
    });
  });
});

test('passwords: scrypt, salted, verified in constant time; wrong ones refused', async () => {
  const h1 = await hashPassword('secret');
  const h2 = await hashPassword('secret');
  expect(h1).not.toBe(h2);
  expect(await verifyPassword('secret', h1)).toBe(true);
  expect(await verifyPassword('Secret', h1)).toBe(false);
  expect(await verifyPassword('secret', 'garbage')).toBe(false);
});

test('job state machine: terminal states are final; approval is optional', () => {
  for (const t of ['completed', 'failed', 'aborted'] as const) expect(TRANSITIONS[t]).toEqual([]);
  expect(canTransition('planned', 'uploading')).toBe(true);
  expect(canTransition('planned', 'approved')).toBe(true);
  expect(canTransition('requested', 'in-flight')).toBe(false);
  expect(canTransition('delivered', 'in-flight')).toBe(false);
  for (const s of DELIVERY_STATES) if (!['completed', 'failed', 'aborted'].includes(s)) expect(canTransition(s, 'aborted')).toBe(true);
});
