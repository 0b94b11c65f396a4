/**
 * The dispatcher's named failures, with a scripted vehicle (an in-memory VehicleHandle whose
 * replies each test chooses) on a real SQLite store and the real planner. The same paths run over
 * sockets against the simulator in delivery.test.ts; here each failure is provoked on purpose.
 */
import { EventEmitter } from 'events';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { openStore, type Store } from '../../src/store';
import { DeliveryManager, DEFAULT_POLICY, type Delivery } from '../../src/delivery';
import { emptyState } from '../../src/fleet';
import type { CommandResult, VehicleState, Outcome } from '../../src/fleet/types';
import * as planner from '../../planner';
import { waitFor } from './support/client';
import { isZonesText } from '../../src/planner-pool/task';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 100 };
const PARAMS: Record<string, number> = {
  FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5, FS_OPTIONS: 8, BATT_FS_LOW_ACT: 2, BATT_FS_CRT_ACT: 1, FS_EKF_ACTION: 1,
  FENCE_ENABLE: 1, FENCE_ACTION: 1, FENCE_TYPE: 5, FENCE_RADIUS: 300, GRIP_ENABLE: 1, GRIP_TYPE: 1, SERVO9_FUNCTION: 28,
  BATT_CAPACITY: 20000, MOT_BAT_VOLT_MAX: 25.2, BATT_ARM_VOLT: 0, BATT_LOW_VOLT: 21, BATT_CRT_VOLT: 19.8, BATT_LOW_MAH: 0, BATT_CRT_MAH: 0,
};
const ack = (command: number, result: CommandResult['result'] = 'ACCEPTED'): CommandResult => ({ ok: result === 'ACCEPTED', result, command, attempts: 1, elapsedMs: 1 });

class ScriptedVehicle extends EventEmitter {
  readonly id = 'fake/1';
  state: VehicleState;
  calls: string[] = [];
  script: {
    upload?: (type: number) => Outcome<{ items: number }>;
    arm?: () => CommandResult;
    /** After MISSION_START: climb (default) or stay on the ground. */
    climbs?: boolean;
  } = {};
  constructor(private readonly fleet: EventEmitter) {
    super();
    const s = emptyState('fake', 1, 1);
    this.state = {
      ...s,
      autopilot: 'ardupilot',
      connected: true,
      lastSeenMs: Date.now(),
      mode: 'STABILIZE',
      landedState: 1,
      gps: { fixType: 3, satellites: 12, hdop: 0.7 },
      ekfFlags: 0x33f,
      sensorsHealth: 1 << 28,
      battery: { voltageV: 24.6, currentA: 0, remainingPct: 100, consumedMah: 0 },
      home: HOME,
      position: { lat: HOME.lat, lon: HOME.lon, altAmslM: HOME.altAmslM, altRelM: 0 },
    };
    const keepAlive = setInterval(() => this.update({ lastSeenMs: this.state.connected ? Date.now() : this.state.lastSeenMs }), 100);
    keepAlive.unref();
  }
  update(p: Partial<VehicleState>) {
    this.state = { ...this.state, ...p };
    this.emit('state', this.state);
    this.fleet.emit('state', this.state);
  }
  /** Parameter values that differ from PARAMS for this test. */
  params: Record<string, number> = {};
  async getParam(name: string): Promise<Outcome<{ value: number }>> {
    const all = { ...PARAMS, ...this.params };
    return name in all ? { ok: true, value: all[name] } : { ok: false, code: 'TIMEOUT', message: `no answer for ${name}` };
  }
  async uploadItems(type: number, items: unknown[]): Promise<Outcome<{ items: number }>> {
    this.calls.push(`upload:${type}`);
    return this.script.upload?.(type) ?? { ok: true, items: items.length };
  }
  async clearItems(type: number): Promise<Outcome> {
    this.calls.push(`clear:${type}`);
    return { ok: true };
  }
  async setMode(name: string) {
    this.calls.push(`mode:${name}`);
    this.update({ mode: name });
    return ack(176);
  }
  async arm() {
    this.calls.push('arm');
    const r = this.script.arm?.() ?? ack(400);
    if (r.ok) this.update({ armed: true });
    return r;
  }
  async disarm() {
    this.calls.push('disarm');
    this.update({ armed: false });
    return ack(400);
  }
  async missionStart() {
    this.calls.push('mission-start');
    if (this.script.climbs !== false) {
      this.update({ mode: 'AUTO', landedState: 3 });
      setTimeout(() => this.update({ landedState: 2, position: { ...this.state.position!, altRelM: 5 }, climbMps: 2 }), 50);
    }
    return ack(300);
  }
  async rtl() {
    this.calls.push('rtl');
    this.update({ mode: 'RTL' });
    return ack(176);
  }
  async land() {
    return this.setMode('LAND');
  }
}

