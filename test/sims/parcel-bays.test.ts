/**
 * Parcel bays on the built-in simulator: several parcels, each on its own servo output, released one
 * at a time by DO_SET_SERVO as ArduCopter moves an output (only one whose SERVOn_FUNCTION lets
 * DO_SET_SERVO move it); SERVO_OUTPUT_RAW reports all 16 outputs. The default single parcel on the
 * gripper behaves as before.
 */
import { startSimulators, SimFleet, BuiltinInstance } from '../../sims';
import { SimVehicle } from '../../sims/vehicle';
import { SimLink, NO_LINK_FAULTS } from '../../sims/link';
import { DEMO_AIRFRAME } from '../../sims/airframe';
import { MavlinkEncoder, MavlinkDecoder, Frame } from '../../src/mavlink/codec';
import { msg, common, minimal } from '../../src/mavlink/registry';
import { Cmd } from '../../src/mavlink/mission-item';
import { distanceM } from '../../sims/geo';
import { TestGcs, item, until } from './gcs-client';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 60 };
const GUIDED = 4;
const AUTO = 3;
const FAILED = 4;
const LANDING_GEAR = 29;

describe('parcel bays over MAVLink (ArduCopter personality)', () => {
  let fleet: SimFleet & { instances: BuiltinInstance[] };
  let inst: BuiltinInstance;
  let gcs: TestGcs;

  beforeAll(async () => {
    // Output 12 carries a function DO_SET_SERVO may not move (landing gear); SERVO10/11_FUNCTION stay 0.
    fleet = await startSimulators({ basePort: 0, speedup: 40, homes: [HOME], bootDelayS: 10, params: { SERVO12_FUNCTION: LANDING_GEAR } });
    inst = fleet.instances[0];
    gcs = await TestGcs.connect(inst.tcpPort, { heartbeatHz: 20 });
  });
  afterAll(async () => {
    await gcs.close();
    await fleet.stop();
  });

  const readParam = async (name: string): Promise<number> => {
    const w = gcs.next('PARAM_VALUE', (d) => d.paramId === name, 3000);
    gcs.send(msg(common.ParamRequestRead, { targetSystem: 1, targetComponent: 1, paramId: name, paramIndex: -1 }));
    return ((await w).data as common.ParamValue).paramValue;
  };

  test('two drops in one flight: each parcel leaves at its own point on its own output; an output with a function stays shut', async () => {
    await gcs.waitReady(30000);
    for (const [id, hz] of [[33, 10], [36, 10]]) await gcs.setRate(id, hz);
    expect(await readParam('SERVO10_FUNCTION')).toBe(0);
    expect(await readParam('SERVO11_FUNCTION')).toBe(0);
    expect(await readParam('SERVO12_FUNCTION')).toBe(LANDING_GEAR);
    expect(await readParam('SERVO1_FUNCTION')).toBe(33);

    inst.vehicle.loadParcels([10, 11, 12]);
    expect(inst.vehicle.truth()).toMatchObject({ payloadAttached: true, parcelsAboard: [10, 11, 12], releases: [], releasedAt: null });
    // Outputs with no function and never set read 0; the motors idle at 1000 disarmed.
    const idle = (await gcs.next('SERVO_OUTPUT_RAW')).data as common.ServoOutputRaw;
    expect([idle.servo1Raw, idle.servo4Raw, idle.servo9Raw, idle.servo10Raw, idle.servo11Raw, idle.servo12Raw, idle.servo16Raw]).toEqual([1000, 1000, 0, 0, 0, 0, 0]);

    // A command to an output assigned a function: FAILED with ArduPilot's text, nothing moves.
    expect(await gcs.command(183, [12, 1100])).toBe(FAILED);
    await gcs.waitText(/^ServoRelayEvent: Channel 12 is already in use$/);
    expect(await gcs.command(183, [1, 1100])).toBe(FAILED); // Motor1
    expect(await gcs.command(183, [17, 1100])).toBe(FAILED); // no such output
    expect(inst.vehicle.truth().parcelsAboard).toEqual([10, 11, 12]);

    const A = { lat: 34.0613, lon: 114.39 };
    const B = { lat: 34.0613, lon: 114.3915 };
    const C = { lat: 34.0605, lon: 114.3915 };
    const mission = [
      item(0, 16),
      item(1, Cmd.NAV_TAKEOFF, 0, 0, 10),
      item(2, Cmd.NAV_WAYPOINT, A.lat, A.lon, 10),
      item(3, Cmd.NAV_LOITER_TIME, A.lat, A.lon, 10, { param1: 2 }),
      item(4, Cmd.DO_SET_SERVO, 0, 0, 0, { param1: 10, param2: 1100 }),
      item(5, Cmd.NAV_WAYPOINT, B.lat, B.lon, 10),
      item(6, Cmd.NAV_LOITER_TIME, B.lat, B.lon, 10, { param1: 2 }),
      item(7, Cmd.DO_SET_SERVO, 0, 0, 0, { param1: 11, param2: 1100 }),
      item(8, Cmd.NAV_WAYPOINT, C.lat, C.lon, 10),
      item(9, Cmd.DO_SET_SERVO, 0, 0, 0, { param1: 12, param2: 1100 }),
      item(10, Cmd.NAV_RETURN_TO_LAUNCH),
    ];
    expect((await gcs.upload(mission)).ack).toBe(0);
    let refusals = 0;
    const reached: number[] = [];
    const off = gcs.on((f) => {
      if (f.name === 'STATUSTEXT' && /ServoRelayEvent: Channel 12 is already in use/.test((f.data as common.StatusText).text)) refusals++;
      if (f.name === 'MISSION_ITEM_REACHED') reached.push((f.data as common.MissionItemReached).seq);
    });
    expect(await gcs.command(176, [1, GUIDED])).toBe(0);
    expect(await gcs.command(400, [1])).toBe(0);
    expect(await gcs.command(300, [0, 0])).toBe(0);
    await gcs.next('HEARTBEAT', (d) => d.customMode === AUTO && (d.baseMode & 128) !== 0);

    // First drop: output 10 at A; output 11 still shut, both parcels 11 and 12 aboard.
    const first = (await gcs.next('SERVO_OUTPUT_RAW', (d) => d.servo10Raw === 1100, 30000)).data as common.ServoOutputRaw;
    expect([first.servo1Raw, first.servo2Raw, first.servo3Raw, first.servo4Raw]).toEqual([1500, 1500, 1500, 1500]);
    expect([first.servo11Raw, first.servo12Raw]).toEqual([0, 0]);
    let t = inst.vehicle.truth();
    expect(t.payloadAttached).toBe(true);
    expect(t.parcelsAboard).toEqual([11, 12]);
    expect(t.releases).toHaveLength(1);
    expect(t.releases[0].output).toBe(10);
    expect(distanceM(t.releases[0], A)).toBeLessThan(3);
    expect(t.releases[0].altRelM).toBeGreaterThan(9);
    expect(t.releasedAt).toEqual({ lat: t.releases[0].lat, lon: t.releases[0].lon, altRelM: t.releases[0].altRelM });

    // Second drop: output 11 at B, output 10 stays where it was set.
    const second = (await gcs.next('SERVO_OUTPUT_RAW', (d) => d.servo11Raw === 1100, 30000)).data as common.ServoOutputRaw;
    expect([second.servo10Raw, second.servo12Raw]).toEqual([1100, 0]);
    t = inst.vehicle.truth();
    expect(t.parcelsAboard).toEqual([12]);
    expect(t.releases.map((r) => r.output)).toEqual([10, 11]);
    expect(distanceM(t.releases[1], B)).toBeLessThan(3);
    expect(distanceM(t.releases[0], t.releases[1])).toBeGreaterThan(100);

    // The mission's DO_SET_SERVO on output 12 is refused with the same text; the mission carries on home.
    await gcs.next('HEARTBEAT', (d) => (d.baseMode & 128) === 0, 60000);
    off();
    expect(refusals).toBe(1);
    expect(reached).toEqual(expect.arrayContaining([2, 3, 5, 6, 8]));
    const end = inst.vehicle.truth();
    expect(distanceM(end, HOME)).toBeLessThan(3);
    expect(end.payloadAttached).toBe(true);
    expect(end.parcelsAboard).toEqual([12]);
    expect(end.releases.map((r) => r.output)).toEqual([10, 11]);
    const last = (await gcs.next('SERVO_OUTPUT_RAW')).data as common.ServoOutputRaw;
    expect([last.servo10Raw, last.servo11Raw, last.servo12Raw]).toEqual([1100, 1100, 0]);

    // Loading again starts over: new parcels aboard, no releases.
    inst.vehicle.loadParcels([10, 11]);
    expect(inst.vehicle.truth()).toMatchObject({ payloadAttached: true, parcelsAboard: [10, 11], releases: [], releasedAt: null });
    inst.vehicle.loadPayload();
    expect(inst.vehicle.truth()).toMatchObject({ payloadAttached: true, parcelsAboard: [9], releases: [], releasedAt: null });
  });
});

