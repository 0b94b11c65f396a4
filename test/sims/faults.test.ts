import { startSimulators, SimFleet, BuiltinInstance, SimError } from '../../sims';
import { TestGcs, item, until } from './gcs-client';
import { msg, common } from '../../src/mavlink/registry';
import { Cmd } from '../../src/mavlink/mission-item';
import { distanceM, LocalFrame } from '../../sims/geo';
import type { Frame } from '../../src/mavlink/codec';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 60 };
const GUIDED = 4;
const RTL = 6;
const LAND = 9;

async function setParam(g: TestGcs, name: string, value: number): Promise<void> {
  const r = g.next('PARAM_VALUE', (d) => d.paramId === name, 5000);
  g.send(msg(common.ParamSet, { targetSystem: 1, targetComponent: 1, paramId: name, paramValue: value, paramType: 9 }));
  await r;
}
async function waitReady(g: TestGcs): Promise<void> {
  await g.waitReady(30000);
}
async function takeoff(g: TestGcs, altM: number): Promise<void> {
  expect(await g.command(176, [1, GUIDED])).toBe(0);
  expect(await g.command(400, [1])).toBe(0);
  expect(await g.command(22, [0, 0, 0, 0, 0, 0, altM])).toBe(0);
  await g.setRate(33, 10);
  await g.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > (altM - 0.5) * 1000, 30000);
}

