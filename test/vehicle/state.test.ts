import { common, minimal, ardupilotmega } from 'mavlink-mappings';
import { msg } from '../../src/mavlink/registry';
import { applyFrame, emptyState } from '../../src/fleet/state';
import { Vehicle, DEFAULT_MESSAGE_RATES_HZ } from '../../src/fleet/vehicle';
import { Bench, flush } from './harness';

describe('vehicle state decoding', () => {
  test('every message the fleet decodes lands in the one state', () => {
    const b = new Bench();
    const s = emptyState('l', 1, 1);
    const apply = (m: Parameters<Bench['frame']>[0], from?: { compid?: number }) => applyFrame(s, b.frame(m, from), 1000);
    apply(msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 128 | 81, customMode: 6, systemStatus: 4 }));
    expect(s).toMatchObject({ autopilot: 'ardupilot', armed: true, mode: 'RTL', customMode: 6, systemStatus: 4 });
    // A heartbeat from another component (a camera) does not change the vehicle's mode.
    apply(msg(minimal.Heartbeat, { type: 30, autopilot: 8, baseMode: 0, customMode: 0 }), { compid: 100 });
    expect(s.mode).toBe('RTL');
    apply(msg(common.SysStatus, { onboardControlSensorsPresent: 0x10000000, onboardControlSensorsHealth: 0x10000000, voltageBattery: 12600, currentBattery: 1520, batteryRemaining: 87 }));
    expect(s.battery).toEqual({ voltageV: 12.6, currentA: 15.2, remainingPct: 87, consumedMah: 0 });
    expect(s.sensorsHealth! & (1 << 28)).toBeTruthy();
    apply(msg(common.GlobalPositionInt, { lat: 340612345, lon: 1143901234, alt: 85500, relativeAlt: 25500, vx: 300, vy: 400, vz: -100, hdg: 9000 }));
    expect(s.position).toEqual({ lat: 34.0612345, lon: 114.3901234, altAmslM: 85.5, altRelM: 25.5 });
    expect(s).toMatchObject({ groundSpeedMps: 5, climbMps: 1, headingDeg: 90 });
    apply(msg(common.Attitude, { roll: Math.PI / 18, pitch: -Math.PI / 36, yaw: Math.PI / 2 }));
    expect(s.attitude).toEqual({ rollDeg: 10, pitchDeg: -5, yawDeg: 90 });
    apply(msg(common.VfrHud, { groundspeed: 6.5, climb: -0.5, heading: 181 }));
    expect(s).toMatchObject({ groundSpeedMps: 6.5, climbMps: -0.5, headingDeg: 181 });
    apply(msg(common.GpsRawInt, { fixType: 3, satellitesVisible: 12, eph: 121 }));
    expect(s.gps).toEqual({ fixType: 3, satellites: 12, hdop: 1.21 });
    apply(msg(ardupilotmega.EkfStatusReport, { flags: 0x33f }));
    expect(s.ekfFlags).toBe(0x33f);
    apply(msg(common.BatteryStatus, { id: 0, currentConsumed: 1234, currentBattery: 1500, batteryRemaining: 80, voltages: [12600, ...new Array(9).fill(65535)] }));
    expect(s.battery).toMatchObject({ consumedMah: 1234, remainingPct: 80, voltageV: 12.6 });
    apply(msg(common.HomePosition, { latitude: 340603000, longitude: 1143942000, altitude: 60000 }));
    expect(s.home).toEqual({ lat: 34.0603, lon: 114.3942, altAmslM: 60 });
    apply(msg(common.MissionCurrent, { seq: 4 }));
    const r = apply(msg(common.MissionItemReached, { seq: 3 }));
    apply(msg(common.MissionItemReached, { seq: 3 }));
    expect(r.reached).toBe(3);
    expect(s.mission).toMatchObject({ current: 4, reached: [3] });
    apply(msg(common.ExtendedSysState, { landedState: 2 }));
    expect(s.landedState).toBe(2);
    apply(msg(common.ServoOutputRaw, { port: 0, servo1Raw: 1100, servo4Raw: 1400, servo9Raw: 1900, servo16Raw: 1016 }));
    expect(s.servos[0]).toBe(1100);
    expect(s.servos[3]).toBe(1400);
    expect(s.servos[8]).toBe(1900);
    expect(s.servos[15]).toBe(1016);
    apply(msg(common.FenceStatus, { breachStatus: 1, breachCount: 2, breachType: 3 }));
    expect(s.fence).toEqual({ breached: true, breachCount: 2, breachType: 3 });
    for (let i = 0; i < 60; i++) apply(msg(common.StatusText, { severity: i === 59 ? 2 : 6, text: `msg ${i}` }));
    expect(s.statusText).toHaveLength(50);
    expect(s.statusText[49]).toEqual({ timeMs: 1000, severity: 2, text: 'msg 59' });
    expect(s.lastSeenMs).toBe(1000);
  });

  test('PX4 estimator health: ESTIMATOR_STATUS flags (as PX4 SITL sends them: 0xe5 warming up, 0x3ff converged)', () => {
    const b = new Bench();
    const s = emptyState('l', 1, 1);
    applyFrame(s, b.frame(msg(minimal.Heartbeat, { type: 2, autopilot: 12, baseMode: 1, customMode: 0x04030000, systemStatus: 3 })), 1000);
    expect(s.ekfFlags).toBeNull();
    applyFrame(s, b.frame(msg(common.EstimatorStatus, { flags: 0xe5 })), 1000);
    expect(s.ekfFlags).toBe(0xe5);
    applyFrame(s, b.frame(msg(common.EstimatorStatus, { flags: 0x3ff })), 1000);
    expect(s.ekfFlags).toBe(0x3ff);
  });
});

