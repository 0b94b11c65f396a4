/**
 * What a vehicle is doing, in the words an operator needs under pressure (HOLDING, RTL, LANDING,
 * LINK LOST, …), and whether a flight command can apply to it right now (and if not, why). Pure
 * functions of a telemetry frame and the job the vehicle flies: the command bar, the job card and the
 * map popup all ask here, so they can never disagree.
 */
import type { Delivery, Role, TelemetryFrame } from './types';

/** Job states in which a vehicle is committed to the job (as src/delivery/types VEHICLE_STATES). */
export const VEHICLE_JOB_STATES: ReadonlySet<string> = new Set(['uploading', 'ready', 'in-flight', 'delivered', 'returning']);

export type FlightStatus = 'link-lost' | 'replay' | 'holding' | 'pilot-mode' | 'rtl' | 'landing' | 'flying' | 'on-ground';

/** Statuses that need an operator's eye: drawn loudly on the drone and its job. */
export const ALERTING_STATUSES: ReadonlySet<FlightStatus> = new Set(['link-lost', 'holding', 'pilot-mode', 'rtl', 'landing']);

/** Modes in which the autopilot keeps the vehicle where it is by itself. */
const HOLD_MODES = new Set(['BRAKE', 'HOLD', 'AUTO.LOITER']);
/**
 * Modes that fly the pilot's sticks. They hold only while a pilot keeps the sticks centred: with
 * nobody at them ArduCopter reads its throttle at rest and descends at PILOT_SPEED_DN until it lands
 * and disarms (measured on ArduCopter SITL: test/sims/firmware-facts.test.ts), and PX4 without RC
 * input falls into its RC-loss failsafe. Never shown as HOLDING.
 */
const PILOT_MODES = new Set(['STABILIZE', 'ACRO', 'ALT_HOLD', 'LOITER', 'POSHOLD', 'DRIFT', 'SPORT', 'FLIP', 'AUTOTUNE', 'FLOWHOLD', 'ZIGZAG', 'SYSTEMID',
  'MANUAL', 'ALTCTL', 'POSCTL', 'STABILIZED', 'RATTITUDE']);
const RTL_MODES = new Set(['RTL', 'SMART_RTL', 'AUTO.RTL']);
const LAND_MODES = new Set(['LAND', 'AUTO.LAND']);

type FrameLike = Pick<TelemetryFrame, 'armed' | 'landed' | 'altRelM' | 'mode'> & Partial<Pick<TelemetryFrame, 'replay'>>;

/** In the air: armed and taking off, flying or landing (or more than a metre up when the autopilot does not say). */
export function isAirborne(f: FrameLike): boolean {
  if (!f.armed) return false;
  if (f.landed === 2 || f.landed === 3 || f.landed === 4) return true;
  if (f.landed === 1) return false;
  return (f.altRelM ?? 0) > 1;
}

/** The job a vehicle is committed to (uploading … returning), if any. */
export function activeJobOf(deliveries: Iterable<Delivery>, vehicleId: string): Delivery | undefined {
  for (const d of deliveries) if (d.vehicleId === vehicleId && VEHICLE_JOB_STATES.has(d.state)) return d;
  return undefined;
}

/**
 * The latest hold or continue a person commanded on this job (from its timeline): a HOLD during a
 * mission pauses it in AUTO, so only the job knows the vehicle is holding.
 */
export function lastHoldCommand(d: Delivery | undefined): { action: 'hold' | 'continue'; at: string; by?: string } | null {
  const tl = d?.timeline;
  if (!Array.isArray(tl)) return null;
  for (let i = tl.length - 1; i >= 0; i--) {
    const e = tl[i];
    if (e.event !== 'operator-command') continue;
    const det = e.detail as { action?: string; by?: string; ack?: { result?: string } } | undefined;
    const ok = !det?.ack?.result || det.ack.result === 'ACCEPTED';
    if (!ok) continue;
    if (det?.action === 'hold' || det?.action === 'continue') return { action: det.action, at: e.at, by: det.by };
    if (det?.action === 'rtl' || det?.action === 'land') return null;
  }
  return null;
}

