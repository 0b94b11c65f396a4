/**
 * What the ArduPilot and PX4 SITL launchers share: the child's output tail, waiting for its pipes,
 * ending it (SIGTERM, then SIGKILL), finding free instance numbers, and reading the vehicle's own
 * telemetry into SimTruth.
 */
import { ChildProcess } from 'child_process';
import type { SimTruth } from './index';
import { decodeMode, modeDisplayName } from './modes';

/** Keeps the last 4000 characters a child printed on stdout and stderr. */
export class OutputTail {
  text = '';
  constructor(child: ChildProcess) {
    const keep = (b: Buffer) => (this.text = (this.text + b.toString()).slice(-4000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }
  /** The last 8 lines, trimmed. */
  tail(): string {
    return this.text.trim().split('\n').slice(-8).join('\n');
  }
  /** `:\n<last lines>` when there is output, else '' (to end an error message). */
  suffix(): string {
    const t = this.tail();
    return t ? `:\n${t}` : '';
  }
}

/** Call `fn` once the child's output pipes have closed, or after `maxWaitMs` (a grandchild may hold them open). */
export function afterOutput(child: ChildProcess, fn: () => void, maxWaitMs = 500): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    fn();
  };
  if ((child.stdout === null || child.stdout.readableEnded) && (child.stderr === null || child.stderr.readableEnded)) return once();
  child.once('close', once);
  setTimeout(once, maxWaitMs).unref?.();
}

/**
 * If the child still runs: send SIGTERM through `signal`, then SIGKILL after `graceMs`, and resolve
 * when it exits.
 */
export async function terminate(c: ChildProcess, graceMs: number, signal: (sig: NodeJS.Signals) => void): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => signal('SIGKILL'), graceMs);
    c.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    signal('SIGTERM');
  });
}

/** The first k in [from, to) for which instances k … k+n−1 are all free, or −1. */
export async function firstFreeInstances(from: number, to: number, n: number, free: (instance: number) => Promise<boolean>): Promise<number> {
  for (let k = from; k < to; k++) {
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await free(k + i);
    if (ok) return k;
  }
  return -1;
}

/**
 * Update `t` from a vehicle's own telemetry, for the messages both autopilots send alike
 * (HEARTBEAT, GLOBAL_POSITION_INT, SYS_STATUS, EXTENDED_SYS_STATE, MISSION_CURRENT). Others are ignored.
 */
export function applyTelemetry(t: SimTruth, autopilot: 'ardupilot' | 'px4', name: string, d: Record<string, number>): void {
  switch (name) {
    case 'HEARTBEAT': {
      t.armed = (d.baseMode & 128) !== 0;
      const m = decodeMode(autopilot, d.customMode);
      t.mode = m ? modeDisplayName(autopilot, m) : String(d.customMode);
      break;
    }
    case 'GLOBAL_POSITION_INT':
      t.lat = d.lat / 1e7;
      t.lon = d.lon / 1e7;
      t.altAmslM = d.alt / 1000;
      t.altRelM = d.relativeAlt / 1000;
      t.groundSpeedMps = Math.hypot(d.vx, d.vy) / 100;
      break;
    case 'SYS_STATUS':
      t.voltageV = d.voltageBattery / 1000;
      t.batteryPct = d.batteryRemaining;
      break;
    case 'EXTENDED_SYS_STATE':
      t.landed = d.landedState === 1;
      break;
    case 'MISSION_CURRENT':
      t.missionSeq = d.seq;
      break;
  }
}

/** A copy of the truth that callers may keep. */
export function copyTruth(t: SimTruth): SimTruth {
  return { ...t, releasedAt: t.releasedAt ? { ...t.releasedAt } : null };
}
