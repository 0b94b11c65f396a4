/**
 * One simulated multicopter: ArduCopter-like (or PX4-like) behaviour over MAVLink, driven by a
 * sim clock. The fleet calls `step(dtS)` at a fixed sim rate (50 Hz) and hands it every decoded
 * frame with `onFrame(link, frame)`; everything the vehicle says goes out through its links.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { msg, common, minimal, ardupilotmega } from '../src/mavlink/registry';
import type { Frame as MavFrame } from '../src/mavlink/codec';
import { Cmd, Frame, MissionItem, MissionTypeValue } from '../src/mavlink/mission-item';
import { LocalFrame, Ne, norm, bearingDeg } from './geo';
import { ParamStore, ARDUCOPTER_PARAMS, PX4_PARAMS } from './params';
import { ModeName, Personality, decodeMode, encodeMode, modeDisplayName } from './modes';
import { MissionServer, FenceShapes, fenceShapes, insideFenceShapes } from './mission-server';
import type { SimLink } from './link';
import { SimSigning } from './signing';
import { airframePowerW, type SimAirframe } from './airframe';
import { SimAdsbTraffic, type AdsbTrafficFault } from './adsb-traffic';

/** MAV_RESULT */
export const Result = { ACCEPTED: 0, TEMPORARILY_REJECTED: 1, DENIED: 2, UNSUPPORTED: 3, FAILED: 4, IN_PROGRESS: 5 } as const;
/** MAV_SEVERITY */
const SEV = { EMERGENCY: 0, ALERT: 1, CRITICAL: 2, ERROR: 3, WARNING: 4, NOTICE: 5, INFO: 6 } as const;
const G = 9.80665;
const PREARM_BIT = 0x10000000;
/** gyro, accel, mag, baro, GPS, motors, AHRS, geofence, battery, prearm */
const SENSORS = { GYRO: 1, ACCEL: 2, MAG: 4, BARO: 8, GPS: 32, MOTORS: 0x8000, AHRS: 0x200000, FENCE: 0x100000, BATTERY: 0x2000000 };

export interface VehicleFaults {
  gpsLoss: boolean;
  batterySagPct: number;
  releaseFailure: boolean;
  wind: { speedMps: number; fromDeg: number; gustMps: number } | null;
}

/**
 * ArduCopter 4.7 SITL's start-up as a ground station sees it, in sim seconds after boot (measured
 * here at speedups 1 and 10, the same within 0.2 s): initialisation done ("ArduPilot Ready", STANDBY)
 * at 2.5, EKF_STATUS_REPORT 0x400 from 3.5, tilt and yaw alignment (flags 0xa7: attitude and
 * velocities, no horizontal position) at 6.0, GPS 3D fix at 9.9, EKF origin and HOME_POSITION at 19.9,
 * the pre-arm health bit at 23.5, and "EKF3 IMU0 is using GPS" with flags 0x33f at 41.4.
 * With another `bootDelayS` the milestones keep these proportions.
 */
export const ARDUCOPTER_BOOT_S = { init: 2.5, ekfInit: 3.5, aligned: 6.0, gpsFix: 9.9, origin: 19.9, prearm: 23.5, usingGps: 41.4 } as const;
/** The built-in PX4 personality: GPS fix at half the boot delay, everything else at its end. */
const PX4_BOOT_FRACTION = { init: 1, ekfInit: 1, aligned: 1, gpsFix: 0.5, origin: 1, prearm: 1, usingGps: 1 } as const;

export interface VehicleOptions {
  index: number;
  sysid: number;
  personality: Personality;
  home: { lat: number; lon: number; altAmslM: number };
  params?: Record<string, number>;
  /** Sim seconds from boot until the EKF uses GPS (flags 0x33f); earlier milestones scale with it (ARDUCOPTER_BOOT_S). */
  bootDelayS: number;
  speedup: number;
  /** Pseudo-random source (seeded per instance so runs repeat). */
  random: () => number;
  /** Closes every connection (reboot). */
  dropLinks: () => void;
  /** A signing key already in the vehicle's storage at start (ArduPilot keeps it across reboots). Default none. */
  signingKey?: Buffer;
  /** The airframe whose power model drains the pack (sims/airframe.ts). Default: the small stock quad (AIRFRAME). */
  airframe?: SimAirframe;
}

/** Physical constants of the simulated airframe. */
export const AIRFRAME = {
  emptyMassKg: 1.6,
  payloadMassKg: 0.5,
  /** Hover current at empty mass. */
  hoverCurrentA: 12,
  idleCurrentA: 0.6,
  /** Largest airspeed the airframe holds at ANGLE_MAX. */
  maxAirspeedMps: 20,
  internalResistanceOhm: 0.025,
};

type Nav =
  | { kind: 'ground' }
  | { kind: 'hold'; n: number; e: number; u: number; pilotDescentMps?: number }
  | { kind: 'goto'; n: number; e: number; u: number; speedMps: number }
  | { kind: 'land'; n: number | null; e: number | null }
  | { kind: 'drift' };

interface NavRun {
  seq: number;
  item: MissionItem;
  phase: string;
  startS: number;
  holdUntilS: number;
  targetNe?: Ne;
  targetU?: number;
  startU?: number;
}

interface RtlState {
  phase: 'climb' | 'return' | 'loiter' | 'land';
  target: Ne;
  altU: number;
  untilS: number;
  path: Ne[];
}

/** ArduCopter modes whose is_autopilot() is true: FS_OPTIONS 16 does not keep them flying on GCS loss. */
const AUTOPILOT_MODES: ReadonlySet<ModeName> = new Set(['AUTO', 'GUIDED', 'RTL', 'SMART_RTL', 'LAND']);

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Ocv per Li-ion/LiPo cell from state of charge 0..1. */
function cellOcv(soc: number): number {
  const s = clamp(soc, 0, 1);
  if (s > 0.9) return 4.05 + (s - 0.9) * 1.5;
  if (s > 0.2) return 3.7 + ((s - 0.2) / 0.7) * 0.35;
  return 3.3 + (s / 0.2) * 0.4;
}

export class SimVehicle {
  readonly index: number;
  readonly sysid: number;
  readonly personality: Personality;
  readonly params: ParamStore;
  readonly mission: MissionServer;
  readonly links = new Set<SimLink>();
  readonly frame: LocalFrame;
  readonly faults: VehicleFaults = { gpsLoss: false, batterySagPct: 0, releaseFailure: false, wind: null };
  /** MAVLink 2 signing (sims/signing.ts). */
  readonly signing: SimSigning;
  private readonly originAmslM: number;
  private readonly random: () => number;
  private readonly opts: VehicleOptions;

  /** Sim seconds since the instance started; boot time of the current boot. */
  tS = 0;
  private bootS = 0;
  /** Initialisation done: modes set before it are overwritten; STANDBY from then on. */
  private initDone = false;
  /** EKF started (flags 0x400), then aligned (0xa7: attitude and velocities, no horizontal position). */
  private ekfStarted = false;
  private ekfAligned = false;
  /** The pre-arm checks may pass (SYS_STATUS bit 28), before the EKF uses GPS, as on ArduCopter. */
  private prearmReady = false;
  /** The EKF uses GPS: flags 0x33f, a position for the position modes. */
  private ready = false;
  private gpsFixed = false;

  // Kinematic state (local metres from origin, up from ground).
  pos = { n: 0, e: 0, u: 0 };
  vel = { n: 0, e: 0, u: 0 };
  private accel = { n: 0, e: 0 };
  private yawDeg = 0;
  private gust = { n: 0, e: 0 };
  private airVel = { n: 0, e: 0 };

  armed = false;
  flying = false;
  mode: ModeName = 'STABILIZE';
  private landing = false;
  private takingOff = false;
  /** A GUIDED takeoff (NAV_TAKEOFF command) still climbing to its altitude: landed_state TAKEOFF. */
  private guidedTakeoff = false;
  private autoArmed = false;
  private groundSinceS = 0;
  private landedAtS = -1;
  home: { n: number; e: number; set: boolean } = { n: 0, e: 0, set: false };

  // Battery
  private consumedMah = 0;
  private currentA = 0;
  private voltageV = 12.6;
  private battLowSinceS = -1;
  private battCrtSinceS = -1;
  private battFs: 'none' | 'low' | 'critical' = 'none';

  // Payload
  payloadAttached = true;
  releasedAt: null | { lat: number; lon: number; altRelM: number } = null;
  private servo9 = 0;
  private gripperEnabled = false;
  private gripperServo = false;

  // Failsafes
  private gcsSeen = false;
  private lastGcsHbS = 0;
  private gcsFs = false;
  private ekfFs = false;
  private gpsLostSinceS = -1;

  // Fence
  private fenceShapes: FenceShapes = { inclusionPolygons: [], exclusionPolygons: [], inclusionCircles: [], exclusionCircles: [] };
  private fenceEnabledOverride: boolean | null = null;
  private breach = { status: 0, count: 0, type: 0, timeMs: 0, kinds: new Set<string>() };

  // Navigation
  private guidedTarget: { n: number; e: number; u: number } | null = null;
  private hold: { n: number; e: number; u: number } | null = null;
  private landPoint: Ne | null = null;
  private rtl: RtlState | null = null;
  private breadcrumbs: Ne[] = [];
  private wpSpeedOverride: number | null = null;
  private missionSeq = 0;
  private nav: NavRun | null = null;
  private missionPaused = false;
  private missionDone = false;
  private jumpCounts = new Map<number, number>();
  private paramQueue: Array<{ link: SimLink; index: number }> = [];
  private readonly timers: Array<{ atS: number; fn: () => void }> = [];

  constructor(opts: VehicleOptions) {
    this.opts = opts;
    this.index = opts.index;
    this.sysid = opts.sysid;
    this.personality = opts.personality;
    this.random = opts.random;
    this.frame = new LocalFrame({ lat: opts.home.lat, lon: opts.home.lon });
    this.originAmslM = opts.home.altAmslM;
    this.signing = new SimSigning(() => this.gpsFixed, opts.signingKey && opts.personality === 'ardupilot' ? { key: opts.signingKey } : undefined);
    const defs = opts.personality === 'px4' ? PX4_PARAMS : ARDUCOPTER_PARAMS;
    this.params = new ParamStore(defs, { ...(opts.personality === 'px4' ? { MAV_SYS_ID: opts.sysid } : { MAV_SYSID: opts.sysid, SIM_SPEEDUP: opts.speedup }), ...(opts.params ?? {}) });
    this.mission = new MissionServer({
      personality: opts.personality,
      nowS: () => this.tS,
      text: (s, t) => this.text(s, t),
      home: () => {
        const ll = this.frame.toLatLon(this.home);
        return { latE7: Math.round(ll.lat * 1e7), lonE7: Math.round(ll.lon * 1e7), altAmslM: this.originAmslM };
      },
      rallyPointAllowed: (latE7, lonE7) => !this.fenceEnabled() || insideFenceShapes(this.frame.toNe({ lat: latE7 / 1e7, lon: lonE7 / 1e7 }), this.fenceShapes),
      changed: (type) => this.missionChanged(type),
      initialised: () => this.initDone,
      // Sub-step delays (a few ms of sim time) on the wall clock: the 50 Hz physics step is too coarse.
      defer: (delayS, fn) => {
        const t = setTimeout(fn, (delayS * 1000) / Math.max(1e-3, opts.speedup));
        t.unref?.();
      },
    });
    this.boot();
  }

