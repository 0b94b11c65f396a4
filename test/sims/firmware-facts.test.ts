/**
 * What ArduCopter 4.7 SITL did when flown here (DESIGN.md §2), one test per fact, run against the
 * built-in simulator by default and against ArduPilot SITL when ARDUPILOT_SITL names the binary: the
 * same test bodies, no branches. Where they disagree, the simulator is wrong.
 */
import { startTestVehicles } from '../support/vehicles';
import type { SimFleet } from '../../sims';
import { Cmd, Frame, type MissionItem } from '../../src/mavlink/mission-item';
import { TestGcs } from './gcs-client';
import { msg, common } from '../../src/mavlink/registry';

jest.setTimeout(120_000);

const GUIDED = 4;
const RTL = 6;
const BRAKE = 17;
const LOITER = 5;
const LAND = 9;
const ACK = { ACCEPTED: 0, ERROR: 1, NO_SPACE: 4 };

async function setParam(g: TestGcs, name: string, value: number): Promise<void> {
  const r = g.next('PARAM_VALUE', (d) => d.paramId === name, 10_000);
  g.send(msg(common.ParamSet, { targetSystem: 1, targetComponent: 1, paramId: name, paramValue: value, paramType: 9 }));
  expect(((await r).data as common.ParamValue).paramValue).toBeCloseTo(value, 3);
}

/** Arm; a refusal fails with the vehicle's last words (its pre-arm reasons). */
async function armed(g: TestGcs): Promise<void> {
  const result = await g.command(400, [1]);
  expect({ result, texts: result === 0 ? [] : g.texts.slice(-6) }).toEqual({ result: 0, texts: [] });
}

/** A STATUSTEXT matching `re`, as text. */
const statusText = (g: TestGcs, re: RegExp) => g.next('STATUSTEXT', (d) => re.test(d.text), 30_000).then((f) => (f.data as common.StatusText).text);

/** Down and disarmed, then the GCS failsafe on (FS_GCS_TIMEOUT 2 s, FS_OPTIONS `options`), GUIDED, armed and climbing to `altM`, seen above `seenM`. */
async function airborneWithGcsFailsafe(g: TestGcs, options: number, altM: number, seenM: number): Promise<void> {
  await g.next('EXTENDED_SYS_STATE', (d) => d.landedState === 1, 90_000);
  await g.next('HEARTBEAT', (d, f) => f.compid === 1 && (d.baseMode & 128) === 0, 90_000);
  await setParam(g, 'FS_GCS_ENABLE', 1);
  await setParam(g, 'FS_GCS_TIMEOUT', 2);
  await setParam(g, 'FS_OPTIONS', options);
  await g.setRate(33, 10);
  expect(await g.command(176, [1, GUIDED])).toBe(0);
  await g.next('HEARTBEAT', (d, f) => f.compid === 1 && d.customMode === GUIDED);
  await armed(g);
  expect(await g.command(22, [0, 0, 0, 0, 0, 0, altM])).toBe(0);
  await g.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > seenM * 1000, 60_000);
}

/** With FS_OPTIONS `options` the GCS goes silent: "GCS Failsafe" and RTL; it comes back; RTL lands the vehicle at home; the defaults are restored. */
async function gcsLossReturnsHome(g: TestGcs, options: number): Promise<void> {
  await setParam(g, 'FS_OPTIONS', options);
  const failsafe = statusText(g, /^GCS Failsafe/);
  g.stopHeartbeat();
  expect(await failsafe).toBe('GCS Failsafe');
  await g.next('HEARTBEAT', (d, f) => f.compid === 1 && d.customMode === RTL, 30_000);
  const cleared = statusText(g, /^GCS Failsafe Cleared$/);
  g.startHeartbeat(20);
  await cleared;
  await g.next('HEARTBEAT', (d, f) => f.compid === 1 && (d.baseMode & 128) === 0, 120_000);
  await setParam(g, 'FS_GCS_ENABLE', 0);
  await setParam(g, 'FS_OPTIONS', 16);
}

function item(seq: number, command: number, frame: number, x: number, y: number, z: number, param1 = 0, missionType: 0 | 1 | 2 = 0): MissionItem {
  return { seq, command, frame, x, y, z, param1, param2: 0, param3: 0, param4: 0, missionType };
}

/** A regular polygon of n fence vertices (1e7 degrees) around a centre. */
function polygon(n: number, lat: number, lon: number, radiusE7: number, command: number): MissionItem[] {
  return Array.from({ length: n }, (_, k) =>
    item(0, command, Frame.GLOBAL_INT, Math.round(lat + radiusE7 * Math.cos((2 * Math.PI * k) / n)), Math.round(lon + radiusE7 * Math.sin((2 * Math.PI * k) / n)), 0, n, 1),
  );
}
const numbered = (items: MissionItem[]) => items.map((it, i) => ({ ...it, seq: i }));