/** The vehicle driven directly with a fixed sim step (no sockets), as in vehicle-physics.test.ts. */
function rig(params: Record<string, number> = {}, opts: { personality?: 'ardupilot' | 'px4'; airframe?: typeof DEMO_AIRFRAME } = {}) {
  let seed = 42;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const v = new SimVehicle({ index: 0, sysid: 1, personality: opts.personality ?? 'ardupilot', home: HOME, params, bootDelayS: 1, speedup: 1, random, dropLinks: () => undefined, airframe: opts.airframe });
  const out: Frame[] = [];
  const dec = new MavlinkDecoder((f) => out.push(f));
  const link = new SimLink('tcp', (b) => dec.push(b), () => NO_LINK_FAULTS, random, (l, f) => v.onFrame(l, f), { sysid: 1, compid: 1 });
  v.attach(link);
  const gcs = new MavlinkEncoder();
  const send = (m: Parameters<MavlinkEncoder['encode']>[0]) => link.receive(gcs.encode(m));
  const cmd = (command: number, p: number[] = []) => {
    const q = [...p, 0, 0, 0, 0, 0, 0, 0];
    out.length = 0;
    send(msg(common.CommandLong, { targetSystem: 1, targetComponent: 1, command, param1: q[0], param2: q[1], param3: q[2], param4: q[3], param5: q[4], param6: q[5], param7: q[6] }));
    const ack = out.find((f) => f.name === 'COMMAND_ACK' && (f.data as common.CommandAck).command === command);
    return (ack?.data as common.CommandAck | undefined)?.result;
  };
  const run = (seconds: number) => {
    for (let i = 0; i < Math.round(seconds / 0.02); i++) {
      send(msg(minimal.Heartbeat, { type: 6, autopilot: 8 }));
      v.step(0.02);
    }
  };
  const servos = () => v.build(36) as common.ServoOutputRaw;
  const hover = () => {
    run(2);
    expect(cmd(176, [1, GUIDED])).toBe(0);
    expect(cmd(400, [1])).toBe(0);
    expect(cmd(22, [0, 0, 0, 0, 0, 0, 10])).toBe(0);
    run(10);
  };
  return { v, cmd, run, servos, hover, out };
}

