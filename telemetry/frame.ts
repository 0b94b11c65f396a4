/**
 * Telemetry frames: the compact, versioned snapshot of one vehicle that the console receives
 * over `/ws` (inside `{type:'frames', t, frames: TelemetryFrame[]}`).
 *
 * A frame is a pure function of the fleet's `VehicleState` and the time it is built at
 * (`toFrame`); nothing here keeps state of its own. The JSON Schema below is the reference for
 * the console and is also written to `telemetry/frame.schema.json` (kept in sync by a test).
 */
import type { VehicleState, Autopilot } from '../src/fleet/types';

/** Bumped on any incompatible change of the frame's shape. */
export const FRAME_VERSION = 1 as const;

/** Default age after which a frame is flagged stale (ms). */
export const DEFAULT_STALE_AFTER_MS = 3000;

export interface TelemetryFrame {
  /** Frame format version (FRAME_VERSION = 1). */
  v: typeof FRAME_VERSION;
  /** Vehicle id, `${linkId}/${sysid}` (e.g. `sim0/1`). */
  id: string;
  /** Time of the state this frame shows: ms since the Unix epoch of the last message from the vehicle. */
  t: number;
  /**
   * Packets received from the vehicle when this state was current (monotonic per vehicle while the
   * link lives): a viewer can order frames and notice that it skipped states (coalescing).
   */
  seq: number;
  /** Latitude, degrees WGS84; null until a position has been received. */
  lat: number | null;
  /** Longitude, degrees WGS84; null until a position has been received. */
  lon: number | null;
  /** Altitude above home, metres; null without a position. */
  altRelM: number | null;
  /** Altitude above mean sea level, metres; null without a position. */
  altAmslM: number | null;
  /** Heading over ground, degrees 0–360 (0 = north). */
  headingDeg: number;
  /** Ground speed, m/s. */
  groundSpeedMps: number;
  /** Vertical speed, m/s, positive up. */
  climbMps: number;
  /** Roll, degrees (positive right wing down); null until ATTITUDE has been received. */
  rollDeg: number | null;
  /** Pitch, degrees (positive nose up); null until ATTITUDE has been received. */
  pitchDeg: number | null;
  /** Flight mode name from the autopilot's table ('GUIDED', 'AUTO', …) or 'UNKNOWN(n)'. */
  mode: string;
  /** Motors armed. */
  armed: boolean;
  /** MAV_LANDED_STATE: 0 unknown, 1 on ground, 2 in air, 3 taking off, 4 landing. */
  landed: number;
  /** Battery remaining, percent 0–100; null when unknown (no battery message, or the autopilot reports -1). */
  batteryPct: number | null;
  /** Battery voltage, volts; null when unknown. */
  voltageV: number | null;
  /** GPS_FIX_TYPE (0 no GPS, 1 no fix, 2 2D, 3 3D, 4 DGPS, 5 RTK float, 6 RTK fixed); null until GPS_RAW_INT. */
  gpsFix: number | null;
  /** Satellites visible; null until GPS_RAW_INT. */
  satellites: number | null;
  /** Mission progress: current item seq and number of items on the vehicle. */
  mission: { current: number; total: number };
  /** Link quality: packet loss from sequence gaps (percent) and round-trip time from TIMESYNC (ms, null if unmeasured). */
  link: { lossPct: number; rttMs: number | null };
  /** True when the vehicle is disconnected or its last message is older than staleAfterMs (default 3000 ms). */
  stale: boolean;
  /**
   * The silence (ms) after which this vehicle is flagged stale: the service adapts it to how often the
   * vehicle speaks (telemetry/silence.ts), between 1000 ms for a streaming vehicle and 3000 ms.
   */
  staleAfterMs?: number;
  /** Age of the state when the frame was built: build time − t, ms (≥ 0). */
  ageMs: number;
  /** Autopilot family. */
  autopilot: Autopilot;
  /** Present and true when the frame comes from a tlog replay, not a live vehicle. */
  replay?: boolean;
}

export interface ToFrameOptions {
  /** Age (ms) beyond which the frame is flagged stale. Default 3000. */
  staleAfterMs?: number;
  /** Mark the frame as coming from a replay. Default false (field omitted). */
  replay?: boolean;
}

const nullableNumber = { type: ['number', 'null'] };
const nullableInt = { type: ['integer', 'null'] };

