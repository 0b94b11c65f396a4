/**
 * The fleet against simulated vehicles over real TCP: the built-in simulator, or ArduPilot SITL
 * when the test support layer is told so (ARDUPILOT_SITL). No test-specific branches.
 */
import { createFleet, Fleet, Vehicle, VehicleState } from '../../src/fleet';
import { MissionItem, MissionType, Frame as MavFrame, Cmd } from '../../src/mavlink/mission-item';
import { until } from './wait';
import { startTestVehicles, gcsHeartbeatHzFor } from '../support/vehicles';

let sims: Awaited<ReturnType<typeof startTestVehicles>>;
let fleet: Fleet;
let v1: Vehicle;
let v2: Vehicle;

/** Ready to fly as ArduCopter reports it: home, 3D fix, EKF flags 0x33f, pre-arm health bit 28. */
const ready = (s: VehicleState) =>
  s.home !== null && (s.gps?.fixType ?? 0) >= 3 && s.ekfFlags !== null && (s.ekfFlags & 0x33f) === 0x33f && ((s.sensorsHealth ?? 0) & (1 << 28)) !== 0 && s.position !== null;

beforeAll(async () => {
  sims = await startTestVehicles({ instances: 2, basePort: 0, speedup: 10 });
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(10), lostAfterMs: 2000, rateCheckMs: 1000 });
  for (const [i, inst] of sims.instances.entries()) fleet.addLink(inst.uri, { id: `sim${i}` });
  await until(() => fleet.vehicles().length === 2, 30000, 'two vehicles');
  v1 = fleet.get(`sim0/${sims.instances[0].sysid}`)!;
  v2 = fleet.get(`sim1/${sims.instances[1].sysid}`)!;
  expect(v1).toBeDefined();
  expect(v2).toBeDefined();
  expect(await v1.waitFor(ready, 60000)).toBe(true);
  expect(await v2.waitFor(ready, 60000)).toBe(true);
}, 120000);

afterAll(async () => {
  await fleet?.close();
  await sims?.stop();
});