describe('parcel bays: the vehicle model', () => {
  test('the default parcel behaves as before: DO_SET_SERVO 9 on a disabled output moves it but releases nothing', () => {
    const { v, cmd, run, servos } = rig();
    run(2);
    expect(v.truth()).toMatchObject({ payloadAttached: true, parcelsAboard: [9], releases: [], releasedAt: null });
    expect(cmd(183, [9, 1100])).toBe(0);
    expect(servos().servo9Raw).toBe(1100);
    expect(v.truth().payloadAttached).toBe(true);
    // DO_GRIPPER without GRIP_ENABLE: accepted, nothing happens.
    expect(cmd(211, [1, 0])).toBe(0);
    expect(v.truth().payloadAttached).toBe(true);
  });

  test('the gripper on output 9 (function 28): neutral at boot, DO_SET_SERVO 9 at GRIP_RELEASE releases the parcel as before', () => {
    const { v, cmd, run, servos } = rig({ GRIP_ENABLE: 1, GRIP_TYPE: 1, SERVO9_FUNCTION: 28 });
    run(2);
    expect(servos().servo9Raw).toBe(1500);
    expect(cmd(183, [9, 1900])).toBe(0);
    expect(v.truth().payloadAttached).toBe(true);
    expect(cmd(183, [9, 1100])).toBe(0);
    const t = v.truth();
    expect(t.payloadAttached).toBe(false);
    expect(t.releasedAt).not.toBeNull();
    expect(t.releases).toEqual([{ output: 9, ...t.releasedAt! }]);
  });

  test('DO_GRIPPER releases bays on gripper outputs only; DO_SET_SERVO may move a gripper output (ArduPilot allows function 28)', () => {
    const { v, cmd, run, servos } = rig({ GRIP_ENABLE: 1, GRIP_TYPE: 1, SERVO9_FUNCTION: 0, SERVO11_FUNCTION: 28 });
    run(2);
    expect(servos().servo11Raw).toBe(1500);
    v.loadParcels([10, 11]);
    expect(cmd(211, [1, 0])).toBe(0); // release: the gripper drives output 11 to GRIP_RELEASE
    expect(servos().servo11Raw).toBe(1100);
    expect(v.truth().parcelsAboard).toEqual([10]);
    v.loadParcels([11]);
    expect(cmd(211, [1, 1])).toBe(0); // grab
    expect(cmd(183, [11, 1100])).toBe(0);
    expect(v.truth().parcelsAboard).toEqual([]);
    expect(v.truth().releases.map((r) => r.output)).toEqual([11]);
  });

  test('a bay opens at its release PWM + 50 or below, once; a stuck mechanism keeps the parcel; loadParcels checks its outputs', () => {
    const { v, cmd, run, servos } = rig();
    run(2);
    v.loadParcels([5, 10], { releasePwm: 1000 });
    expect(cmd(183, [10, 1051])).toBe(0);
    expect(servos().servo10Raw).toBe(1051);
    expect(v.truth().parcelsAboard).toEqual([5, 10]);
    expect(cmd(183, [10, 1050])).toBe(0);
    expect(v.truth().parcelsAboard).toEqual([5]);
    expect(cmd(183, [10, 900])).toBe(0);
    expect(v.truth().releases).toHaveLength(1);
    v.faults.releaseFailure = true;
    expect(cmd(183, [5, 1000])).toBe(0);
    expect(servos().servo5Raw).toBe(1000);
    expect(v.truth().parcelsAboard).toEqual([5]);
    v.faults.releaseFailure = false;
    expect(() => v.loadParcels([0])).toThrow(RangeError);
    expect(() => v.loadParcels([17])).toThrow(RangeError);
    expect(() => v.loadParcels([10, 10])).toThrow(RangeError);
    expect(() => v.loadParcels([2.5])).toThrow(RangeError);
    expect(v.truth().parcelsAboard).toEqual([5]);
  });

  test('a winch lowering to the ground releases the next parcel aboard', () => {
    const { v, cmd, hover } = rig({ WINCH_TYPE: 1 });
    v.loadParcels([10, 11]);
    hover();
    expect(cmd(42600, [1, 1, 20])).toBe(0);
    expect(v.truth().releases.map((r) => r.output)).toEqual([10]);
  });

  for (const airframe of [undefined, DEMO_AIRFRAME]) {
    test(`battery: each parcel aboard weighs the payload mass; one bay parcel costs what the default parcel does (${airframe ? 'demo airframe' : 'stock quad'})`, () => {
      const current = (load: (v: SimVehicle) => void) => {
        const { v, hover } = rig({}, { airframe });
        load(v);
        hover();
        return v.currentA;
      };
      const none = current((v) => v.loadParcels([]));
      const def = current(() => undefined);
      const one = current((v) => v.loadParcels([10]));
      const three = current((v) => v.loadParcels([10, 11, 12]));
      expect(one).toBeCloseTo(def, 6);
      expect(one).toBeGreaterThan(none);
      expect(three).toBeGreaterThan(one * 1.05);
    });
  }

  test('PX4 personality: DO_SET_SERVO moves output 9 only, as before, and releases no bay', () => {
    const { v, cmd, run, servos } = rig({}, { personality: 'px4' });
    run(6);
    v.loadParcels([10]);
    expect(cmd(183, [10, 1100])).toBe(0);
    expect(servos().servo10Raw).toBe(0);
    expect(cmd(183, [9, 1100])).toBe(0);
    expect(servos().servo9Raw).toBe(1100);
    expect(v.truth().parcelsAboard).toEqual([10]);
  });
});