describe('simulator options and fault control', () => {
  test('bad options and faults are typed errors with stable codes', async () => {
    await expect(startSimulators({ instances: 0 })).rejects.toMatchObject({ code: 'SIM_INVALID_OPTION' });
    await expect(startSimulators({ speedup: -1 })).rejects.toBeInstanceOf(SimError);
    await expect(startSimulators({ udpOut: 'nonsense' })).rejects.toMatchObject({ code: 'SIM_INVALID_OPTION' });
    const fleet = await startSimulators({ basePort: 0 });
    try {
      const port = fleet.instances[0].tcpPort;
      await expect(startSimulators({ basePort: port })).rejects.toMatchObject({ code: 'SIM_PORT_IN_USE' });
      expect(() => fleet.instances[0].inject({ kind: 'packet-loss', pct: 150 })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
      expect(() => fleet.instances[0].inject({ kind: 'bogus' } as never)).toThrow(expect.objectContaining({ code: 'SIM_UNKNOWN_FAULT' }));
      expect(() => fleet.instances[0].setParam('NOPE', 1)).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
    } finally {
      await fleet.stop();
    }
  });
});

describe('simulator: boot, faults and failsafes', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let inst: BuiltinInstance;
  let gcs: TestGcs;

  beforeAll(async () => {
    fleet = await startSimulators({ basePort: 0, speedup: 20, homes: [HOME] });
    inst = fleet.instances[0];
    gcs = await TestGcs.connect(inst.tcpPort, { heartbeatHz: 20 });
  });
  afterAll(async () => {
    await gcs.close();
    await fleet.stop();
  });

  test('boot as on ArduCopter SITL: no PREARM bit and arming refused at first; EKF 0x400 → 0xa7 → 0x33f; fix, home and the PREARM bit come before the EKF uses GPS, at 41 sim-seconds', async () => {
    await gcs.setRate(1, 5);
    await gcs.setRate(193, 5);
    await gcs.setRate(24, 5);
    await gcs.setRate(242, 1);
    const ss = (await gcs.next('SYS_STATUS')).data as common.SysStatus;
    expect(ss.onboardControlSensorsHealth & 0x10000000).toBe(0);
    expect(inst.vehicle.tS).toBeLessThan(20);
    expect(await gcs.command(400, [1])).toBe(4);
    await gcs.waitText(/^PreArm: /);
    // Milestones in vehicle time: the first EKF flags, 0xa7, 3D fix, home, pre-arm bit, 0x33f.
    const seen: Record<string, number> = {};
    const mark = (k: string) => (seen[k] ??= inst.vehicle.tS);
    const off = gcs.on((f) => {
      const d = f.data as any;
      if (f.name === 'EKF_STATUS_REPORT') mark(`ekf 0x${d.flags.toString(16)}`);
      if (f.name === 'GPS_RAW_INT' && d.fixType >= 3) mark('fix');
      if (f.name === 'HOME_POSITION') mark('home');
      if (f.name === 'SYS_STATUS' && d.onboardControlSensorsHealth & 0x10000000) mark('prearm');
    });
    await waitReady(gcs);
    off();
    expect(Object.keys(seen)).toEqual(expect.arrayContaining(['ekf 0xa7', 'fix', 'home', 'prearm', 'ekf 0x33f']));
    expect(seen['ekf 0xa7']).toBeLessThan(seen.fix);
    expect(seen.fix).toBeLessThan(seen.home);
    expect(seen.home).toBeLessThan(seen.prearm);
    expect(seen.prearm).toBeLessThan(seen['ekf 0x33f']);
    expect(seen['ekf 0x33f']).toBeGreaterThanOrEqual(41);
    expect(seen['ekf 0x33f']).toBeLessThan(43);
    expect(gcs.texts).toEqual(expect.arrayContaining(['ArduPilot Ready', 'EKF3 IMU0 origin set', 'EKF3 IMU0 is using GPS']));
  });

  test('a mode set during initialisation is accepted and then overwritten when it finishes (2.5 s after boot)', async () => {
    const slow = await startSimulators({ basePort: 0, speedup: 1, homes: [HOME] });
    const g = await TestGcs.connect(slow.instances[0].tcpPort, { heartbeatHz: 2 });
    try {
      expect(await g.command(176, [1, GUIDED])).toBe(0);
      await g.next('HEARTBEAT', (d) => d.customMode === GUIDED, 3000);
      expect(slow.instances[0].vehicle.tS).toBeLessThan(2.5);
      await g.next('HEARTBEAT', (d) => d.customMode === 0, 5000);
      expect(slow.instances[0].vehicle.tS).toBeGreaterThanOrEqual(2.5);
      await g.waitText(/ArduPilot Ready/);
    } finally {
      await g.close();
      await slow.stop();
    }
  });

  test('exclusion polygon crossed at 10 m/s: "Polygon fence breached" at the edge, RTL, overshoot while braking', async () => {
    const f = new LocalFrame(HOME);
    const ll = (n: number, e: number) => f.toLatLon({ n, e });
    // A 60 m × 200 m exclusion box from 150 m to 210 m north.
    const box = [ll(150, -100), ll(150, 100), ll(210, 100), ll(210, -100)];
    const fence = box.map((p, i) => item(i, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, p.lat, p.lon, 0, { param1: 4, frame: 5 }));
    expect((await gcs.upload(fence, 1)).ack).toBe(0);
    await setParam(gcs, 'FENCE_ENABLE', 1);
    await setParam(gcs, 'FENCE_TYPE', 5);
    const target = ll(400, 0);
    const mission = [item(0, 16), item(1, Cmd.NAV_TAKEOFF, 0, 0, 10), item(2, Cmd.NAV_WAYPOINT, target.lat, target.lon, 10), item(3, Cmd.NAV_LAND)];
    expect((await gcs.upload(mission)).ack).toBe(0); // uploads are not checked against the fence
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    expect(await gcs.command(300, [0, 0])).toBe(0);
    let maxNorth = 0;
    let breachNorth = -1;
    let lastNorth = 0;
    await gcs.setRate(33, 50);
    const off = gcs.on((fr) => {
      if (fr.name === 'GLOBAL_POSITION_INT') {
        const d = fr.data as common.GlobalPositionInt;
        lastNorth = f.toNe({ lat: d.lat / 1e7, lon: d.lon / 1e7 }).n;
      }
      if (fr.name === 'STATUSTEXT' && /Polygon fence breached/.test((fr.data as common.StatusText).text)) breachNorth = lastNorth;
    });
    const poll = setInterval(() => (maxNorth = Math.max(maxNorth, f.toNe(inst.truth()).n)), 5);
    await gcs.waitText(/Polygon fence breached/, 30000);
    await gcs.next('HEARTBEAT', (d) => d.customMode === RTL, 5000);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    clearInterval(poll);
    off();
    expect(breachNorth).toBeGreaterThan(149);
    expect(breachNorth).toBeLessThan(153);
    const insideM = maxNorth - 150;
    expect(insideM).toBeGreaterThan(8);
    expect(insideM).toBeLessThan(40);
    expect(distanceM(inst.truth(), HOME)).toBeLessThan(3);
    // GUIDED targets are checked against the fence: a reposition into the box is FAILED.
    await takeoff(gcs, 10);
    const inBox = ll(180, 0);
    gcs.send(msg(common.CommandInt, { targetSystem: 1, targetComponent: 1, command: Cmd.DO_REPOSITION, frame: 6, param1: -1, param2: 1, x: Math.round(inBox.lat * 1e7), y: Math.round(inBox.lon * 1e7), z: 10 }));
    const ack = (await gcs.next('COMMAND_ACK', (d) => d.command === Cmd.DO_REPOSITION)).data as common.CommandAck;
    expect(ack.result).toBe(4);
    await setParam(gcs, 'FENCE_ENABLE', 0);
    expect(await gcs.command(Cmd.NAV_LAND)).toBe(0);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
  });

  test('wind with gusts: position hold stays close; GPS loss → EKF failsafe → LAND drifting downwind', async () => {
    inst.inject({ kind: 'wind', speedMps: 8, fromDeg: 0, gustMps: 2 });
    await takeoff(gcs, 15);
    const f = new LocalFrame(HOME);
    const start = f.toNe(inst.truth());
    let maxErr = 0;
    const t0 = inst.vehicle.tS;
    await until(() => {
      const p = f.toNe(inst.truth());
      maxErr = Math.max(maxErr, Math.hypot(p.n - start.n, p.e - start.e));
      return inst.vehicle.tS - t0 > 20;
    }, 20000, '20 s hold');
    expect(maxErr).toBeLessThan(5);
    expect(maxErr).toBeGreaterThan(0.01); // gusts do move it
    inst.inject({ kind: 'gps-loss' });
    await gcs.waitText(/EKF Failsafe/, 10000);
    await gcs.next('HEARTBEAT', (d) => d.customMode === LAND, 5000);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    const end = f.toNe(inst.truth());
    // Wind from the north: drifted south.
    expect(start.n - end.n).toBeGreaterThan(10);
    inst.clearFault('gps-loss');
    inst.clearFault('wind');
  });

  test('battery: low failsafe by remaining capacity → RTL; release failure keeps the parcel', async () => {
    await until(() => inst.vehicle.isReady() && !inst.vehicle['ekfFs'], 20000, 'EKF good again');
    await setParam(gcs, 'BATT_LOW_MAH', 1000);
    await setParam(gcs, 'BATT_FS_LOW_ACT', 2);
    await takeoff(gcs, 10);
    inst.inject({ kind: 'battery-set', pct: 25 });
    await gcs.waitText(/Battery 1 is low/, 10000);
    await gcs.next('HEARTBEAT', (d) => d.customMode === RTL, 5000);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    expect(inst.truth().batteryPct).toBeLessThan(25);
    inst.inject({ kind: 'battery-set', pct: 100 });
    await setParam(gcs, 'BATT_LOW_MAH', 0);
    // Sag lowers the voltage the vehicle reports.
    await gcs.setRate(147, 10);
    const v0 = ((await gcs.next('BATTERY_STATUS')).data as common.BatteryStatus).voltages[0];
    inst.inject({ kind: 'battery-sag', pct: 10 });
    const v1 = ((await gcs.next('BATTERY_STATUS', (d) => d.voltages[0] < v0 * 0.95)).data as common.BatteryStatus).voltages[0];
    expect(v1).toBeLessThan(v0);
    inst.clearFault('battery-sag');
    // Releasing with a stuck mechanism: the servo moves, the parcel stays.
    inst.inject({ kind: 'release-failure' });
    expect(await gcs.command(183, [9, 1100])).toBe(0);
    expect(inst.truth().payloadAttached).toBe(true);
    inst.clearFault('release-failure');
  });

  test('link faults: packet loss (upload still completes by re-requests), link loss and recovery', async () => {
    inst.inject({ kind: 'packet-loss', pct: 25 });
    const mission = [item(0, 16), item(1, Cmd.NAV_TAKEOFF, 0, 0, 10), ...Array.from({ length: 20 }, (_, i) => item(i + 2, Cmd.NAV_WAYPOINT, 34.06 + i * 1e-4, 114.39, 10 + i))];
    // Ends with ACK 0, or -1 when the final MISSION_ACK was the frame lost: verify by download.
    // At speedup 20 a short stall of this process is seconds of sim time, and the vehicle cancels an
    // upload after 8 s of sim-time silence (ACK 15, as ArduPilot does): a ground station starts again.
    // Its cancelling ACK may itself be lost, so a silent upload is abandoned after 8 s and started again.
    let up: { ack: number } = { ack: 15 };
    for (let attempt = 0; attempt < 5 && up.ack !== 0 && up.ack !== -1; attempt++) {
      up = await gcs.upload(mission, 0, 1, 8000, 500).catch(() => ({ ack: -2 }));
    }
    expect([0, -1]).toContain(up.ack);
    const back = await gcs.download(0, 1, 250);
    expect(back).toHaveLength(mission.length);
    for (let i = 1; i < mission.length; i++) {
      expect(back[i].command).toBe(mission[i].command);
      expect(back[i].x).toBe(mission[i].x);
      expect(back[i].z).toBeCloseTo(mission[i].z, 2);
    }
    const link = [...inst.vehicle.links][0];
    expect(link.stats.droppedIn + link.stats.droppedOut).toBeGreaterThan(0);
    inst.clearFault('packet-loss');

    inst.inject({ kind: 'link-loss' });
    await new Promise((r) => setTimeout(r, 100));
    const n0 = gcs.frames.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(gcs.frames.length).toBe(n0);
    inst.clearFault('link-loss');
    await gcs.next('HEARTBEAT', () => true, 5000);
  });
});

