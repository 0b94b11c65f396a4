/**
 * Decoding what autopilots send into the one VehicleState. Pure: (state, frame, now) → changed.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { common, minimal, ardupilotmega } from 'mavlink-mappings';
import type { Frame } from '../mavlink/codec';
import { modeName } from '../vehicle/command';
import { autopilotOf } from '../vehicle/heartbeat';
import type { StatusTextEntry, VehicleState } from './types';

/** MAV_MODE_FLAG_SAFETY_ARMED */
const ARMED_FLAG = 128;
/** MAV_STATE_BOOT */
const MAV_STATE_BOOT = 1;

export function emptyState(linkId: string, sysid: number, compid: number): VehicleState {
  return {
    id: `${linkId}/${sysid}`,
    linkId,
    sysid,
    compid,
    autopilot: 'other',
    vehicleType: 0,
    connected: false,
    lastSeenMs: 0,
    armed: false,
    mode: 'UNKNOWN',
    customMode: 0,
    baseMode: 0,
    systemStatus: 0,
    landedState: 0,
    position: null,
    groundSpeedMps: 0,
    climbMps: 0,
    headingDeg: 0,
    attitude: null,
    battery: null,
    gps: null,
    ekfFlags: null,
    sensorsHealth: null,
    sensorsPresent: null,
    home: null,
    mission: { current: 0, total: 0, reached: [] },
    fence: null,
    servos: new Array(16).fill(0),
    statusText: [],
    link: { packets: 0, lost: 0, lossPct: 0, rttMs: null },
  };
}

const RAD = 180 / Math.PI;
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

export interface ApplyOptions {
  /** STATUSTEXT entries kept (newest last). Default 50. */
  statusTextKeep?: number;
  /** MISSION_ITEM_REACHED seqs kept. Default 200. */
  reachedKeep?: number;
}

/**
 * Apply one frame from the vehicle to its state. Returns what happened worth an event:
 * 'statustext' / 'reached' entries, and whether anything changed.
 */
