/**
 * The simulated vehicle's telemetry: each streamable message built from its state, and streaming
 * them (and ADS-B traffic) on every link at the rates the ground station asked for.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { msg, common, minimal, ardupilotmega } from '../../src/mavlink/registry';
import { Cmd } from '../../src/mavlink/mission-item';
import { norm } from '../geo';
import { encodeMode } from '../modes';
import type { VehicleState } from './state';
import { prearmFailure } from './arming';
import { batteryPct } from './battery';
import { fenceEnabled } from './fence';
import { gpsOk } from './flight-modes';
import { rawOutputs } from './outputs';

const G = 9.80665;
const PREARM_BIT = 0x10000000;
/** gyro, accel, mag, baro, GPS, motors, AHRS, geofence, battery, prearm */
const SENSORS = { GYRO: 1, ACCEL: 2, MAG: 4, BARO: 8, GPS: 32, MOTORS: 0x8000, AHRS: 0x200000, FENCE: 0x100000, BATTERY: 0x2000000 };

/** Message ids the vehicle can stream. */
export const STREAMABLE = [0, 1, 2, 24, 30, 33, 36, 42, 74, 147, 162, 193, 242, 245, 246];

/** Build one telemetry message by id (null when it has nothing to say, e.g. no home yet). */
export function build(v: VehicleState, msgid: number): MavLinkData | null {
  const ll = v.latLon();
  const latE7 = Math.round(ll.lat * 1e7);
  const lonE7 = Math.round(ll.lon * 1e7);
  const amslMm = Math.round((v.originAmslM + v.pos.u) * 1000);
  const t = v.nowMs();
  const gps = gpsOk(v);
  switch (msgid) {
    case 0: {
      const base = 1 | (v.armed ? 128 : 0) | (v.mode === 'AUTO' ? 4 : 0) | (['GUIDED', 'AUTO', 'RTL', 'LAND', 'LOITER', 'SMART_RTL', 'BRAKE', 'TAKEOFF'].includes(v.mode) ? 8 : 0) | 16;
      const status = !v.initDone ? 1 : v.gcsFs || v.ekfFs || v.battFs !== 'none' ? 5 : v.armed ? 4 : 3;
      return msg(minimal.Heartbeat, { type: 2, autopilot: v.ap ? 3 : 12, baseMode: base, customMode: encodeMode(v.personality, v.mode), systemStatus: status });
    }
    case 1: {
      const present = SENSORS.GYRO | SENSORS.ACCEL | SENSORS.MAG | SENSORS.BARO | SENSORS.GPS | SENSORS.MOTORS | SENSORS.AHRS | SENSORS.BATTERY | SENSORS.FENCE | PREARM_BIT;
      let enabled = present & ~SENSORS.FENCE & ~PREARM_BIT;
      if (fenceEnabled(v)) enabled |= SENSORS.FENCE;
      enabled |= PREARM_BIT;
      let health = present & ~PREARM_BIT;
      if (!gps) health &= ~SENSORS.GPS;
      if (!v.ekfAligned || v.ekfFs) health &= ~SENSORS.AHRS;
      if (v.breach.status) health &= ~SENSORS.FENCE;
      if (v.battFs !== 'none') health &= ~SENSORS.BATTERY;
      if (!v.armed && prearmFailure(v) === null) health |= PREARM_BIT;
      if (v.armed) health |= PREARM_BIT;
      return msg(common.SysStatus, {
        onboardControlSensorsPresent: present, onboardControlSensorsEnabled: enabled, onboardControlSensorsHealth: health,
        load: 250, voltageBattery: Math.round(v.voltageV * 1000), currentBattery: Math.round(v.currentA * 100), batteryRemaining: Math.round(batteryPct(v)),
      });
    }
    case 2:
      return msg(common.SystemTime, { timeUnixUsec: BigInt(Date.now()) * 1000n, timeBootMs: t });
    case 24:
      return msg(common.GpsRawInt, {
        timeUsec: BigInt(t) * 1000n, lat: gps ? latE7 : 0, lon: gps ? lonE7 : 0, alt: gps ? amslMm : 0, eph: gps ? 121 : 9999, epv: gps ? 200 : 9999,
        vel: Math.round(norm(v.vel.n, v.vel.e) * 100), cog: Math.round(v.yawDeg * 100), fixType: gps ? 6 : v.gpsFixed && !gps ? 1 : 0, satellitesVisible: gps ? 10 : 0,
      });
    case 30: {
      const yaw = (v.yawDeg * Math.PI) / 180;
      const fwd = v.accel.n * Math.cos(yaw) + v.accel.e * Math.sin(yaw);
      const right = -v.accel.n * Math.sin(yaw) + v.accel.e * Math.cos(yaw);
      const air = v.airVel;
      const dragF = 0.08 * (air.n * Math.cos(yaw) + air.e * Math.sin(yaw));
      const dragR = 0.08 * (-air.n * Math.sin(yaw) + air.e * Math.cos(yaw));
      return msg(common.Attitude, {
        timeBootMs: t, roll: v.flying ? Math.atan2(right + dragR, G) : 0, pitch: v.flying ? -Math.atan2(fwd + dragF, G) : 0, yaw: yaw > Math.PI ? yaw - 2 * Math.PI : yaw,
      });
    }
    case 33:
      return msg(common.GlobalPositionInt, {
        timeBootMs: t, lat: latE7, lon: lonE7, alt: amslMm, relativeAlt: Math.round(v.pos.u * 1000),
        vx: Math.round(v.vel.n * 100), vy: Math.round(v.vel.e * 100), vz: Math.round(-v.vel.u * 100), hdg: Math.round(v.yawDeg * 100) % 36000,
      });
    case 36: {
      const o = rawOutputs(v);
      return msg(common.ServoOutputRaw, {
        timeUsec: (t * 1000) >>> 0, port: 0,
        servo1Raw: o[0], servo2Raw: o[1], servo3Raw: o[2], servo4Raw: o[3], servo5Raw: o[4], servo6Raw: o[5], servo7Raw: o[6], servo8Raw: o[7],
        servo9Raw: o[8], servo10Raw: o[9], servo11Raw: o[10], servo12Raw: o[11], servo13Raw: o[12], servo14Raw: o[13], servo15Raw: o[14], servo16Raw: o[15],
      });
    }
    case 42:
      return msg(common.MissionCurrent, { seq: v.missionSeq });
    case 74:
      return msg(common.VfrHud, {
        airspeed: norm(v.airVel.n, v.airVel.e), groundspeed: norm(v.vel.n, v.vel.e), alt: v.originAmslM + v.pos.u, climb: v.vel.u,
        heading: Math.round(v.yawDeg) % 360, throttle: v.flying ? 45 : 0,
      });
    case 147: {
      const voltages = new Array(10).fill(65535);
      voltages[0] = Math.round(v.voltageV * 1000);
      return msg(common.BatteryStatus, {
        id: 0, batteryFunction: 0, type: 1, temperature: 32767, voltages, currentBattery: Math.round(v.currentA * 100),
        currentConsumed: Math.round(v.consumedMah), energyConsumed: -1, batteryRemaining: Math.round(batteryPct(v)), voltagesExt: [0, 0, 0, 0],
      });
    }
    case 162:
      if (!fenceEnabled(v)) return null;
      return msg(common.FenceStatus, { breachStatus: v.breach.status, breachCount: v.breach.count, breachType: v.breach.type, breachTime: v.breach.timeMs, breachMitigation: 0 });
    case 193: {
      // ArduCopter: nothing before the EKF starts, 0x400 (not initialised) until aligned, 0xa7 until it uses GPS.
      if (v.ap && !v.ekfStarted) return null;
      const flags = !v.ready ? (v.ap ? (v.ekfAligned ? 0xa7 : 0x400) : 0) : gps && !v.ekfFs ? 0x33f : 0x1 | 0x4 | 0x20 | 0x80;
      return msg(ardupilotmega.EkfStatusReport, { flags, velocityVariance: 0.02, posHorizVariance: gps ? 0.02 : 1.2, posVertVariance: 0.02, compassVariance: 0.01, terrainAltVariance: 0 });
    }
    case 242: {
      if (!v.home.set) return null;
      const h = v.frame.toLatLon(v.home);
      return msg(common.HomePosition, {
        latitude: Math.round(h.lat * 1e7), longitude: Math.round(h.lon * 1e7), altitude: Math.round(v.originAmslM * 1000),
        x: v.home.n - 0, y: v.home.e, z: 0, q: [1, 0, 0, 0], timeUsec: BigInt(t) * 1000n,
      });
    }
    case 245: {
      // ArduCopter: ON_GROUND (1) until it leaves the ground, LANDING (4) in a landing, TAKEOFF (3) until
      // the takeoff altitude is reached (GUIDED takeoff or the mission's NAV_TAKEOFF), IN_AIR (2) otherwise.
      let landed = 1;
      if (v.flying) landed = v.landing || v.mode === 'LAND' ? 4 : takeoffPhase(v) ? 3 : 2;
      else if (v.armed && v.takingOff && takeoffPhase(v)) landed = 3;
      return msg(common.ExtendedSysState, { vtolState: 0, landedState: landed });
    }
    case 148:
      return autopilotVersion(v);
    default:
      return null;
  }
}