describe('simulator: PX4 personality', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let gcs: TestGcs;
  beforeAll(async () => {
    fleet = await startSimulators({ basePort: 0, speedup: 20, homes: [HOME], personality: 'px4', bootDelayS: 2 });
    gcs = await TestGcs.connect(fleet.instances[0].tcpPort, { heartbeatHz: 20 });
  });
  afterAll(async () => {
    await gcs.close();
    await fleet.stop();
  });

  test('PX4 identity, custom_mode encoding, MISSION_REQUEST_INT uploads without a home item, flies AUTO.MISSION', async () => {
    const hb = (await gcs.next('HEARTBEAT')).data as any;
    expect(hb.autopilot).toBe(12);
    await waitReady(gcs);
    const mission = [item(0, Cmd.NAV_TAKEOFF, 34.06, 114.39, 10), item(1, Cmd.NAV_WAYPOINT, 34.0605, 114.3905, 10), item(2, Cmd.NAV_LAND, 34.0605, 114.3905, 0)];
    const up = await gcs.upload(mission);
    expect(up.ack).toBe(0);
    expect(new Set(up.requests)).toEqual(new Set(['MISSION_REQUEST_INT']));
    const back = await gcs.download();
    expect(back).toHaveLength(3);
    expect(back[0].command).toBe(Cmd.NAV_TAKEOFF);
    // AUTO.MISSION: main 4, sub 4.
    expect(await gcs.command(176, [1, 4, 4])).toBe(0);
    const m = (await gcs.next('HEARTBEAT', (d) => d.customMode === ((4 << 16) | (4 << 24)) >>> 0)).data as any;
    expect((m.customMode >>> 16) & 0xff).toBe(4);
    expect(fleet.instances[0].truth().mode).toBe('AUTO.MISSION');
    expect(await gcs.command(400, [1])).toBe(0);
    await gcs.setRate(33, 10);
    await gcs.next('GLOBAL_POSITION_INT', (d) => d.relativeAlt > 8000, 20000);
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    const t = fleet.instances[0].truth();
    expect(distanceM(t, { lat: 34.0605, lon: 114.3905 })).toBeLessThan(2);
    // Bytewise INT32 parameter encoding.
    const r = gcs.next('PARAM_VALUE', (d) => d.paramId === 'NAV_DLL_ACT');
    gcs.send(msg(common.ParamRequestRead, { targetSystem: 1, targetComponent: 1, paramId: 'NAV_DLL_ACT', paramIndex: -1 }));
    const pv = (await r).data as common.ParamValue;
    expect(pv.paramType).toBe(6);
  });
});

