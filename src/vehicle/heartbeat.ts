/**
 * HEARTBEAT both ways.
 *
 * - GcsHeartbeat: we announce ourselves as a ground station (MAV_TYPE_GCS, MAV_AUTOPILOT_INVALID)
 *   at `hz` (default 2 Hz: ArduPilot's GCS failsafe counts from our last heartbeat, and at sim
 *   speed-ups a 1 Hz beat is too slow).
 * - Discovery: vehicles are discovered by their HEARTBEAT (sysid/compid, ArduPilot or PX4, MAV_TYPE),
 *   marked lost after `lostAfterMs` (default 5000) without one, and found again with the next.
 *   Heartbeats from other ground stations, and from components that are not autopilots, are ignored.
 */
import { EventEmitter } from 'events';
import { minimal } from 'mavlink-mappings';
import type { Frame } from '../mavlink/codec';
import { msg } from '../mavlink/registry';
import type { Autopilot } from '../fleet/types';
import type { Clock, TimerHandle } from './clock';
import type { Sender } from './types';

export const MAV_TYPE_GCS = 6;
export const MAV_AUTOPILOT_INVALID = 8;
export const MAV_AUTOPILOT_ARDUPILOTMEGA = 3;
export const MAV_AUTOPILOT_PX4 = 12;

export function autopilotOf(mavAutopilot: number): Autopilot {
  return mavAutopilot === MAV_AUTOPILOT_ARDUPILOTMEGA ? 'ardupilot' : mavAutopilot === MAV_AUTOPILOT_PX4 ? 'px4' : 'other';
}

export interface GcsHeartbeatOptions {
  /** Heartbeats per second. Default 2. */
  hz?: number;
}

export class GcsHeartbeat {
  private timer: TimerHandle | undefined;
  private readonly periodMs: number;
  /** Heartbeats sent. */
  sent = 0;

  constructor(private readonly send: Sender, private readonly clock: Clock, opts: GcsHeartbeatOptions = {}) {
    const hz = opts.hz ?? 2;
    if (!(hz > 0 && hz <= 50)) throw Object.assign(new Error(`heartbeat rate must be in (0, 50] Hz, got ${hz}`), { code: 'INVALID_OPTION' });
    this.periodMs = 1000 / hz;
  }

  /** The message we send. */
  static message(): minimal.Heartbeat {
    return msg(minimal.Heartbeat, { type: MAV_TYPE_GCS, autopilot: MAV_AUTOPILOT_INVALID, baseMode: 0, customMode: 0, systemStatus: 4 /* ACTIVE */ });
  }

  /** Start beating; the first heartbeat goes out at once. */
  start(): void {
    if (this.timer !== undefined) return;
    const beat = () => {
      this.beatNow();
      this.timer = this.clock.setTimeout(beat, this.periodMs);
    };
    beat();
  }

  /** Send one heartbeat now (e.g. as soon as a link comes up). */
  beatNow(): void {
    this.sent++;
    this.send(GcsHeartbeat.message());
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export interface DiscoveredVehicle {
  sysid: number;
  compid: number;
  autopilot: Autopilot;
  /** MAV_TYPE */
  vehicleType: number;
  connected: boolean;
  lastHeartbeatMs: number;
  heartbeat: minimal.Heartbeat;
}

export interface DiscoveryOptions {
  /** Silence after which a vehicle is lost. Default 5000 ms. */
  lostAfterMs?: number;
}

/**
 * Events: 'discovered' (DiscoveredVehicle, first heartbeat), 'heartbeat' (DiscoveredVehicle),
 * 'lost' (DiscoveredVehicle), 'found' (DiscoveredVehicle, first heartbeat after lost).
 */
export class VehicleDiscovery extends EventEmitter {
  readonly vehicles = new Map<number, DiscoveredVehicle>();
  private readonly timers = new Map<number, TimerHandle>();
  private readonly lostAfterMs: number;

  constructor(private readonly clock: Clock, opts: DiscoveryOptions = {}) {
    super();
    this.lostAfterMs = opts.lostAfterMs ?? 5000;
  }

  /** Feed every frame from the link. */
  handle(f: Frame): void {
    if (f.name !== 'HEARTBEAT' || !f.data) return;
    const hb = f.data as minimal.Heartbeat;
    if (hb.type === MAV_TYPE_GCS || hb.autopilot === MAV_AUTOPILOT_INVALID) return;
    let v = this.vehicles.get(f.sysid);
    const now = this.clock.now();
    if (v && v.compid !== f.compid) {
      // Another component of the same system (camera, gimbal) that claims an autopilot: keep the first.
      if (v.connected) return;
    }
    let event: 'discovered' | 'found' | undefined;
    if (!v) {
      v = { sysid: f.sysid, compid: f.compid, autopilot: autopilotOf(hb.autopilot), vehicleType: hb.type, connected: true, lastHeartbeatMs: now, heartbeat: hb };
      this.vehicles.set(f.sysid, v);
      event = 'discovered';
    } else {
      if (!v.connected) event = 'found';
      v.connected = true;
      v.compid = f.compid;
      v.autopilot = autopilotOf(hb.autopilot);
      v.vehicleType = hb.type;
      v.lastHeartbeatMs = now;
      v.heartbeat = hb;
    }
    const old = this.timers.get(f.sysid);
    if (old !== undefined) this.clock.clearTimeout(old);
    const vv = v;
    this.timers.set(
      f.sysid,
      this.clock.setTimeout(() => this.markLost(vv), this.lostAfterMs),
    );
    if (event) this.emit(event, v);
    this.emit('heartbeat', v);
  }

  /** Mark a vehicle lost now (e.g. its link went down). */
  markLost(v: DiscoveredVehicle): void {
    const t = this.timers.get(v.sysid);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(v.sysid);
    if (!v.connected) return;
    v.connected = false;
    this.emit('lost', v);
  }

  stop(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }
}
