/**
 * The contract between the fleet (which owns every vehicle's decoded state and protocols) and
 * everything above it: delivery, telemetry, server. One source of truth: readers take
 * `vehicle.state` (or a `state` event); nobody keeps a second copy that can drift.
 */
import type { EventEmitter } from 'events';
import type { MissionItem, MissionTypeValue } from '../mavlink/mission-item';
import type { Frame } from '../mavlink/codec';

/** Every protocol outcome is a value, never an exception. */
export type ErrorCode =
  | 'TIMEOUT'
  | 'DENIED'
  | 'TEMPORARILY_REJECTED'
  | 'UNSUPPORTED'
  | 'FAILED'
  | 'IN_PROGRESS'
  | 'CANCELLED'
  | 'INVALID_SEQUENCE'
  | 'NO_SPACE'
  | 'UNSUPPORTED_FRAME'
  | 'INVALID_PARAM'
  | 'MISSION_ERROR'
  | 'VERIFY_MISMATCH'
  | 'BUSY'
  | 'NOT_CONNECTED'
  | 'UNKNOWN_MODE'
  | 'UNKNOWN_PARAM'
  | 'INVALID_INPUT';

export type Fail = { ok: false; code: ErrorCode; message: string; details?: unknown };
export type Outcome<T extends object = object> = ({ ok: true } & T) | Fail;

/** MAV_RESULT names. */
export type CommandResultName =
  | 'ACCEPTED'
  | 'TEMPORARILY_REJECTED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'FAILED'
  | 'IN_PROGRESS'
  | 'CANCELLED'
  | 'COMMAND_LONG_ONLY'
  | 'COMMAND_INT_ONLY'
  | 'UNSUPPORTED_MAV_FRAME'
  | 'TIMEOUT'
  /** Not sent: the vehicle is lost or its link is down (fails fast). */
  | 'NOT_CONNECTED'
  /** Not sent: no such mode for this autopilot (setMode). */
  | 'UNKNOWN_MODE';

export interface CommandResult {
  ok: boolean;
  result: CommandResultName;
  /** MAV_CMD */
  command: number;
  /** How many times it was sent (1 = no retry). */
  attempts: number;
  /** COMMAND_ACK.progress / result_param2 when present. */
  progress?: number;
  resultParam2?: number;
  elapsedMs: number;
}

export type Autopilot = 'ardupilot' | 'px4' | 'other';

export interface StatusTextEntry {
  /** ms since the Unix epoch, when received. */
  timeMs: number;
  /** MAV_SEVERITY 0 (emergency) … 7 (debug). */
  severity: number;
  text: string;
}

export interface VehicleState {
  /** `${linkId}/${sysid}` — stable while the link exists. */
  id: string;
  linkId: string;
  sysid: number;
  compid: number;
  autopilot: Autopilot;
  /** MAV_TYPE */
  vehicleType: number;
  connected: boolean;
  /** ms since the Unix epoch of the last message from this vehicle. */
  lastSeenMs: number;
  armed: boolean;
  /** Mode name from the autopilot's table ('GUIDED', 'AUTO', …) or 'UNKNOWN(n)'. */
  mode: string;
  customMode: number;
  baseMode: number;
  /** MAV_STATE */
  systemStatus: number;
  /** MAV_LANDED_STATE: 0 unknown, 1 on ground, 2 in air, 3 takeoff, 4 landing. */
  landedState: number;
  position: { lat: number; lon: number; altAmslM: number; altRelM: number } | null;
  /** Ground speed in m/s, vertical speed (positive up) in m/s, heading degrees 0–360. */
  groundSpeedMps: number;
  climbMps: number;
  headingDeg: number;
  attitude: { rollDeg: number; pitchDeg: number; yawDeg: number } | null;
  battery: { voltageV: number; currentA: number; remainingPct: number; consumedMah: number } | null;
  gps: { fixType: number; satellites: number; hdop: number } | null;
  /**
   * Estimator health: EKF_STATUS_REPORT.flags (ArduPilot) or ESTIMATOR_STATUS.flags (PX4), whose bits
   * 0–9 mean the same (attitude, velocities, positions, predicted positions); null until received.
   */
  ekfFlags: number | null;
  /** SYS_STATUS health bits (onboard_control_sensors_health); null until received. */
  sensorsHealth: number | null;
  sensorsPresent: number | null;
  home: { lat: number; lon: number; altAmslM: number } | null;
  mission: { current: number; total: number; reached: number[] };
  fence: { breached: boolean; breachCount: number; breachType: number } | null;
  /** Servo outputs 1–16 in µs (0 = not reported). */
  servos: number[];
  statusText: StatusTextEntry[];
  link: { packets: number; lost: number; lossPct: number; rttMs: number | null };
}

