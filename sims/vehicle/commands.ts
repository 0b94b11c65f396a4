/**
 * COMMAND_LONG / COMMAND_INT handling of the simulated vehicle, with its COMMAND_ACK replies.
 */
import { msg, common } from '../../src/mavlink/registry';
import type { Frame as MavFrame } from '../../src/mavlink/codec';
import { Cmd } from '../../src/mavlink/mission-item';
import { decodeMode, modeDisplayName } from '../modes';
import type { SimLink } from '../link';
import { Result, SEV } from './constants';
import type { VehicleState } from './state';
import { arm, disarm } from './arming';
import { reboot } from './boot';
import { fenceEnabled, fenceViolation } from './fence';
import { positionOk, setMode } from './flight-modes';
import { startMission, startNav, setHome } from './mission';
import { holdHere } from './navigation';
import { gripper, winch, setServo } from './payload';
import { build, STREAMABLE } from './telemetry';

export function ack(link: SimLink, f: MavFrame, command: number, result: number): void {
  link.send(msg(common.CommandAck, { command, result, targetSystem: f.sysid, targetComponent: f.compid }));
}

/** On the way to a mission waypoint (a loiter's or a landing's point included), not yet there. */
function pausable(v: VehicleState): boolean {
  const r = v.nav;
  if (!r || r.phase !== 'fly') return false;
  const c = r.item.command;
  if (c === Cmd.NAV_LAND) return r.item.x !== 0 || r.item.y !== 0;
  return c === Cmd.NAV_WAYPOINT || c === Cmd.NAV_SPLINE_WAYPOINT || c === Cmd.NAV_LOITER_TIME || c === Cmd.NAV_LOITER_UNLIM;
}