describe('fleet against simulated vehicles over TCP', () => {
  test('discovers both vehicles and decodes their telemetry into one state each', () => {
    for (const [i, v] of [v1, v2].entries()) {
      const s = v.state;
      expect(s).toMatchObject({ sysid: sims.instances[i].sysid, compid: 1, autopilot: 'ardupilot', vehicleType: 2, connected: true, armed: false });
      expect(s.position!.lat).toBeCloseTo(34.06, 1);
      expect(s.position!.lon).toBeCloseTo(114.39, 1);
      expect(s.gps!.satellites).toBeGreaterThan(5);
      expect(s.battery!.voltageV).toBeGreaterThan(10);
      expect(s.attitude).not.toBeNull();
      expect(s.sensorsHealth).not.toBeNull();
      expect(s.mode).not.toMatch(/UNKNOWN/);
    }
    expect(v1.state.position!.lon).not.toBe(v2.state.position!.lon);
    expect(v1.rateRequests).toBeGreaterThanOrEqual(1);
    const links = fleet.links();
    expect(links.map((l) => l.id)).toEqual(['sim0', 'sim1']);
    expect(links[0].up).toBe(true);
    expect(links[0].stats.framesIn).toBeGreaterThan(10);
    expect(links[0].stats.crcErrors).toBe(0);
  });

  test('fleet emits frame and state events for each vehicle', async () => {
    const seen = new Set<string>();
    const states = new Set<string>();
    const onFrame = (id: string) => seen.add(id);
    const onState = (s: VehicleState) => states.add(s.id);
    fleet.on('frame', onFrame);
    fleet.on('state', onState);
    await until(() => seen.size === 2 && states.size === 2, 10000, 'events');
    fleet.off('frame', onFrame);
    fleet.off('state', onState);
  });

  test('GUIDED, arm, takeoff: each confirmed from telemetry, then LAND and disarm', async () => {
    const m = await v1.setMode('GUIDED');
    expect(m).toMatchObject({ ok: true, result: 'ACCEPTED' });
    expect(await v1.waitFor((s) => s.mode === 'GUIDED', 10000)).toBe(true);
    const a = await v1.arm();
    expect(a.ok).toBe(true);
    expect(await v1.waitFor((s) => s.armed, 10000)).toBe(true);
    const t = await v1.takeoff(10);
    expect(t.ok).toBe(true);
    // As ArduCopter reports it: TAKEOFF (3) while climbing, still at 8 m; IN_AIR (2) once 10 m is reached.
    const seen: Array<[number | null, number]> = [];
    const onState = (s: VehicleState) => {
      if (s.id === v1.id && s.landedState !== seen[seen.length - 1]?.[0]) seen.push([s.landedState, s.position?.altRelM ?? 0]);
    };
    fleet.on('state', onState);
    expect(await v1.waitFor((s) => s.landedState === 2, 30000)).toBe(true);
    fleet.off('state', onState);
    expect(v1.state.position!.altRelM).toBeGreaterThan(9.5);
    const climbing = seen.filter(([ls]) => ls === 3);
    expect(climbing.length).toBeGreaterThan(0);
    expect(seen.find(([ls]) => ls === 2)![1]).toBeGreaterThan(9.5);
    expect((await v1.land()).ok).toBe(true);
    expect(await v1.waitFor((s) => s.mode === 'LAND', 10000)).toBe(true);
    expect(await v1.waitFor((s) => !s.armed && (s.position?.altRelM ?? 99) < 1, 60000)).toBe(true);
    expect((await v1.setMode('NO_SUCH_MODE')).result).toBe('UNKNOWN_MODE');
  }, 120000);

  test('mission, fence and rally upload with verified download', async () => {
    const home = v2.state.home!;
    const lat = Math.round(home.lat * 1e7);
    const lon = Math.round(home.lon * 1e7);
    const item = (seq: number, command: number, frame: number, x: number, y: number, z: number, p: Partial<MissionItem> = {}): MissionItem => ({ seq, command, frame, x, y, z, param1: 0, param2: 0, param3: 0, param4: 0, ...p });
    const mission: MissionItem[] = [item(0, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL, lat, lon, 0), item(1, Cmd.NAV_TAKEOFF, MavFrame.GLOBAL_RELATIVE_ALT_INT, 0, 0, 20)];
    for (let i = 2; i < 30; i++) mission.push(item(i, Cmd.NAV_WAYPOINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + i * 900, lon + (i % 5) * 700, 25 + (i % 3)));
    mission.push(item(30, Cmd.DO_GRIPPER, MavFrame.GLOBAL_RELATIVE_ALT, 0, 0, 0, { param1: 1, param2: 0 }));
    mission.push(item(31, Cmd.NAV_LOITER_TIME, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + 30000, lon, 15, { param1: 3 }));
    mission.push(item(32, Cmd.NAV_LAND, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat, lon, 0));
    const progress: number[] = [];
    const up = await v2.uploadItems(MissionType.MISSION, mission, { onProgress: (p) => p.direction === 'upload' && progress.push(p.done) });
    expect(up).toMatchObject({ ok: true, items: 33 });
    expect(progress[progress.length - 1]).toBe(33);
    expect(v2.state.mission.total).toBe(33);

    const d = 4000; // ~40 m square around home
    const fence = [
      [lat - d, lon - d],
      [lat - d, lon + 40000],
      [lat + 40000, lon + 40000],
      [lat + 40000, lon - d],
    ].map(([x, y], i) => item(i, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, MavFrame.GLOBAL_INT, x, y, 0, { param1: 4, missionType: 1 }));
    expect(await v2.uploadItems(MissionType.FENCE, fence)).toMatchObject({ ok: true, items: 4 });
    const rally = [item(0, Cmd.NAV_RALLY_POINT, MavFrame.GLOBAL_RELATIVE_ALT_INT, lat + 1000, lon + 1000, 30, { missionType: 2 })];
    expect(await v2.uploadItems(MissionType.RALLY, rally)).toMatchObject({ ok: true, items: 1 });

    const back = await v2.downloadItems(MissionType.FENCE);
    expect(back.ok).toBe(true);
    if (back.ok) expect(back.items.map((i) => [i.command, i.x, i.y, i.param1])).toEqual(fence.map((i) => [i.command, i.x, i.y, 4]));
    const m = await v2.downloadItems(MissionType.MISSION);
    expect(m.ok).toBe(true);
    if (m.ok) expect(m.items[5]).toMatchObject({ command: Cmd.NAV_WAYPOINT, x: mission[5].x, y: mission[5].y });

    // An unsupported frame is refused with a typed outcome; clear empties the list.
    const bad = await v2.uploadItems(MissionType.MISSION, [mission[0], item(1, Cmd.NAV_WAYPOINT, MavFrame.LOCAL_ENU, 0, 0, 10)]);
    expect(bad).toMatchObject({ ok: false, code: 'UNSUPPORTED_FRAME' });
    expect((await v2.clearItems(MissionType.RALLY)).ok).toBe(true);
    const empty = await v2.downloadItems(MissionType.RALLY);
    expect(empty).toMatchObject({ ok: true, items: [] });
  }, 120000);

  test('lossy link (20% of frames dropped each way): mission still uploads and verifies identical', async () => {
    const inst = sims.instances[1];
    const home = v2.state.home!;
    const lat = Math.round(home.lat * 1e7);
    const lon = Math.round(home.lon * 1e7);
    const items: MissionItem[] = [{ seq: 0, command: Cmd.NAV_WAYPOINT, frame: MavFrame.GLOBAL, x: lat, y: lon, z: 0, param1: 0, param2: 0, param3: 0, param4: 0 }];
    for (let i = 1; i < 15; i++) items.push({ seq: i, command: Cmd.NAV_WAYPOINT, frame: MavFrame.GLOBAL_RELATIVE_ALT_INT, x: lat + i * 500, y: lon - i * 300, z: 20 + i, param1: 0, param2: 0, param3: 0, param4: 0 });
    inst.inject({ kind: 'packet-loss', pct: 20 });
    try {
      const before = v2.missions.totalRetries;
      const r = await v2.uploadItems(MissionType.MISSION, items);
      expect(r).toMatchObject({ ok: true, items: 15 });
      expect(v2.missions.totalRetries).toBeGreaterThan(before);
    } finally {
      inst.clearFault('packet-loss');
    }
    const back = await v2.downloadItems(MissionType.MISSION);
    expect(back.ok).toBe(true);
    if (back.ok) expect(back.items.slice(1).map((i) => [i.x, i.y, i.z])).toEqual(items.slice(1).map((i) => [i.x, i.y, i.z]));
  }, 120000);

  test('gripper grab and release are ACCEPTED and seen on SERVO9 in SERVO_OUTPUT_RAW', async () => {
    expect((await v2.gripper('grab')).ok).toBe(true);
    expect(await v2.waitFor((s) => s.servos[8] === 1900, 10000)).toBe(true);
    expect((await v2.gripper('release')).ok).toBe(true);
    expect(await v2.waitFor((s) => s.servos[8] === 1100, 10000)).toBe(true);
  }, 30000);

  test('parameters: fetch all, set and confirm, unknown name times out naming it', async () => {
    const all = await v2.fetchParams();
    expect(all.ok).toBe(true);
    if (!all.ok) return;
    expect(Object.keys(all.params).length).toBeGreaterThan(20);
    expect(all.params.FENCE_RADIUS).toBeDefined();
    const set = await v2.setParam('FENCE_RADIUS', 700);
    expect(set).toEqual({ ok: true, value: 700 });
    expect(await v2.getParam('FENCE_RADIUS')).toEqual({ ok: true, value: 700 });
    expect(sims.instances[1].getParam('FENCE_RADIUS')).toBe(700);
    const unknown = await v2.getParam('SYSID_NOPE');
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) {
      expect(['UNKNOWN_PARAM', 'TIMEOUT']).toContain(unknown.code);
      expect(unknown.message).toContain('SYSID_NOPE');
    }
  }, 60000);

  test('link loss: lost, commands fail fast, then found again with rates re-requested', async () => {
    const inst = sims.instances[1];
    const before = v2.rateRequests;
    const events: string[] = [];
    const onLost = (id: string) => events.push(`lost:${id}`);
    const onFound = (id: string) => events.push(`found:${id}`);
    fleet.on('lost', onLost);
    fleet.on('found', onFound);
    inst.inject({ kind: 'link-loss' });
    await until(() => !v2.state.connected, 20000, 'lost');
    const r = await v2.arm();
    expect(r).toMatchObject({ ok: false, result: 'NOT_CONNECTED', attempts: 0 });
    expect(await v2.downloadItems(MissionType.MISSION)).toMatchObject({ ok: false, code: 'NOT_CONNECTED' });
    inst.clearFault('link-loss');
    await until(() => v2.state.connected, 20000, 'found');
    await until(() => v2.rateRequests > before, 20000, 'rates re-requested');
    const t0 = v2.state.lastSeenMs;
    expect(await v2.waitFor((s) => s.lastSeenMs > t0 && s.position !== null, 10000)).toBe(true);
    expect(events).toEqual([`lost:${v2.id}`, `found:${v2.id}`]);
    expect(v1.state.connected).toBe(true);
    fleet.off('lost', onLost);
    fleet.off('found', onFound);
  }, 60000);

  test('reboot drops the TCP link: the link reconnects by itself and the streams come back', async () => {
    const inst = sims.instances[0];
    const link = () => fleet.links().find((l) => l.id === 'sim0')!;
    const reconnects = link().stats.reconnects;
    const before = v1.rateRequests;
    await inst.reboot();
    await until(() => link().stats.reconnects > reconnects, 30000, 'tcp reconnect');
    await until(() => v1.state.connected && v1.rateRequests > before, 30000, 'found with rates');
    const t0 = Date.now();
    // GLOBAL_POSITION_INT flows again (it is streamed only when requested).
    let fresh = false;
    const onFrame = (f: { name: string }) => {
      if (f.name === 'GLOBAL_POSITION_INT') fresh = true;
    };
    v1.on('frame', onFrame);
    await until(() => fresh, 30000, 'position stream');
    v1.off('frame', onFrame);
    expect(Date.now() - t0).toBeLessThan(30000);
  }, 90000);
});
