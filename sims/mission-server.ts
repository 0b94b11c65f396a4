/**
 * The vehicle side of the MAVLink mission protocol for MISSION, FENCE and RALLY, as ArduCopter
 * does it: uploads are driven by item requests (MISSION_REQUEST #40 on ArduPilot, MISSION_REQUEST_INT
 * on PX4), re-requested after 1 s and abandoned after 8 s of silence (sim time), one upload per
 * type at a time, item 0 of an ArduPilot mission is home. Validation answers with ArduPilot's
 * MISSION_ACK codes.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { msg, common } from '../src/mavlink/registry';
import type { Frame as MavFrame } from '../src/mavlink/codec';
import { Cmd, Frame, MissionItem, MissionType, MissionTypeValue } from '../src/mavlink/mission-item';
import { Ne, LocalFrame, insidePolygon } from './geo';
import type { Personality } from './modes';

/** MAV_MISSION_RESULT */
export const MissionResult = {
  ACCEPTED: 0,
  ERROR: 1,
  UNSUPPORTED_FRAME: 2,
  UNSUPPORTED: 3,
  NO_SPACE: 4,
  INVALID: 5,
  INVALID_PARAM1: 6,
  INVALID_PARAM5_X: 10,
  INVALID_PARAM6_Y: 11,
  INVALID_PARAM7: 12,
  INVALID_SEQUENCE: 13,
  DENIED: 14,
  OPERATION_CANCELLED: 15,
} as const;

/** A connection the protocol answers on. */
export interface MissionLink {
  readonly id: number;
  send(m: MavLinkData): void;
}

export interface MissionHost {
  readonly personality: Personality;
  nowS(): number;
  text(severity: number, text: string): void;
  /** Current home, for item 0 of an ArduPilot mission download. */
  home(): { latE7: number; lonE7: number; altAmslM: number };
  /** Fence check for rally points (ArduPilot refuses rally points outside an enabled fence). */
  rallyPointAllowed(latE7: number, lonE7: number): boolean;
  changed(type: MissionTypeValue): void;
  /** False until the firmware has initialised: ArduPilot then answers a mission upload "Only 0 items are supported". Default true. */
  initialised?(): boolean;
  /** Run `fn` after `delayS` sim seconds (the firmware loop's pacing of item requests). Default: at once. */
  defer?(delayS: number, fn: () => void): void;
}

/**
 * Item limits of the simulated firmware, as ArduCopter 4.7 SITL answers MISSION_COUNT: 650 mission
 * items, 46 rally points (690 bytes of rally storage, 15 per point), 70 fence items (560 bytes of
 * fence storage / 8). PX4 personality: the old generous limits.
 */
export const MAX_ITEMS: Record<MissionTypeValue, number> = { 0: 650, 1: 70, 2: 46 };
const PX4_MAX_ITEMS: Record<MissionTypeValue, number> = { 0: 650, 1: 200, 2: 20 };
/** ArduCopter SITL's fence storage in bytes (StorageManager: 48 + 256 + 256). */
export const FENCE_STORAGE_BYTES = 560;
/**
 * Sim seconds from an item received to the next MISSION_REQUEST on ArduCopter: one item per about
 * 6 ms at any speedup (100 waypoints took 0.58–0.61 s at speedup 1, measured), the firmware loop's pace.
 */
export const ITEM_PACING_S = 0.0055;

/**
 * Bytes a fence takes in ArduPilot's fence storage (AC_PolyFence_loader::fence_storage_space_required):
 * a 4-byte header, per polygon a type byte, a count byte and 8 bytes per vertex, per circle 13 bytes,
 * per return point 9, and one end-of-storage byte. A fence over FENCE_STORAGE_BYTES is refused with
 * MAV_MISSION_ERROR after its last item ("Fence exceeds storage size"), the stored fence unchanged.
 */
export function fenceStorageBytes(items: MissionItem[]): number {
  let bytes = 4 + 1;
  for (let i = 0; i < items.length; ) {
    const it = items[i];
    if (it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION || it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION) {
      const n = Math.max(1, Math.round(it.param1));
      bytes += 2 + 8 * n;
      i += n;
    } else {
      bytes += it.command === Cmd.NAV_FENCE_RETURN_POINT ? 9 : 13;
      i++;
    }
  }
  return bytes;
}
export const UPLOAD_TIMEOUT_S = 8;
export const REREQUEST_S = 1;