  // ---------------------------------------------------------------- helpers
  private get ap(): boolean {
    return this.personality === 'ardupilot';
  }
  private p(name: string): number {
    return this.params.get(name) ?? 0;
  }
  nowMs(): number {
    return Math.max(0, Math.round((this.tS - this.bootS) * 1000));
  }
  private after(delayS: number, fn: () => void): void {
    this.timers.push({ atS: this.tS + delayS, fn });
  }
  latLon(): { lat: number; lon: number } {
    return this.frame.toLatLon(this.pos);
  }
  altRelM(): number {
    return this.pos.u;
  }
  broadcast(m: MavLinkData): void {
    for (const l of this.links) l.send(m);
  }
  text(severity: number, text: string): void {
    this.broadcast(msg(common.StatusText, { severity, text: text.slice(0, 50) }));
  }
  isReady(): boolean {
    return this.ready;
  }

  private wpSpeedMps(): number {
    if (this.wpSpeedOverride !== null) return this.wpSpeedOverride;
    return this.ap ? this.p('WPNAV_SPEED') / 100 : this.p('MPC_XY_CRUISE');
  }
  private accelMps2(): number {
    return this.ap ? Math.max(0.5, this.p('WPNAV_ACCEL') / 100) : Math.max(0.5, this.p('MPC_ACC_HOR'));
  }
  private climbMps(): number {
    return this.ap ? this.p('WPNAV_SPEED_UP') / 100 : this.p('MPC_Z_VEL_MAX_UP');
  }
  private descentMps(): number {
    return this.ap ? this.p('WPNAV_SPEED_DN') / 100 : this.p('MPC_Z_VEL_MAX_DN');
  }
  private landSpeedMps(): number {
    if (!this.ap) return this.p('MPC_LAND_SPEED');
    const high = this.p('LAND_SPEED_HIGH') > 0 ? this.p('LAND_SPEED_HIGH') / 100 : this.descentMps();
    return this.pos.u > this.p('LAND_ALT_LOW') / 100 ? high : this.p('LAND_SPEED') / 100;
  }
  private wpRadiusM(): number {
    return this.ap ? Math.max(0.05, this.p('WPNAV_RADIUS') / 100) : this.p('NAV_ACC_RAD');
  }
  private disarmDelayS(): number {
    return this.ap ? this.p('DISARM_DELAY') : this.p('COM_DISARM_PRFLT');
  }

  // ---------------------------------------------------------------- boot
  private boot(): void {
    this.bootS = this.tS;
    this.initDone = false;
    this.ekfStarted = false;
    this.ekfAligned = false;
    this.prearmReady = false;
    this.ready = false;
    this.gpsFixed = false;
    this.armed = false;
    this.flying = false;
    this.guidedTakeoff = false;
    this.mode = this.ap ? 'STABILIZE' : 'GUIDED';
    this.pos.u = 0;
    this.vel = { n: 0, e: 0, u: 0 };
    this.gcsSeen = false;
    this.gcsFs = false;
    this.ekfFs = false;
    this.battFs = 'none';
    this.breach = { status: 0, count: 0, type: 0, timeMs: 0, kinds: new Set() };
    this.fenceEnabledOverride = null;
    this.wpSpeedOverride = null;
    this.params.snapshotBoot();
    this.gripperEnabled = this.ap ? this.params.live('GRIP_ENABLE') === 1 && this.params.live('GRIP_TYPE') === 1 : this.params.live('PD_GRIPPER_EN') === 1;
    this.gripperServo = this.ap ? this.gripperEnabled && this.params.live('SERVO9_FUNCTION') === 28 : this.gripperEnabled;
    this.servo9 = this.gripperServo ? this.p('GRIP_NEUTRAL') || 1500 : 0;
    this.missionSeq = this.ap ? (this.mission.missionItems().length > 1 ? 1 : 0) : 0;
    this.nav = null;
    const d = this.opts.bootDelayS;
    const at = (k: keyof typeof ARDUCOPTER_BOOT_S) => (this.ap ? (d * ARDUCOPTER_BOOT_S[k]) / ARDUCOPTER_BOOT_S.usingGps : d * PX4_BOOT_FRACTION[k]);
    this.after(at('init'), () => {
      this.initDone = true;
      // A mode set during boot is overwritten when initialisation finishes.
      this.mode = this.ap ? 'STABILIZE' : 'GUIDED';
      if (this.ap) this.text(SEV.INFO, 'ArduPilot Ready');
    });
    this.after(at('ekfInit'), () => {
      this.ekfStarted = true;
      if (this.ap) this.text(SEV.INFO, 'EKF3 IMU0 initialised');
    });
    this.after(at('aligned'), () => {
      this.ekfAligned = true;
      if (this.ap) this.text(SEV.INFO, 'EKF3 IMU0 tilt alignment complete');
    });
    this.after(at('gpsFix'), () => {
      this.gpsFixed = true;
      if (this.ap) this.text(SEV.INFO, 'GPS 1: detected u-blox');
    });
    this.after(at('origin'), () => {
      if (!this.home.set) this.home = { n: this.pos.n, e: this.pos.e, set: true };
      if (this.ap) this.text(SEV.INFO, 'EKF3 IMU0 origin set');
    });
    this.after(at('prearm'), () => {
      this.prearmReady = true;
    });
    this.after(at('usingGps'), () => {
      this.ready = true;
      this.home = { n: this.pos.n, e: this.pos.e, set: true };
      if (this.ap) this.text(SEV.INFO, 'EKF3 IMU0 is using GPS');
      else this.text(SEV.INFO, '[commander] Ready for takeoff!');
    });
  }

  /** Reboot: every link drops; parameters, missions and fence persist; reboot-only parameters take effect. */
  reboot(): void {
    this.timers.length = 0;
    this.signing.reboot(this.links);
    this.opts.dropLinks();
    this.home.set = false;
    this.boot();
  }

  // ---------------------------------------------------------------- state for truth()
  truth() {
    const ll = this.latLon();
    return {
      lat: ll.lat,
      lon: ll.lon,
      altRelM: this.pos.u - 0,
      altAmslM: this.originAmslM + this.pos.u,
      armed: this.armed,
      mode: modeDisplayName(this.personality, this.mode),
      groundSpeedMps: norm(this.vel.n, this.vel.e),
      batteryPct: this.batteryPct(),
      voltageV: this.voltageV,
      landed: !this.flying,
      payloadAttached: this.payloadAttached,
      releasedAt: this.releasedAt ? { ...this.releasedAt } : null,
      missionSeq: this.missionSeq,
    };
  }

  private capacityMah(): number {
    return this.ap ? this.p('BATT_CAPACITY') : this.p('BAT1_CAPACITY');
  }
  batteryPct(): number {
    const cap = this.capacityMah();
    return cap > 0 ? clamp(100 * (1 - this.consumedMah / cap), 0, 100) : 100;
  }
  setBatteryPct(pct: number): void {
    this.consumedMah = this.capacityMah() * (1 - clamp(pct, 0, 100) / 100);
  }

  // ---------------------------------------------------------------- fence
  private fenceEnabled(): boolean {
    if (!this.ap) return this.fenceShapes.inclusionPolygons.length + this.fenceShapes.exclusionPolygons.length + this.fenceShapes.inclusionCircles.length + this.fenceShapes.exclusionCircles.length > 0 || this.p('GF_MAX_HOR_DIST') > 0;
    return this.fenceEnabledOverride ?? this.p('FENCE_ENABLE') === 1;
  }
  private fenceTypeMask(): number {
    if (!this.ap) return (this.p('GF_MAX_HOR_DIST') > 0 ? 2 : 0) | (this.p('GF_MAX_VER_DIST') > 0 ? 1 : 0) | 4;
    return this.p('FENCE_TYPE');
  }
  /** Which fences a point violates ('' when inside). */
  private fenceViolation(p: Ne, u: number): string {
    const type = this.fenceTypeMask();
    const altMax = this.ap ? this.p('FENCE_ALT_MAX') : this.p('GF_MAX_VER_DIST');
    if (type & 1 && u > altMax) return 'Max alt';
    const radius = this.ap ? this.p('FENCE_RADIUS') : this.p('GF_MAX_HOR_DIST');
    if (type & 2 && radius > 0 && Math.hypot(p.n - this.home.n, p.e - this.home.e) > radius) return 'Circle';
    if (type & 4 && !insideFenceShapes(p, this.fenceShapes)) return 'Polygon';
    return '';
  }
  private missionChanged(type: MissionTypeValue): void {
    if (type === 1) this.fenceShapes = fenceShapes(this.mission.stored[1], this.frame) ?? this.fenceShapes;
    if (type === 0 && !this.armed) this.missionSeq = this.ap ? (this.mission.missionItems().length > 1 ? 1 : 0) : 0;
  }

  private checkFence(): void {
    if (!this.armed || !this.fenceEnabled()) {
      if (this.breach.status) this.breach.status = 0;
      return;
    }
    const kind = this.fenceViolation(this.pos, this.pos.u);
    if (!kind) {
      if (this.breach.status) {
        this.breach.status = 0;
        this.breach.kinds.clear();
      }
      return;
    }
    if (this.breach.kinds.has(kind)) return;
    this.breach.kinds.add(kind);
    this.breach.status = 1;
    this.breach.count++;
    this.breach.type = kind === 'Max alt' ? 2 : 3;
    this.breach.timeMs = this.nowMs();
    if (this.ap) this.text(SEV.CRITICAL, `${kind} fence breached`);
    else this.text(SEV.CRITICAL, 'Geofence breached');
    if (!this.flying) return;
    const action = this.ap ? this.p('FENCE_ACTION') : this.p('GF_ACTION');
    let to: ModeName | null = null;
    if (this.ap) {
      if (action === 1) to = 'RTL';
      else if (action === 2) to = 'LAND';
      else if (action === 3 || action === 5) to = 'SMART_RTL';
      else if (action === 4) to = 'BRAKE';
    } else {
      if (action === 2) to = 'GUIDED';
      else if (action === 3) to = 'RTL';
      else if (action === 5) to = 'LAND';
    }
    if (to && this.mode !== to && !(this.mode === 'LAND' && to !== 'LAND')) this.failsafeMode(to);
  }

  /** Mode change forced by a failsafe; falls back like ArduPilot (SmartRTL → RTL → LAND). */
  private failsafeMode(to: ModeName): void {
    if (to === 'SMART_RTL' && this.setMode('SMART_RTL', true).ok) return;
    if ((to === 'SMART_RTL' || to === 'RTL') && this.setMode('RTL', true).ok) return;
    if (to !== 'SMART_RTL' && to !== 'RTL' && this.setMode(to, true).ok) return;
    this.setMode('LAND', true);
  }

