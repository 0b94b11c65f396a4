/**
 * The MAVLink mission for a delivery: item 0 home (ArduPilot replaces it), NAV_TAKEOFF, then for
 * each drop in flight order: the cruise waypoints to it, the drop point at cruise altitude, the
 * descent to that drop's altitude (with a hold), the release command, a settle and the climb; then
 * the way back and NAV_LAND at the launch site.
 * Route items use GLOBAL_RELATIVE_ALT_INT; lat/lon × 1e7 rounded.
 */
import { Cmd, Frame, MissionType, type MissionItem } from '../src/mavlink/mission-item';
import type { LonLat } from './geo';
import type { ReleaseMethod, VehicleProfile } from './request';

export interface MissionDrop {
  /** Path from the launch (first drop) or the previous drop to this drop, [lon, lat], both ends included. */
  path: LonLat[];
  dropAltM: number;
  /** Servo output that releases this parcel (release 'servo'). */
  servo: number;
}

export interface MissionInput {
  /** The drops in flight order. */
  drops: MissionDrop[];
  /** Path from the last drop back to the launch, [lon, lat], both ends included. */
  back: LonLat[];
  cruiseAltM: number;
  profile: VehicleProfile;
  release: ReleaseMethod;
}

/** Where a drop's items are in the mission. */
export interface MissionDropSeqs {
  /** The NAV_WAYPOINT that descends to the drop altitude and holds there. */
  holdSeq: number;
  /** The release command (DO_GRIPPER, DO_WINCH or DO_SET_SERVO). */
  releaseSeq: number;
}

/** Seconds the settle item holds, including the winch paying out. */
export function settleSeconds(profile: VehicleProfile, release: ReleaseMethod, dropAltM: number): number {
  return release === 'winch' ? Math.ceil(dropAltM / profile.winchRateMps) + profile.settleS : profile.settleS;
}

export function buildMission(m: MissionInput): { items: MissionItem[]; drops: MissionDropSeqs[] } {
  const items: MissionItem[] = [];
  const seqs: MissionDropSeqs[] = [];
  const add = (command: number, frame: number, p: [number, number, number, number], pos: LonLat | null, z: number) => {
    items.push({
      seq: items.length, frame, command, current: 0, autocontinue: 1,
      param1: p[0], param2: p[1], param3: p[2], param4: p[3],
      x: pos ? Math.round(pos[1] * 1e7) : 0, y: pos ? Math.round(pos[0] * 1e7) : 0, z, missionType: MissionType.MISSION,
    });
  };
  const R = Frame.GLOBAL_RELATIVE_ALT_INT;
  const launch = m.drops[0].path[0];
  add(Cmd.NAV_WAYPOINT, Frame.GLOBAL, [0, 0, 0, 0], launch, 0); // home placeholder
  add(Cmd.NAV_TAKEOFF, R, [0, 0, 0, 0], launch, m.cruiseAltM);
  for (const d of m.drops) {
    const drop = d.path[d.path.length - 1];
    for (const p of d.path.slice(1, -1)) add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], p, m.cruiseAltM);
    add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], drop, m.cruiseAltM);
    const holdSeq = items.length;
    add(Cmd.NAV_WAYPOINT, R, [m.profile.holdBeforeReleaseS, 0, 0, 0], drop, d.dropAltM);
    const releaseSeq = items.length;
    switch (m.release) {
      case 'gripper':
        add(Cmd.DO_GRIPPER, Frame.MISSION, [m.profile.gripperInstance, 0, 0, 0], null, 0);
        break;
      case 'winch':
        // length control (action 1): pay out the drop altitude at the winch rate
        add(Cmd.DO_WINCH, Frame.MISSION, [m.profile.winchInstance, 1, d.dropAltM, m.profile.winchRateMps], null, 0);
        break;
      case 'servo':
        add(Cmd.DO_SET_SERVO, Frame.MISSION, [d.servo, m.profile.releasePwm, 0, 0], null, 0);
        break;
    }
    seqs.push({ holdSeq, releaseSeq });
    add(Cmd.NAV_LOITER_TIME, R, [settleSeconds(m.profile, m.release, d.dropAltM), 0, 0, 0], drop, d.dropAltM);
    if (m.release === 'winch') add(Cmd.DO_WINCH, Frame.MISSION, [m.profile.winchInstance, 1, -d.dropAltM, m.profile.winchRateMps], null, 0);
    add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], drop, m.cruiseAltM);
  }
  for (const p of m.back.slice(1, -1)) add(Cmd.NAV_WAYPOINT, R, [0, 0, 0, 0], p, m.cruiseAltM);
  add(Cmd.NAV_LAND, R, [0, 0, 0, 0], launch, 0);
  return { items, drops: seqs };
}