describe('vehicle rates and round-trip time', () => {
  function setup() {
    const b = new Bench();
    const d = b.deps();
    const v = new Vehicle('l', 1, 1, d.send, b.clock, { sysid: 255, compid: 190 }, { rateCheckMs: 1000, timesyncMs: 1000 });
    b.sink = (f) => v.handleFrame(f);
    const intervals: Array<[number, number]> = [];
    b.peer = (f) => {
      if (f.name === 'COMMAND_LONG') {
        const c = f.data as common.CommandLong;
        if (c.command === 511) intervals.push([c.param1, c.param2]);
        b.reply(msg(common.CommandAck, { command: c.command, result: 0, targetSystem: 255, targetComponent: 190 }));
      } else if (f.name === 'TIMESYNC') {
        const t = f.data as common.TimeSync;
        if (t.tc1 === 0n) b.reply(msg(common.TimeSync, { tc1: 42n, ts1: t.ts1 }));
      }
    };
    return { b, v, intervals };
  }

  test('discovery requests every stream with SET_MESSAGE_INTERVAL (µs); found again requests them again', async () => {
    const { b, v, intervals } = setup();
    v.setConnected(true);
    await b.run(new Promise<void>((r) => v.once('rates', () => r())));
    expect(intervals).toContainEqual([33, 250000]);
    expect(intervals).toContainEqual([1, 500000]);
    expect(intervals).toContainEqual([242, 2000000]);
    expect(intervals).toHaveLength(Object.keys(DEFAULT_MESSAGE_RATES_HZ).length);
    expect(v.rateRequests).toBe(1);
    v.setConnected(false);
    expect((await v.arm()).result).toBe('NOT_CONNECTED');
    v.setConnected(true);
    await b.run(new Promise<void>((r) => v.once('rates', () => r())));
    expect(v.rateRequests).toBe(2);
    expect(intervals).toHaveLength(2 * Object.keys(DEFAULT_MESSAGE_RATES_HZ).length);
    v.dispose();
  });

  test('a PX4 vehicle is also asked for ESTIMATOR_STATUS (it sends no EKF_STATUS_REPORT)', async () => {
    const { b, v, intervals } = setup();
    v.handleFrame(b.frame(msg(minimal.Heartbeat, { type: 2, autopilot: 12, baseMode: 1, customMode: 0x04030000, systemStatus: 3 })));
    v.setConnected(true);
    await b.run(new Promise<void>((r) => v.once('rates', () => r())));
    expect(intervals).toContainEqual([230, 1000000]);
    expect(intervals).toHaveLength(Object.keys(DEFAULT_MESSAGE_RATES_HZ).length + 1);
    v.dispose();
  });

  test('streams that stop without a link drop (silent reboot) are requested again; TIMESYNC gives the rtt', async () => {
    const { b, v } = setup();
    v.setConnected(true);
    await b.run(new Promise<void>((r) => v.once('rates', () => r())));
    // Position flows for a while, then stops.
    for (let i = 0; i < 10; i++) {
      b.clock.advance(250);
      b.reply(msg(common.GlobalPositionInt, { lat: 1, lon: 1 }));
      b.pump();
    }
    expect(v.rateRequests).toBe(1);
    expect(v.state.link.rttMs).not.toBeNull();
    await b.run(new Promise<void>((r) => v.once('rates', () => r())));
    expect(v.rateRequests).toBe(2);
    await flush();
    v.dispose();
  });
});
