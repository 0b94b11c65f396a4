/**
 * The vehicle model driven directly with a fixed sim step (no sockets, no wall clock): kinematic
 * limits from parameters and the battery model.
 */
import { SimVehicle } from '../../sims/vehicle';
import { SimLink, NO_LINK_FAULTS } from '../../sims/link';
import { MavlinkEncoder, MavlinkDecoder, Frame } from '../../src/mavlink/codec';
import { msg, common, minimal } from '../../src/mavlink/registry';
import { LocalFrame } from '../../sims/geo';

const HOME = { lat: 34.06, lon: 114.39, altAmslM: 60 };

function rig(params: Record<string, number> = {}) {
  let seed = 42;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const v = new SimVehicle({ index: 0, sysid: 1, personality: 'ardupilot', home: HOME, params, bootDelayS: 1, speedup: 1, random, dropLinks: () => undefined });
  const out: Frame[] = [];
  const dec = new MavlinkDecoder((f) => out.push(f));
  const link = new SimLink('tcp', (b) => dec.push(b), () => NO_LINK_FAULTS, random, (l, f) => v.onFrame(l, f), { sysid: 1, compid: 1 });
  v.attach(link);
  const gcs = new MavlinkEncoder();
  const send = (m: Parameters<MavlinkEncoder['encode']>[0]) => link.receive(gcs.encode(m));
  const cmd = (command: number, p: number[] = []) => {
    const q = [...p, 0, 0, 0, 0, 0, 0, 0];
    send(msg(common.CommandLong, { targetSystem: 1, targetComponent: 1, command, param1: q[0], param2: q[1], param3: q[2], param4: q[3], param5: q[4], param6: q[5], param7: q[6] }));
    const ack = [...out].reverse().find((f) => f.name === 'COMMAND_ACK' && (f.data as common.CommandAck).command === command);
    return (ack?.data as common.CommandAck | undefined)?.result;
  };
  const run = (seconds: number, each?: () => void) => {
    for (let i = 0; i < Math.round(seconds / 0.02); i++) {
      send(msg(minimal.Heartbeat, { type: 6, autopilot: 8 }));
      v.step(0.02);
      each?.();
    }
  };
  return { v, cmd, run, send, out };
}

describe('vehicle model', () => {
  test('climb, cruise and acceleration follow WPNAV_SPEED_UP, WPNAV_SPEED and WPNAV_ACCEL', () => {
    const { v, cmd, run, send } = rig({ WPNAV_SPEED: 800, WPNAV_SPEED_UP: 200, WPNAV_ACCEL: 200 });
    run(2);
    expect(cmd(176, [1, 4])).toBe(0);
    expect(cmd(400, [1])).toBe(0);
    expect(cmd(22, [0, 0, 0, 0, 0, 0, 20])).toBe(0);
    let maxClimb = 0;
    run(15, () => (maxClimb = Math.max(maxClimb, v.vel.u)));
    expect(maxClimb).toBeLessThanOrEqual(2.0001);
    expect(v.pos.u).toBeGreaterThan(19.5);
    const target = new LocalFrame(HOME).toLatLon({ n: 500, e: 0 });
    send(msg(common.CommandInt, { targetSystem: 1, targetComponent: 1, command: 192, frame: 6, param1: -1, x: Math.round(target.lat * 1e7), y: Math.round(target.lon * 1e7), z: 20 }));
    let maxSpeed = 0;
    let maxAccel = 0;
    let prev = 0;
    run(80, () => {
      const s = Math.hypot(v.vel.n, v.vel.e);
      maxSpeed = Math.max(maxSpeed, s);
      maxAccel = Math.max(maxAccel, Math.abs(s - prev) / 0.02);
      prev = s;
    });
    expect(maxSpeed).toBeGreaterThan(7.9);
    expect(maxSpeed).toBeLessThanOrEqual(8.0001);
    expect(maxAccel).toBeLessThanOrEqual(2.0001);
    expect(Math.abs(v.pos.n - 500)).toBeLessThan(0.5);
  });

  test('battery: payload mass costs current; consumption lowers voltage and percentage', () => {
    const a = rig();
    a.run(2);
    a.cmd(176, [1, 4]);
    a.cmd(400, [1]);
    a.cmd(22, [0, 0, 0, 0, 0, 0, 10]);
    a.run(10);
    const loaded = a.v.build(1) as common.SysStatus;
    const pct0 = a.v.batteryPct();
    a.v.payloadAttached = false;
    a.run(1);
    const empty = a.v.build(1) as common.SysStatus;
    expect(loaded.currentBattery).toBeGreaterThan(empty.currentBattery * 1.2);
    const v0 = empty.voltageBattery;
    a.run(120);
    const later = a.v.build(1) as common.SysStatus;
    expect(a.v.batteryPct()).toBeLessThan(pct0 - 5);
    expect(later.voltageBattery).toBeLessThan(v0);
    // About 12 A hover at 1.6 kg: a 3300 mAh pack lasts roughly a quarter of an hour.
    const perMin = (pct0 - a.v.batteryPct()) / (121 / 60);
    expect(100 / perMin).toBeGreaterThan(10);
    expect(100 / perMin).toBeLessThan(25);
  });
});