/** JSON Schema (draft 2020-12) of TelemetryFrame. */
export const telemetryFrameJsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://dropline.local/schemas/telemetry-frame.v1.json',
  title: 'TelemetryFrame',
  description: 'One vehicle snapshot sent to console viewers inside {type:"frames", t, frames:[…]} over /ws.',
  type: 'object',
  additionalProperties: false,
  required: [
    'v', 'id', 't', 'seq', 'lat', 'lon', 'altRelM', 'altAmslM', 'headingDeg', 'groundSpeedMps', 'climbMps',
    'rollDeg', 'pitchDeg', 'mode', 'armed', 'landed', 'batteryPct', 'voltageV', 'gpsFix', 'satellites',
    'mission', 'link', 'stale', 'ageMs', 'autopilot',
  ],
  properties: {
    v: { const: FRAME_VERSION, description: 'Frame format version.' },
    id: { type: 'string', minLength: 1, description: 'Vehicle id `${linkId}/${sysid}`.' },
    t: { type: 'number', description: 'ms since the Unix epoch of the last message from the vehicle.' },
    seq: { type: 'integer', minimum: 0, description: 'Packets received from the vehicle when this state was current.' },
    lat: { ...nullableNumber, minimum: -90, maximum: 90, description: 'Latitude, degrees.' },
    lon: { ...nullableNumber, minimum: -180, maximum: 180, description: 'Longitude, degrees.' },
    altRelM: { ...nullableNumber, description: 'Altitude above home, m.' },
    altAmslM: { ...nullableNumber, description: 'Altitude above mean sea level, m.' },
    headingDeg: { type: 'number', minimum: 0, maximum: 360, description: 'Heading, degrees.' },
    groundSpeedMps: { type: 'number', description: 'Ground speed, m/s.' },
    climbMps: { type: 'number', description: 'Vertical speed, m/s, positive up.' },
    rollDeg: { ...nullableNumber, description: 'Roll, degrees.' },
    pitchDeg: { ...nullableNumber, description: 'Pitch, degrees.' },
    mode: { type: 'string', description: 'Flight mode name.' },
    armed: { type: 'boolean' },
    landed: { type: 'integer', minimum: 0, maximum: 4, description: 'MAV_LANDED_STATE.' },
    batteryPct: { ...nullableNumber, minimum: 0, maximum: 100, description: 'Battery remaining, %.' },
    voltageV: { ...nullableNumber, description: 'Battery voltage, V.' },
    gpsFix: { ...nullableInt, minimum: 0, description: 'GPS_FIX_TYPE.' },
    satellites: { ...nullableInt, minimum: 0, description: 'Satellites visible.' },
    mission: {
      type: 'object',
      additionalProperties: false,
      required: ['current', 'total'],
      properties: { current: { type: 'integer', minimum: 0 }, total: { type: 'integer', minimum: 0 } },
    },
    link: {
      type: 'object',
      additionalProperties: false,
      required: ['lossPct', 'rttMs'],
      properties: { lossPct: { type: 'number', minimum: 0, maximum: 100 }, rttMs: { ...nullableNumber, minimum: 0 } },
    },
    stale: { type: 'boolean', description: 'Disconnected or older than staleAfterMs.' },
    staleAfterMs: { type: 'number', minimum: 0, description: 'Silence (ms) after which this vehicle is flagged stale.' },
    ageMs: { type: 'number', minimum: 0, description: 'Build time minus t, ms.' },
    autopilot: { enum: ['ardupilot', 'px4', 'other'] },
    replay: { type: 'boolean', description: 'From a tlog replay.' },
  },
} as const;

function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  // `+ 0` turns -0 into 0.
  return Math.round(x * f) / f + 0;
}

function finiteOr<T>(x: number, fallback: T): number | T {
  return Number.isFinite(x) ? x : fallback;
}

/**
 * Build the frame for a vehicle state at time `nowMs` (ms since the epoch). Pure: the same inputs
 * give the same frame; the state is not modified. Numbers are rounded to what a console can show
 * (1e-7° for lat/lon, cm for altitudes, 0.1° for angles) to keep frames small.
 */
export function toFrame(state: VehicleState, nowMs: number, opts: ToFrameOptions = {}): TelemetryFrame {
  const staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const t = state.lastSeenMs;
  const ageMs = Math.max(0, nowMs - t);
  const p = state.position;
  const bat = state.battery;
  const pct = bat && Number.isFinite(bat.remainingPct) && bat.remainingPct >= 0 ? Math.min(100, bat.remainingPct) : null;
  const heading = finiteOr(state.headingDeg, 0);
  const frame: TelemetryFrame = {
    v: FRAME_VERSION,
    id: state.id,
    t,
    seq: state.link.packets,
    lat: p ? round(p.lat, 7) : null,
    lon: p ? round(p.lon, 7) : null,
    altRelM: p ? round(p.altRelM, 2) : null,
    altAmslM: p ? round(p.altAmslM, 2) : null,
    headingDeg: ((round(heading, 1) % 360) + 360) % 360,
    groundSpeedMps: round(finiteOr(state.groundSpeedMps, 0), 2),
    climbMps: round(finiteOr(state.climbMps, 0), 2),
    rollDeg: state.attitude ? round(state.attitude.rollDeg, 1) : null,
    pitchDeg: state.attitude ? round(state.attitude.pitchDeg, 1) : null,
    mode: state.mode,
    armed: state.armed,
    landed: state.landedState,
    batteryPct: pct === null ? null : round(pct, 1),
    voltageV: bat && Number.isFinite(bat.voltageV) && bat.voltageV >= 0 ? round(bat.voltageV, 2) : null,
    gpsFix: state.gps ? state.gps.fixType : null,
    satellites: state.gps ? state.gps.satellites : null,
    mission: { current: state.mission.current, total: state.mission.total },
    link: {
      lossPct: round(Math.min(100, Math.max(0, finiteOr(state.link.lossPct, 0))), 2),
      rttMs: state.link.rttMs === null || !Number.isFinite(state.link.rttMs) ? null : round(Math.max(0, state.link.rttMs), 1),
    },
    stale: !state.connected || ageMs > staleAfterMs,
    staleAfterMs,
    ageMs,
    autopilot: state.autopilot,
  };
  if (opts.replay) frame.replay = true;
  return frame;
}

/** Link ids of tlog replays start with this (see telemetry/replay.ts); their frames are marked replay. */
export const REPLAY_LINK_PREFIX = 'replay-';

export function isReplayLinkId(linkId: string): boolean {
  return linkId.startsWith(REPLAY_LINK_PREFIX);
}
