/**
 * The MAVLink command protocol: COMMAND_LONG / COMMAND_INT answered by COMMAND_ACK.
 *
 * - An ack is matched by command id (and, when the vehicle fills it in, by our sysid/compid).
 * - No ack within `timeoutMs` → resend; COMMAND_LONG resends carry `confirmation` 1, 2, …
 * - IN_PROGRESS extends the wait by `inProgressTimeoutMs` per progress report, without resending.
 * - One command id is in flight at a time per vehicle (acks carry no other key); other ids run
 *   concurrently.
 * Results are values (CommandResult), never exceptions.
 */
import { common } from 'mavlink-mappings';
import type { Frame } from '../mavlink/codec';
import { msg } from '../mavlink/registry';
import { Cmd } from '../mavlink/mission-item';
import type { CommandResult, CommandResultName, CommandSpec, Autopilot } from '../fleet/types';
import type { ProtocolDeps } from './types';
import type { TimerHandle } from './clock';

export interface CommandOptions {
  /** Wait per attempt for a COMMAND_ACK. Default 1000 ms. */
  timeoutMs?: number;
  /** Resends after the first attempt. Default 3. */
  retries?: number;
  /** Extra wait granted by each IN_PROGRESS ack. Default 5000 ms. */
  inProgressTimeoutMs?: number;
}

const RESULT_NAMES: Record<number, CommandResultName> = {
  0: 'ACCEPTED',
  1: 'TEMPORARILY_REJECTED',
  2: 'DENIED',
  3: 'UNSUPPORTED',
  4: 'FAILED',
  5: 'IN_PROGRESS',
  6: 'CANCELLED',
  7: 'COMMAND_LONG_ONLY',
  8: 'COMMAND_INT_ONLY',
  9: 'UNSUPPORTED_MAV_FRAME',
};

interface Pending {
  command: number;
  onAck: (ack: common.CommandAck) => void;
}

export class CommandClient {
  private readonly pending = new Map<number, Pending>();
  private readonly chains = new Map<number, Promise<unknown>>();
  private readonly opts: Required<CommandOptions>;
  /** When false, commands fail at once with NOT_CONNECTED. */
  connected: () => boolean = () => true;

  constructor(private readonly deps: ProtocolDeps, opts: CommandOptions = {}) {
    this.opts = { timeoutMs: opts.timeoutMs ?? 1000, retries: opts.retries ?? 3, inProgressTimeoutMs: opts.inProgressTimeoutMs ?? 5000 };
  }

  /** Feed every frame from the vehicle. */
  handle(f: Frame): void {
    if (f.name !== 'COMMAND_ACK' || f.sysid !== this.deps.target.sysid) return;
    const ack = f.data as common.CommandAck;
    const self = this.deps.self ?? { sysid: 255, compid: 190 };
    if (ack.targetSystem !== 0 && ack.targetSystem !== self.sysid) return;
    if (ack.targetComponent !== 0 && ack.targetComponent !== self.compid) return;
    this.pending.get(ack.command)?.onAck(ack);
  }

  /** Send a command and wait for its final ack. Commands with the same id are queued. */
  send(spec: CommandSpec): Promise<CommandResult> {
    const prev = this.chains.get(spec.command) ?? Promise.resolve();
    const run = prev.then(() => this.run(spec));
    const tail = run.catch(() => undefined);
    this.chains.set(spec.command, tail);
    void tail.then(() => {
      if (this.chains.get(spec.command) === tail) this.chains.delete(spec.command);
    });
    return run;
  }

  private run(spec: CommandSpec): Promise<CommandResult> {
    const { clock, send, target } = this.deps;
    const started = clock.now();
    if (!this.connected()) {
      return Promise.resolve({ ok: false, result: 'NOT_CONNECTED', command: spec.command, attempts: 0, elapsedMs: 0 });
    }
    const timeoutMs = spec.timeoutMs ?? this.opts.timeoutMs;
    const retries = spec.retries ?? this.opts.retries;
    const p = spec.params ?? [];
    const num = (i: number) => p[i] ?? 0;
    return new Promise<CommandResult>((resolve) => {
      let attempts = 0;
      let timer: TimerHandle | undefined;
      let progress: number | undefined;
      const finish = (result: CommandResultName, ack?: common.CommandAck) => {
        if (timer !== undefined) clock.clearTimeout(timer);
        this.pending.delete(spec.command);
        const r: CommandResult = { ok: result === 'ACCEPTED', result, command: spec.command, attempts, elapsedMs: clock.now() - started };
        if (ack) {
          r.progress = ack.progress;
          r.resultParam2 = ack.resultParam2;
        } else if (progress !== undefined) r.progress = progress;
        resolve(r);
      };
      const arm = (ms: number) => {
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = clock.setTimeout(onTimeout, ms);
      };
      const transmit = () => {
        const confirmation = attempts;
        attempts++;
        if (spec.useInt) {
          send(
            msg(common.CommandInt, {
              targetSystem: target.sysid,
              targetComponent: target.compid,
              frame: spec.frame ?? 0,
              command: spec.command,
              current: 0,
              autocontinue: 0,
              param1: num(0),
              param2: num(1),
              param3: num(2),
              param4: num(3),
              x: Math.round(num(4)),
              y: Math.round(num(5)),
              z: num(6),
            }),
          );
        } else {
          send(
            msg(common.CommandLong, {
              targetSystem: target.sysid,
              targetComponent: target.compid,
              command: spec.command,
              confirmation: Math.min(confirmation, 255),
              param1: num(0),
              param2: num(1),
              param3: num(2),
              param4: num(3),
              param5: num(4),
              param6: num(5),
              param7: num(6),
            }),
          );
        }
        arm(timeoutMs);
      };
      const onTimeout = () => {
        timer = undefined;
        if (progress !== undefined) {
          // We were told it is running and then heard nothing more: do not start it again.
          finish('TIMEOUT');
          return;
        }
        if (attempts > retries) finish('TIMEOUT');
        else transmit();
      };
      this.pending.set(spec.command, {
        command: spec.command,
        onAck: (ack) => {
          const name = RESULT_NAMES[ack.result] ?? 'FAILED';
          if (name === 'IN_PROGRESS') {
            progress = ack.progress;
            arm(this.opts.inProgressTimeoutMs);
            return;
          }
          finish(name, ack);
        },
      });
      transmit();
    });
  }
}