export interface TransferProgress {
  missionType: MissionTypeValue;
  direction: 'upload' | 'download';
  /** Items done so far and total. */
  done: number;
  total: number;
}

export interface UploadOptions {
  /** Download afterwards and compare (default true). */
  verify?: boolean;
  onProgress?: (p: TransferProgress) => void;
}

export interface CommandSpec {
  command: number;
  params?: [number?, number?, number?, number?, number?, number?, number?];
  /** Send as COMMAND_INT (params 5/6 are lat/lon ×1e7, frame given). Default false. */
  useInt?: boolean;
  frame?: number;
  timeoutMs?: number;
  retries?: number;
}

/** A live vehicle as the layers above see it. */
export interface VehicleHandle extends EventEmitter {
  readonly id: string;
  /** Latest decoded state (the one source of truth). */
  readonly state: VehicleState;
  command(spec: CommandSpec): Promise<CommandResult>;
  arm(force?: boolean): Promise<CommandResult>;
  disarm(force?: boolean): Promise<CommandResult>;
  setMode(name: string): Promise<CommandResult>;
  takeoff(altRelM: number): Promise<CommandResult>;
  rtl(): Promise<CommandResult>;
  land(): Promise<CommandResult>;
  hold(): Promise<CommandResult>;
  missionStart(): Promise<CommandResult>;
  pauseContinue(pause: boolean): Promise<CommandResult>;
  gripper(action: 'release' | 'grab'): Promise<CommandResult>;
  setServo(servo: number, pwm: number): Promise<CommandResult>;
  winch(action: 'relax' | 'length' | 'rate', value?: number): Promise<CommandResult>;
  fenceEnable(enable: boolean): Promise<CommandResult>;
  setMessageInterval(msgid: number, intervalUs: number): Promise<CommandResult>;
  requestMessage(msgid: number): Promise<CommandResult>;
  uploadItems(type: MissionTypeValue, items: MissionItem[], opts?: UploadOptions): Promise<Outcome<{ items: number }>>;
  downloadItems(type: MissionTypeValue, opts?: { onProgress?: (p: TransferProgress) => void }): Promise<Outcome<{ items: MissionItem[] }>>;
  clearItems(type: MissionTypeValue): Promise<Outcome>;
  getParam(name: string): Promise<Outcome<{ value: number }>>;
  setParam(name: string, value: number): Promise<Outcome<{ value: number }>>;
  fetchParams(): Promise<Outcome<{ params: Record<string, number> }>>;
  // Events: 'state' (VehicleState), 'frame' (Frame), 'statustext' (StatusTextEntry),
  // 'lost', 'found', 'item-reached' (seq)
}

export interface FleetHandle extends EventEmitter {
  /** Open a link from a URI (tcp:, udpin:, udpout:, serial:); returns its id. */
  addLink(uri: string, opts?: { id?: string }): string;
  removeLink(id: string): Promise<void>;
  links(): Array<{ id: string; uri: string; up: boolean; stats: Record<string, number> }>;
  vehicles(): VehicleHandle[];
  get(id: string): VehicleHandle | undefined;
  close(): Promise<void>;
  // Events: 'vehicle' (VehicleHandle, first seen), 'state' (VehicleState), 'frame' (vehicleId, Frame),
  // 'lost' (id), 'found' (id), 'link-up' (linkId), 'link-down' (linkId)
}

export type { Frame, MissionItem };