const NAV_WITH_LOCATION = new Set<number>([
  Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TIME, Cmd.NAV_LAND, Cmd.NAV_TAKEOFF, Cmd.NAV_SPLINE_WAYPOINT, Cmd.NAV_PAYLOAD_PLACE,
  Cmd.DO_SET_HOME, Cmd.DO_LAND_START, Cmd.DO_REPOSITION, Cmd.NAV_RALLY_POINT, Cmd.NAV_FENCE_RETURN_POINT,
  Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION,
]);
const MISSION_COMMANDS = new Set<number>([
  Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TIME, Cmd.NAV_RETURN_TO_LAUNCH, Cmd.NAV_LAND, Cmd.NAV_TAKEOFF, Cmd.NAV_SPLINE_WAYPOINT,
  Cmd.NAV_DELAY, Cmd.NAV_PAYLOAD_PLACE, Cmd.DO_JUMP, Cmd.DO_CHANGE_SPEED, Cmd.DO_SET_HOME, Cmd.DO_SET_SERVO, Cmd.DO_LAND_START,
  Cmd.DO_FENCE_ENABLE, Cmd.DO_GRIPPER, Cmd.DO_WINCH, Cmd.DO_SET_MODE, Cmd.DO_PAUSE_CONTINUE,
]);
const FENCE_COMMANDS = new Set<number>([
  Cmd.NAV_FENCE_RETURN_POINT, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION,
]);
const SUPPORTED_FRAMES = new Set<number>([Frame.GLOBAL, Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_INT, Frame.GLOBAL_RELATIVE_ALT_INT, 10, Frame.GLOBAL_TERRAIN_ALT_INT, Frame.MISSION]);

export function hasLocation(command: number): boolean {
  return NAV_WITH_LOCATION.has(command);
}

interface Upload {
  type: MissionTypeValue;
  link: MissionLink;
  sysid: number;
  compid: number;
  count: number;
  next: number;
  lastRxS: number;
  lastReqS: number;
  /** Seq of the latest MISSION_REQUEST sent (-1: none yet). */
  requestedSeq: number;
  items: MissionItem[];
}

const TYPE_NAME: Record<number, string> = { 0: 'Mission', 1: 'Fence', 2: 'Rally' };

/** A fence as the vehicle enforces it, in local metres. */
export interface FenceShapes {
  inclusionPolygons: Ne[][];
  exclusionPolygons: Ne[][];
  inclusionCircles: Array<{ c: Ne; radiusM: number }>;
  exclusionCircles: Array<{ c: Ne; radiusM: number }>;
}

/** Group fence items into shapes; returns null when a polygon's vertex count is inconsistent. */
export function fenceShapes(items: MissionItem[], frame: LocalFrame): FenceShapes | null {
  const out: FenceShapes = { inclusionPolygons: [], exclusionPolygons: [], inclusionCircles: [], exclusionCircles: [] };
  const ne = (it: MissionItem): Ne => frame.toNe({ lat: it.x / 1e7, lon: it.y / 1e7 });
  let i = 0;
  while (i < items.length) {
    const it = items[i];
    if (it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION || it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION) {
      const n = Math.round(it.param1);
      if (n < 3 || i + n > items.length) return null;
      const poly: Ne[] = [];
      for (let k = 0; k < n; k++) {
        const v = items[i + k];
        if (v.command !== it.command || Math.round(v.param1) !== n) return null;
        poly.push(ne(v));
      }
      (it.command === Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION ? out.inclusionPolygons : out.exclusionPolygons).push(poly);
      i += n;
    } else if (it.command === Cmd.NAV_FENCE_CIRCLE_INCLUSION || it.command === Cmd.NAV_FENCE_CIRCLE_EXCLUSION) {
      if (!(it.param1 > 0)) return null;
      (it.command === Cmd.NAV_FENCE_CIRCLE_INCLUSION ? out.inclusionCircles : out.exclusionCircles).push({ c: ne(it), radiusM: it.param1 });
      i++;
    } else {
      i++;
    }
  }
  return out;
}

/** True when a local point is allowed by the loaded polygon/circle fence. */
export function insideFenceShapes(p: Ne, f: FenceShapes): boolean {
  if (f.inclusionPolygons.some((poly) => !insidePolygon(p, poly))) return false;
  if (f.exclusionPolygons.some((poly) => insidePolygon(p, poly))) return false;
  if (f.inclusionCircles.some((c) => Math.hypot(p.n - c.c.n, p.e - c.c.e) > c.radiusM)) return false;
  if (f.exclusionCircles.some((c) => Math.hypot(p.n - c.c.n, p.e - c.c.e) < c.radiusM)) return false;
  return true;
}