describe('ArduCopter facts at speedup 10', () => {
  let vehicles: SimFleet;
  let gcs: TestGcs;
  let home: { lat: number; lon: number };

  beforeAll(async () => {
    vehicles = await startTestVehicles({ instances: 1, speedup: 10 });
    gcs = await TestGcs.connect(vehicles.instances[0].tcpPort, { heartbeatHz: 20 });
  });
  afterAll(async () => {
    await gcs?.close();
    await vehicles?.stop();
  });

  test('boot: EKF flags 0xa7 long before 0x33f, which comes tens of sim-seconds after boot; GPS fix and home before it', async () => {
    const seen: Record<string, number> = {};
    const off = gcs.on((f) => {
      const d = f.data as any;
      const at = (k: string) => (seen[k] ??= gcs.bootMs / 1000);
      if (f.name === 'EKF_STATUS_REPORT') at(`ekf 0x${d.flags.toString(16)}`);
      if (f.name === 'GPS_RAW_INT' && d.fixType >= 3) at('fix');
      if (f.name === 'HOME_POSITION') at('home');
    });
    for (const [id, hz] of [[2, 10], [24, 5], [193, 5], [242, 2]]) await gcs.setRate(id, hz);
    await gcs.waitReady(60_000);
    off();
    expect(seen['ekf 0x33f']).toBeGreaterThanOrEqual(30);
    expect(seen['ekf 0xa7']).toBeLessThan(seen['ekf 0x33f'] - 20);
    expect(seen.fix).toBeLessThan(seen['ekf 0x33f']);
    expect(seen.home).toBeLessThan(seen['ekf 0x33f']);
    const h = gcs.last('HOME_POSITION');
    home = { lat: h.latitude, lon: h.longitude };
  });

  test('rally storage: 46 points stored; 47 → NO_SPACE "Only 46 items are supported" at MISSION_COUNT', async () => {
    const rally = (n: number) => Array.from({ length: n }, (_, i) => item(i, Cmd.NAV_RALLY_POINT, Frame.GLOBAL_RELATIVE_ALT_INT, home.lat + (i % 10) * 300, home.lon + Math.floor(i / 10) * 300, 30, 0, 2));
    expect((await gcs.upload(rally(46), 2)).ack).toBe(ACK.ACCEPTED);
    expect((await gcs.download(2)).length).toBe(46);
    const r = await gcs.upload(rally(47), 2);
    expect(r).toMatchObject({ ack: ACK.NO_SPACE, requests: [] });
    await gcs.waitText(/^Only 46 items are supported/);
    expect((await gcs.upload(rally(5), 2)).ack).toBe(ACK.ACCEPTED);
  });

  test('fence storage: 60 + 4 vertices stored; 66 + 4 → ERROR "Fence exceeds storage size" after the last item, the old fence kept; 71 → NO_SPACE', async () => {
    const incl = (n: number) => polygon(n, home.lat, home.lon, 50000, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION);
    const excl = polygon(4, home.lat + 10000, home.lon, 5000, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION);
    expect((await gcs.upload(numbered([...incl(60), ...excl]), 1)).ack).toBe(ACK.ACCEPTED);
    await gcs.waitText(/Fence Indexed OK/);
    expect((await gcs.download(1)).length).toBe(64);

    gcs.texts.length = 0;
    const big = await gcs.upload(numbered([...incl(66), ...excl]), 1);
    expect(big.ack).toBe(ACK.ERROR);
    expect(big.requests.length).toBeGreaterThanOrEqual(70); // refused only after the last item
    await gcs.waitText(/^Fence exceeds storage size/);
    expect((await gcs.download(1)).length).toBe(64);

    gcs.texts.length = 0;
    expect((await gcs.upload(numbered(incl(69)), 1)).ack).toBe(ACK.ACCEPTED);
    expect((await gcs.upload(numbered(incl(70)), 1)).ack).toBe(ACK.ERROR);
    const tooMany = await gcs.upload(numbered(incl(71)), 1);
    expect(tooMany).toMatchObject({ ack: ACK.NO_SPACE, requests: [] });
    await gcs.waitText(/^Only 70 items are supported/);
    expect((await gcs.download(1)).length).toBe(69);
  });

  test('fence storage with eight polygons: each costs storage of its own; 67 items stored, 68 → ERROR', async () => {
    const eight = (n: number) => {
      const per = Array.from({ length: 8 }, (_, j) => Math.floor(n / 8) + (j < n % 8 ? 1 : 0));
      const out = polygon(per[0], home.lat, home.lon, 60000, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION);
      for (let j = 1; j < 8; j++) out.push(...polygon(per[j], home.lat + (j % 4) * 8000 - 12000, home.lon + Math.floor(j / 4) * 8000 - 4000, 2000, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION));
      return numbered(out);
    };
    expect((await gcs.upload(eight(60), 1)).ack).toBe(ACK.ACCEPTED);
    expect((await gcs.upload(eight(67), 1)).ack).toBe(ACK.ACCEPTED);
    gcs.texts.length = 0;
    expect((await gcs.upload(eight(68), 1)).ack).toBe(ACK.ERROR);
    await gcs.waitText(/^Fence exceeds storage size/);
    expect((await gcs.download(1)).length).toBe(67);
  });

  test('landed_state: TAKEOFF (3) while climbing to the takeoff altitude, IN_AIR (2) only once it is reached', async () => {
    await gcs.upload([], 1); // no polygon fence in the way
    await gcs.setRate(245, 10);
    await gcs.setRate(33, 10);
    const changes: Array<{ landed: number; altM: number }> = [];
    const off = gcs.on((f) => {
      if (f.name !== 'EXTENDED_SYS_STATE') return;
      const landed = (f.data as any).landedState;
      if (landed !== changes[changes.length - 1]?.landed) changes.push({ landed, altM: (gcs.last('GLOBAL_POSITION_INT')?.relativeAlt ?? 0) / 1000 });
    });
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    await gcs.next('HEARTBEAT', (d) => d.customMode === GUIDED);
    expect(await gcs.command(400, [1])).toBe(0);
    expect(await gcs.command(22, [0, 0, 0, 0, 0, 0, 30])).toBe(0);
    let at8: number | null = null;
    const off8 = gcs.on((f) => {
      if (f.name === 'GLOBAL_POSITION_INT' && at8 === null && (f.data as any).relativeAlt > 8000) at8 = gcs.last('EXTENDED_SYS_STATE')?.landedState ?? null;
    });
    await gcs.next('EXTENDED_SYS_STATE', (d) => d.landedState === 2, 60_000);
    off();
    off8();
    expect(at8).toBe(3);
    const inAir = changes.find((c) => c.landed === 2)!;
    expect(inAir.altM).toBeGreaterThan(28.5);
    expect(changes.map((c) => c.landed)).toEqual([1, 3, 2].slice(changes[0].landed === 1 ? 0 : 1));
    expect(await gcs.command(176, [1, 9])).toBe(0); // LAND
  });

  test('GCS failsafe: with FS_OPTIONS 16 (the default) a vehicle in BRAKE carries on braking ("GCS Failsafe - Continuing Pilot Control"); with FS_OPTIONS 0 it returns ("GCS Failsafe", RTL)', async () => {
    // Down and disarmed after the previous test's LAND (the autopilot's own heartbeat, on the ground).
    await airborneWithGcsFailsafe(gcs, 16, 15, 12);
    expect(await gcs.command(176, [1, BRAKE])).toBe(0);
    await gcs.next('HEARTBEAT', (d, f) => f.compid === 1 && d.customMode === BRAKE);

    const failsafe = statusText(gcs, /^GCS Failsafe/);
    gcs.stopHeartbeat();
    expect(await failsafe).toBe('GCS Failsafe - Continuing Pilot Control');
    // Still braking, armed, several (sim) seconds later.
    const t0 = gcs.bootMs;
    const later = (await gcs.next('HEARTBEAT', (d, f) => f.compid === 1 && gcs.bootMs - t0 > 4000, 30_000)).data as any;
    expect(later).toMatchObject({ customMode: BRAKE });
    expect(later.baseMode & 128).toBe(128);
    const cleared = statusText(gcs, /^GCS Failsafe Cleared$/);
    gcs.startHeartbeat(20);
    await cleared;
    await gcsLossReturnsHome(gcs, 0);
  });

  test('GCS failsafe while landing: with FS_OPTIONS 8 LAND carries on ("GCS Failsafe - Continuing Landing"); without it LAND turns into RTL ("GCS Failsafe")', async () => {
    // ArduCopter's failsafe_gcs_on_event: a landing continues only with "continue if landing" (8)
    // or a battery failsafe; LAND is an autopilot mode, so "continue in pilot control" (16) does not keep it.
    await gcs.setRate(245, 4);
    await airborneWithGcsFailsafe(gcs, 8 | 16, 40, 37);
    expect(await gcs.command(176, [1, LAND])).toBe(0);
    await gcs.next('HEARTBEAT', (d, f) => f.compid === 1 && d.customMode === LAND);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt < 36_000, 30_000); // descending

    const failsafe = statusText(gcs, /^GCS Failsafe/);
    gcs.stopHeartbeat();
    expect(await failsafe).toBe('GCS Failsafe - Continuing Landing');
    const t0 = gcs.bootMs;
    const later = (await gcs.next('HEARTBEAT', (d, f) => f.compid === 1 && gcs.bootMs - t0 > 3000, 30_000)).data as any;
    expect(later).toMatchObject({ customMode: LAND });
    const cleared = statusText(gcs, /^GCS Failsafe Cleared$/);
    gcs.startHeartbeat(20);
    await cleared;
    const still = (await gcs.next('GLOBAL_POSITION_INT', () => true, 10_000)).data as any;
    expect(still.relativeAlt).toBeGreaterThan(8_000); // still well above the ground for the second half
    // without "continue if landing" (FS_OPTIONS 16 only), the same loss turns the landing into RTL
    await gcsLossReturnsHome(gcs, 16);
  });

  test('LOITER with nobody on the sticks (throttle at rest) descends at the pilot rate, lands and disarms: it is no way to hold', async () => {
    await gcs.next('EXTENDED_SYS_STATE', (d) => d.landedState === 1, 90_000);
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    await gcs.next('HEARTBEAT', (d, f) => f.compid === 1 && d.customMode === GUIDED);
    await armed(gcs);
    expect(await gcs.command(22, [0, 0, 0, 0, 0, 0, 20])).toBe(0);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > 18_000, 60_000);
    expect(await gcs.command(176, [1, LOITER])).toBe(0);
    await gcs.next('HEARTBEAT', (d, f) => f.compid === 1 && d.customMode === LOITER);
    const high = await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt < 15_000, 60_000);
    const low = await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt < 5_000, 60_000);
    // Descending at about PILOT_SPEED_UP (2.5 m/s; PILOT_SPEED_DN 0), not the 1.5 m/s of WPNAV_SPEED_DN nor LAND_SPEED.
    const rate = ((high.data as any).relativeAlt - (low.data as any).relativeAlt) / 1000 / ((gcs.at(low) - gcs.at(high)) / 1000);
    expect(rate).toBeGreaterThan(1.8);
    expect(rate).toBeLessThan(3.2);
    const down = (await gcs.next('HEARTBEAT', (d, f) => f.compid === 1 && (d.baseMode & 128) === 0, 120_000)).data as any;
    expect(down.customMode).toBe(LOITER);
  });
});