/** ArduCopter custom modes (HEARTBEAT.custom_mode). */
export const ARDUCOPTER_MODES: Record<string, number> = {
  STABILIZE: 0,
  ACRO: 1,
  ALT_HOLD: 2,
  AUTO: 3,
  GUIDED: 4,
  LOITER: 5,
  RTL: 6,
  CIRCLE: 7,
  LAND: 9,
  DRIFT: 11,
  SPORT: 13,
  FLIP: 14,
  AUTOTUNE: 15,
  POSHOLD: 16,
  BRAKE: 17,
  THROW: 18,
  AVOID_ADSB: 19,
  GUIDED_NOGPS: 20,
  SMART_RTL: 21,
  FLOWHOLD: 22,
  FOLLOW: 23,
  ZIGZAG: 24,
  SYSTEMID: 25,
  AUTOROTATE: 26,
  AUTO_RTL: 27,
};

/** PX4 main modes (custom_mode bits 16–23). */
export const PX4_MAIN_MODES = { MANUAL: 1, ALTCTL: 2, POSCTL: 3, AUTO: 4, ACRO: 5, OFFBOARD: 6, STABILIZED: 7, RATTITUDE: 8 } as const;
/** PX4 AUTO sub modes (custom_mode bits 24–31). */
export const PX4_AUTO_SUB_MODES = { READY: 1, TAKEOFF: 2, LOITER: 3, MISSION: 4, RTL: 5, LAND: 6, RTGS: 7, FOLLOW_TARGET: 8, PRECLAND: 9 } as const;

/** Names that mean the same thing on both autopilots, mapped to PX4's names. */
const PX4_ALIASES: Record<string, string> = { HOLD: 'AUTO.LOITER', LOITER: 'AUTO.LOITER', RTL: 'AUTO.RTL', LAND: 'AUTO.LAND', MISSION: 'AUTO.MISSION', AUTO: 'AUTO.MISSION', TAKEOFF: 'AUTO.TAKEOFF', POSITION: 'POSCTL', ALTITUDE: 'ALTCTL', STABILIZE: 'STABILIZED' };

/** PX4 custom_mode from a name like 'POSCTL' or 'AUTO.MISSION' (or an alias such as 'HOLD'). */
export function px4CustomMode(name: string): { main: number; sub: number } | undefined {
  const n = PX4_ALIASES[name.toUpperCase()] ?? name.toUpperCase();
  const [mainName, subName] = n.split('.');
  const main = (PX4_MAIN_MODES as Record<string, number>)[mainName];
  if (main === undefined) return undefined;
  if (subName === undefined) return { main, sub: 0 };
  if (main !== PX4_MAIN_MODES.AUTO) return undefined;
  const sub = (PX4_AUTO_SUB_MODES as Record<string, number>)[subName];
  return sub === undefined ? undefined : { main, sub };
}

/** A mode's display name from HEARTBEAT.custom_mode for the given autopilot. */
export function modeName(autopilot: Autopilot, customMode: number): string {
  if (autopilot === 'px4') {
    const main = (customMode >>> 16) & 0xff;
    const sub = (customMode >>> 24) & 0xff;
    const mainName = Object.keys(PX4_MAIN_MODES).find((k) => (PX4_MAIN_MODES as Record<string, number>)[k] === main);
    if (!mainName) return `UNKNOWN(${customMode})`;
    if (main !== PX4_MAIN_MODES.AUTO) return mainName;
    const subName = Object.keys(PX4_AUTO_SUB_MODES).find((k) => (PX4_AUTO_SUB_MODES as Record<string, number>)[k] === sub);
    return subName ? `AUTO.${subName}` : `UNKNOWN(${customMode})`;
  }
  const name = Object.keys(ARDUCOPTER_MODES).find((k) => ARDUCOPTER_MODES[k] === customMode);
  return name ?? `UNKNOWN(${customMode})`;
}

