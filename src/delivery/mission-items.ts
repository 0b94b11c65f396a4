/**
 * What the dispatcher and the tracker read from a flight's mission: which item releases the payload
 * and which one holds over the drop point, the leg a vehicle flies, and the mission as each
 * autopilot takes it.
 */
import { Cmd, type MissionItem } from '../mavlink/mission-item';
import { greatCircleDistanceM } from '../../planner/geo';
import type { LonLat } from './types';

/** Mission commands that release the payload. */
export const RELEASE_COMMANDS: ReadonlySet<number> = new Set([Cmd.DO_GRIPPER, Cmd.DO_WINCH, Cmd.NAV_PAYLOAD_PLACE, Cmd.DO_SET_SERVO]);
/** Mission commands that move the vehicle to a point (or hold it there). */
export const NAV_COMMANDS: ReadonlySet<number> = new Set([Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_SPLINE_WAYPOINT, Cmd.NAV_DELAY]);

/** Mission seq of the release item, and of the nav item at the drop point (for command-released plans). */
export function findReleaseSeqs(mission: MissionItem[], drop: LonLat): { releaseSeq: number | null; dropSeq: number | null } {
  const rel = mission.find((m) => RELEASE_COMMANDS.has(m.command) && m.seq > 0);
  // The nav item over the drop point at the lowest altitude (the hold before the release).
  let dropSeq: number | null = null;
  let best: { d: number; z: number } | null = null;
  for (const m of mission) {
    if (!NAV_COMMANDS.has(m.command) || m.seq === 0) continue;
    const d = greatCircleDistanceM([m.y / 1e7, m.x / 1e7], drop);
    if (!best || d < best.d - 2 || (Math.abs(d - best.d) <= 2 && m.z < best.z)) {
      best = { d, z: m.z };
      dropSeq = m.seq;
    }
  }
  return { releaseSeq: rel ? rel.seq : null, dropSeq };
}

/**
 * The plan as this autopilot flies it. The planner writes ArduPilot's mission, whose item 0 is a home
 * placeholder the vehicle replaces; PX4 has no home item and would fly item 0 as a waypoint (and
 * rejects a mission whose takeoff is not its first positional item), so PX4 gets the mission without
 * it, renumbered. Other autopilots get the plan unchanged (the same object).
 */
export function planForAutopilot<P extends { mission: MissionItem[] }>(plan: P, autopilot: string): P {
  if (autopilot !== 'px4') return plan;
  const m = plan.mission;
  if (m.length < 2 || m[0].seq !== 0 || m[0].command !== Cmd.NAV_WAYPOINT || m[1].command !== Cmd.NAV_TAKEOFF) return plan;
  return { ...plan, mission: m.slice(1).map((it, i) => ({ ...it, seq: i })) };
}

/** Leg number: how many nav items precede the current one. */
export function legOf(mission: MissionItem[], current: number): number {
  return mission.filter((m) => m.seq > 0 && m.seq <= current && (NAV_COMMANDS.has(m.command) || m.command === Cmd.NAV_TAKEOFF)).length;
}