export class MissionServer {
  /** Stored items per type. An ArduPilot mission keeps a home placeholder at index 0. */
  readonly stored: Record<MissionTypeValue, MissionItem[]> = { 0: [], 1: [], 2: [] };
  private readonly uploads = new Map<MissionTypeValue, Upload>();

  constructor(private readonly host: MissionHost) {
    if (host.personality === 'ardupilot') this.stored[0] = [this.homeItem()];
  }

  private get ardupilot(): boolean {
    return this.host.personality === 'ardupilot';
  }

  /** Items the vehicle flies (for an ArduPilot mission, index 0 is home). */
  missionItems(): MissionItem[] {
    return this.stored[0];
  }

  isReceiving(type: MissionTypeValue): boolean {
    return this.uploads.has(type);
  }

  private homeItem(): MissionItem {
    const h = this.host.home();
    return { seq: 0, frame: Frame.GLOBAL, command: Cmd.NAV_WAYPOINT, current: 0, autocontinue: 1, param1: 0, param2: 0, param3: 0, param4: 0, x: h.latE7, y: h.lonE7, z: h.altAmslM, missionType: 0 };
  }

  private ack(link: MissionLink, f: { sysid: number; compid: number }, type: number, result: number): void {
    link.send(msg(common.MissionAck, { targetSystem: f.sysid, targetComponent: f.compid, type: result, missionType: type }));
  }

  private request(u: Upload): void {
    const fields = { seq: u.next, targetSystem: u.sysid, targetComponent: u.compid, missionType: u.type };
    u.link.send(this.ardupilot ? msg(common.MissionRequest, fields) : msg(common.MissionRequestInt, fields));
    u.lastReqS = this.host.nowS();
    u.requestedSeq = u.next;
  }

  /** The next item request after the firmware loop's pace (ArduPilot), unless the upload moved on meanwhile. */
  private requestPaced(u: Upload): void {
    if (!this.ardupilot || !this.host.defer) {
      this.request(u);
      return;
    }
    const seq = u.next;
    this.host.defer(ITEM_PACING_S, () => {
      if (this.uploads.get(u.type) === u && u.next === seq && u.requestedSeq !== seq) this.request(u);
    });
  }

  /** Handle a mission-protocol message; returns true when it was one. */
  handle(link: MissionLink, f: MavFrame): boolean {
    const d = f.data as unknown as Record<string, number>;
    switch (f.name) {
      case 'MISSION_COUNT':
        this.onCount(link, f, d.count, (d.missionType ?? 0) as MissionTypeValue);
        return true;
      case 'MISSION_ITEM_INT':
      case 'MISSION_ITEM':
        this.onItem(link, f, f.name === 'MISSION_ITEM');
        return true;
      case 'MISSION_REQUEST_LIST':
        this.onRequestList(link, f, (d.missionType ?? 0) as MissionTypeValue);
        return true;
      case 'MISSION_REQUEST_INT':
      case 'MISSION_REQUEST':
        this.onRequest(link, f, d.seq, (d.missionType ?? 0) as MissionTypeValue, f.name === 'MISSION_REQUEST');
        return true;
      case 'MISSION_CLEAR_ALL': {
        const type = (d.missionType ?? 0) as MissionTypeValue;
        if (!(type in this.stored)) return true;
        if (this.uploads.has(type)) {
          this.ack(link, f, type, MissionResult.ERROR);
          return true;
        }
        this.stored[type] = type === 0 && this.ardupilot ? [this.homeItem()] : [];
        this.host.changed(type);
        this.ack(link, f, type, MissionResult.ACCEPTED);
        return true;
      }
      case 'MISSION_ACK':
        return true;
      default:
        return false;
    }
  }

  private onCount(link: MissionLink, f: MavFrame, count: number, type: MissionTypeValue): void {
    if (!(type in this.stored)) {
      this.ack(link, f, type, MissionResult.UNSUPPORTED);
      return;
    }
    const cur = this.uploads.get(type);
    if (cur && (cur.sysid !== f.sysid || cur.compid !== f.compid || cur.link !== link)) {
      this.ack(link, f, type, MissionResult.DENIED);
      return;
    }
    this.uploads.delete(type);
    // ArduPilot's mission storage is set up during initialisation: before it, room for nothing.
    const max = this.ardupilot ? (type === 0 && this.host.initialised?.() === false ? 0 : MAX_ITEMS[type]) : PX4_MAX_ITEMS[type];
    if (count > max) {
      this.ack(link, f, type, MissionResult.NO_SPACE);
      this.host.text(4, `Only ${max} items are supported`);
      return;
    }
    if (count === 0) {
      this.stored[type] = type === 0 && this.ardupilot ? [this.homeItem()] : [];
      this.host.changed(type);
      this.ack(link, f, type, MissionResult.ACCEPTED);
      return;
    }
    const now = this.host.nowS();
    const u: Upload = { type, link, sysid: f.sysid, compid: f.compid, count, next: 0, lastRxS: now, lastReqS: now, requestedSeq: -1, items: [] };
    this.uploads.set(type, u);
    this.request(u);
  }

