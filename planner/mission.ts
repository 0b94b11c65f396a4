/**
 * The MAVLink mission for a delivery: item 0 home (ArduPilot replaces it), NAV_TAKEOFF, cruise
 * waypoints, the drop point at cruise altitude, descent to drop altitude (with a hold), the
 * release command, a settle, the climb, the way back and NAV_LAND at the launch site.
 * Route items use GLOBAL_RELATIVE_ALT_INT; lat/lon × 1e7 rounded.
 */
import { Cmd, Frame, MissionType, type MissionItem } from '../src/mavlink/mission-item';
import type { LonLat } from './geo';
import type { ReleaseMethod, VehicleProfile } from './request';

export interface MissionInput {
  /** Outbound path launch → drop, [lon, lat]. */
  outbound: LonLat[];
  cruiseAltM: number;
  dropAltM: number;
  profile: VehicleProfile;
  release: ReleaseMethod;
}

/** Seconds the settle item holds, including the winch paying out. */
export function settleSeconds(profile: VehicleProfile, release: ReleaseMethod, dropAltM: number): number {
  return release === 'winch' ? Math.ceil(dropAltM / profile.winchRateMps) + profile.settleS : profile.settleS;
}

export function buildMission(m: MissionInput): MissionItem[] {
  const items: MissionItem[] = [];
  const add = (command: number, frame: number, p: [number, number, number, number], pos: LonLat | null, z: number) => {
    items.push({
      seq: items.length, frame, command, current: 0, autocontinue: 1,
      param1: p[0], param2: p[1], param3: p[2], param4: p[3],
      x: pos ? Math.round(pos[1] * 1e7) : 0, y: pos ? Math.round(pos[0] * 1e7) : 0, z, missionType: MissionType.MISSION,
    });
  };
  const R = Frame.GLOBAL_RELATIVE_ALT_INT;
  const launch = m.outbound[0];
  const drop = m.outbound[m.outbound.length - 1];
  const via = m.outbound.slice(1, -1);
  add(Cmd.NAV_WAYPOINT, Frame.GLOBAL, [0, 0, 0, 0], launch, 0); // home placeholder
  add(Cmd.NAV_TAKEOFF, R, [0, 0, 0, 0], launch, m.cruiseAltM);
  for (const p of via) add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], p, m.cruiseAltM);
  add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], drop, m.cruiseAltM);
  add(Cmd.NAV_WAYPOINT, R, [m.profile.holdBeforeReleaseS, 0, 0, 0], drop, m.dropAltM);
  switch (m.release) {
    case 'gripper':
      add(Cmd.DO_GRIPPER, Frame.MISSION, [m.profile.gripperInstance, 0, 0, 0], null, 0);
      break;
    case 'winch':
      // length control (action 1): pay out the drop altitude at the winch rate
      add(Cmd.DO_WINCH, Frame.MISSION, [m.profile.winchInstance, 1, m.dropAltM, m.profile.winchRateMps], null, 0);
      break;
    case 'servo':
      add(Cmd.DO_SET_SERVO, Frame.MISSION, [m.profile.releaseServo, m.profile.releasePwm, 0, 0], null, 0);
      break;
  }
  add(Cmd.NAV_LOITER_TIME, R, [settleSeconds(m.profile, m.release, m.dropAltM), 0, 0, 0], drop, m.dropAltM);
  if (m.release === 'winch') add(Cmd.DO_WINCH, Frame.MISSION, [m.profile.winchInstance, 1, -m.dropAltM, m.profile.winchRateMps], null, 0);
  add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], drop, m.cruiseAltM);
  for (const p of [...via].reverse()) add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], p, m.cruiseAltM);
  add(Cmd.NAV_LAND, R, [0, 0, 0, 0], launch, 0);
  return items;
}