  // ---------------------------------------------------------------- modes
  private positionOk(): boolean {
    return this.ready && this.gpsOk() && !this.ekfFs;
  }
  private gpsOk(): boolean {
    return this.gpsFixed && !this.faults.gpsLoss && (this.ap ? this.p('SIM_GPS1_ENABLE') !== 0 : true);
  }

  setMode(to: ModeName, failsafe = false): { ok: boolean; reason?: string } {
    const needsPosition: ModeName[] = ['GUIDED', 'AUTO', 'LOITER', 'RTL', 'BRAKE', 'SMART_RTL', 'TAKEOFF'];
    if (needsPosition.includes(to) && !this.positionOk() && (this.initDone || this.armed)) return { ok: false, reason: 'requires position' };
    if (to === 'AUTO' && this.ap && this.armed && !this.flying && !this.missionStartsWithTakeoff()) {
      this.text(SEV.CRITICAL, 'Auto: Missing Takeoff Cmd');
      return { ok: false, reason: 'missing takeoff' };
    }
    if (to === 'SMART_RTL' && this.breadcrumbs.length === 0) return { ok: false, reason: 'no path' };
    const prev = this.mode;
    this.mode = to;
    this.landing = false;
    this.guidedTakeoff = false;
    this.rtl = null;
    this.hold = null;
    this.landPoint = null;
    if (to === 'GUIDED') this.guidedTarget = null;
    if (to === 'LOITER' || to === 'BRAKE' || to === 'GUIDED' || to === 'ALT_HOLD') this.hold = null;
    if (to === 'LAND') this.landPoint = this.gpsOk() ? { n: this.pos.n, e: this.pos.e } : null;
    if (to === 'RTL') this.startRtl();
    if (to === 'SMART_RTL') this.startSmartRtl();
    if (to === 'TAKEOFF') this.guidedTarget = { n: this.pos.n, e: this.pos.e, u: Math.max(this.pos.u, this.p('MIS_TAKEOFF_ALT')) };
    if (to === 'AUTO' && prev !== 'AUTO') {
      this.missionDone = false;
      this.missionPaused = false;
      if (this.flying || (!this.ap && this.armed)) {
        if (!this.ap) this.autoArmed = true;
        this.startMission(this.ap ? Math.max(1, this.missionSeq) : this.missionSeq);
      } else {
        this.nav = null;
      }
    }
    return { ok: true };
  }

  private missionStartsWithTakeoff(): boolean {
    const items = this.mission.missionItems();
    for (let i = this.ap ? 1 : 0; i < items.length; i++) {
      const c = items[i].command;
      if (c === Cmd.NAV_TAKEOFF) return true;
      if (c < 80 || c === Cmd.NAV_DELAY || c === Cmd.NAV_PAYLOAD_PLACE) return false;
    }
    return false;
  }

  private rtlTarget(): Ne {
    let best: Ne = { n: this.home.n, e: this.home.e };
    let bestD = Math.hypot(this.pos.n - best.n, this.pos.e - best.e);
    if (this.ap && this.p('RALLY_INCL_HOME') !== 1) bestD = Infinity;
    const limitM = this.ap ? this.p('RALLY_LIMIT_KM') * 1000 : Infinity;
    for (const r of this.mission.stored[2]) {
      const p = this.frame.toNe({ lat: r.x / 1e7, lon: r.y / 1e7 });
      const d = Math.hypot(this.pos.n - p.n, this.pos.e - p.e);
      if (d < bestD && (limitM <= 0 || Math.hypot(p.n - this.home.n, p.e - this.home.e) <= limitM || bestD === Infinity)) {
        best = p;
        bestD = d;
      }
    }
    return best;
  }

  private startRtl(): void {
    const rtlAltM = this.ap ? this.p('RTL_ALT') / 100 : this.p('RTL_RETURN_ALT');
    let alt = rtlAltM <= 0 ? this.pos.u : Math.max(this.pos.u, rtlAltM);
    if (this.ap && this.fenceEnabled() && this.fenceTypeMask() & 1) alt = Math.min(alt, this.p('FENCE_ALT_MAX') - this.p('FENCE_MARGIN'));
    this.rtl = { phase: 'climb', target: this.rtlTarget(), altU: Math.max(alt, Math.min(this.pos.u, 2)), untilS: 0, path: [] };
    if (!this.flying) this.rtl.phase = 'land';
  }
  private startSmartRtl(): void {
    const path = [...this.breadcrumbs].reverse();
    path.push({ n: this.home.n, e: this.home.e });
    this.rtl = { phase: 'return', target: path[0], altU: this.pos.u, untilS: 0, path };
  }

  // ---------------------------------------------------------------- arming
  private prearmFailure(): string | null {
    if (!this.prearmReady) return this.ap ? 'PreArm: Need Position Estimate' : 'Preflight Fail: system not ready';
    if (this.ap && this.p('ARMING_CHECK') === 0) return null;
    if (!this.gpsOk()) return this.ap ? 'PreArm: GPS 1: Bad fix' : 'Preflight Fail: GPS fix too low';
    if (this.gcsFs) return this.ap ? 'PreArm: GCS failsafe on' : 'Preflight Fail: No connection to the GCS';
    if (this.battFs !== 'none') return this.ap ? 'PreArm: Battery 1 low voltage failsafe' : 'Preflight Fail: low battery';
    if (this.ap) {
      const armV = this.p('BATT_ARM_VOLT');
      if (armV > 0 && this.voltageV < armV) return 'PreArm: Battery 1 below minimum arming voltage';
      const armMah = this.p('BATT_ARM_MAH');
      if (armMah > 0 && this.capacityMah() - this.consumedMah < armMah) return 'PreArm: Battery 1 below minimum arming capacity';
      const lowV = this.p('BATT_LOW_VOLT');
      if (lowV > 0 && this.voltageV < lowV) return 'PreArm: Battery 1 low voltage failsafe';
    }
    if (this.fenceEnabled()) {
      const v = this.fenceViolation(this.pos, this.pos.u);
      if (v) return this.ap ? 'PreArm: Fence: vehicle outside fence' : 'Preflight Fail: outside geofence';
    }
    return null;
  }

  arm(force: boolean): { result: number; text?: string } {
    if (this.armed) return { result: Result.ACCEPTED };
    if (!force) {
      const notArmable: ModeName[] = this.ap ? ['AUTO', 'RTL', 'LAND', 'BRAKE', 'SMART_RTL'] : ['RTL', 'LAND'];
      if (this.ap && notArmable.includes(this.mode)) return { result: Result.FAILED, text: `Arm: ${this.mode} mode not armable` };
      const f = this.prearmFailure();
      if (f) return { result: Result.FAILED, text: f };
      if (!this.ap && notArmable.includes(this.mode)) return { result: Result.FAILED, text: 'Arming denied: not in an armable mode' };
    }
    this.armed = true;
    this.autoArmed = false;
    this.groundSinceS = this.tS;
    this.home = { n: this.pos.n, e: this.pos.e, set: true };
    this.breadcrumbs = [];
    this.landedAtS = -1;
    if (!this.ap && this.mode === 'AUTO') {
      this.autoArmed = true;
      this.startMission(this.missionSeq);
    }
    if (!this.ap && this.mode === 'TAKEOFF') this.takingOff = true;
    return { result: Result.ACCEPTED };
  }

  disarm(reason: string): void {
    if (!this.armed) return;
    this.armed = false;
    this.flying = false;
    this.takingOff = false;
    this.guidedTakeoff = false;
    this.autoArmed = false;
    this.landing = false;
    this.vel = { n: 0, e: 0, u: 0 };
    this.pos.u = 0;
    this.nav = null;
    this.missionSeq = this.ap ? (this.mission.missionItems().length > 1 ? 1 : 0) : 0;
    this.jumpCounts.clear();
    if (this.ap) this.text(SEV.INFO, reason === 'landed' ? 'Disarming motors' : `Disarming motors (${reason})`);
    else this.text(SEV.INFO, '[commander] Disarmed by ' + reason);
  }

  // ---------------------------------------------------------------- payload
  private gripper(release: boolean): void {
    if (!this.gripperEnabled) return; // GRIP_* read at boot: nothing happens until a reboot
    if (this.gripperServo) this.servo9 = release ? this.p('GRIP_RELEASE') || 1100 : this.p('GRIP_GRAB') || 1900;
    if (release) {
      this.releasePayload();
      this.text(SEV.INFO, 'Gripper load released');
    } else {
      this.text(SEV.INFO, 'Gripper load grabbed');
    }
  }
  private releasePayload(): void {
    if (!this.payloadAttached || this.faults.releaseFailure) return;
    this.payloadAttached = false;
    const ll = this.latLon();
    this.releasedAt = { lat: ll.lat, lon: ll.lon, altRelM: this.pos.u };
  }
  /** Load a new parcel (simulator control: reset between deliveries). */
  loadPayload(): void {
    this.payloadAttached = true;
    this.releasedAt = null;
  }

  // ---------------------------------------------------------------- mission execution
  private items(): MissionItem[] {
    return this.mission.missionItems();
  }
  private itemTarget(it: MissionItem): { n: number; e: number; u: number } {
    const here = { n: this.pos.n, e: this.pos.e };
    const p = it.x === 0 && it.y === 0 ? here : this.frame.toNe({ lat: it.x / 1e7, lon: it.y / 1e7 });
    let u = it.z;
    if (it.frame === Frame.GLOBAL || it.frame === Frame.GLOBAL_INT) u = it.z - this.originAmslM;
    if (it.z === 0 && it.command !== Cmd.NAV_TAKEOFF) u = this.pos.u;
    return { n: p.n, e: p.e, u };
  }

  private startMission(seq: number): void {
    this.missionDone = false;
    this.jumpCounts.clear();
    this.advanceTo(seq);
  }

  /** Run DO items from `seq` on and start the next NAV item. */
  private advanceTo(seq: number): void {
    const items = this.items();
    let guard = 0;
    while (seq < items.length && guard++ < 1000) {
      const it = items[seq];
      if (it.command === Cmd.DO_JUMP) {
        const target = Math.round(it.param1);
        const repeat = Math.round(it.param2);
        const done = this.jumpCounts.get(seq) ?? 0;
        if (repeat < 0 || done < repeat) {
          this.jumpCounts.set(seq, done + 1);
          seq = target;
        } else {
          seq++;
        }
        continue;
      }
      if (!this.isNav(it.command)) {
        this.doCommand(it);
        seq++;
        continue;
      }
      this.missionSeq = seq;
      this.nav = { seq, item: it, phase: 'start', startS: this.tS, holdUntilS: 0 };
      this.broadcast(msg(common.MissionCurrent, { seq }));
      if (this.ap) this.text(SEV.INFO, `Mission: ${seq} ${this.navName(it.command)}`);
      this.startNav(this.nav);
      return;
    }
    // End of mission: hold where we are (or stay on the ground).
    this.nav = null;
    this.missionDone = true;
    this.hold = { n: this.pos.n, e: this.pos.e, u: this.pos.u };
  }

