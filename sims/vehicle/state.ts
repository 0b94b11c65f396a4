/**
 * The simulated vehicle's state: its options, faults and every field the flight code reads and
 * writes (boot milestones, kinematics, battery, payload, failsafe flags, fence, navigation), plus the
 * small helpers all parts share (parameter reads, sim-time timers, STATUSTEXT, the speed limits the
 * parameters set). The behaviour lives in the sibling files as functions of this state; SimVehicle
 * (sim-vehicle.ts) is its public face.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { msg, common } from '../../src/mavlink/registry';
import type { MissionItem } from '../../src/mavlink/mission-item';
import { LocalFrame, type Ne } from '../geo';
import { ParamStore, ARDUCOPTER_PARAMS, PX4_PARAMS } from '../params';
import type { ModeName, Personality } from '../modes';
import { MissionServer, type FenceShapes, insideFenceShapes } from '../mission-server';
import type { SimLink } from '../link';
import { SimSigning } from '../signing';
import type { SimAirframe } from '../airframe';
import { SimAdsbTraffic } from '../adsb-traffic';
import { fenceEnabled, missionChanged } from './fence';
import { NUM_OUTPUTS, servoParamDefs } from './outputs';

/** A parcel aboard: held by the gripper (the default parcel) or in the bay on its own output. */
export interface Parcel {
  /** SERVOn output (1-based) whose bay holds it; 9 for the gripper's parcel. */
  output: number;
  /** Held by the gripper (released by DO_GRIPPER, a gripper output, a winch or a payload place). */
  gripper: boolean;
  attached: boolean;
}

/** Where a parcel left the vehicle. */
export interface ParcelRelease {
  /** The output whose bay (or gripper) released it. */
  output: number;
  lat: number;
  lon: number;
  altRelM: number;
}

/** ArduCopter's parameter table with SERVO1..16_* added (sims/vehicle/outputs.ts). */
const ARDUCOPTER_DEFS = [...ARDUCOPTER_PARAMS, ...servoParamDefs(ARDUCOPTER_PARAMS)];

export interface VehicleFaults {
  gpsLoss: boolean;
  batterySagPct: number;
  releaseFailure: boolean;
  wind: { speedMps: number; fromDeg: number; gustMps: number } | null;
}

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

/** What the flight code asks of the physics for one step. */
export type Nav =
  | { kind: 'ground' }
  | { kind: 'hold'; n: number; e: number; u: number; pilotDescentMps?: number }
  | { kind: 'goto'; n: number; e: number; u: number; speedMps: number }
  | { kind: 'land'; n: number | null; e: number | null }
  | { kind: 'drift' };

export interface NavRun {
  seq: number;
  item: MissionItem;
  phase: string;
  startS: number;
  holdUntilS: number;
  targetNe?: Ne;
  targetU?: number;
  startU?: number;
}

export interface RtlState {
  phase: 'climb' | 'return' | 'loiter' | 'land';
  target: Ne;
  altU: number;
  untilS: number;
  path: Ne[];
}

/**
 * Everything the simulated vehicle knows. Fields are open to the vehicle's own parts (sims/vehicle/);
 * tools and tests use SimVehicle's methods.
 */
export class VehicleState {
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
  readonly originAmslM: number;
  readonly random: () => number;
  readonly opts: VehicleOptions;

  /** Sim seconds since the instance started; boot time of the current boot. */
  tS = 0;
  bootS = 0;
  /** Initialisation done: modes set before it are overwritten; STANDBY from then on. */
  initDone = false;
  /** EKF started (flags 0x400), then aligned (0xa7: attitude and velocities, no horizontal position). */
  ekfStarted = false;
  ekfAligned = false;
  /** The pre-arm checks may pass (SYS_STATUS bit 28), before the EKF uses GPS, as on ArduCopter. */
  prearmReady = false;
  /** The EKF uses GPS: flags 0x33f, a position for the position modes. */
  ready = false;
  gpsFixed = false;

  // Kinematic state (local metres from origin, up from ground).
  pos = { n: 0, e: 0, u: 0 };
  vel = { n: 0, e: 0, u: 0 };
  accel = { n: 0, e: 0 };
  yawDeg = 0;
  gust = { n: 0, e: 0 };
  airVel = { n: 0, e: 0 };

  armed = false;
  flying = false;
  mode: ModeName = 'STABILIZE';
  landing = false;
  takingOff = false;
  /** A GUIDED takeoff (NAV_TAKEOFF command) still climbing to its altitude: landed_state TAKEOFF. */
  guidedTakeoff = false;
  autoArmed = false;
  groundSinceS = 0;
  landedAtS = -1;
  home: { n: number; e: number; set: boolean } = { n: 0, e: 0, set: false };

  // Battery
  consumedMah = 0;
  currentA = 0;
  voltageV = 12.6;
  battLowSinceS = -1;
  battCrtSinceS = -1;
  battFs: 'none' | 'low' | 'critical' = 'none';

  // Payload
  /** The parcels loaded (sims/vehicle/payload.ts): one on the gripper until loadParcels. */
  parcels: Parcel[] = [{ output: 9, gripper: true, attached: true }];
  /** Every release since the parcels were loaded, in order. */
  releases: ParcelRelease[] = [];
  /** Where the latest parcel left; null since loading. */
  releasedAt: null | { lat: number; lon: number; altRelM: number } = null;
  /** A bay opens at this PWM (+ 50) or below. */
  bayReleasePwm = 1100;
  /** PWM of outputs 1..16 (index n − 1) as last set since boot; motor outputs are reported from the motors. */
  servoOut: number[] = new Array(NUM_OUTPUTS).fill(0);
  gripperEnabled = false;
  /** The gripper drives a servo output (ArduPilot: an output with SERVOn_FUNCTION 28). */
  gripperServo = false;
  /** Outputs the gripper drives (read at boot). */
  gripperOutputs: number[] = [];