  private onItem(link: MissionLink, f: MavFrame, legacy: boolean): void {
    const d = f.data as unknown as Record<string, number>;
    const type = (d.missionType ?? 0) as MissionTypeValue;
    const u = this.uploads.get(type);
    if (!u) return; // not receiving: the firmware ignores it
    if (d.seq !== u.next) {
      this.ack(u.link, f, type, MissionResult.INVALID_SEQUENCE);
      return;
    }
    if (f.sysid !== u.sysid || f.compid !== u.compid) {
      this.ack(u.link, f, type, MissionResult.DENIED);
      return;
    }
    if (legacy && type === 0 && this.ardupilot && d.seq === 0) this.host.text(6, 'got MISSION_ITEM; GCS should send MISSION_ITEM_INT');
    const item: MissionItem = {
      seq: d.seq, frame: d.frame, command: d.command, current: d.current, autocontinue: d.autocontinue,
      param1: d.param1, param2: d.param2, param3: d.param3, param4: d.param4,
      x: legacy ? Math.round(d.x * 1e7) : d.x, y: legacy ? Math.round(d.y * 1e7) : d.y, z: d.z, missionType: type,
    };
    const result = this.validate(item, type);
    if (result !== MissionResult.ACCEPTED) {
      this.ack(u.link, f, type, result);
      this.uploads.delete(type);
      return;
    }
    const norm = this.normalise(item);
    u.items.push(norm);
    if (type === 0) {
      // Missions are written item by item, as on ArduPilot: an interrupted upload leaves a mixed mission.
      const list = this.stored[0];
      if (norm.seq < list.length) list[norm.seq] = norm;
      else list.push(norm);
      if (this.ardupilot) list[0] = this.homeItem();
    }
    u.lastRxS = this.host.nowS();
    u.next++;
    if (u.next < u.count) {
      this.requestPaced(u);
      return;
    }
    this.uploads.delete(type);
    this.complete(u, f);
  }

  private complete(u: Upload, f: MavFrame): void {
    if (u.type === 0) {
      this.stored[0] = this.stored[0].slice(0, u.count);
      if (this.ardupilot) this.stored[0][0] = this.homeItem();
      this.ack(u.link, f, 0, MissionResult.ACCEPTED);
      if (this.ardupilot) this.host.text(6, 'Flight plan received');
      this.host.changed(0);
      return;
    }
    if (u.type === 1) {
      const shapes = fenceShapes(u.items, new LocalFrame({ lat: 0, lon: 0 }));
      if (!shapes) {
        this.ack(u.link, f, 1, MissionResult.ERROR);
        this.host.text(3, 'Fence validation failed');
        return;
      }
      if (this.ardupilot && fenceStorageBytes(u.items) > FENCE_STORAGE_BYTES) {
        this.ack(u.link, f, 1, MissionResult.ERROR);
        this.host.text(4, 'Fence exceeds storage size');
        return;
      }
      this.stored[1] = u.items;
      this.ack(u.link, f, 1, MissionResult.ACCEPTED);
      if (this.ardupilot) this.host.text(6, 'Fence Indexed OK');
      this.host.changed(1);
      return;
    }
    this.stored[2] = u.items;
    this.ack(u.link, f, 2, MissionResult.ACCEPTED);
    this.host.changed(2);
  }

  private validate(it: MissionItem, type: MissionTypeValue): number {
    const allowed = type === 0 ? MISSION_COMMANDS : type === 1 ? FENCE_COMMANDS : new Set<number>([Cmd.NAV_RALLY_POINT]);
    if (type === 0 && this.ardupilot && it.seq === 0) return MissionResult.ACCEPTED; // home: replaced anyway
    if (!allowed.has(it.command)) return MissionResult.UNSUPPORTED;
    if (hasLocation(it.command)) {
      if (!SUPPORTED_FRAMES.has(it.frame) || (type !== 0 && it.frame === Frame.MISSION)) return MissionResult.UNSUPPORTED_FRAME;
      if (!Number.isFinite(it.x) || Math.abs(it.x) > 90e7) return MissionResult.INVALID_PARAM5_X;
      if (!Number.isFinite(it.y) || Math.abs(it.y) > 180e7) return MissionResult.INVALID_PARAM6_Y;
      if (!Number.isFinite(it.z) || Math.abs(it.z) > 83000) return MissionResult.INVALID_PARAM7;
    }
    if (type === 2 && !this.host.rallyPointAllowed(it.x, it.y)) return MissionResult.ERROR;
    return MissionResult.ACCEPTED;
  }