  private isNav(c: number): boolean {
    return c < 80 || c === Cmd.NAV_DELAY || c === Cmd.NAV_PAYLOAD_PLACE || c === Cmd.NAV_SPLINE_WAYPOINT;
  }
  private navName(c: number): string {
    const m: Record<number, string> = { 16: 'WP', 17: 'LoitUnlim', 19: 'LoitTime', 20: 'RTL', 21: 'Land', 22: 'Takeoff', 82: 'SplineWP', 93: 'Delay', 94: 'PayloadPlace' };
    return m[c] ?? `Cmd${c}`;
  }

  private startNav(r: NavRun): void {
    const it = r.item;
    const t = this.itemTarget(it);
    switch (it.command) {
      case Cmd.NAV_TAKEOFF:
        r.targetNe = { n: this.pos.n, e: this.pos.e };
        r.targetU = Math.max(it.z, this.pos.u);
        r.phase = 'climb';
        if (!this.flying && this.autoArmed) this.takingOff = true;
        break;
      case Cmd.NAV_WAYPOINT:
      case Cmd.NAV_SPLINE_WAYPOINT:
      case Cmd.NAV_LOITER_TIME:
      case Cmd.NAV_LOITER_UNLIM:
        r.targetNe = { n: t.n, e: t.e };
        r.targetU = t.u;
        r.phase = 'fly';
        if (!this.flying && this.autoArmed) this.takingOff = true;
        break;
      case Cmd.NAV_LAND:
        r.targetNe = it.x === 0 && it.y === 0 ? { n: this.pos.n, e: this.pos.e } : { n: t.n, e: t.e };
        r.targetU = this.pos.u;
        r.phase = 'fly';
        break;
      case Cmd.NAV_PAYLOAD_PLACE:
        r.targetNe = { n: t.n, e: t.e };
        r.targetU = this.pos.u;
        r.startU = this.pos.u;
        r.phase = 'fly';
        break;
      case Cmd.NAV_RETURN_TO_LAUNCH:
        this.startRtl();
        r.phase = 'rtl';
        break;
      case Cmd.NAV_DELAY:
        r.phase = 'delay';
        r.holdUntilS = this.tS + Math.max(0, it.param1);
        r.targetNe = { n: this.pos.n, e: this.pos.e };
        r.targetU = this.pos.u;
        break;
      default:
        r.phase = 'done';
    }
  }

  private navReached(r: NavRun): void {
    this.broadcast(msg(common.MissionItemReached, { seq: r.seq }));
    if (this.ap && (r.item.command === Cmd.NAV_WAYPOINT || r.item.command === Cmd.NAV_LOITER_TIME)) this.text(SEV.INFO, `Reached command #${r.seq}`);
  }