export function applyFrame(
  s: VehicleState,
  f: Frame,
  nowMs: number,
  opts: ApplyOptions = {},
): { changed: boolean; statusText?: StatusTextEntry; reached?: number } {
  s.lastSeenMs = nowMs;
  const d: MavLinkData | null = f.data;
  if (!d) return { changed: false };
  // Telemetry describes the vehicle only when its autopilot sends it (a gimbal's ATTITUDE is not
  // the vehicle's); STATUSTEXT from any component is kept.
  if (f.compid !== s.compid && f.name !== 'STATUSTEXT') return { changed: false };
  switch (f.name) {
    case 'HEARTBEAT': {
      if (f.compid !== s.compid) return { changed: false };
      const h = d as minimal.Heartbeat;
      if (h.type === 6) return { changed: false };
      s.autopilot = autopilotOf(h.autopilot);
      s.vehicleType = h.type;
      s.baseMode = h.baseMode;
      s.customMode = h.customMode;
      s.armed = (h.baseMode & ARMED_FLAG) !== 0;
      s.mode = modeName(s.autopilot, h.customMode);
      s.systemStatus = h.systemStatus;
      // MAV_STATE_BOOT: the vehicle (re)starts. What it said about its estimator, pre-arm checks and
      // home before belongs to the previous boot; it reports them again once they hold.
      if (h.systemStatus === MAV_STATE_BOOT) {
        s.ekfFlags = null;
        s.sensorsHealth = null;
        s.home = null;
      }
      return { changed: true };
    }
    case 'SYS_STATUS': {
      const m = d as common.SysStatus;
      s.sensorsPresent = m.onboardControlSensorsPresent;
      s.sensorsHealth = m.onboardControlSensorsHealth;
      const b = s.battery ?? { voltageV: 0, currentA: 0, remainingPct: 0, consumedMah: 0 };
      if (m.voltageBattery !== 0xffff) b.voltageV = m.voltageBattery / 1000;
      if (m.currentBattery !== -1) b.currentA = m.currentBattery / 100;
      if (m.batteryRemaining !== -1) b.remainingPct = m.batteryRemaining;
      s.battery = b;
      return { changed: true };
    }
    case 'GLOBAL_POSITION_INT': {
      const m = d as common.GlobalPositionInt;
      s.position = { lat: m.lat / 1e7, lon: m.lon / 1e7, altAmslM: m.alt / 1000, altRelM: m.relativeAlt / 1000 };
      s.groundSpeedMps = round(Math.hypot(m.vx, m.vy) / 100, 2);
      s.climbMps = -m.vz / 100;
      if (m.hdg !== 0xffff) s.headingDeg = m.hdg / 100;
      return { changed: true };
    }
    case 'ATTITUDE': {
      const m = d as common.Attitude;
      s.attitude = { rollDeg: round(m.roll * RAD, 2), pitchDeg: round(m.pitch * RAD, 2), yawDeg: round(m.yaw * RAD, 2) };
      return { changed: true };
    }
    case 'VFR_HUD': {
      const m = d as common.VfrHud;
      s.groundSpeedMps = round(m.groundspeed, 2);
      s.climbMps = round(m.climb, 2);
      s.headingDeg = ((m.heading % 360) + 360) % 360;
      return { changed: true };
    }
    case 'GPS_RAW_INT': {
      const m = d as common.GpsRawInt;
      s.gps = { fixType: m.fixType, satellites: m.satellitesVisible === 255 ? 0 : m.satellitesVisible, hdop: m.eph === 0xffff ? 99.99 : m.eph / 100 };
      return { changed: true };
    }
    case 'EKF_STATUS_REPORT': {
      s.ekfFlags = (d as ardupilotmega.EkfStatusReport).flags;
      return { changed: true };
    }
    case 'ESTIMATOR_STATUS': {
      // PX4 reports its estimator here (no EKF_STATUS_REPORT); bits 0–9 mean what ArduPilot's EKF flags mean.
      s.ekfFlags = (d as common.EstimatorStatus).flags;
      return { changed: true };
    }
    case 'BATTERY_STATUS': {
      const m = d as common.BatteryStatus;
      if (m.id !== 0) return { changed: false };
      const b = s.battery ?? { voltageV: 0, currentA: 0, remainingPct: 0, consumedMah: 0 };
      if (m.currentConsumed !== -1) b.consumedMah = m.currentConsumed;
      if (m.currentBattery !== -1) b.currentA = m.currentBattery / 100;
      if (m.batteryRemaining !== -1) b.remainingPct = m.batteryRemaining;
      if (s.battery === null && m.voltages[0] !== 0xffff) {
        let mv = 0;
        for (const c of m.voltages) if (c !== 0xffff) mv += c;
        b.voltageV = mv / 1000;
      }
      s.battery = b;
      return { changed: true };
    }
    case 'HOME_POSITION': {
      const m = d as common.HomePosition;
      s.home = { lat: m.latitude / 1e7, lon: m.longitude / 1e7, altAmslM: m.altitude / 1000 };
      return { changed: true };
    }
    case 'MISSION_CURRENT': {
      const m = d as common.MissionCurrent;
      const total = (m as unknown as { total?: number }).total;
      s.mission.current = m.seq;
      if (typeof total === 'number' && total > 0 && total !== 0xffff) s.mission.total = total;
      return { changed: true };
    }
    case 'MISSION_ITEM_REACHED': {
      const seq = (d as common.MissionItemReached).seq;
      const r = s.mission.reached;
      if (r[r.length - 1] !== seq) {
        r.push(seq);
        if (r.length > (opts.reachedKeep ?? 200)) r.shift();
      }
      return { changed: true, reached: seq };
    }
    case 'EXTENDED_SYS_STATE': {
      s.landedState = (d as common.ExtendedSysState).landedState;
      return { changed: true };
    }
    case 'SERVO_OUTPUT_RAW': {
      const m = d as common.ServoOutputRaw;
      const vals = [m.servo1Raw, m.servo2Raw, m.servo3Raw, m.servo4Raw, m.servo5Raw, m.servo6Raw, m.servo7Raw, m.servo8Raw, m.servo9Raw, m.servo10Raw, m.servo11Raw, m.servo12Raw, m.servo13Raw, m.servo14Raw, m.servo15Raw, m.servo16Raw];
      if (m.port === 0) {
        for (let i = 0; i < 16; i++) s.servos[i] = vals[i] ?? 0;
      } else if (m.port === 1) {
        for (let i = 0; i < 8; i++) s.servos[8 + i] = vals[i] ?? 0;
      }
      return { changed: true };
    }
    case 'FENCE_STATUS': {
      const m = d as common.FenceStatus;
      s.fence = { breached: m.breachStatus !== 0, breachCount: m.breachCount, breachType: m.breachType };
      return { changed: true };
    }
    case 'STATUSTEXT': {
      const m = d as common.StatusText;
      const e: StatusTextEntry = { timeMs: nowMs, severity: m.severity, text: m.text.replace(/\0.*$/s, '') };
      s.statusText.push(e);
      const keep = opts.statusTextKeep ?? 50;
      if (s.statusText.length > keep) s.statusText.splice(0, s.statusText.length - keep);
      return { changed: true, statusText: e };
    }
    default:
      return { changed: false };
  }
}
