/**
 * The simulated vehicle's mission execution in AUTO: DO items, DO_JUMP, each NAV item's phases
 * (takeoff, waypoints, loiter, land, payload place, delay, RTL) and MISSION_ITEM_REACHED.
 */
import { msg, common } from '../../src/mavlink/registry';
import { Cmd, Frame, type MissionItem } from '../../src/mavlink/mission-item';
import { decodeMode } from '../modes';
import { SEV } from './constants';
import type { VehicleState, Nav, NavRun } from './state';
import { setMode } from './flight-modes';
import { startRtl, runRtl } from './navigation';
import { gripper, releasePayload, winch, setServo } from './payload';

export function missionItems(v: VehicleState): MissionItem[] {
  return v.mission.missionItems();
}
export function itemTarget(v: VehicleState, it: MissionItem): { n: number; e: number; u: number } {
  const here = { n: v.pos.n, e: v.pos.e };
  const p = it.x === 0 && it.y === 0 ? here : v.frame.toNe({ lat: it.x / 1e7, lon: it.y / 1e7 });
  let u = it.z;
  if (it.frame === Frame.GLOBAL || it.frame === Frame.GLOBAL_INT) u = it.z - v.originAmslM;
  if (it.z === 0 && it.command !== Cmd.NAV_TAKEOFF) u = v.pos.u;
  return { n: p.n, e: p.e, u };
}

export function startMission(v: VehicleState, seq: number): void {
  v.missionDone = false;
  v.jumpCounts.clear();
  advanceTo(v, seq);
}

/** Run DO items from `seq` on and start the next NAV item. */
export function advanceTo(v: VehicleState, seq: number): void {
  const items = missionItems(v);
  let guard = 0;
  while (seq < items.length && guard++ < 1000) {
    const it = items[seq];
    if (it.command === Cmd.DO_JUMP) {
      const target = Math.round(it.param1);
      const repeat = Math.round(it.param2);
      const done = v.jumpCounts.get(seq) ?? 0;
      if (repeat < 0 || done < repeat) {
        v.jumpCounts.set(seq, done + 1);
        seq = target;
      } else {
        seq++;
      }
      continue;
    }
    if (!isNav(it.command)) {
      doCommand(v, it);
      seq++;
      continue;
    }
    v.missionSeq = seq;
    v.nav = { seq, item: it, phase: 'start', startS: v.tS, holdUntilS: 0 };
    v.broadcast(msg(common.MissionCurrent, { seq }));
    if (v.ap) v.text(SEV.INFO, `Mission: ${seq} ${navName(it.command)}`);
    startNav(v, v.nav);
    return;
  }
  // End of mission: hold where we are (or stay on the ground).
  v.nav = null;
  v.missionDone = true;
  v.hold = { n: v.pos.n, e: v.pos.e, u: v.pos.u };
}

export function isNav(c: number): boolean {
  return c < 80 || c === Cmd.NAV_DELAY || c === Cmd.NAV_PAYLOAD_PLACE || c === Cmd.NAV_SPLINE_WAYPOINT;
}
export function navName(c: number): string {
  const m: Record<number, string> = { 16: 'WP', 17: 'LoitUnlim', 19: 'LoitTime', 20: 'RTL', 21: 'Land', 22: 'Takeoff', 82: 'SplineWP', 93: 'Delay', 94: 'PayloadPlace' };
  return m[c] ?? `Cmd${c}`;
}