describe('simulated ADS-B traffic (fault adsb-traffic)', () => {
  test('relayed as ADSB_VEHICLE once a second of sim time, only to a ground station that asked for message 246, flying straight; bad values are typed errors; cleared, no longer heard', async () => {
    const fleet = await startSimulators({ basePort: 0, speedup: 10, homes: [HOME] });
    const g = await TestGcs.connect(fleet.instances[0].tcpPort, { heartbeatHz: 10 });
    try {
      const inst = fleet.instances[0];
      await waitReady(g);
      expect(() => inst.inject({ kind: 'adsb-traffic', speedMps: -1 })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
      expect(() => inst.inject({ kind: 'adsb-traffic', speedMps: 40, callsign: 'TOOLONGCALL' })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
      expect(() => inst.inject({ kind: 'adsb-traffic', speedMps: 40, from: [114.39, 34.07] })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
      // east at 50 m/s from 1 km north of home, 400 m AMSL
      inst.inject({ kind: 'adsb-traffic', callsign: 'HELI01', icao: 0x7c4a11, from: [HOME.lon, HOME.lat + 0.009], headingDeg: 90, speedMps: 50, altAmslM: 400 });
      expect(inst.activeFaults().filter((f) => f.kind === 'adsb-traffic')).toHaveLength(1);
      expect(await g.maybe('ADSB_VEHICLE', () => true, 1500)).toBeNull();
      await g.setRate(246, 10);
      const reports: Frame[] = [];
      const off = g.on((f) => f.name === 'ADSB_VEHICLE' && reports.push(f));
      await until(() => reports.length >= 4, 20000, 'four ADSB_VEHICLE reports');
      off();
      const d = reports.map((f) => f.data as any);
      expect(d[0]).toMatchObject({ ICAOAddress: 0x7c4a11, callsign: 'HELI01', altitudeType: 0, altitude: 400_000, heading: 9000, horVelocity: 5000, emitterType: 7 });
      // once a second of sim time: 50 m apart, eastwards, on one parallel
      const fr = new LocalFrame({ lat: HOME.lat, lon: HOME.lon });
      const p = d.map((x) => fr.toNe({ lat: x.lat / 1e7, lon: x.lon / 1e7 }));
      for (let i = 1; i < p.length; i++) {
        expect(p[i].e - p[i - 1].e).toBeCloseTo(50, 0);
        expect(Math.abs(p[i].n - p[0].n)).toBeLessThan(0.5);
      }
      expect(p[0].n).toBeCloseTo(1000, -1);
      inst.clearFault('adsb-traffic');
      await new Promise((r) => setTimeout(r, 300));
      expect(await g.maybe('ADSB_VEHICLE', () => true, 1500)).toBeNull();
    } finally {
      await g.close();
      await fleet.stop();
    }
  });
});