/** MAV_MODE_FLAG_CUSTOM_MODE_ENABLED */
const CUSTOM_MODE_ENABLED = 1;
/** MAV_CMD_DO_SET_MODE */
const DO_SET_MODE = 176;

/** The DO_SET_MODE command for a mode name, or undefined when the autopilot has no such mode. */
export function setModeSpec(autopilot: Autopilot, name: string): CommandSpec | undefined {
  if (autopilot === 'px4') {
    const m = px4CustomMode(name);
    return m && { command: DO_SET_MODE, params: [CUSTOM_MODE_ENABLED, m.main, m.sub] };
  }
  const mode = ARDUCOPTER_MODES[name.toUpperCase()];
  return mode === undefined ? undefined : { command: DO_SET_MODE, params: [CUSTOM_MODE_ENABLED, mode] };
}

/** MAV_CMD_COMPONENT_ARM_DISARM param2 value that overrides pre-arm checks. Only on request. */
export const FORCE_ARM_MAGIC = 21196;

/** Command builders: what each high-level action sends. Pure, so tests can check the bytes. */
export const Commands = {
  arm: (force = false): CommandSpec => ({ command: Cmd.COMPONENT_ARM_DISARM, params: [1, force ? FORCE_ARM_MAGIC : 0] }),
  disarm: (force = false): CommandSpec => ({ command: Cmd.COMPONENT_ARM_DISARM, params: [0, force ? FORCE_ARM_MAGIC : 0] }),
  /** NAV_TAKEOFF as ArduPilot reads it: param7 = altitude above home (m). */
  takeoff: (altRelM: number): CommandSpec => ({ command: Cmd.NAV_TAKEOFF, params: [0, 0, 0, 0, 0, 0, altRelM] }),
  /**
   * NAV_TAKEOFF as PX4 reads it: param7 = altitude AMSL (NaN = its MIS_TAKEOFF_ALT), lat/lon/yaw
   * NaN = here (0 would mean the point 0°, 0°).
   */
  takeoffPx4: (altAmslM: number): CommandSpec => ({ command: Cmd.NAV_TAKEOFF, params: [0, 0, 0, NaN, NaN, NaN, altAmslM] }),
  returnToLaunch: (): CommandSpec => ({ command: Cmd.NAV_RETURN_TO_LAUNCH }),
  land: (): CommandSpec => ({ command: Cmd.NAV_LAND, params: [0, 0, 0, 0, 0, 0, 0] }),
  missionStart: (): CommandSpec => ({ command: Cmd.MISSION_START, params: [0, 0] }),
  /** DO_PAUSE_CONTINUE: param1 0 = pause (hold), 1 = continue. */
  pauseContinue: (pause: boolean): CommandSpec => ({ command: Cmd.DO_PAUSE_CONTINUE, params: [pause ? 0 : 1] }),
  /** DO_GRIPPER: param1 gripper instance (1), param2 0 = release, 1 = grab. */
  gripper: (action: 'release' | 'grab', instance = 1): CommandSpec => ({ command: Cmd.DO_GRIPPER, params: [instance, action === 'grab' ? 1 : 0] }),
  /** DO_SET_SERVO: param1 servo number, param2 PWM µs. */
  setServo: (servo: number, pwm: number): CommandSpec => ({ command: Cmd.DO_SET_SERVO, params: [servo, pwm] }),
  /** DO_WINCH: param1 instance, param2 action (0 relax, 1 relative length, 2 rate), param3 length m, param4 rate m/s. */
  winch: (action: 'relax' | 'length' | 'rate', value = 0, instance = 1): CommandSpec => ({
    command: Cmd.DO_WINCH,
    params: [instance, action === 'relax' ? 0 : action === 'length' ? 1 : 2, action === 'length' ? value : 0, action === 'rate' ? value : 0],
  }),
  /** DO_FENCE_ENABLE: param1 1 = enable, 0 = disable. */
  fenceEnable: (enable: boolean): CommandSpec => ({ command: Cmd.DO_FENCE_ENABLE, params: [enable ? 1 : 0] }),
  /** SET_MESSAGE_INTERVAL: interval in µs; -1 disables, 0 restores the default. */
  setMessageInterval: (msgid: number, intervalUs: number): CommandSpec => ({ command: Cmd.SET_MESSAGE_INTERVAL, params: [msgid, intervalUs, 0, 0, 0, 0, 0] }),
  requestMessage: (msgid: number): CommandSpec => ({ command: Cmd.REQUEST_MESSAGE, params: [msgid, 0, 0, 0, 0, 0, 0] }),
};

/** Every mode name `setModeSpec` accepts for an autopilot (PX4: main modes, AUTO.* and the shared aliases). */
export function modeNames(autopilot: Autopilot): string[] {
  if (autopilot === 'px4') {
    const auto = Object.keys(PX4_AUTO_SUB_MODES).map((s) => `AUTO.${s}`);
    return [...Object.keys(PX4_MAIN_MODES), ...auto, ...Object.keys(PX4_ALIASES)];
  }
  return Object.keys(ARDUCOPTER_MODES);
}