let dir: string;
let store: Store;
let fleet: EventEmitter & { get(id: string): any; vehicles(): any[]; links(): any[] };
let v: ScriptedVehicle;
let mgr: DeliveryManager;
const alerts: string[] = [];
const silent = { info() {}, warn() {}, error() {} };

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-dispatch-'));
  store = await openStore({ dataDir: dir });
  const zones = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'planner', 'fixtures', 'demo-zones.geojson'), 'utf8'));
  await store.saveZones({ zones, policy: { ...DEFAULT_POLICY, climbTimeoutMs: 400 }, by: 'test', change: 'seed' });
  fleet = Object.assign(new EventEmitter(), { get: (id: string) => (id === v.id ? v : undefined), vehicles: () => [v], links: () => [] });
  v = new ScriptedVehicle(fleet);
  alerts.length = 0;
  mgr = new DeliveryManager({ store, fleet: fleet as any, planDelivery: async (zones, request) => planner.planDelivery(isZonesText(zones) ? JSON.parse(zones.json) : zones, request), log: silent, onAlert: (a) => alerts.push(a.text), confirmTimeoutMs: 300, tickMs: 50, readyPollMs: 20 });
});

afterEach(async () => {
  mgr.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function dispatchAndSettle(): Promise<Delivery> {
  const c = await mgr.create({ drop: [114.3935, 34.0515], priority: 'urgent' }, null);
  if (!c.ok) throw new Error(c.message);
  const r = await mgr.dispatch(c.value.id, v.id, null);
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return waitFor(async () => {
    const d = (await mgr.get(c.value.id))!;
    return ['failed', 'in-flight', 'aborted'].includes(d.state) ? d : null;
  }, 10_000, 'job to settle');
}

test('uploads go fence → rally → mission, then GUIDED, arm, MISSION_START, climb seen → in-flight', async () => {
  const d = await dispatchAndSettle();
  expect(d.state).toBe('in-flight');
  expect(v.calls).toEqual(['upload:1', 'upload:2', 'upload:0', 'mode:GUIDED', 'arm', 'mission-start']);
  expect((await store.activeFlights()).map((f) => f.id)).toEqual([d.flightId]);
});

test('MISSION_START accepted but no climb in telemetry → CLIMB_NOT_CONFIRMED, and the vehicle is disarmed', async () => {
  v.script.climbs = false;
  const d = await dispatchAndSettle();
  expect(d.failure).toMatchObject({ code: 'CLIMB_NOT_CONFIRMED' });
  expect(v.calls.slice(-2)).toEqual(['mission-start', 'disarm']);
  expect(alerts.some((a) => /CLIMB_NOT_CONFIRMED/.test(a))).toBe(true);
});

test('arming denied → ARM_FAILED with the ACK', async () => {
  v.script.arm = () => ack(400, 'DENIED');
  const d = await dispatchAndSettle();
  expect(d.failure).toMatchObject({ code: 'ARM_FAILED', details: { ack: { result: 'DENIED' } } });
  expect(v.calls).not.toContain('mission-start');
});

test('mission read back differs → UPLOAD_VERIFY_FAILED, nothing armed', async () => {
  v.script.upload = (type) => (type === 0 ? { ok: false, code: 'VERIFY_MISMATCH', message: 'item 3 altitude 30 ≠ 40' } : { ok: true, items: 1 });
  const d = await dispatchAndSettle();
  expect(d.failure).toMatchObject({ code: 'UPLOAD_VERIFY_FAILED', details: { missionType: 'mission', transferCode: 'VERIFY_MISMATCH' } });
  expect(d.timeline.some((e) => e.event === 'upload-verification-failed')).toBe(true);
  expect(v.calls).not.toContain('arm');
});

test('upload times out while the vehicle is silent → VEHICLE_LOST; a refusal while connected → UPLOAD_FAILED with the transfer code', async () => {
  v.script.upload = () => {
    v.update({ connected: false, lastSeenMs: Date.now() - 10_000 });
    return { ok: false, code: 'TIMEOUT', message: 'no MISSION_REQUEST for 8 s' };
  };
  const d = await dispatchAndSettle();
  expect(d.failure).toMatchObject({ code: 'VEHICLE_LOST', details: { missionType: 'fence', transferCode: 'TIMEOUT' } });
  v.update({ connected: true, lastSeenMs: Date.now() });
  v.script.upload = (type) => (type === 2 ? { ok: false, code: 'DENIED', message: 'another GCS is uploading' } : { ok: true, items: 1 });
  const d2 = await dispatchAndSettle();
  expect(d2.failure).toMatchObject({ code: 'UPLOAD_FAILED', details: { missionType: 'rally', transferCode: 'DENIED' } });
});

test('a failsafe RTL before the drop fails the job (FAILSAFE); the flight is followed until it is down', async () => {
  const d = await dispatchAndSettle();
  expect(d.state).toBe('in-flight');
  v.update({ mode: 'RTL', statusText: [{ timeMs: Date.now(), severity: 2, text: 'GCS Failsafe' }] });
  const failed = await waitFor(async () => ((await mgr.get(d.id))!.state === 'failed' ? await mgr.get(d.id) : null), 5000, 'failed');
  expect(failed!.failure).toMatchObject({ code: 'FAILSAFE', details: { mode: 'RTL', statusText: ['GCS Failsafe'] } });
  expect((await store.getFlight(d.flightId!))!.state).toBe('active');
  v.update({ armed: false, landedState: 1, position: { ...v.state.position!, altRelM: 0 } });
  await waitFor(async () => (await store.getFlight(d.flightId!))!.state === 'ended', 5000, 'flight ended');
  expect((await mgr.get(d.id))!.timeline.some((e) => e.event === 'landed')).toBe(true);
});

test('release seen from MISSION_CURRENT → delivered with proof (position, servo, item); then returning, landing → completed', async () => {
  const d = await dispatchAndSettle();
  const plan = d.plan as any;
  const rel = plan.mission.find((m: any) => m.command === 211).seq;
  const at = { lat: d.drop[1], lon: d.drop[0], altAmslM: 130, altRelM: 30 };
  v.update({ position: at, mission: { current: rel - 1, total: plan.mission.length, reached: [] }, servos: Object.assign(new Array(16).fill(0), { 8: 1900 }) });
  v.update({ mission: { current: rel + 1, total: plan.mission.length, reached: [rel - 1] } });
  setTimeout(() => v.update({ servos: Object.assign(new Array(16).fill(0), { 8: 1100 }) }), 100);
  const delivered = await waitFor(async () => ((await mgr.get(d.id))!.proofOfDrop ? await mgr.get(d.id) : null), 5000, 'proof');
  expect(delivered!.proofOfDrop).toMatchObject({ lat: at.lat, lon: at.lon, altRelM: 30, servo: 9, servoPwm: 1100, ack: { source: 'mission-item', seq: rel, command: 211 } });
  expect(delivered!.proofOfDrop!.distanceToDropM).toBeLessThan(0.5);
  v.update({ mission: { current: rel + 3, total: plan.mission.length, reached: [] }, position: { ...at, lat: at.lat + 0.001 } });
  await waitFor(async () => (await mgr.get(d.id))!.state === 'returning', 5000, 'returning');
  v.update({ armed: false, landedState: 1 });
  await waitFor(async () => (await mgr.get(d.id))!.state === 'completed', 5000, 'completed');
});

test('abort: before launch nothing is commanded; armed on the ground → disarm; in the air → RTL (or LAND)', async () => {
  const c = await mgr.create({ drop: [114.3935, 34.0515] }, null);
  if (!c.ok) throw new Error(c.message);
  const a = await mgr.abort(c.value.id, 'not needed');
  expect(a.ok && a.value.delivery.state).toBe('aborted');
  expect(v.calls).toEqual([]);
  expect(await mgr.abort(c.value.id, 'again')).toMatchObject({ ok: false, code: 'INVALID_STATE' });
  const d = await dispatchAndSettle();
  const land = await mgr.abort(d.id, 'weather', { land: true });
  expect(land.ok && land.value.ack?.result).toBe('ACCEPTED');
  expect(v.state.mode).toBe('LAND');
  expect((await mgr.get(d.id))!.timeline.some((e) => e.event === 'land-commanded')).toBe(true);
});

test('a planner that refuses to plan now (busy) is the answer, with its Retry-After, and records no job', async () => {
  const refusing = new DeliveryManager({
    store,
    fleet: fleet as any,
    planDelivery: async () => {
      throw Object.assign(new Error('the planner is busy'), { code: 'PLANNER_BUSY', status: 503, retryAfterS: 1 });
    },
    log: silent,
  });
  try {
    const before = (await refusing.list()).length;
    const r = await refusing.create({ drop: [114.3935, 34.0515] }, null);
    expect(r).toMatchObject({ ok: false, code: 'PLANNER_BUSY', status: 503, retryAfterS: 1 });
    expect((await refusing.list()).length).toBe(before);
  } finally {
    refusing.close();
  }
});

describe('dispatch to a vehicle still warming up', () => {
  /** As after a boot: no GPS fix yet, EKF aligned without a position (0xa7), no home, pre-arm failing. */
  const booting = () => v.update({ gps: { fixType: 0, satellites: 0, hdop: 99.99 }, ekfFlags: 0xa7, home: null, sensorsHealth: 0 });

  test('the job waits, showing "waiting for vehicle: …" for what is missing, then flies once the vehicle is ready', async () => {
    booting();
    const c = await mgr.create({ drop: [114.3935, 34.0515], priority: 'urgent' }, null);
    if (!c.ok) throw new Error(c.message);
    const r = await mgr.dispatch(c.value.id, v.id, null);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.state).toBe('planned');
    expect(r.value.waiting).toMatchObject({ vehicleId: v.id, checks: ['gps_fix', 'ekf', 'prearm', 'home'], message: 'waiting for vehicle: gps_fix, ekf, prearm, home' });
    expect(Date.parse(r.value.waiting!.until) - Date.parse(r.value.waiting!.since)).toBe(DEFAULT_POLICY.readyWaitMs);
    expect(r.value.timeline.at(-1)).toMatchObject({ event: 'waiting-for-vehicle', detail: { message: 'waiting for vehicle: gps_fix, ekf, prearm, home' } });
    expect(mgr.waitingJobFor(v.id)).toBe(c.value.id);
    expect(alerts.some((a) => /waiting for vehicle/.test(a))).toBe(true);
    // The vehicle is held for this job; the job itself cannot be dispatched twice.
    expect(await mgr.dispatch(c.value.id, v.id, null)).toMatchObject({ ok: false, code: 'CONFLICT' });
    const other = await mgr.create({ drop: [114.3935, 34.0515] }, null);
    expect(other.ok && (await mgr.dispatch(other.value.id, v.id, null))).toMatchObject({ ok: false, code: 'CONFLICT' });

    // GPS fix, home and pre-arm come first; the EKF is the last to be ready, as on ArduCopter.
    v.update({ gps: { fixType: 3, satellites: 12, hdop: 0.7 }, home: HOME, sensorsHealth: 1 << 28 });
    await waitFor(async () => (await mgr.get(c.value.id))!.waiting?.message === 'waiting for vehicle: ekf', 5000, 'only the EKF missing');
    expect(v.calls).toEqual([]);
    v.update({ ekfFlags: 0x33f });
    const d = await waitFor(async () => ((await mgr.get(c.value.id))!.state === 'in-flight' ? await mgr.get(c.value.id) : null), 10_000, 'in-flight');
    expect(d!.waiting).toBeUndefined();
    expect(v.calls).toEqual(['upload:1', 'upload:2', 'upload:0', 'mode:GUIDED', 'arm', 'mission-start']);
    const events = d!.timeline.map((e) => e.event ?? e.state);
    expect(events.slice(events.indexOf('planned'))).toEqual(expect.arrayContaining(['waiting-for-vehicle', 'vehicle-ready', 'uploading', 'ready', 'in-flight']));
    expect(events.indexOf('vehicle-ready')).toBeLessThan(events.indexOf('uploading'));
    expect(d!.timeline.filter((e) => e.event === 'waiting-for-vehicle').map((e) => (e.detail as any).message)).toEqual([
      'waiting for vehicle: gps_fix, ekf, prearm, home',
      'waiting for vehicle: ekf',
    ]);
    expect(d!.preflight!.checks.every((x) => x.ok)).toBe(true);
    expect(mgr.waitingJobFor(v.id)).toBeUndefined();
  });

  test('hard refusals still fail at once, with their reasons, while the vehicle warms up', async () => {
    booting();
    v.params = { FS_GCS_ENABLE: 0 };
    v.update({ battery: { voltageV: 21.6, currentA: 0, remainingPct: 20, consumedMah: 0 } });
    const c = await mgr.create({ drop: [114.3935, 34.0515] }, null);
    if (!c.ok) throw new Error(c.message);
    const r = await mgr.dispatch(c.value.id, v.id, null);
    expect(r).toMatchObject({ ok: false, code: 'PREFLIGHT_FAILED' });
    if (r.ok) return;
    expect((r.details as any).failed).toEqual(expect.arrayContaining(['fs_gcs_enable', 'battery', 'ekf']));
    expect(r.message).toMatch(/fs_gcs_enable \(FS_GCS_ENABLE = 0/);
    const d = (await mgr.get(c.value.id))!;
    expect(d.state).toBe('planned');
    expect(d.waiting).toBeUndefined();
    expect(d.timeline.at(-1)).toMatchObject({ event: 'preflight-refused' });
    expect(mgr.waitingJobFor(v.id)).toBeUndefined();
  });

  test('not ready within the policy\'s readyWaitMs: refused with what is missing, the job dispatchable again; readyWaitMs 0 refuses at once', async () => {
    await store.saveZones({ policy: { ...DEFAULT_POLICY, climbTimeoutMs: 400, readyWaitMs: 300 }, by: 'test', change: 'short wait' });
    booting();
    v.update({ gps: { fixType: 3, satellites: 12, hdop: 0.7 }, home: HOME, sensorsHealth: 1 << 28 });
    const c = await mgr.create({ drop: [114.3935, 34.0515] }, null);
    if (!c.ok) throw new Error(c.message);
    const r = await mgr.dispatch(c.value.id, v.id, null);
    expect(r.ok && r.value.waiting?.message).toBe('waiting for vehicle: ekf');
    const d = await waitFor(async () => ((await mgr.get(c.value.id))!.waiting ? null : await mgr.get(c.value.id)), 5000, 'the wait to end');
    expect(d!.state).toBe('planned');
    expect(d!.timeline.at(-1)).toMatchObject({ event: 'preflight-refused', detail: { vehicleId: v.id, failed: ['ekf'], reason: expect.stringMatching(/^vehicle fake\/1 not ready after \d+ s: ekf \(flags 0xa7, missing 0x318\)/) } });
    expect(alerts.some((a) => /not dispatched: vehicle fake\/1 not ready/.test(a))).toBe(true);
    expect(v.calls).toEqual([]);
    await waitFor(() => mgr.waitingJobFor(v.id) === undefined, 2000, 'vehicle free');

    await store.saveZones({ policy: { ...DEFAULT_POLICY, climbTimeoutMs: 400, readyWaitMs: 0 }, by: 'test', change: 'no wait' });
    expect(await mgr.dispatch(c.value.id, v.id, null)).toMatchObject({ ok: false, code: 'PREFLIGHT_FAILED', details: { failed: ['ekf'] } });
    v.update({ ekfFlags: 0x33f });
    const again = await mgr.dispatch(c.value.id, v.id, null);
    expect(again.ok && again.value.state).toBe('uploading');
    await waitFor(async () => (await mgr.get(c.value.id))!.state === 'in-flight', 10_000, 'in-flight');
  });

  test('aborted while waiting: nothing is sent to the vehicle and it is free for the next job', async () => {
    booting();
    const c = await mgr.create({ drop: [114.3935, 34.0515] }, null);
    if (!c.ok) throw new Error(c.message);
    expect((await mgr.dispatch(c.value.id, v.id, null)).ok).toBe(true);
    const a = await mgr.abort(c.value.id, 'requester cancelled');
    expect(a.ok && a.value.delivery.state).toBe('aborted');
    await waitFor(() => mgr.waitingJobFor(v.id) === undefined, 2000, 'wait ended');
    const d = (await mgr.get(c.value.id))!;
    expect(d.waiting).toBeUndefined();
    expect(d.timeline.at(-1)).toMatchObject({ event: 'waiting-ended', detail: { reason: 'job aborted' } });
    v.update({ gps: { fixType: 3, satellites: 12, hdop: 0.7 }, ekfFlags: 0x33f, home: HOME, sensorsHealth: 1 << 28 });
    await new Promise((r) => setTimeout(r, 100));
    expect(v.calls).toEqual([]);
    const next = await dispatchAndSettle();
    expect(next.state).toBe('in-flight');
  });
});