export function startNav(v: VehicleState, r: NavRun): void {
  const it = r.item;
  const t = itemTarget(v, it);
  switch (it.command) {
    case Cmd.NAV_TAKEOFF:
      r.targetNe = { n: v.pos.n, e: v.pos.e };
      r.targetU = Math.max(it.z, v.pos.u);
      r.phase = 'climb';
      if (!v.flying && v.autoArmed) v.takingOff = true;
      break;
    case Cmd.NAV_WAYPOINT:
    case Cmd.NAV_SPLINE_WAYPOINT:
    case Cmd.NAV_LOITER_TIME:
    case Cmd.NAV_LOITER_UNLIM:
      r.targetNe = { n: t.n, e: t.e };
      r.targetU = t.u;
      r.phase = 'fly';
      if (!v.flying && v.autoArmed) v.takingOff = true;
      break;
    case Cmd.NAV_LAND:
      r.targetNe = it.x === 0 && it.y === 0 ? { n: v.pos.n, e: v.pos.e } : { n: t.n, e: t.e };
      r.targetU = v.pos.u;
      r.phase = 'fly';
      break;
    case Cmd.NAV_PAYLOAD_PLACE:
      r.targetNe = { n: t.n, e: t.e };
      r.targetU = v.pos.u;
      r.startU = v.pos.u;
      r.phase = 'fly';
      break;
    case Cmd.NAV_RETURN_TO_LAUNCH:
      startRtl(v);
      r.phase = 'rtl';
      break;
    case Cmd.NAV_DELAY:
      r.phase = 'delay';
      r.holdUntilS = v.tS + Math.max(0, it.param1);
      r.targetNe = { n: v.pos.n, e: v.pos.e };
      r.targetU = v.pos.u;
      break;
    default:
      r.phase = 'done';
  }
}

export function navReached(v: VehicleState, r: NavRun): void {
  v.broadcast(msg(common.MissionItemReached, { seq: r.seq }));
  if (v.ap && (r.item.command === Cmd.NAV_WAYPOINT || r.item.command === Cmd.NAV_LOITER_TIME)) v.text(SEV.INFO, `Reached command #${r.seq}`);
}