describe('ArduCopter facts at speedup 1', () => {
  let vehicles: SimFleet;
  let gcs: TestGcs;

  beforeAll(async () => {
    vehicles = await startTestVehicles({ instances: 1, speedup: 1 });
    gcs = await TestGcs.connect(vehicles.instances[0].tcpPort, { heartbeatHz: 2 });
  });
  afterAll(async () => {
    await gcs?.close();
    await vehicles?.stop();
  });

  test('before initialisation ends a mission upload is NO_SPACE ("Only 0 items are supported"); then one item per about 6 ms, each asked with MISSION_REQUEST (#40)', async () => {
    const sysid = vehicles.instances[0].sysid;
    const vehicleHeartbeat = (d: any, f: { sysid: number }) => f.sysid === sysid && d.type !== 6;
    const first = await gcs.next('HEARTBEAT', vehicleHeartbeat, 5000);
    if ((first.data as any).systemStatus < 3) {
      // Still initialising (BOOT): the mission has no room yet.
      const early = await gcs.upload([item(0, Cmd.NAV_WAYPOINT, Frame.GLOBAL, 0, 0, 0), item(1, Cmd.NAV_WAYPOINT, Frame.GLOBAL_RELATIVE_ALT_INT, 340600000, 1143900000, 30)], 0);
      if (early.ack === ACK.NO_SPACE) await gcs.waitText(/^Only 0 items are supported/);
      else expect(early.ack).toBe(ACK.ACCEPTED); // initialisation ended meanwhile
    }
    await gcs.next('HEARTBEAT', (d, f) => vehicleHeartbeat(d, f) && d.systemStatus >= 3, 15_000); // STANDBY: initialised
    const lat = 340600000;
    const lon = 1143900000;
    const mission = [item(0, Cmd.NAV_WAYPOINT, Frame.GLOBAL, lat, lon, 0), item(1, Cmd.NAV_TAKEOFF, Frame.GLOBAL_RELATIVE_ALT_INT, 0, 0, 20)];
    for (let i = 2; i < 100; i++) mission.push(item(i, Cmd.NAV_WAYPOINT, Frame.GLOBAL_RELATIVE_ALT_INT, lat + i * 100, lon + (i % 7) * 100, 30));
    const t0 = performance.now();
    const r = await gcs.upload(mission, 0);
    const perItemMs = (performance.now() - t0) / 100;
    expect(r.ack).toBe(ACK.ACCEPTED);
    expect(new Set(r.requests)).toEqual(new Set(['MISSION_REQUEST']));
    expect(perItemMs).toBeGreaterThan(4);
    expect(perItemMs).toBeLessThan(20);
  });
});