/** What the vehicle is doing now. */
export function flightStatus(f: FrameLike, stale: boolean, job?: Delivery): FlightStatus {
  if (f.replay) return 'replay';
  if (stale) return 'link-lost';
  // Landed and disarmed, whatever mode it was left in (ArduPilot stays in RTL or LAND after landing).
  if (!f.armed) return 'on-ground';
  const mode = (f.mode ?? '').toUpperCase();
  if (RTL_MODES.has(mode)) return 'rtl';
  if (LAND_MODES.has(mode) || (f.armed && f.landed === 4)) return 'landing';
  const airborne = isAirborne(f);
  if (airborne && HOLD_MODES.has(mode)) return 'holding';
  if (airborne && PILOT_MODES.has(mode)) return 'pilot-mode';
  if (airborne && lastHoldCommand(job)?.action === 'hold' && mode === 'AUTO') return 'holding';
  return airborne ? 'flying' : 'on-ground';
}

export type CommandAction = 'hold' | 'rtl' | 'land' | 'continue' | 'release';
export const COMMAND_ACTIONS: CommandAction[] = ['hold', 'rtl', 'land', 'continue', 'release'];

export interface CommandContext {
  role: Role;
  /** The vehicle is one of the built-in simulators (trainers fly only these). */
  simulated: boolean;
  stale: boolean;
  job?: Delivery;
}

/**
 * Why `action` cannot apply to this vehicle now (an i18n key under cmd.why.*), or null when it can.
 * Mirrors the server's rules (src/server/guards.ts commandVerdict) and adds what makes no sense in
 * the air: nothing to hold, return or land on the ground; nothing to continue or release without a job.
 */
export function commandBlocker(action: CommandAction, f: FrameLike | undefined, c: CommandContext): string | null {
  if (!f) return 'cmd.why.noData';
  if (f.replay) return 'cmd.why.replay';
  if (c.role === 'supervisor') return 'cmd.why.readOnly';
  if (c.role === 'trainer' && !c.simulated) return 'cmd.why.simOnly';
  if (c.stale) return 'cmd.why.offline';
  if (!isAirborne(f)) return 'cmd.why.onGround';
  if (action === 'continue' || action === 'release') {
    if (!c.job) return 'cmd.why.noJob';
    if (action === 'continue' && flightStatus(f, false, c.job) !== 'holding') return 'cmd.why.notHolding';
    if (action === 'release' && c.job.state !== 'in-flight') return 'cmd.why.releaseInFlight';
  }
  const now = flightStatus(f, false, c.job);
  if ((action === 'hold' && now === 'holding') || (action === 'rtl' && now === 'rtl') || (action === 'land' && now === 'landing')) return 'cmd.why.already';
  return null;
}

/**
 * Keeps "since when" for every vehicle's status: the time the status was first seen by this console,
 * or a better time the data carries (the last message for a lost link; the command for a hold).
 */
export class StatusBook {
  private readonly seen = new Map<string, { status: FlightStatus; sinceMs: number }>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  update(id: string, status: FlightStatus, hintSinceMs?: number | null): { status: FlightStatus; sinceMs: number } {
    const prev = this.seen.get(id);
    if (prev && prev.status === status) {
      // A better (earlier, data-carried) time replaces the first-seen one.
      if (hintSinceMs != null && Number.isFinite(hintSinceMs) && hintSinceMs < prev.sinceMs) prev.sinceMs = hintSinceMs;
      return prev;
    }
    const e = { status, sinceMs: hintSinceMs != null && Number.isFinite(hintSinceMs) ? Math.min(hintSinceMs, this.now()) : this.now() };
    this.seen.set(id, e);
    return e;
  }

  get(id: string): { status: FlightStatus; sinceMs: number } | undefined {
    return this.seen.get(id);
  }

  forget(id: string): void {
    this.seen.delete(id);
  }
}

/** The time a status started, as the data says: a lost link at the last message, a hold at its command. */
export function statusSinceHint(status: FlightStatus, f: Pick<TelemetryFrame, 't'>, job?: Delivery): number | null {
  if (status === 'link-lost') return Number.isFinite(f.t) && f.t > 0 ? f.t : null;
  if (status === 'holding') {
    const h = lastHoldCommand(job);
    if (h?.action === 'hold') return Date.parse(h.at);
  }
  return null;
}