/** Mission progress for the current NAV item; returns the navigation request. */
export function runMission(v: VehicleState): Nav {
  const r = v.nav;
  if (!r) {
    if (v.hold && v.flying) return { kind: 'hold', ...v.hold };
    return { kind: v.flying ? 'hold' : 'ground', n: v.pos.n, e: v.pos.e, u: v.pos.u } as Nav;
  }
  if (!v.flying && !v.takingOff && r.phase !== 'rtl') return { kind: 'ground' };
  if (v.missionPaused) return { kind: 'hold', n: v.hold?.n ?? v.pos.n, e: v.hold?.e ?? v.pos.e, u: v.hold?.u ?? v.pos.u };
  const it = r.item;
  const tgt = r.targetNe ?? { n: v.pos.n, e: v.pos.e };
  const dH = Math.hypot(v.pos.n - tgt.n, v.pos.e - tgt.e);
  const done = () => {
    navReached(v, r);
    advanceTo(v, r.seq + 1);
  };
  switch (it.command) {
    case Cmd.NAV_TAKEOFF:
      if (v.pos.u >= (r.targetU ?? 0) - 0.1) {
        done();
        return { kind: 'hold', n: v.pos.n, e: v.pos.e, u: v.pos.u };
      }
      return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? 0, speedMps: v.wpSpeedMps() };
    case Cmd.NAV_WAYPOINT:
    case Cmd.NAV_SPLINE_WAYPOINT:
    case Cmd.NAV_LOITER_TIME:
    case Cmd.NAV_LOITER_UNLIM: {
      const d3 = Math.hypot(dH, v.pos.u - (r.targetU ?? 0));
      if (r.phase === 'fly' && d3 <= v.wpRadiusM()) {
        r.phase = 'hold';
        const holdS = it.command === Cmd.NAV_LOITER_UNLIM ? Infinity : Math.max(0, it.param1);
        r.holdUntilS = v.tS + holdS;
      }
      if (r.phase === 'hold' && v.tS >= r.holdUntilS) {
        done();
        return v.nav ? { kind: 'hold', n: tgt.n, e: tgt.e, u: r.targetU ?? v.pos.u } : { kind: 'hold', n: v.pos.n, e: v.pos.e, u: v.pos.u };
      }
      return r.phase === 'hold' ? { kind: 'hold', n: tgt.n, e: tgt.e, u: r.targetU ?? 0 } : { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? 0, speedMps: v.wpSpeedMps() };
    }
    case Cmd.NAV_LAND:
      if (r.phase === 'fly') {
        if (dH <= Math.max(1, v.wpRadiusM() / 2)) r.phase = 'descend';
        else return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? v.pos.u, speedMps: v.wpSpeedMps() };
      }
      return { kind: 'land', n: tgt.n, e: tgt.e };
    case Cmd.NAV_PAYLOAD_PLACE: {
      if (r.phase === 'fly') {
        if (dH <= Math.max(1, v.wpRadiusM() / 2)) r.phase = 'descend';
        else return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.targetU ?? v.pos.u, speedMps: v.wpSpeedMps() };
      }
      if (r.phase === 'descend') {
        const maxDescentM = it.param1 > 0 ? it.param1 : Infinity;
        if ((r.startU ?? 0) - v.pos.u > maxDescentM) {
          v.text(SEV.INFO, 'PayloadPlace: Reached maximum descent');
          r.phase = 'ascend';
        } else if (v.pos.u <= 1.0) {
          // The parcel touches down: release it.
          if (v.gripperEnabled) gripper(v, true);
          else releasePayload(v);
          r.phase = 'ascend';
          r.holdUntilS = v.tS + 1;
        } else {
          return { kind: 'goto', n: tgt.n, e: tgt.e, u: 0.9, speedMps: v.wpSpeedMps() };
        }
      }
      if (r.phase === 'ascend') {
        if (v.tS >= r.holdUntilS && v.pos.u >= (r.startU ?? 0) - 0.2) {
          done();
          return { kind: 'hold', n: v.pos.n, e: v.pos.e, u: v.pos.u };
        }
        return { kind: 'goto', n: tgt.n, e: tgt.e, u: r.startU ?? v.pos.u, speedMps: v.wpSpeedMps() };
      }
      return { kind: 'hold', n: tgt.n, e: tgt.e, u: v.pos.u };
    }
    case Cmd.NAV_RETURN_TO_LAUNCH:
      return runRtl(v);
    case Cmd.NAV_DELAY:
      if (v.tS >= r.holdUntilS) {
        done();
      }
      return v.flying ? { kind: 'hold', n: tgt.n, e: tgt.e, u: r.targetU ?? v.pos.u } : { kind: 'ground' };
    default:
      done();
      return { kind: 'hold', n: v.pos.n, e: v.pos.e, u: v.pos.u };
  }
}

export function doCommand(v: VehicleState, it: MissionItem): void {
  switch (it.command) {
    case Cmd.DO_CHANGE_SPEED:
      if (it.param2 > 0) v.wpSpeedOverride = it.param2;
      break;
    case Cmd.DO_GRIPPER:
      gripper(v, Math.round(it.param2) === 0);
      break;
    case Cmd.DO_WINCH:
      winch(v, it.param2, it.param3);
      break;
    case Cmd.DO_SET_SERVO:
      setServo(v, it.param1, it.param2);
      break;
    case Cmd.DO_FENCE_ENABLE:
      v.fenceEnabledOverride = Math.round(it.param1) === 1;
      break;
    case Cmd.DO_SET_HOME:
      setHome(v, it.param1 === 1 ? null : { lat: it.x / 1e7, lon: it.y / 1e7 });
      break;
    case Cmd.DO_SET_MODE: {
      const m = decodeMode(v.personality, it.param2);
      if (m) setMode(v, m);
      break;
    }
    default:
      break;
  }
}

export function setHome(v: VehicleState, ll: { lat: number; lon: number } | null): void {
  const p = ll ? v.frame.toNe(ll) : { n: v.pos.n, e: v.pos.e };
  v.home = { n: p.n, e: p.e, set: true };
}
