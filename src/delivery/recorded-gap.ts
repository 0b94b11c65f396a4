/**
 * What a vehicle did while nobody followed it, read back from the link agent's recorded stream.
 *
 * When a node dies (or restarts) under a flight, the vehicle keeps flying and its agent keeps
 * recording every frame it sends into JetStream (`<ROOT>_TLOG`). The node that resumes the job
 * replays the frames recorded since the gap opened through the same state decoder the fleet uses
 * (src/fleet/state.ts), so the job's record says what the vehicle reported at the time it happened
 * (when the release item was passed, and where the vehicle was), not what it looks like once the
 * tracker hears it again. Without a recording (embedded bus, `--no-tlog`, the frames aged out), the
 * facts are null and the record says so.
 */
import { MavlinkDecoder, type Frame } from '../mavlink/codec';
import { emptyState, applyFrame } from '../fleet/state';
import type { VehicleState } from '../fleet/types';

/** One recorded message from the vehicle (one or more whole MAVLink frames) and when it was stored. */
export interface RecordedChunk {
  timeMs: number;
  data: Uint8Array;
}

/** Where the recorded frames of a vehicle come from (the bus's recorded stream; src/service wires it). */
export interface RecordedFrames {
  /** Frames the vehicle sent from `sinceMs` on, oldest first; null when nothing is recorded for this vehicle. */
  read(vehicleId: string, sinceMs: number): Promise<RecordedChunk[] | null>;
}

export interface GapFacts {
  /** Frames replayed, and the span of time they cover. */
  frames: number;
  firstMs: number | null;
  lastMs: number | null;
  /**
   * The vehicle passed the release item during the gap: when it first reported so (MISSION_ITEM_REACHED
   * of the release item, or MISSION_CURRENT beyond it while armed) and its last reported position at
   * that moment.
   */
  release: { atMs: number; how: 'item-reached' | 'mission-current'; lat: number; lon: number; altRelM: number } | null;
  /** The release servo's output after the release (µs), as the vehicle reported it; null when unknown. */
  servoPwm: number | null;
  /** Arming changes reported during the gap. */
  armedChanges: { atMs: number; armed: boolean }[];
  /** Mode changes reported during the gap (first mode included). */
  modes: { atMs: number; mode: string }[];
  /** Highest altitude above home reported, m. */
  maxAltRelM: number | null;
  /** Warnings and worse the vehicle sent (severity ≤ 4), at most 20, as text. */
  statusTexts: { atMs: number; severity: number; text: string }[];
}

const MAX_TEXTS = 20;

/**
 * Replays `chunks` of vehicle `sysid` (autopilot component `compid`) and returns what the job's
 * record needs. `releaseSeq`: the job's release item (null: none); `servo`: the release servo
 * output (1-based; null: none).
 */
export function gapFacts(chunks: readonly RecordedChunk[], sysid: number, compid: number, releaseSeq: number | null, servo: number | null): GapFacts {
  const s: VehicleState = emptyState('recorded', sysid, compid);
  const out: GapFacts = { frames: 0, firstMs: null, lastMs: null, release: null, servoPwm: null, armedChanges: [], modes: [], maxAltRelM: null, statusTexts: [] };
  let nowMs = 0;
  let armed: boolean | null = null;
  let releasePwmFrom = -1;
  const decoder = new MavlinkDecoder((f: Frame) => {
    if (f.sysid !== sysid) return;
    out.frames++;
    const r = applyFrame(s, f, nowMs);
    // warnings from any of the vehicle's components; the rest describes the vehicle only from its autopilot
    if (r.statusText && r.statusText.severity <= 4 && out.statusTexts.length < MAX_TEXTS) out.statusTexts.push({ atMs: nowMs, severity: r.statusText.severity, text: r.statusText.text });
    if (f.compid !== compid) return;
    if (f.name === 'HEARTBEAT') {
      if (armed !== s.armed) out.armedChanges.push({ atMs: nowMs, armed: s.armed });
      armed = s.armed;
      if (out.modes.length === 0 || out.modes[out.modes.length - 1].mode !== s.mode) out.modes.push({ atMs: nowMs, mode: s.mode });
    }
    if (f.name === 'GLOBAL_POSITION_INT' && s.position) out.maxAltRelM = Math.max(out.maxAltRelM ?? -Infinity, s.position.altRelM);
    if (releaseSeq !== null && !out.release && s.position) {
      const how = r.reached === releaseSeq ? 'item-reached' : f.name === 'MISSION_CURRENT' && s.mission.current > releaseSeq && s.armed ? 'mission-current' : null;
      if (how) {
        out.release = { atMs: nowMs, how, lat: s.position.lat, lon: s.position.lon, altRelM: s.position.altRelM };
        releasePwmFrom = servo ? (s.servos[servo - 1] ?? 0) : -1;
      }
    }
    // the servo's output once it left the value it had at the release
    if (out.release && servo && f.name === 'SERVO_OUTPUT_RAW' && out.servoPwm === null) {
      const pwm = s.servos[servo - 1] ?? 0;
      if (pwm !== 0 && pwm !== releasePwmFrom) out.servoPwm = pwm;
    }
  });
  for (const c of chunks) {
    nowMs = c.timeMs;
    out.firstMs ??= c.timeMs;
    out.lastMs = c.timeMs;
    decoder.push(Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength));
  }
  // a release seen while the servo already stood at its released output
  if (out.release && servo && out.servoPwm === null && releasePwmFrom > 0) out.servoPwm = releasePwmFrom;
  return out;
}

/** The gap's facts for the record (times as ISO text), or why there are none. */
export function gapRecord(f: GapFacts | null, why?: string) {
  if (!f) return { recorded: false, why: why ?? 'no recorded stream for this vehicle' };
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    recorded: true,
    frames: f.frames,
    from: iso(f.firstMs),
    to: iso(f.lastMs),
    release: f.release ? { at: iso(f.release.atMs), how: f.release.how, lat: f.release.lat, lon: f.release.lon, altRelM: f.release.altRelM } : null,
    armedChanges: f.armedChanges.map((a) => ({ at: iso(a.atMs), armed: a.armed })),
    modes: f.modes.map((m) => ({ at: iso(m.atMs), mode: m.mode })),
    maxAltRelM: f.maxAltRelM,
    statusTexts: f.statusTexts.map((t) => ({ at: iso(t.atMs), severity: t.severity, text: t.text })),
  };
}
