import { startSimulators, SimFleet, BuiltinInstance } from '../../sims';
import { TestGcs, item, until } from './gcs-client';
import { msg, common } from '../../src/mavlink/registry';
import { Cmd } from '../../src/mavlink/mission-item';
import { distanceM, offsetLatLon } from '../../sims/geo';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 60 };
const SPEEDUP = 40;
const GUIDED = 4;
const AUTO = 3;
const RTL = 6;

async function setParam(g: TestGcs, name: string, value: number): Promise<void> {
  const r = g.next('PARAM_VALUE', (d) => d.paramId === name, 5000);
  g.send(msg(common.ParamSet, { targetSystem: 1, targetComponent: 1, paramId: name, paramValue: value, paramType: 9 }));
  const v = (await r).data as common.ParamValue;
  expect(v.paramValue).toBeCloseTo(value, 3);
}

async function waitReady(g: TestGcs): Promise<void> {
  await g.waitReady(30000);
}

describe('simulator: flying like ArduCopter 4.7', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let inst: BuiltinInstance;
  let gcs: TestGcs;

  beforeAll(async () => {
    fleet = await startSimulators({ basePort: 0, speedup: SPEEDUP, homes: [HOME], bootDelayS: 10 });
    inst = fleet.instances[0];
    gcs = await TestGcs.connect(inst.tcpPort, { heartbeatHz: 20 });
  });
  afterAll(async () => {
    await gcs.close();
    await fleet.stop();
  });

  test('telemetry streams only after SET_MESSAGE_INTERVAL, at the requested sim-time rate, per link', async () => {
    await new Promise((r) => setTimeout(r, 150));
    const names = new Set(gcs.frames.map((f) => f.name));
    expect(names.has('HEARTBEAT')).toBe(true);
    expect(names.has('GLOBAL_POSITION_INT')).toBe(false);
    const other = await TestGcs.connect(inst.tcpPort, { sysid: 250, heartbeatHz: 0 });
    await gcs.setRate(33, 5);
    const got: number[] = [];
    const off = gcs.on((f) => f.name === 'GLOBAL_POSITION_INT' && got.push((f.data as common.GlobalPositionInt).timeBootMs));
    await until(() => got.length >= 12, 10000, '12 GLOBAL_POSITION_INT');
    off();
    const gaps = got.slice(1).map((t, i) => t - got[i]);
    for (const g of gaps) expect(g).toBe(200);
    expect(other.frames.some((f) => f.name === 'GLOBAL_POSITION_INT')).toBe(false);
    expect(other.frames.some((f) => f.name === 'HEARTBEAT')).toBe(true);
    await other.close();
  });

  test('readiness: during boot no PREARM bit, arming refused; then EKF 0x33f, 3D fix, HOME_POSITION', async () => {
    // bootDelayS 10 at speedup 40: boot ends 0.25 s after start; check what we saw before.
    await gcs.setRate(193, 10);
    await gcs.setRate(24, 5);
    await waitReady(gcs);
    const ekf = await gcs.next('EKF_STATUS_REPORT', (d) => d.flags === 0x33f);
    expect(ekf).toBeTruthy();
    const gps = await gcs.next('GPS_RAW_INT');
    expect((gps.data as common.GpsRawInt).fixType).toBeGreaterThanOrEqual(3);
    const homeF = gcs.next('HOME_POSITION');
    expect(await gcs.command(512, [242])).toBe(0);
    const home = (await homeF).data as common.HomePosition;
    expect(home.latitude).toBe(Math.round(HOME.lat * 1e7));
    expect(home.altitude).toBe(60000);
    const verF = gcs.next('AUTOPILOT_VERSION');
    expect(await gcs.command(512, [148])).toBe(0);
    const ver = (await verF).data as common.AutopilotVersion;
    expect(ver.flightSwVersion >>> 24).toBe(4);
    expect((ver.flightSwVersion >>> 16) & 0xff).toBe(7);
  });

  test('parameters: defaults, changes take effect, unknown names get no reply at all', async () => {
    const read = (name: string, ms = 1500) => {
      const w = gcs.maybe('PARAM_VALUE', (d) => d.paramId === name, ms);
      gcs.send(msg(common.ParamRequestRead, { targetSystem: 1, targetComponent: 1, paramId: name, paramIndex: -1 }));
      return w;
    };
    expect(((await read('FENCE_RADIUS'))!.data as common.ParamValue).paramValue).toBe(150);
    expect(((await read('FS_GCS_ENABLE'))!.data as common.ParamValue).paramValue).toBe(0);
    expect(((await read('MAV_GCS_SYSID'))!.data as common.ParamValue).paramValue).toBe(255);
    expect(await read('SYSID_MYGCS', 1000)).toBeNull();
    const silent = gcs.maybe('PARAM_VALUE', (d) => d.paramId === 'NO_SUCH_PARAM', 1000);
    gcs.send(msg(common.ParamSet, { targetSystem: 1, targetComponent: 1, paramId: 'NO_SUCH_PARAM', paramValue: 1, paramType: 9 }));
    expect(await silent).toBeNull();
    await setParam(gcs, 'WPNAV_SPEED', 1000);
    expect(inst.getParam('WPNAV_SPEED')).toBe(1000);
  });

  test('traps: arming in AUTO fails; MISSION_START disarmed is ACCEPTED and nothing flies; AUTO armed on ground idles and auto-disarms', async () => {
    const mission = [item(0, 16), item(1, Cmd.NAV_TAKEOFF, 0, 0, 10), item(2, Cmd.NAV_WAYPOINT, 34.0605, 114.39, 10), item(3, Cmd.NAV_LAND)];
    expect((await gcs.upload(mission)).ack).toBe(0);
    expect(await gcs.command(300, [0, 0])).toBe(0);
    await gcs.next('HEARTBEAT', (d) => d.customMode === AUTO);
    expect(await gcs.command(400, [1])).toBe(4);
    await gcs.waitText(/Arm: AUTO mode not armable/);
    expect(inst.truth().altRelM).toBe(0);
    expect(inst.truth().armed).toBe(false);
    // GUIDED → arm → AUTO without MISSION_START: accepted, nothing flies, disarms after DISARM_DELAY.
    await gcs.setRate(2, 50);
    await gcs.setRate(0, 50);
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    const armAck = [...gcs.frames].reverse().find((f) => f.name === 'COMMAND_ACK' && (f.data as common.CommandAck).command === 400)!;
    expect(await gcs.command(176, [1, AUTO])).toBe(0);
    const disarmed = await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 10000);
    // DISARM_DELAY (10 s) counts from arming.
    const waited = (gcs.at(disarmed) - gcs.at(armAck)) / 1000;
    expect(waited).toBeGreaterThan(9.5);
    expect(waited).toBeLessThan(10.6);
    await gcs.setRate(0, 1);
    expect(inst.truth().altRelM).toBe(0);
  });

  test('GRIP_* take effect only after a reboot; then a full AUTO delivery releases at the drop point and lands home', async () => {
    await setParam(gcs, 'GRIP_ENABLE', 1);
    await setParam(gcs, 'GRIP_TYPE', 1);
    await setParam(gcs, 'SERVO9_FUNCTION', 28);
    await gcs.setRate(36, 10);
    expect(await gcs.command(211, [1, 0])).toBe(0);
    const s = await gcs.next('SERVO_OUTPUT_RAW');
    expect((s.data as common.ServoOutputRaw).servo9Raw).toBe(0);
    expect(inst.truth().payloadAttached).toBe(true);
    // Reboot: the link drops; reconnect and ask for telemetry again.
    expect(await gcs.command(246, [1])).toBe(0);
    await until(() => gcs.closed, 10000, 'link drop on reboot');
    await gcs.close();
    gcs = await TestGcs.connect(inst.tcpPort, { heartbeatHz: 20 });
    await waitReady(gcs);
    for (const [id, hz] of [[33, 10], [36, 10], [42, 2], [245, 5]]) await gcs.setRate(id, hz);

    const drop = { lat: 34.0618, lon: 114.3911 };
    const mission = [
      item(0, 16),
      item(1, Cmd.NAV_TAKEOFF, 0, 0, 10),
      item(2, Cmd.NAV_WAYPOINT, drop.lat, drop.lon, 10),
      item(3, Cmd.NAV_LOITER_TIME, drop.lat, drop.lon, 10, { param1: 2 }),
      item(4, Cmd.DO_GRIPPER, 0, 0, 0, { param1: 1, param2: 0 }),
      item(5, Cmd.NAV_RETURN_TO_LAUNCH),
    ];
    expect((await gcs.upload(mission)).ack).toBe(0);
    const landed: number[] = [];
    const reached: number[] = [];
    const offL = gcs.on((f) => {
      if (f.name === 'EXTENDED_SYS_STATE') {
        const l = (f.data as common.ExtendedSysState).landedState;
        if (landed[landed.length - 1] !== l) landed.push(l);
      }
      if (f.name === 'MISSION_ITEM_REACHED') reached.push((f.data as common.MissionItemReached).seq);
    });
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    expect(await gcs.command(300, [0, 0])).toBe(0);
    await gcs.next('HEARTBEAT', (d) => d.customMode === AUTO && (d.baseMode & 128) !== 0);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > 5000, 10000);
    await gcs.next('SERVO_OUTPUT_RAW', (d) => d.servo9Raw === 1100, 30000);
    await gcs.waitText(/Gripper load released/);
    const t = inst.truth();
    expect(t.payloadAttached).toBe(false);
    expect(t.releasedAt).not.toBeNull();
    expect(distanceM(t.releasedAt!, drop)).toBeLessThan(1);
    expect(t.releasedAt!.altRelM).toBeGreaterThan(9);
    // RTL home, land, auto-disarm; the mode stays AUTO and MISSION_CURRENT drops back to 1.
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    const hb = gcs.last('HEARTBEAT');
    expect(hb.customMode).toBe(AUTO);
    await gcs.next('MISSION_CURRENT', (d) => d.seq === 1, 5000);
    offL();
    const end = inst.truth();
    expect(distanceM(end, HOME)).toBeLessThan(3);
    expect(end.landed).toBe(true);
    expect(reached).toEqual(expect.arrayContaining([1, 2, 3]));
    expect(landed).toContain(2);
    expect(landed.indexOf(4)).toBeGreaterThan(landed.indexOf(2));
    expect(landed[landed.length - 1]).toBe(1);
  });

  test('GUIDED → arm → NAV_TAKEOFF → AUTO runs the mission; DO_PAUSE_CONTINUE pauses and resumes it', async () => {
    const far = { lat: 34.0612, lon: 114.39 };
    const mission = [item(0, 16), item(1, Cmd.NAV_TAKEOFF, 0, 0, 10), item(2, Cmd.NAV_WAYPOINT, far.lat, far.lon, 10), item(3, Cmd.NAV_LAND)];
    expect((await gcs.upload(mission)).ack).toBe(0);
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    expect(await gcs.command(22, [0, 0, 0, 0, 0, 0, 10])).toBe(0);
    await gcs.setRate(33, 20);
    await gcs.setRate(74, 20);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > 9500, 20000);
    expect(await gcs.command(176, [1, AUTO])).toBe(0);
    await gcs.next('VFR_HUD', (d) => d.groundspeed > 5, 20000);
    expect(await gcs.command(193, [0])).toBe(0);
    await gcs.next('VFR_HUD', (d) => d.groundspeed < 0.2, 20000);
    const paused = inst.truth();
    await new Promise((r) => setTimeout(r, 150));
    expect(distanceM(inst.truth(), paused)).toBeLessThan(1);
    expect(await gcs.command(193, [1])).toBe(0);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    expect(distanceM(inst.truth(), far)).toBeLessThan(2);
  });

  test('GCS failsafe: only heartbeats from MAV_GCS_SYSID count; loss → RTL; return → cleared, stays RTL', async () => {
    await setParam(gcs, 'FS_GCS_ENABLE', 1);
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    expect(await gcs.command(22, [0, 0, 0, 0, 0, 0, 20])).toBe(0);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > 15000, 20000);
    // Stop heartbeats; a different system keeps sending heartbeats and we keep sending commands.
    // At speedup 40 a 20 Hz heartbeat is one every 2 s of sim time: the timeout (5 s) counts from the last one.
    await gcs.setRate(2, 50);
    const t0 = gcs.at(await gcs.next('SYSTEM_TIME')) / 1000;
    gcs.stopHeartbeat();
    const impostor = await TestGcs.connect(inst.tcpPort, { sysid: 200, heartbeatHz: 20 });
    const keepBusy = setInterval(() => gcs.send(msg(common.CommandLong, { targetSystem: 1, targetComponent: 1, command: 512, param1: 1 })), 20);
    let fsText;
    try {
      fsText = await gcs.next('STATUSTEXT', (d) => d.text === 'GCS Failsafe', 10000);
    } finally {
      clearInterval(keepBusy);
      await impostor.close();
    }
    // Within FS_GCS_TIMEOUT of our last heartbeat (which came at most one heartbeat period before t0).
    const dt = gcs.at(fsText) / 1000 - t0;
    expect(dt).toBeGreaterThan(0);
    expect(dt).toBeLessThan(8); // 5 s after the last heartbeat the vehicle processed (one may still be in flight at t0)
    await gcs.next('HEARTBEAT', (d) => d.customMode === RTL);
    gcs.startHeartbeat(20);
    await gcs.waitText(/GCS Failsafe Cleared/);
    await new Promise((r) => setTimeout(r, 200));
    expect(gcs.last('HEARTBEAT').customMode).toBe(RTL);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    // Disarmed and the GCS goes quiet: arming is blocked with "PreArm: GCS failsafe on".
    gcs.stopHeartbeat();
    const t1 = inst.vehicle.tS;
    await until(() => inst.vehicle.tS - t1 > 6, 10000, '6 s sim');
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(4);
    await gcs.waitText(/PreArm: GCS failsafe on/);
    gcs.startHeartbeat(20);
    await gcs.waitText(/GCS Failsafe Cleared/);
    await setParam(gcs, 'FS_GCS_ENABLE', 0);
  });

  test('default circle fence (FENCE_RADIUS 150): a long leg breaches at ~150 m and the vehicle RTLs', async () => {
    await setParam(gcs, 'FENCE_ENABLE', 1);
    // Arming resets home to where the vehicle stands; the leg goes 600 m north of that.
    const here = inst.truth();
    const homeNow = { lat: here.lat, lon: here.lon };
    const far = offsetLatLon(homeNow, 600, 0);
    const mission = [item(0, 16), item(1, Cmd.NAV_TAKEOFF, 0, 0, 10), item(2, Cmd.NAV_WAYPOINT, far.lat, far.lon, 10), item(3, Cmd.NAV_LAND)];
    expect((await gcs.upload(mission)).ack).toBe(0);
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    await gcs.setRate(33, 50);
    let lastPos = { lat: 0, lon: 0 };
    let atBreach = { lat: 0, lon: 0 };
    const off = gcs.on((f) => {
      if (f.name === 'GLOBAL_POSITION_INT') lastPos = { lat: (f.data as common.GlobalPositionInt).lat / 1e7, lon: (f.data as common.GlobalPositionInt).lon / 1e7 };
      if (f.name === 'STATUSTEXT' && /Circle fence breached/.test((f.data as common.StatusText).text)) atBreach = lastPos;
    });
    expect(await gcs.command(300, [0, 0])).toBe(0);
    await gcs.waitText(/Circle fence breached/, 30000);
    off();
    const d = distanceM(atBreach, homeNow);
    expect(d).toBeGreaterThan(149);
    expect(d).toBeLessThan(153);
    await gcs.next('HEARTBEAT', (x) => x.customMode === RTL, 5000);
    await gcs.next('HEARTBEAT', (x) => (x.baseMode & 128) === 0, 60000);
    expect(distanceM(inst.truth(), homeNow)).toBeLessThan(3);
    await setParam(gcs, 'FENCE_ENABLE', 0);
  });
});