export function takeoffPhase(v: VehicleState): boolean {
  return (v.nav?.item.command === Cmd.NAV_TAKEOFF && v.mode === 'AUTO') || v.mode === 'TAKEOFF' || (v.mode === 'GUIDED' && v.guidedTakeoff);
}

export function autopilotVersion(v: VehicleState): MavLinkData {
  const caps = 1 | 2 | 4 | 8 | 32 | 256 | 8192 | 16384 | 32768 | (v.ap ? 131072 : 16);
  const ver = v.ap ? (4 << 24) | (7 << 16) | (0 << 8) | 255 : (1 << 24) | (15 << 16) | (0 << 8) | 255;
  return msg(common.AutopilotVersion, {
    capabilities: BigInt(caps), uid: BigInt(0x44524f50000000 + v.sysid), flightSwVersion: ver >>> 0, middlewareSwVersion: 0, osSwVersion: 0, boardVersion: 0,
    vendorId: v.ap ? 0x1209 : 0x26ac, productId: v.ap ? 0x5740 : 0x11, flightCustomVersion: [0x64, 0x72, 0x6f, 0x70, 0x6c, 0x69, 0x6e, 0x65],
    middlewareCustomVersion: new Array(8).fill(0), osCustomVersion: new Array(8).fill(0), uid2: new Array(18).fill(0),
  });
}

/** Stream telemetry on every link per its message intervals (sim time). */
export function emitTelemetry(v: VehicleState): void {
  // ADSB_VEHICLE only to the links that asked for message 246 (ArduPilot's ADSB stream).
  for (const m of v.adsb.due(v.tS)) for (const link of v.links) if ((link.intervals.get(246)?.intervalS ?? 0) > 0) link.send(m);
  const cache = new Map<number, MavLinkData | null>();
  for (const link of v.links) {
    for (const [id, s] of link.intervals) {
      if (s.intervalS <= 0 || v.tS < s.nextS) continue;
      s.nextS += s.intervalS;
      if (s.nextS < v.tS) s.nextS = v.tS + s.intervalS;
      let m = cache.get(id);
      if (m === undefined) {
        m = build(v, id);
        cache.set(id, m);
      }
      if (m) link.send(m);
    }
  }
}