  /** Mission progress for the current NAV item; returns the navigation request. */
  private runMission(): Nav {
    const r = this.nav;
    if (!r) {
      if (this.hold && this.flying) return { kind: 'hold', ...this.hold };
      return { kind: this.flying ? 'hold' : 'ground', n: this.pos.n, e: this.pos.e, u: this.pos.u } as Nav;
    }
    if (!this.flying && !this.takingOff && r.phase !== 'rtl') return { kind: 'ground' };
    if (this.missionPaused) return { kind: 'hold', n: this.hold?.n ?? this.pos.n, e: this.hold?.e ?? this.pos.e, u: this.hold?.u ?? this.pos.u };
    const it = r.item;
    const tgt = r.targetNe ?? { n: this.pos.n, e: this.pos.e };
    const dH = Math.hypot(this.pos.n - tgt.n, this.pos.e - tgt.e);
    const done = () => {
      this.navReached(r);
      this.advanceTo(r.seq + 1);
    };
    switch (it.command) {
      case Cmd.NAV_TAKEOFF:
        if (this.pos.u >= (r.targetU ?? 0) - 0.1) {
          done();
          return { kind: 'hold', n: this.pos.n, e: this.pos.e, u: this.pos.u };
        }
        return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? 0, speedMps: this.wpSpeedMps() };
      case Cmd.NAV_WAYPOINT:
      case Cmd.NAV_SPLINE_WAYPOINT:
      case Cmd.NAV_LOITER_TIME:
      case Cmd.NAV_LOITER_UNLIM: {
        const d3 = Math.hypot(dH, this.pos.u - (r.targetU ?? 0));
        if (r.phase === 'fly' && d3 <= this.wpRadiusM()) {
          r.phase = 'hold';
          const holdS = it.command === Cmd.NAV_LOITER_UNLIM ? Infinity : Math.max(0, it.param1);
          r.holdUntilS = this.tS + holdS;
        }
        if (r.phase === 'hold' && this.tS >= r.holdUntilS) {
          done();
          return this.nav ? { kind: 'hold', n: tgt.n, e: tgt.e, u: r.targetU ?? this.pos.u } : { kind: 'hold', n: this.pos.n, e: this.pos.e, u: this.pos.u };
        }
        return r.phase === 'hold' ? { kind: 'hold', n: tgt.n, e: tgt.e, u: r.targetU ?? 0 } : { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? 0, speedMps: this.wpSpeedMps() };
      }
      case Cmd.NAV_LAND:
        if (r.phase === 'fly') {
          if (dH <= Math.max(1, this.wpRadiusM() / 2)) r.phase = 'descend';
          else return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? this.pos.u, speedMps: this.wpSpeedMps() };
        }
        return { kind: 'land', n: tgt.n, e: tgt.e };
      case Cmd.NAV_PAYLOAD_PLACE: {
        if (r.phase === 'fly') {
          if (dH <= Math.max(1, this.wpRadiusM() / 2)) r.phase = 'descend';
          else return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? this.pos.u, speedMps: this.wpSpeedMps() };
        }
        if (r.phase === 'descend') {
          const maxDescentM = it.param1 > 0 ? it.param1 : Infinity;
          if ((r.startU ?? 0) - this.pos.u > maxDescentM) {
            this.text(SEV.INFO, 'PayloadPlace: Reached maximum descent');
            r.phase = 'ascend';
          } else if (this.pos.u <= 1.0) {
            // The parcel touches down: release it.
            if (this.gripperEnabled) this.gripper(true);
            else this.releasePayload();
            r.phase = 'ascend';
            r.holdUntilS = this.tS + 1;
          } else {
            return { kind: 'goto', n: tgt.n, e: tgt.e, u: 0.9, speedMps: this.wpSpeedMps() };
          }
        }
        if (r.phase === 'ascend') {
          if (this.tS >= r.holdUntilS && this.pos.u >= (r.startU ?? 0) - 0.2) {
            done();
            return { kind: 'hold', n: this.pos.n, e: this.pos.e, u: this.pos.u };
          }
          return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.startU ?? this.pos.u, speedMps: this.wpSpeedMps() };
        }
        return { kind: 'hold', n: tgt.n, e: tgt.e, u: this.pos.u };
      }
      case Cmd.NAV_RETURN_TO_LAUNCH:
        return this.runRtl();
      case Cmd.NAV_DELAY:
        if (this.tS >= r.holdUntilS) {
          done();
        }
        return this.flying ? { kind: 'hold', n: tgt.n, e: tgt.e, u: r.targetU ?? this.pos.u } : { kind: 'ground' };
      default:
        done();
        return { kind: 'hold', n: this.pos.n, e: this.pos.e, u: this.pos.u };
    }
  }

  private runRtl(): Nav {
    const r = this.rtl;
    if (!r) return { kind: 'hold', n: this.pos.n, e: this.pos.e, u: this.pos.u };
    if (!this.flying) return { kind: 'ground' };
    if (r.path.length > 0) {
      // SmartRTL: retrace the path, then land at home.
      const wp = r.path[0];
      if (Math.hypot(this.pos.n - wp.n, this.pos.e - wp.e) < 2) r.path.shift();
      if (r.path.length > 0) return { kind: 'goto', n: r.path[0].n, e: r.path[0].e, u: r.altU, speedMps: this.wpSpeedMps() };
      r.phase = 'land';
      r.target = { n: this.home.n, e: this.home.e };
    }
    if (r.phase === 'climb') {
      if (this.pos.u >= r.altU - 0.3) r.phase = 'return';
      else return { kind: 'goto', n: this.hold?.n ?? this.pos.n, e: this.hold?.e ?? this.pos.e, u: r.altU, speedMps: 0 };
    }
    if (r.phase === 'return') {
      const d = Math.hypot(this.pos.n - r.target.n, this.pos.e - r.target.e);
      if (d <= this.wpRadiusM()) {
        r.phase = 'loiter';
        r.untilS = this.tS + (this.ap ? this.p('RTL_LOIT_TIME') / 1000 : 0);
      } else {
        const sp = this.ap && this.p('RTL_SPEED') > 0 ? this.p('RTL_SPEED') / 100 : this.wpSpeedMps();
        return { kind: 'goto', n: r.target.n, e: r.target.e, u: r.altU, speedMps: sp };
      }
    }
    if (r.phase === 'loiter') {
      if (this.tS >= r.untilS) r.phase = 'land';
      else return { kind: 'hold', n: r.target.n, e: r.target.e, u: r.altU };
    }
    const finalU = this.ap ? this.p('RTL_ALT_FINAL') / 100 : 0;
    if (finalU > 0) return { kind: 'hold', n: r.target.n, e: r.target.e, u: finalU };
    return { kind: 'land', n: r.target.n, e: r.target.e };
  }

  private doCommand(it: MissionItem): void {
    switch (it.command) {
      case Cmd.DO_CHANGE_SPEED:
        if (it.param2 > 0) this.wpSpeedOverride = it.param2;
        break;
      case Cmd.DO_GRIPPER:
        this.gripper(Math.round(it.param2) === 0);
        break;
      case Cmd.DO_WINCH:
        this.winch(it.param2, it.param3);
        break;
      case Cmd.DO_SET_SERVO:
        this.setServo(it.param1, it.param2);
        break;
      case Cmd.DO_FENCE_ENABLE:
        this.fenceEnabledOverride = Math.round(it.param1) === 1;
        break;
      case Cmd.DO_SET_HOME:
        this.setHome(it.param1 === 1 ? null : { lat: it.x / 1e7, lon: it.y / 1e7 });
        break;
      case Cmd.DO_SET_MODE: {
        const m = decodeMode(this.personality, it.param2);
        if (m) this.setMode(m);
        break;
      }
      default:
        break;
    }
  }

  private winch(action: number, lengthM: number): void {
    const winchOn = this.ap ? this.params.live('WINCH_TYPE') !== 0 : true;
    if (!winchOn) return;
    // Relative length control lowering the parcel to the ground: it is released on touchdown.
    if (Math.round(action) === 1 && lengthM >= this.pos.u - 0.5) this.releasePayload();
  }

  private setServo(servo: number, pwm: number): void {
    if (Math.round(servo) !== 9) return;
    this.servo9 = Math.round(pwm);
    if (this.gripperServo && pwm <= (this.p('GRIP_RELEASE') || 1100) + 50) this.releasePayload();
  }

  private setHome(ll: { lat: number; lon: number } | null): void {
    const p = ll ? this.frame.toNe(ll) : { n: this.pos.n, e: this.pos.e };
    this.home = { n: p.n, e: p.e, set: true };
  }

  // ---------------------------------------------------------------- failsafes
  private checkFailsafes(): void {
    // GCS heartbeat loss.
    const fsOn = this.ap ? this.p('FS_GCS_ENABLE') !== 0 : this.p('NAV_DLL_ACT') !== 0;
    const timeoutS = this.ap ? this.p('FS_GCS_TIMEOUT') : this.p('COM_DL_LOSS_T');
    if (this.gcsSeen && fsOn) {
      const lost = this.tS - this.lastGcsHbS > timeoutS;
      if (lost && !this.gcsFs) {
        this.gcsFs = true;
        this.onGcsFailsafe();
      } else if (!lost && this.gcsFs) {
        this.gcsFs = false;
        this.text(this.ap ? SEV.WARNING : SEV.CRITICAL, this.ap ? 'GCS Failsafe Cleared' : 'Data link regained');
      }
    } else if (this.gcsFs) {
      this.gcsFs = false;
    }
    // GPS loss → EKF failsafe after a second.
    if (!this.gpsOk() && this.ready) {
      if (this.gpsLostSinceS < 0) this.gpsLostSinceS = this.tS;
      if (!this.ekfFs && this.tS - this.gpsLostSinceS > 1) {
        this.ekfFs = true;
        if (this.armed && this.flying) {
          const act = this.ap ? this.p('FS_EKF_ACTION') : 1;
          this.text(SEV.CRITICAL, this.ap ? 'EKF Failsafe' : 'Position estimate lost');
          if (act === 2) this.setMode('ALT_HOLD', true);
          else if (act !== 0) this.setMode('LAND', true);
        }
      }
    } else {
      this.gpsLostSinceS = -1;
      if (this.ekfFs) {
        this.ekfFs = false;
        if (this.armed) this.text(SEV.CRITICAL, this.ap ? 'EKF Failsafe Cleared' : 'Position estimate regained');
      }
    }
    this.checkBattery();
  }

  private onGcsFailsafe(): void {
    if (!this.armed) return; // the flag alone blocks arming ("PreArm: GCS failsafe on")
    if (!this.flying) {
      this.disarm('GCS failsafe');
      return;
    }
    if (this.ap) {
      // ArduCopter's order (Copter::failsafe_gcs_on_event): landed → disarm; landing with a battery
      // failsafe, or with FS_OPTIONS "continue if landing" (8) → land; AUTO with "continue in AUTO" (2)
      // → carry on; a pilot-controlled mode (not an autopilot mode: BRAKE, LOITER, ALT_HOLD, POSHOLD,
      // STABILIZE …) with "continue in pilot control" (16, the default) → carry on; else FS_GCS_ENABLE.
      // Announced at WARNING as "GCS Failsafe" or "GCS Failsafe - <what it does>".
      const act = this.p('FS_GCS_ENABLE');
      const opts = this.p('FS_OPTIONS');
      const landingNow = this.mode === 'LAND' || this.landing;
      const announce = (what?: string) => this.text(SEV.WARNING, what ? `GCS Failsafe - ${what}` : 'GCS Failsafe');
      if (landingNow && this.battFs !== 'none') {
        this.text(SEV.WARNING, 'GCS + Battery Failsafe - Continuing Landing');
        if (this.mode !== 'LAND') this.failsafeMode('LAND');
        return;
      }
      if (landingNow && opts & 8) {
        announce('Continuing Landing');
        if (this.mode !== 'LAND') this.failsafeMode('LAND');
        return;
      }
      if (this.mode === 'AUTO' && opts & 2) return announce('Continuing Auto Mode');
      if (opts & 16 && !AUTOPILOT_MODES.has(this.mode)) return announce('Continuing Pilot Control');
      announce();
      // 2 (continue mission) was replaced by FS_OPTIONS bit 2 in 4.0; the value itself now means RTL.
      if (act === 5) this.failsafeMode('LAND');
      else if (act === 3) this.failsafeMode('SMART_RTL');
      else if (act === 4) {
        if (!this.setMode('SMART_RTL', true).ok) this.setMode('LAND', true);
      } else if (act === 7) {
        if (!this.setMode('BRAKE', true).ok) this.setMode('LAND', true);
      } else this.failsafeMode('RTL');
    } else {
      this.text(SEV.CRITICAL, 'Connection to ground station lost');
      const act = this.p('NAV_DLL_ACT');
      if (act === 1) this.setMode('GUIDED', true);
      else if (act === 2) this.failsafeMode('RTL');
      else if (act === 3) this.setMode('LAND', true);
    }
  }

  private checkBattery(): void {
    const remainingMah = this.capacityMah() - this.consumedMah;
    let low = false;
    let crit = false;
    if (this.ap) {
      const lowV = this.p('BATT_LOW_VOLT');
      const crtV = this.p('BATT_CRT_VOLT');
      const timerS = this.p('BATT_LOW_TIMER');
      if (lowV > 0 && this.voltageV < lowV) {
        if (this.battLowSinceS < 0) this.battLowSinceS = this.tS;
        if (this.tS - this.battLowSinceS >= timerS) low = true;
      } else this.battLowSinceS = -1;
      if (crtV > 0 && this.voltageV < crtV) {
        if (this.battCrtSinceS < 0) this.battCrtSinceS = this.tS;
        if (this.tS - this.battCrtSinceS >= timerS) crit = true;
      } else this.battCrtSinceS = -1;
      if (this.p('BATT_LOW_MAH') > 0 && remainingMah < this.p('BATT_LOW_MAH')) low = true;
      if (this.p('BATT_CRT_MAH') > 0 && remainingMah < this.p('BATT_CRT_MAH')) crit = true;
    } else {
      const frac = this.batteryPct() / 100;
      low = frac < this.p('BAT_LOW_THR');
      crit = frac < this.p('BAT_CRIT_THR');
    }
    const level = crit ? 'critical' : low ? 'low' : 'none';
    if (level === 'none' || level === this.battFs || (this.battFs === 'critical' && level === 'low')) return;
    this.battFs = level;
    this.text(SEV.CRITICAL, this.ap ? `Battery 1 is ${level} ${this.voltageV.toFixed(2)}V used ${Math.round(this.consumedMah)} mAh` : `Battery ${level}: ${Math.round(this.batteryPct())}% remaining`);
    if (!this.armed) return;
    let act: number;
    if (this.ap) act = level === 'critical' ? this.p('BATT_FS_CRT_ACT') : this.p('BATT_FS_LOW_ACT');
    else {
      const a = this.p('COM_LOW_BAT_ACT');
      act = a === 0 ? 0 : level === 'critical' ? 1 : a === 3 ? 2 : 0;
    }
    if (act === 0) return;
    if (!this.flying) {
      this.disarm('battery failsafe');
      return;
    }
    if (act === 1) this.setMode('LAND', true);
    else if (act === 2) this.failsafeMode('RTL');
    else if (act === 3) this.failsafeMode('SMART_RTL');
    else if (act === 4) {
      if (!this.setMode('SMART_RTL', true).ok) this.setMode('LAND', true);
    } else if (act === 5) this.disarm('terminate');
  }

  // ---------------------------------------------------------------- navigation request per mode
  private navRequest(): Nav {
    if (!this.armed) return { kind: 'ground' };
    if (!this.positionOk() && this.flying) {
      if (this.mode === 'LAND' || this.landing) return { kind: 'land', n: null, e: null };
      return { kind: 'drift' };
    }
    switch (this.mode) {
      case 'AUTO':
        if (!this.autoArmed && !this.flying) return { kind: 'ground' };
        return this.runMission();
      case 'GUIDED':
      case 'TAKEOFF':
        if (!this.flying && !this.takingOff) return { kind: 'ground' };
        if (this.guidedTarget) {
          // PX4 ends TAKEOFF in hold (entering GUIDED clears the target): hold where it levelled off.
          if (this.mode === 'TAKEOFF' && this.pos.u >= this.guidedTarget.u - 0.1) {
            this.setMode('GUIDED');
            return this.holdHere();
          }
          // ArduCopter's takeoff completes at its altitude: landed_state TAKEOFF (3) until then.
          if (this.guidedTakeoff && this.flying && this.pos.u >= this.guidedTarget.u - 0.1) this.guidedTakeoff = false;
          return { kind: 'goto', ...this.guidedTarget, speedMps: this.wpSpeedMps() };
        }
        return this.holdHere();
      case 'LOITER':
      case 'ALT_HOLD':
        // ArduCopter's pilot modes climb or descend as the throttle stick says. Nobody holds one here:
        // the throttle rests at its minimum (as SITL's RC input does, 1000), which asks for the
        // pilot's full descent rate (PILOT_SPEED_DN, or PILOT_SPEED_UP when 0): down to the ground,
        // then DISARM_DELAY disarms it. PX4's Hold (shown as LOITER here) holds its altitude.
        if (this.flying && this.ap) {
          const h = this.holdHere() as Extract<Nav, { kind: 'hold' }>;
          return { kind: 'hold', n: h.n, e: h.e, u: -10, pilotDescentMps: (this.p('PILOT_SPEED_DN') || this.p('PILOT_SPEED_UP')) / 100 };
        }
        return this.flying ? this.holdHere() : { kind: 'ground' };
      case 'BRAKE':
        return this.flying ? this.holdHere() : { kind: 'ground' };
      case 'RTL':
      case 'SMART_RTL':
        return this.runRtl();
      case 'LAND':
        return { kind: 'land', n: this.landPoint?.n ?? null, e: this.landPoint?.e ?? null };
      default:
        return this.flying ? this.holdHere() : { kind: 'ground' };
    }
  }

  private holdHere(): Extract<Nav, { kind: 'hold' }> {
    if (!this.hold) {
      // Stop with the acceleration limit, then hold: the stopping point.
      const v = norm(this.vel.n, this.vel.e);
      const stopM = (v * v) / (2 * this.accelMps2());
      const k = v > 0.01 ? stopM / v : 0;
      this.hold = { n: this.pos.n + this.vel.n * k, e: this.pos.e + this.vel.e * k, u: this.pos.u };
    }
    return { kind: 'hold', ...this.hold };
  }

  // ---------------------------------------------------------------- physics
  private windVector(): { n: number; e: number } {
    let spd = 0;
    let from = 0;
    let turb = 0;
    if (this.faults.wind) {
      spd = this.faults.wind.speedMps;
      from = this.faults.wind.fromDeg;
      turb = this.faults.wind.gustMps;
    } else if (this.ap) {
      spd = this.p('SIM_WIND_SPD');
      from = this.p('SIM_WIND_DIR');
      turb = this.p('SIM_WIND_TURB');
    }
    const r = (from * Math.PI) / 180;
    return { n: -spd * Math.cos(r) + this.gust.n * (turb > 0 ? 1 : 0), e: -spd * Math.sin(r) + this.gust.e * (turb > 0 ? 1 : 0) };
  }

  private updateGust(dt: number): void {
    const turb = this.faults.wind ? this.faults.wind.gustMps : this.ap ? this.p('SIM_WIND_TURB') : 0;
    const tau = 3;
    const sigma = turb;
    const k = Math.sqrt((2 * dt) / tau) * sigma;
    const gauss = () => {
      const u1 = Math.max(1e-9, this.random());
      return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * this.random());
    };
    this.gust.n += (-this.gust.n / tau) * dt + k * gauss();
    this.gust.e += (-this.gust.e / tau) * dt + k * gauss();
  }

  private physics(dt: number, nav: Nav): void {
    this.updateGust(dt);
    const wind = this.windVector();
    const aMax = this.accelMps2();
    // Desired velocity from the navigation request.
    let vdn = 0;
    let vde = 0;
    let vdu = 0;
    let posControl = true;
    if (nav.kind === 'ground') {
      if (!this.flying) {
        this.vel = { n: 0, e: 0, u: 0 };
        this.accel = { n: 0, e: 0 };
        this.pos.u = 0;
        this.airVel = { n: 0, e: 0 };
        return;
      }
      vdu = -this.landSpeedMps();
    } else if (nav.kind === 'drift') {
      posControl = false;
    } else if (nav.kind === 'land') {
      if (nav.n !== null && nav.e !== null) [vdn, vde] = this.horizontalToward(nav.n, nav.e, this.wpSpeedMps(), aMax);
      else posControl = false;
      vdu = -this.landSpeedMps();
      this.landing = true;
    } else {
      const speed = nav.kind === 'goto' ? nav.speedMps : this.wpSpeedMps();
      [vdn, vde] = this.horizontalToward(nav.n, nav.e, nav.kind === 'goto' && nav.speedMps === 0 ? 0 : speed, aMax);
      const dz = nav.u - this.pos.u;
      const up = this.climbMps();
      const dn = nav.kind === 'hold' && nav.pilotDescentMps ? nav.pilotDescentMps : this.descentMps();
      const aZ = this.ap ? Math.max(0.3, this.p('WPNAV_ACCEL_Z') / 100) : 1;
      const vz = Math.sign(dz) * Math.min(Math.sqrt(2 * aZ * Math.abs(dz)), Math.abs(dz) * 2);
      vdu = clamp(vz, -dn, up);
      this.landing = false;
    }
    if (!this.flying) {
      if (vdu > 0.05 && this.takingOff) {
        this.flying = true;
        this.takingOff = false;
        this.landedAtS = -1;
      } else {
        this.vel = { n: 0, e: 0, u: 0 };
        return;
      }
    }
    if (posControl) {
      // Ground-velocity control with accel limit; wind shifts the airspeed needed and gusts leak through.
      let dvn = vdn - (this.vel.n - this.gust.n * 0.15);
      let dve = vde - (this.vel.e - this.gust.e * 0.15);
      const dv = norm(dvn, dve);
      const maxDv = aMax * dt * 1.0;
      if (dv > maxDv) {
        dvn *= maxDv / dv;
        dve *= maxDv / dv;
      }
      let cn = this.vel.n - this.gust.n * 0.15 + dvn;
      let ce = this.vel.e - this.gust.e * 0.15 + dve;
      // Airspeed limit: what the airframe can hold against the wind.
      let an = cn - wind.n;
      let ae = ce - wind.e;
      const air = norm(an, ae);
      if (air > AIRFRAME.maxAirspeedMps) {
        an *= AIRFRAME.maxAirspeedMps / air;
        ae *= AIRFRAME.maxAirspeedMps / air;
        cn = an + wind.n;
        ce = ae + wind.e;
      }
      this.accel = { n: (cn - this.vel.n) / dt, e: (ce - this.vel.e) / dt };
      this.airVel = { n: an, e: ae };
      const gn = cn + this.gust.n * 0.15;
      const ge = ce + this.gust.e * 0.15;
      this.vel.n = gn;
      this.vel.e = ge;
    } else {
      // No position estimate: attitude held level, the vehicle drifts with the air mass.
      const tau = 2;
      this.airVel.n += (-this.airVel.n / tau) * dt;
      this.airVel.e += (-this.airVel.e / tau) * dt;
      const nvn = this.airVel.n + wind.n;
      const nve = this.airVel.e + wind.e;
      this.accel = { n: (nvn - this.vel.n) / dt, e: (nve - this.vel.e) / dt };
      this.vel.n = nvn;
      this.vel.e = nve;
    }
    const aZ = this.ap ? Math.max(0.3, this.p('WPNAV_ACCEL_Z') / 100) * 2 : 2;
    this.vel.u += clamp(vdu - this.vel.u, -aZ * dt, aZ * dt);
    this.pos.n += this.vel.n * dt;
    this.pos.e += this.vel.e * dt;
    this.pos.u += this.vel.u * dt;
    const sp = norm(this.vel.n, this.vel.e);
    if (sp > 1) this.yawDeg = bearingDeg(this.vel.n, this.vel.e);
    if (this.pos.u <= 0) {
      this.pos.u = 0;
      if (this.vel.u <= 0 && this.flying) {
        this.flying = false;
        this.vel = { n: 0, e: 0, u: 0 };
        this.landedAtS = this.tS;
        this.groundSinceS = this.tS;
      }
    }
    // SmartRTL breadcrumbs.
    if (this.flying && this.mode !== 'SMART_RTL' && this.positionOk()) {
      const last = this.breadcrumbs[this.breadcrumbs.length - 1];
      if (!last || Math.hypot(this.pos.n - last.n, this.pos.e - last.e) > 3) {
        this.breadcrumbs.push({ n: this.pos.n, e: this.pos.e });
        if (this.breadcrumbs.length > 300) this.breadcrumbs.shift();
      }
    }
  }

  private horizontalToward(n: number, e: number, speed: number, aMax: number): [number, number] {
    const dn = n - this.pos.n;
    const de = e - this.pos.e;
    const d = norm(dn, de);
    if (d < 0.01) return [0, 0];
    const v = Math.min(speed > 0 ? speed : 0, Math.sqrt(2 * aMax * d) * 0.95, d * 2);
    return [(dn / d) * v, (de / d) * v];
  }

  private battery(dt: number): void {
    const mass = AIRFRAME.emptyMassKg + (this.payloadAttached ? AIRFRAME.payloadMassKg : 0);
    let current = AIRFRAME.idleCurrentA;
    const af = this.opts.airframe;
    if (af) {
      const powerW = airframePowerW(af, { flying: this.flying, armed: this.armed, loaded: this.payloadAttached, airspeedMps: norm(this.airVel.n, this.airVel.e), climbMps: this.vel.u });
      current = powerW / Math.max(1, this.voltageV);
    } else if (this.armed) current += 1.5;
    if (!af && this.flying) {
      const massFactor = Math.pow(mass / AIRFRAME.emptyMassKg, 1.5);
      const air = norm(this.airVel.n, this.airVel.e);
      current += AIRFRAME.hoverCurrentA * massFactor * (1 + 0.0012 * air * air) + Math.max(0, this.vel.u) * 2.5;
    }
    this.currentA = current;
    this.consumedMah += (current * dt * 1000) / 3600;
    const cells = this.ap ? Math.max(1, Math.round((this.p('SIM_BATT_VOLTAGE') || 12.6) / 4.2)) : Math.max(1, this.params.live('BAT1_N_CELLS') || 4);
    const soc = this.batteryPct() / 100;
    let v = cells * cellOcv(soc) - current * AIRFRAME.internalResistanceOhm;
    if (this.faults.batterySagPct > 0) v *= 1 - this.faults.batterySagPct / 100;
    this.voltageV = Math.max(0, v);
  }

  // ---------------------------------------------------------------- main step
  step(dt: number): void {
    this.tS += dt;
    if (this.timers.length) {
      for (let i = 0; i < this.timers.length; ) {
        if (this.timers[i].atS <= this.tS) {
          const t = this.timers.splice(i, 1)[0];
          t.fn();
        } else i++;
      }
    }
    this.checkFailsafes();
    const nav = this.navRequest();
    this.physics(dt, nav);
    this.checkFence();
    // Landing complete: disarm shortly after touchdown in a landing mode.
    if (this.armed && !this.flying && this.landedAtS >= 0 && this.tS - this.landedAtS > (this.ap ? 1 : this.p('COM_DISARM_LAND'))) {
      const landingMode = this.mode === 'LAND' || this.mode === 'RTL' || this.mode === 'SMART_RTL' || this.mode === 'AUTO';
      if (landingMode) {
        if (this.mode === 'AUTO' && this.nav) this.navReached(this.nav);
        this.disarm('landed');
      }
      this.landedAtS = -1;
    }
    // Auto-disarm on the ground when nothing takes off.
    if (this.armed && !this.flying && !this.takingOff && this.tS - this.groundSinceS > this.disarmDelayS() && this.disarmDelayS() > 0) {
      this.disarm('auto-disarm');
    }
    if (this.armed && !this.flying && this.takingOff && this.tS - this.groundSinceS > 30) this.takingOff = false;
    this.mission.update();
    this.battery(dt);
    this.drainParamQueue();
  }

  // ---------------------------------------------------------------- telemetry
  /** Message ids the vehicle can stream. */
  static readonly STREAMABLE = [0, 1, 2, 24, 30, 33, 36, 42, 74, 147, 162, 193, 242, 245, 246];

  /** Build one telemetry message by id (null when it has nothing to say, e.g. no home yet). */
  build(msgid: number): MavLinkData | null {
    const ll = this.latLon();
    const latE7 = Math.round(ll.lat * 1e7);
    const lonE7 = Math.round(ll.lon * 1e7);
    const amslMm = Math.round((this.originAmslM + this.pos.u) * 1000);
    const t = this.nowMs();
    const gps = this.gpsOk();
    switch (msgid) {
      case 0: {
        const base = 1 | (this.armed ? 128 : 0) | (this.mode === 'AUTO' ? 4 : 0) | (['GUIDED', 'AUTO', 'RTL', 'LAND', 'LOITER', 'SMART_RTL', 'BRAKE', 'TAKEOFF'].includes(this.mode) ? 8 : 0) | 16;
        const status = !this.initDone ? 1 : this.gcsFs || this.ekfFs || this.battFs !== 'none' ? 5 : this.armed ? 4 : 3;
        return msg(minimal.Heartbeat, { type: 2, autopilot: this.ap ? 3 : 12, baseMode: base, customMode: encodeMode(this.personality, this.mode), systemStatus: status });
      }
      case 1: {
        const present = SENSORS.GYRO | SENSORS.ACCEL | SENSORS.MAG | SENSORS.BARO | SENSORS.GPS | SENSORS.MOTORS | SENSORS.AHRS | SENSORS.BATTERY | SENSORS.FENCE | PREARM_BIT;
        let enabled = present & ~SENSORS.FENCE & ~PREARM_BIT;
        if (this.fenceEnabled()) enabled |= SENSORS.FENCE;
        enabled |= PREARM_BIT;
        let health = present & ~PREARM_BIT;
        if (!gps) health &= ~SENSORS.GPS;
        if (!this.ekfAligned || this.ekfFs) health &= ~SENSORS.AHRS;
        if (this.breach.status) health &= ~SENSORS.FENCE;
        if (this.battFs !== 'none') health &= ~SENSORS.BATTERY;
        if (!this.armed && this.prearmFailure() === null) health |= PREARM_BIT;
        if (this.armed) health |= PREARM_BIT;
        return msg(common.SysStatus, {
          onboardControlSensorsPresent: present, onboardControlSensorsEnabled: enabled, onboardControlSensorsHealth: health,
          load: 250, voltageBattery: Math.round(this.voltageV * 1000), currentBattery: Math.round(this.currentA * 100), batteryRemaining: Math.round(this.batteryPct()),
        });
      }
      case 2:
        return msg(common.SystemTime, { timeUnixUsec: BigInt(Date.now()) * 1000n, timeBootMs: t });
      case 24:
        return msg(common.GpsRawInt, {
          timeUsec: BigInt(t) * 1000n, lat: gps ? latE7 : 0, lon: gps ? lonE7 : 0, alt: gps ? amslMm : 0, eph: gps ? 121 : 9999, epv: gps ? 200 : 9999,
          vel: Math.round(norm(this.vel.n, this.vel.e) * 100), cog: Math.round(this.yawDeg * 100), fixType: gps ? 6 : this.gpsFixed && !gps ? 1 : 0, satellitesVisible: gps ? 10 : 0,
        });
      case 30: {
        const yaw = (this.yawDeg * Math.PI) / 180;
        const fwd = this.accel.n * Math.cos(yaw) + this.accel.e * Math.sin(yaw);
        const right = -this.accel.n * Math.sin(yaw) + this.accel.e * Math.cos(yaw);
        const air = this.airVel;
        const dragF = 0.08 * (air.n * Math.cos(yaw) + air.e * Math.sin(yaw));
        const dragR = 0.08 * (-air.n * Math.sin(yaw) + air.e * Math.cos(yaw));
        return msg(common.Attitude, {
          timeBootMs: t, roll: this.flying ? Math.atan2(right + dragR, G) : 0, pitch: this.flying ? -Math.atan2(fwd + dragF, G) : 0, yaw: yaw > Math.PI ? yaw - 2 * Math.PI : yaw,
        });
      }
      case 33:
        return msg(common.GlobalPositionInt, {
          timeBootMs: t, lat: latE7, lon: lonE7, alt: amslMm, relativeAlt: Math.round(this.pos.u * 1000),
          vx: Math.round(this.vel.n * 100), vy: Math.round(this.vel.e * 100), vz: Math.round(-this.vel.u * 100), hdg: Math.round(this.yawDeg * 100) % 36000,
        });
      case 36: {
        const motor = this.armed ? (this.flying ? 1500 : 1100) : 1000;
        return msg(common.ServoOutputRaw, {
          timeUsec: (t * 1000) >>> 0, servo1Raw: motor, servo2Raw: motor, servo3Raw: motor, servo4Raw: motor, port: 0, servo9Raw: this.servo9,
        });
      }
      case 42:
        return msg(common.MissionCurrent, { seq: this.missionSeq });
      case 74:
        return msg(common.VfrHud, {
          airspeed: norm(this.airVel.n, this.airVel.e), groundspeed: norm(this.vel.n, this.vel.e), alt: this.originAmslM + this.pos.u, climb: this.vel.u,
          heading: Math.round(this.yawDeg) % 360, throttle: this.flying ? 45 : 0,
        });
      case 147: {
        const voltages = new Array(10).fill(65535);
        voltages[0] = Math.round(this.voltageV * 1000);
        return msg(common.BatteryStatus, {
          id: 0, batteryFunction: 0, type: 1, temperature: 32767, voltages, currentBattery: Math.round(this.currentA * 100),
          currentConsumed: Math.round(this.consumedMah), energyConsumed: -1, batteryRemaining: Math.round(this.batteryPct()), voltagesExt: [0, 0, 0, 0],
        });
      }
      case 162:
        if (!this.fenceEnabled()) return null;
        return msg(common.FenceStatus, { breachStatus: this.breach.status, breachCount: this.breach.count, breachType: this.breach.type, breachTime: this.breach.timeMs, breachMitigation: 0 });
      case 193: {
        // ArduCopter: nothing before the EKF starts, 0x400 (not initialised) until aligned, 0xa7 until it uses GPS.
        if (this.ap && !this.ekfStarted) return null;
        const flags = !this.ready ? (this.ap ? (this.ekfAligned ? 0xa7 : 0x400) : 0) : gps && !this.ekfFs ? 0x33f : 0x1 | 0x4 | 0x20 | 0x80;
        return msg(ardupilotmega.EkfStatusReport, { flags, velocityVariance: 0.02, posHorizVariance: gps ? 0.02 : 1.2, posVertVariance: 0.02, compassVariance: 0.01, terrainAltVariance: 0 });
      }
      case 242: {
        if (!this.home.set) return null;
        const h = this.frame.toLatLon(this.home);
        return msg(common.HomePosition, {
          latitude: Math.round(h.lat * 1e7), longitude: Math.round(h.lon * 1e7), altitude: Math.round(this.originAmslM * 1000),
          x: this.home.n - 0, y: this.home.e, z: 0, q: [1, 0, 0, 0], timeUsec: BigInt(t) * 1000n,
        });
      }
      case 245: {
        // ArduCopter: ON_GROUND (1) until it leaves the ground, LANDING (4) in a landing, TAKEOFF (3) until
        // the takeoff altitude is reached (GUIDED takeoff or the mission's NAV_TAKEOFF), IN_AIR (2) otherwise.
        let landed = 1;
        if (this.flying) landed = this.landing || this.mode === 'LAND' ? 4 : this.takeoffPhase() ? 3 : 2;
        else if (this.armed && this.takingOff && this.takeoffPhase()) landed = 3;
        return msg(common.ExtendedSysState, { vtolState: 0, landedState: landed });
      }
      case 148:
        return this.autopilotVersion();
      default:
        return null;
    }
  }

  private takeoffPhase(): boolean {
    return (this.nav?.item.command === Cmd.NAV_TAKEOFF && this.mode === 'AUTO') || this.mode === 'TAKEOFF' || (this.mode === 'GUIDED' && this.guidedTakeoff);
  }

  private autopilotVersion(): MavLinkData {
    const caps = 1 | 2 | 4 | 8 | 32 | 256 | 8192 | 16384 | 32768 | (this.ap ? 131072 : 16);
    const ver = this.ap ? (4 << 24) | (7 << 16) | (0 << 8) | 255 : (1 << 24) | (15 << 16) | (0 << 8) | 255;
    return msg(common.AutopilotVersion, {
      capabilities: BigInt(caps), uid: BigInt(0x44524f50000000 + this.sysid), flightSwVersion: ver >>> 0, middlewareSwVersion: 0, osSwVersion: 0, boardVersion: 0,
      vendorId: this.ap ? 0x1209 : 0x26ac, productId: this.ap ? 0x5740 : 0x11, flightCustomVersion: [0x64, 0x72, 0x6f, 0x70, 0x6c, 0x69, 0x6e, 0x65],
      middlewareCustomVersion: new Array(8).fill(0), osCustomVersion: new Array(8).fill(0), uid2: new Array(18).fill(0),
    });
  }

  /** Stream telemetry on every link per its message intervals (sim time). */
  /** Simulated manned aircraft its ADS-B receiver hears (sims/adsb-traffic.ts). */
  readonly adsb = new SimAdsbTraffic();
  addTraffic(f: AdsbTrafficFault): void {
    this.adsb.add(f, this.tS, { latLon: this.latLon(), altAmslM: this.originAmslM + this.pos.u, vn: this.vel.n, ve: this.vel.e, yawDeg: this.yawDeg });
  }

  emitTelemetry(): void {
    // ADSB_VEHICLE only to the links that asked for message 246 (ArduPilot's ADSB stream).
    for (const m of this.adsb.due(this.tS)) for (const link of this.links) if ((link.intervals.get(246)?.intervalS ?? 0) > 0) link.send(m);
    const cache = new Map<number, MavLinkData | null>();
    for (const link of this.links) {
      for (const [id, s] of link.intervals) {
        if (s.intervalS <= 0 || this.tS < s.nextS) continue;
        s.nextS += s.intervalS;
        if (s.nextS < this.tS) s.nextS = this.tS + s.intervalS;
        let m = cache.get(id);
        if (m === undefined) {
          m = this.build(id);
          cache.set(id, m);
        }
        if (m) link.send(m);
      }
    }
  }

  /** A new connection: heartbeat at 1 Hz until the ground station asks for more. */
  attach(link: SimLink): void {
    link.intervals.set(0, { intervalS: 1, nextS: this.tS });
    this.signing.apply(link);
    this.links.add(link);
  }
  detach(link: SimLink): void {
    this.links.delete(link);
    this.paramQueue = this.paramQueue.filter((q) => q.link !== link);
  }

  // ---------------------------------------------------------------- incoming
  onFrame(link: SimLink, f: MavFrame): void {
    if (!f.data) return;
    const d = f.data as unknown as Record<string, unknown>;
    const target = d.targetSystem as number | undefined;
    if (target !== undefined && target !== 0 && target !== this.sysid) return;
    switch (f.name) {
      case 'HEARTBEAT': {
        const gcsSysid = this.ap ? this.p('MAV_GCS_SYSID') : -1;
        const isGcs = this.ap ? f.sysid === gcsSysid : (d.type as number) === 6;
        if (isGcs) {
          this.gcsSeen = true;
          this.lastGcsHbS = this.tS;
        }
        return;
      }
      case 'COMMAND_LONG':
      case 'COMMAND_INT':
        this.onCommand(link, f);
        return;
      case 'PARAM_REQUEST_LIST':
        for (let i = 0; i < this.params.count; i++) this.paramQueue.push({ link, index: i });
        return;
      case 'PARAM_REQUEST_READ': {
        const idx = d.paramIndex as number;
        const name = String(d.paramId ?? '').replace(/\0.*$/, '');
        const i = idx >= 0 ? idx : this.params.indexOf(name);
        if (i >= 0 && i < this.params.count) link.send(this.paramValue(i));
        return; // unknown name: no reply at all, as on ArduPilot
      }
      case 'PARAM_SET': {
        const name = String(d.paramId ?? '').replace(/\0.*$/, '');
        if (!this.params.has(name)) return;
        const value = this.decodeParamValue(name, d.paramValue as number, d.paramType as number);
        this.params.set(name, value);
        this.paramChanged(name);
        this.broadcast(this.paramValue(this.params.indexOf(name)));
        return;
      }
      case 'TIMESYNC': {
        const tc1 = d.tc1 as bigint;
        if (tc1 === 0n) link.send(msg(common.TimeSync, { tc1: BigInt(Math.round(this.tS * 1e9)), ts1: d.ts1 as bigint }));
        return;
      }
      case 'SET_MODE': {
        const m = decodeMode(this.personality, d.customMode as number);
        if (m) this.setMode(m);
        return;
      }
      case 'SET_POSITION_TARGET_GLOBAL_INT': {
        if (this.mode !== 'GUIDED' || !this.flying) return;
        const ll = { lat: (d.latInt as number) / 1e7, lon: (d.lonInt as number) / 1e7 };
        const p = this.frame.toNe(ll);
        const frameId = d.coordinateFrame as number;
        const u = frameId === 5 || frameId === 0 ? (d.alt as number) - this.originAmslM : (d.alt as number);
        if (this.fenceEnabled() && this.fenceViolation(p, u)) return;
        this.guidedTarget = { n: p.n, e: p.e, u };
        return;
      }
      case 'MISSION_SET_CURRENT': {
        const seq = d.seq as number;
        if (seq < this.items().length) {
          this.missionSeq = seq;
          if (this.mode === 'AUTO' && (this.flying || this.autoArmed)) this.advanceTo(seq);
          this.broadcast(msg(common.MissionCurrent, { seq }));
        }
        return;
      }
      case 'SETUP_SIGNING': {
        if (!this.ap) return;
        const r = this.signing.setup(d.secretKey as number[], d.initialTimestamp as bigint, this.armed, this.links);
        if (r === 'refused-armed') this.text(SEV.WARNING, "ERROR: Won't setup signing when armed");
        return;
      }
      case 'REQUEST_DATA_STREAM': {
        const rate = d.reqMessageRate as number;
        const on = (d.startStop as number) === 1 && rate > 0;
        for (const id of [1, 24, 30, 33, 36, 42, 74, 147, 193, 245, 162]) {
          if (on) link.intervals.set(id, { intervalS: 1 / rate, nextS: this.tS });
          else link.intervals.delete(id);
        }
        return;
      }
      default:
        this.mission.handle(link, f);
    }
  }

  private paramChanged(name: string): void {
    if (name === 'SIM_GPS1_ENABLE') this.gpsLostSinceS = -1;
  }

  private paramValue(i: number): MavLinkData {
    const p = this.params.byIndex(i)!;
    let value = p.value;
    if (!this.ap && p.type === 6) {
      // PX4 sends integers bytewise in the float field.
      const b = Buffer.alloc(4);
      b.writeInt32LE(Math.round(p.value));
      value = b.readFloatLE(0);
    }
    return msg(common.ParamValue, { paramId: p.name, paramValue: value, paramType: p.type, paramCount: this.params.count, paramIndex: i });
  }
  private decodeParamValue(name: string, v: number, type: number): number {
    if (!this.ap && this.params.typeOf(name) === 6 && type === 6) {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v);
      return b.readInt32LE(0);
    }
    return v;
  }
  private drainParamQueue(): void {
    for (let n = 0; n < 10 && this.paramQueue.length > 0; n++) {
      const q = this.paramQueue.shift()!;
      if (this.links.has(q.link)) q.link.send(this.paramValue(q.index));
    }
  }

  private ack(link: SimLink, f: MavFrame, command: number, result: number): void {
    link.send(msg(common.CommandAck, { command, result, targetSystem: f.sysid, targetComponent: f.compid }));
  }

  private onCommand(link: SimLink, f: MavFrame): void {
    const d = f.data as unknown as Record<string, number>;
    const isInt = f.name === 'COMMAND_INT';
    const cmd = d.command;
    const p = [0, d.param1, d.param2, d.param3, d.param4, isInt ? d.x : d.param5, isInt ? d.y : d.param6, isInt ? d.z : d.param7];
    const lat = isInt ? d.x / 1e7 : d.param5;
    const lon = isInt ? d.y / 1e7 : d.param6;
    const reply = (r: number) => this.ack(link, f, cmd, r);
    const refuse = (text: string | undefined, r: number = Result.FAILED) => {
      if (text) this.text(SEV.CRITICAL, text);
      reply(r);
    };
    switch (cmd) {
      case Cmd.COMPONENT_ARM_DISARM: {
        if (Math.round(p[1]) === 1) {
          const r = this.arm(Math.round(p[2]) === 21196);
          if (r.result !== Result.ACCEPTED) refuse(r.text, r.result);
          else reply(Result.ACCEPTED);
        } else {
          if (!this.armed) return reply(Result.ACCEPTED);
          if (this.flying && Math.round(p[2]) !== 21196) return refuse(undefined);
          this.disarm('GCS');
          reply(Result.ACCEPTED);
        }
        return;
      }
      case Cmd.DO_SET_MODE: {
        const m = decodeMode(this.personality, this.ap ? Math.round(p[2]) : ((Math.round(p[2]) & 0xff) << 16) | ((Math.round(p[3]) & 0xff) << 24));
        if (!m) return reply(Result.FAILED);
        const r = this.setMode(m);
        if (!r.ok) {
          if (r.reason === 'requires position') this.text(SEV.WARNING, `Mode change to ${modeDisplayName(this.personality, m)} failed: requires position`);
          return reply(Result.FAILED);
        }
        return reply(Result.ACCEPTED);
      }
      case Cmd.NAV_TAKEOFF: {
        const altM = p[7];
        if (!this.armed || (this.mode !== 'GUIDED' && this.ap) || this.flying || !this.positionOk()) return reply(Result.FAILED);
        if (!this.ap) this.setMode('TAKEOFF');
        // ArduCopter reads param7 as metres above home; PX4 as AMSL (NaN: its MIS_TAKEOFF_ALT).
        const relM = this.ap ? altM : Number.isFinite(altM) && altM !== 0 ? altM - this.originAmslM : this.p('MIS_TAKEOFF_ALT');
        this.guidedTarget = { n: this.pos.n, e: this.pos.e, u: Math.max(1, relM || 0) };
        this.takingOff = true;
        this.guidedTakeoff = this.ap;
        return reply(Result.ACCEPTED);
      }
      case Cmd.MISSION_START: {
        const r = this.setMode('AUTO');
        if (!r.ok) return reply(Result.FAILED);
        if (this.armed) {
          this.autoArmed = true;
          if (!this.nav || this.missionDone) this.startMission(this.ap ? Math.max(1, p[1] > 0 ? Math.round(p[1]) : 1) : Math.round(p[1]));
          else if (!this.flying) this.startNav(this.nav);
        }
        return reply(Result.ACCEPTED);
      }
      case Cmd.DO_PAUSE_CONTINUE: {
        if (this.mode !== 'AUTO' || !this.flying) return reply(Result.FAILED);
        if (Math.round(p[1]) === 0) {
          this.missionPaused = true;
          this.hold = null;
          const h = this.holdHere();
          if (h.kind === 'hold') this.hold = { n: h.n, e: h.e, u: h.u };
        } else {
          this.missionPaused = false;
          this.hold = null;
        }
        return reply(Result.ACCEPTED);
      }
      case Cmd.NAV_RETURN_TO_LAUNCH:
        return reply(this.setMode('RTL').ok ? Result.ACCEPTED : Result.FAILED);
      case Cmd.NAV_LAND:
        return reply(this.setMode('LAND').ok ? Result.ACCEPTED : Result.FAILED);
      case Cmd.DO_REPOSITION: {
        if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return reply(Result.DENIED);
        if (this.mode !== 'GUIDED') {
          if (!(Math.round(p[2]) & 1) || !this.setMode('GUIDED').ok) return reply(Result.FAILED);
        }
        const pt = this.frame.toNe({ lat, lon });
        const u = Number.isFinite(p[7]) && !(isInt && d.frame === 0 && p[7] === 0) ? (isInt && (d.frame === 0 || d.frame === 5) ? p[7] - this.originAmslM : p[7]) : this.pos.u;
        if (this.fenceEnabled() && this.fenceViolation(pt, u)) return reply(Result.FAILED);
        if (!this.flying) return reply(Result.FAILED);
        this.guidedTarget = { n: pt.n, e: pt.e, u };
        if (p[1] > 0) this.wpSpeedOverride = p[1];
        return reply(Result.ACCEPTED);
      }
      case Cmd.DO_CHANGE_SPEED:
        if (p[2] > 0) this.wpSpeedOverride = p[2];
        return reply(Result.ACCEPTED);
      case Cmd.DO_GRIPPER:
        this.gripper(Math.round(p[2]) === 0);
        return reply(Result.ACCEPTED);
      case Cmd.DO_WINCH:
        this.winch(p[2], p[3]);
        return reply(Result.ACCEPTED);
      case Cmd.DO_SET_SERVO:
        this.setServo(p[1], p[2]);
        return reply(Result.ACCEPTED);
      case Cmd.DO_FENCE_ENABLE:
        this.fenceEnabledOverride = Math.round(p[1]) === 1;
        return reply(Result.ACCEPTED);
      case Cmd.DO_SET_HOME:
        if (Math.round(p[1]) === 1) this.setHome(null);
        else {
          if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return reply(Result.DENIED);
          this.setHome({ lat, lon });
        }
        return reply(Result.ACCEPTED);
      case Cmd.GET_HOME_POSITION: {
        const h = this.build(242);
        if (!h) return reply(Result.FAILED);
        reply(Result.ACCEPTED);
        link.send(h);
        return;
      }
      case Cmd.SET_MESSAGE_INTERVAL: {
        const id = Math.round(p[1]);
        const us = p[2];
        if (!SimVehicle.STREAMABLE.includes(id) && id !== 148) return reply(Result.FAILED);
        if (!Number.isFinite(us)) return reply(Result.DENIED);
        if (us < 0) link.intervals.delete(id);
        else if (us === 0) {
          if (id === 0) link.intervals.set(0, { intervalS: 1, nextS: this.tS });
          else link.intervals.delete(id);
        } else link.intervals.set(id, { intervalS: us / 1e6, nextS: this.tS });
        return reply(Result.ACCEPTED);
      }
      case Cmd.REQUEST_MESSAGE:
      case 520: {
        const id = cmd === 520 ? 148 : Math.round(p[1]);
        const m = this.build(id);
        if (!m) return reply(id === 242 || SimVehicle.STREAMABLE.includes(id) ? Result.FAILED : Result.UNSUPPORTED);
        reply(Result.ACCEPTED);
        link.send(m);
        return;
      }
      case Cmd.PREFLIGHT_REBOOT_SHUTDOWN: {
        if (Math.round(p[1]) !== 1) return reply(Result.UNSUPPORTED);
        if (this.armed && Math.round(p[6]) !== 20190226) return reply(Result.FAILED);
        reply(Result.ACCEPTED);
        this.after(0.2, () => this.reboot());
        return;
      }
      default:
        return reply(Result.UNSUPPORTED);
    }
  }

  /** Simulator control: put the vehicle at a point on the ground (disarmed only). */
  teleport(ll: { lat: number; lon: number }): void {
    if (this.armed) return;
    const p = this.frame.toNe(ll);
    this.pos = { n: p.n, e: p.e, u: 0 };
    this.home = { n: p.n, e: p.e, set: this.home.set };
  }

  /** Home as lat/lon (for tools). */
  homeLatLon(): { lat: number; lon: number; altAmslM: number } {
    return { ...this.frame.toLatLon(this.home), altAmslM: this.originAmslM };
  }

  /** Whether a mission upload of a type is in progress (for tests and tools). */
  receiving(type: MissionTypeValue): boolean {
    return this.mission.isReceiving(type);
  }
}
