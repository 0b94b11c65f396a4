/**
 * One simulated multicopter: ArduCopter-like (or PX4-like) behaviour over MAVLink, driven by a
 * sim clock. The fleet calls `step(dtS)` at a fixed sim rate (50 Hz) and hands it every decoded
 * frame with `onFrame(link, frame)`; everything the vehicle says goes out through its links.
 *
 * This class is the vehicle's public face and its step loop; the state is VehicleState (state.ts)
 * and the behaviour is in the sibling files (boot, arming, flight modes, navigation, mission,
 * payload, failsafes, battery, fence, physics, telemetry, incoming messages, commands).
 */
import type { MavLinkData } from 'mavlink-mappings';
import type { Frame as MavFrame } from '../../src/mavlink/codec';
import type { MissionTypeValue } from '../../src/mavlink/mission-item';
import { norm } from '../geo';
import { type ModeName, modeDisplayName } from '../modes';
import type { SimLink } from '../link';
import type { AdsbTrafficFault } from '../adsb-traffic';
import { VehicleState, type VehicleOptions } from './state';
import { boot, reboot } from './boot';
import { arm, disarm } from './arming';
import { batteryPct, setBatteryPct, drainBattery } from './battery';
import { checkFence } from './fence';
import { setMode } from './flight-modes';
import { checkFailsafes } from './failsafes';
import { navRequest } from './navigation';
import { navReached } from './mission';
import { loadPayload, loadParcels } from './payload';
import { stepPhysics } from './physics';
import { STREAMABLE, build, emitTelemetry } from './telemetry';
import { onFrame, drainParamQueue } from './incoming';

export class SimVehicle extends VehicleState {
  /** Message ids the vehicle can stream. */
  static readonly STREAMABLE = STREAMABLE;

  constructor(opts: VehicleOptions) {
    super(opts);
    boot(this);
  }

  /** Reboot: every link drops; parameters, missions and fence persist; reboot-only parameters take effect. */
  reboot(): void {
    reboot(this);
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
      batteryPct: batteryPct(this),
      voltageV: this.voltageV,
      landed: !this.flying,
      payloadAttached: this.payloadAttached,
      releasedAt: this.releasedAt ? { ...this.releasedAt } : null,
      missionSeq: this.missionSeq,
      /** Outputs whose parcel is still aboard (9 for the gripper's parcel), in loading order. */
      parcelsAboard: this.parcels.filter((p) => p.attached).map((p) => p.output),
      /** Every parcel released since loading, in order: the output that released it and where. */
      releases: this.releases.map((r) => ({ ...r })),
    };
  }

  batteryPct(): number {
    return batteryPct(this);
  }
  setBatteryPct(pct: number): void {
    setBatteryPct(this, pct);
  }
  setMode(to: ModeName, failsafe = false): { ok: boolean; reason?: string } {
    return setMode(this, to, failsafe);
  }
  arm(force: boolean): { result: number; text?: string } {
    return arm(this, force);
  }
  disarm(reason: string): void {
    disarm(this, reason);
  }
  /** Load a new parcel (simulator control: reset between deliveries): one parcel, on the gripper. */
  loadPayload(): void {
    loadPayload(this);
  }
  /**
   * Simulator control: load one parcel in the bay on each of `outputs` (SERVOn, 1..16, distinct),
   * replacing what was aboard. Each leaves when DO_SET_SERVO drives its own output (a function
   * DO_SET_SERVO may move: 0 Disabled in practice) to `releasePwm` (default 1100) + 50 or below; its
   * release is recorded in truth().releases. RangeError for outputs that are not 1..16 or repeat.
   */
  loadParcels(outputs: number[], opts: { releasePwm?: number } = {}): void {
    loadParcels(this, outputs, opts);
  }
  /** The parcels loaded and whether each is still aboard (a copy). */
  parcelBays(): Array<{ output: number; gripper: boolean; attached: boolean }> {
    return this.parcels.map((p) => ({ ...p }));
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
    checkFailsafes(this);
    const nav = navRequest(this);
    stepPhysics(this, dt, nav);
    checkFence(this);
    // Landing complete: disarm shortly after touchdown in a landing mode.
    if (this.armed && !this.flying && this.landedAtS >= 0 && this.tS - this.landedAtS > (this.ap ? 1 : this.p('COM_DISARM_LAND'))) {
      const landingMode = this.mode === 'LAND' || this.mode === 'RTL' || this.mode === 'SMART_RTL' || this.mode === 'AUTO';
      if (landingMode) {
        if (this.mode === 'AUTO' && this.nav) navReached(this, this.nav);
        disarm(this, 'landed');
      }
      this.landedAtS = -1;
    }
    // Auto-disarm on the ground when nothing takes off.
    if (this.armed && !this.flying && !this.takingOff && this.tS - this.groundSinceS > this.disarmDelayS() && this.disarmDelayS() > 0) {
      disarm(this, 'auto-disarm');
    }
    if (this.armed && !this.flying && this.takingOff && this.tS - this.groundSinceS > 30) this.takingOff = false;
    this.mission.update();
    drainBattery(this, dt);
    drainParamQueue(this);
  }

  // ---------------------------------------------------------------- telemetry
  /** Build one telemetry message by id (null when it has nothing to say, e.g. no home yet). */
  build(msgid: number): MavLinkData | null {
    return build(this, msgid);
  }
  /** Stream telemetry on every link per its message intervals (sim time). */
  emitTelemetry(): void {
    emitTelemetry(this);
  }
  /** A simulated manned aircraft for its ADS-B receiver (sims/adsb-traffic.ts). */
  addTraffic(f: AdsbTrafficFault): void {
    this.adsb.add(f, this.tS, { latLon: this.latLon(), altAmslM: this.originAmslM + this.pos.u, vn: this.vel.n, ve: this.vel.e, yawDeg: this.yawDeg });
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
    onFrame(this, link, f);
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