  // Failsafes
  gcsSeen = false;
  lastGcsHbS = 0;
  gcsFs = false;
  ekfFs = false;
  gpsLostSinceS = -1;

  // Fence
  fenceShapes: FenceShapes = { inclusionPolygons: [], exclusionPolygons: [], inclusionCircles: [], exclusionCircles: [] };
  fenceEnabledOverride: boolean | null = null;
  breach = { status: 0, count: 0, type: 0, timeMs: 0, kinds: new Set<string>() };

  // Navigation
  guidedTarget: { n: number; e: number; u: number } | null = null;
  hold: { n: number; e: number; u: number } | null = null;
  landPoint: Ne | null = null;
  rtl: RtlState | null = null;
  breadcrumbs: Ne[] = [];
  wpSpeedOverride: number | null = null;
  missionSeq = 0;
  nav: NavRun | null = null;
  missionPaused = false;
  missionDone = false;
  jumpCounts = new Map<number, number>();
  paramQueue: Array<{ link: SimLink; index: number }> = [];
  readonly timers: Array<{ atS: number; fn: () => void }> = [];
  /** Simulated manned aircraft its ADS-B receiver hears (sims/adsb-traffic.ts). */
  readonly adsb = new SimAdsbTraffic();

  constructor(opts: VehicleOptions) {
    this.opts = opts;
    this.index = opts.index;
    this.sysid = opts.sysid;
    this.personality = opts.personality;
    this.random = opts.random;
    this.frame = new LocalFrame({ lat: opts.home.lat, lon: opts.home.lon });
    this.originAmslM = opts.home.altAmslM;
    this.signing = new SimSigning(() => this.gpsFixed, opts.signingKey && opts.personality === 'ardupilot' ? { key: opts.signingKey } : undefined);
    const defs = opts.personality === 'px4' ? PX4_PARAMS : ARDUCOPTER_DEFS;
    this.params = new ParamStore(defs, { ...(opts.personality === 'px4' ? { MAV_SYS_ID: opts.sysid } : { MAV_SYSID: opts.sysid, SIM_SPEEDUP: opts.speedup }), ...(opts.params ?? {}) });
    this.mission = new MissionServer({
      personality: opts.personality,
      nowS: () => this.tS,
      text: (s, t) => this.text(s, t),
      home: () => {
        const ll = this.frame.toLatLon(this.home);
        return { latE7: Math.round(ll.lat * 1e7), lonE7: Math.round(ll.lon * 1e7), altAmslM: this.originAmslM };
      },
      rallyPointAllowed: (latE7, lonE7) => !fenceEnabled(this) || insideFenceShapes(this.frame.toNe({ lat: latE7 / 1e7, lon: lonE7 / 1e7 }), this.fenceShapes),
      changed: (type) => missionChanged(this, type),
      initialised: () => this.initDone,
      // Sub-step delays (a few ms of sim time) on the wall clock: the 50 Hz physics step is too coarse.
      defer: (delayS, fn) => {
        const t = setTimeout(fn, (delayS * 1000) / Math.max(1e-3, opts.speedup));
        t.unref?.();
      },
    });
  }

  // ---------------------------------------------------------------- helpers
  /** A parcel is still aboard. Setting false drops every parcel unrecorded; true loads the default parcel when none is aboard. */
  get payloadAttached(): boolean {
    return this.parcels.some((p) => p.attached);
  }
  set payloadAttached(on: boolean) {
    if (!on) for (const p of this.parcels) p.attached = false;
    else if (!this.payloadAttached) this.parcels = [{ output: 9, gripper: true, attached: true }];
  }
  /** Parcels aboard. */
  parcelsAboard(): number {
    let n = 0;
    for (const p of this.parcels) if (p.attached) n++;
    return n;
  }
  get ap(): boolean {
    return this.personality === 'ardupilot';
  }
  p(name: string): number {
    return this.params.get(name) ?? 0;
  }
  nowMs(): number {
    return Math.max(0, Math.round((this.tS - this.bootS) * 1000));
  }
  after(delayS: number, fn: () => void): void {
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

  wpSpeedMps(): number {
    if (this.wpSpeedOverride !== null) return this.wpSpeedOverride;
    return this.ap ? this.p('WPNAV_SPEED') / 100 : this.p('MPC_XY_CRUISE');
  }
  accelMps2(): number {
    return this.ap ? Math.max(0.5, this.p('WPNAV_ACCEL') / 100) : Math.max(0.5, this.p('MPC_ACC_HOR'));
  }
  climbMps(): number {
    return this.ap ? this.p('WPNAV_SPEED_UP') / 100 : this.p('MPC_Z_VEL_MAX_UP');
  }
  descentMps(): number {
    return this.ap ? this.p('WPNAV_SPEED_DN') / 100 : this.p('MPC_Z_VEL_MAX_DN');
  }
  landSpeedMps(): number {
    if (!this.ap) return this.p('MPC_LAND_SPEED');
    const high = this.p('LAND_SPEED_HIGH') > 0 ? this.p('LAND_SPEED_HIGH') / 100 : this.descentMps();
    return this.pos.u > this.p('LAND_ALT_LOW') / 100 ? high : this.p('LAND_SPEED') / 100;
  }
  wpRadiusM(): number {
    return this.ap ? Math.max(0.05, this.p('WPNAV_RADIUS') / 100) : this.p('NAV_ACC_RAD');
  }
  disarmDelayS(): number {
    return this.ap ? this.p('DISARM_DELAY') : this.p('COM_DISARM_PRFLT');
  }
}