  /** What the firmware stores and later returns: ArduPilot's frames, cm altitudes and defaulted params. */
  private normalise(it: MissionItem): MissionItem {
    // ArduPilot keeps fence vertices as lat/lon only: they come back with frame GLOBAL and z 0.
    if (this.ardupilot && it.missionType === 1) return { ...it, frame: Frame.GLOBAL, z: 0, param2: 0, param3: 0, param4: 0, current: 0, autocontinue: 1 };
    if (!this.ardupilot || it.missionType !== 0) return { ...it, current: 0, autocontinue: 1 };
    const out: MissionItem = { ...it, current: 0, autocontinue: 1 };
    if (hasLocation(it.command)) {
      out.frame = it.frame === Frame.GLOBAL || it.frame === Frame.GLOBAL_INT ? Frame.GLOBAL : it.frame === 10 || it.frame === Frame.GLOBAL_TERRAIN_ALT_INT ? 10 : Frame.GLOBAL_RELATIVE_ALT;
      out.z = Math.round(it.z * 100) / 100;
    } else {
      out.frame = Frame.GLOBAL;
    }
    if (it.command === Cmd.NAV_LOITER_TIME && it.param3 === 0) out.param3 = 1;
    if (it.command === Cmd.NAV_LAND && it.param4 === 0) out.param4 = 1;
    return out;
  }

  private onRequestList(link: MissionLink, f: MavFrame, type: MissionTypeValue): void {
    if (!(type in this.stored)) {
      this.ack(link, f, type, MissionResult.UNSUPPORTED);
      return;
    }
    if (this.uploads.has(type)) {
      this.ack(link, f, type, MissionResult.DENIED);
      return;
    }
    link.send(msg(common.MissionCount, { targetSystem: f.sysid, targetComponent: f.compid, count: this.stored[type].length, missionType: type }));
  }

  private onRequest(link: MissionLink, f: MavFrame, seq: number, type: MissionTypeValue, legacy: boolean): void {
    if (!(type in this.stored)) return;
    if (this.uploads.has(type)) {
      this.ack(link, f, type, MissionResult.DENIED);
      return;
    }
    const list = this.stored[type];
    if (seq >= list.length) {
      this.ack(link, f, type, MissionResult.INVALID_SEQUENCE);
      return;
    }
    const it = type === 0 && this.ardupilot && seq === 0 ? this.homeItem() : list[seq];
    const fields = {
      targetSystem: f.sysid, targetComponent: f.compid, seq, frame: it.frame, command: it.command, current: 0, autocontinue: it.autocontinue ?? 1,
      param1: it.param1, param2: it.param2, param3: it.param3, param4: it.param4, z: it.z, missionType: type,
    };
    if (legacy) link.send(msg(common.MissionItem, { ...fields, x: it.x / 1e7, y: it.y / 1e7 }));
    else link.send(msg(common.MissionItemInt, { ...fields, x: it.x, y: it.y }));
  }

  /** Re-request missing items and time out abandoned uploads (call every sim step). */
  update(): void {
    if (this.uploads.size === 0) return;
    const now = this.host.nowS();
    for (const [type, u] of [...this.uploads]) {
      if (now - u.lastRxS > UPLOAD_TIMEOUT_S) {
        this.uploads.delete(type);
        this.host.text(4, `${TYPE_NAME[type]} upload timeout`);
        u.link.send(msg(common.MissionAck, { targetSystem: u.sysid, targetComponent: u.compid, type: MissionResult.OPERATION_CANCELLED, missionType: type }));
      } else if (now - u.lastReqS > REREQUEST_S) {
        this.request(u);
      }
    }
  }

  /** A link went away: uploads on it can no longer finish (they time out as on the firmware). */
  dropLink(_link: MissionLink): void {
    /* the 8 s timeout handles it, as on ArduPilot */
  }

  /** Replace a stored list directly (simulator control API, e.g. scenario set-up). */
  load(type: MissionTypeValue, items: MissionItem[]): void {
    const list = items.map((it, i) => this.normalise({ ...it, seq: i, missionType: type }));
    this.stored[type] = type === MissionType.MISSION && this.ardupilot ? [this.homeItem(), ...list.map((it) => ({ ...it, seq: it.seq + 1 }))] : list;
    this.host.changed(type);
  }
}