export function onCommand(v: VehicleState, link: SimLink, f: MavFrame): void {
  const d = f.data as unknown as Record<string, number>;
  const isInt = f.name === 'COMMAND_INT';
  const cmd = d.command;
  const p = [0, d.param1, d.param2, d.param3, d.param4, isInt ? d.x : d.param5, isInt ? d.y : d.param6, isInt ? d.z : d.param7];
  const lat = isInt ? d.x / 1e7 : d.param5;
  const lon = isInt ? d.y / 1e7 : d.param6;
  const reply = (r: number) => ack(link, f, cmd, r);
  const refuse = (text: string | undefined, r: number = Result.FAILED) => {
    if (text) v.text(SEV.CRITICAL, text);
    reply(r);
  };
  switch (cmd) {
    case Cmd.COMPONENT_ARM_DISARM: {
      if (Math.round(p[1]) === 1) {
        const r = arm(v, Math.round(p[2]) === 21196);
        if (r.result !== Result.ACCEPTED) refuse(r.text, r.result);
        else reply(Result.ACCEPTED);
      } else {
        if (!v.armed) return reply(Result.ACCEPTED);
        if (v.flying && Math.round(p[2]) !== 21196) return refuse(undefined);
        disarm(v, 'GCS');
        reply(Result.ACCEPTED);
      }
      return;
    }
    case Cmd.DO_SET_MODE: {
      const m = decodeMode(v.personality, v.ap ? Math.round(p[2]) : ((Math.round(p[2]) & 0xff) << 16) | ((Math.round(p[3]) & 0xff) << 24));
      if (!m) return reply(Result.FAILED);
      const r = setMode(v, m);
      if (!r.ok) {
        if (r.reason === 'requires position') v.text(SEV.WARNING, `Mode change to ${modeDisplayName(v.personality, m)} failed: requires position`);
        return reply(Result.FAILED);
      }
      return reply(Result.ACCEPTED);
    }
    case Cmd.NAV_TAKEOFF: {
      const altM = p[7];
      if (!v.armed || (v.mode !== 'GUIDED' && v.ap) || v.flying || !positionOk(v)) return reply(Result.FAILED);
      if (!v.ap) setMode(v, 'TAKEOFF');
      // ArduCopter reads param7 as metres above home; PX4 as AMSL (NaN: its MIS_TAKEOFF_ALT).
      const relM = v.ap ? altM : Number.isFinite(altM) && altM !== 0 ? altM - v.originAmslM : v.p('MIS_TAKEOFF_ALT');
      v.guidedTarget = { n: v.pos.n, e: v.pos.e, u: Math.max(1, relM || 0) };
      v.takingOff = true;
      v.guidedTakeoff = v.ap;
      return reply(Result.ACCEPTED);
    }
    case Cmd.MISSION_START: {
      const r = setMode(v, 'AUTO');
      if (!r.ok) return reply(Result.FAILED);
      if (v.armed) {
        v.autoArmed = true;
        if (!v.nav || v.missionDone) startMission(v, v.ap ? Math.max(1, p[1] > 0 ? Math.round(p[1]) : 1) : Math.round(p[1]));
        else if (!v.flying) startNav(v, v.nav);
      }
      return reply(Result.ACCEPTED);
    }
    case Cmd.DO_PAUSE_CONTINUE: {
      if (v.mode !== 'AUTO' || !v.flying) return reply(Result.FAILED);
      // ArduCopter pauses only on the way to a waypoint (ModeAuto::pause: SubMode::WP, destination not
      // reached): not while taking off, landing, placing a payload, loitering at its point or returning.
      if (Math.round(p[1]) === 0 && v.ap && !pausable(v)) return reply(Result.FAILED);
      if (Math.round(p[1]) === 0) {
        v.missionPaused = true;
        v.hold = null;
        const h = holdHere(v);
        if (h.kind === 'hold') v.hold = { n: h.n, e: h.e, u: h.u };
      } else {
        v.missionPaused = false;
        v.hold = null;
      }
      return reply(Result.ACCEPTED);
    }
    case Cmd.NAV_RETURN_TO_LAUNCH:
      return reply(setMode(v, 'RTL').ok ? Result.ACCEPTED : Result.FAILED);
    case Cmd.NAV_LAND:
      return reply(setMode(v, 'LAND').ok ? Result.ACCEPTED : Result.FAILED);
    case Cmd.DO_REPOSITION: {
      if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return reply(Result.DENIED);
      if (v.mode !== 'GUIDED') {
        if (!(Math.round(p[2]) & 1) || !setMode(v, 'GUIDED').ok) return reply(Result.FAILED);
      }
      const pt = v.frame.toNe({ lat, lon });
      const u = Number.isFinite(p[7]) && !(isInt && d.frame === 0 && p[7] === 0) ? (isInt && (d.frame === 0 || d.frame === 5) ? p[7] - v.originAmslM : p[7]) : v.pos.u;
      if (fenceEnabled(v) && fenceViolation(v, pt, u)) return reply(Result.FAILED);
      if (!v.flying) return reply(Result.FAILED);
      v.guidedTarget = { n: pt.n, e: pt.e, u };
      if (p[1] > 0) v.wpSpeedOverride = p[1];
      return reply(Result.ACCEPTED);
    }
    case Cmd.DO_CHANGE_SPEED:
      if (p[2] > 0) v.wpSpeedOverride = p[2];
      return reply(Result.ACCEPTED);
    case Cmd.DO_GRIPPER:
      gripper(v, Math.round(p[2]) === 0);
      return reply(Result.ACCEPTED);
    case Cmd.DO_WINCH:
      winch(v, p[2], p[3]);
      return reply(Result.ACCEPTED);
    case Cmd.DO_SET_SERVO:
      return reply(setServo(v, p[1], p[2]));
    case Cmd.DO_FENCE_ENABLE:
      v.fenceEnabledOverride = Math.round(p[1]) === 1;
      return reply(Result.ACCEPTED);
    case Cmd.DO_SET_HOME:
      if (Math.round(p[1]) === 1) setHome(v, null);
      else {
        if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return reply(Result.DENIED);
        setHome(v, { lat, lon });
      }
      return reply(Result.ACCEPTED);
    case Cmd.GET_HOME_POSITION: {
      const h = build(v, 242);
      if (!h) return reply(Result.FAILED);
      reply(Result.ACCEPTED);
      link.send(h);
      return;
    }
    case Cmd.SET_MESSAGE_INTERVAL: {
      const id = Math.round(p[1]);
      const us = p[2];
      if (!STREAMABLE.includes(id) && id !== 148) return reply(Result.FAILED);
      if (!Number.isFinite(us)) return reply(Result.DENIED);
      if (us < 0) link.intervals.delete(id);
      else if (us === 0) {
        if (id === 0) link.intervals.set(0, { intervalS: 1, nextS: v.tS });
        else link.intervals.delete(id);
      } else link.intervals.set(id, { intervalS: us / 1e6, nextS: v.tS });
      return reply(Result.ACCEPTED);
    }
    case Cmd.REQUEST_MESSAGE:
    case 520: {
      const id = cmd === 520 ? 148 : Math.round(p[1]);
      const m = build(v, id);
      if (!m) return reply(id === 242 || STREAMABLE.includes(id) ? Result.FAILED : Result.UNSUPPORTED);
      reply(Result.ACCEPTED);
      link.send(m);
      return;
    }
    case Cmd.PREFLIGHT_REBOOT_SHUTDOWN: {
      if (Math.round(p[1]) !== 1) return reply(Result.UNSUPPORTED);
      if (v.armed && Math.round(p[6]) !== 20190226) return reply(Result.FAILED);
      reply(Result.ACCEPTED);
      v.after(0.2, () => reboot(v));
      return;
    }
    default:
      return reply(Result.UNSUPPORTED);
  }
}
