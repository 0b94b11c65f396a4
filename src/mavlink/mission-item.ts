/**
 * A mission, fence or rally item as it travels in MISSION_ITEM_INT. Pure data, shared by the
 * planner (which produces items), the vehicle protocols (which transfer them) and the simulator.
 */

/** MAV_MISSION_TYPE */
export const MissionType = { MISSION: 0, FENCE: 1, RALLY: 2 } as const;
export type MissionTypeName = keyof typeof MissionType;
export type MissionTypeValue = (typeof MissionType)[MissionTypeName];

/** MAV_FRAME values Dropline uses. */
export const Frame = {
  GLOBAL: 0,
  MISSION: 2,
  GLOBAL_RELATIVE_ALT: 3,
  GLOBAL_INT: 5,
  GLOBAL_RELATIVE_ALT_INT: 6,
  GLOBAL_TERRAIN_ALT_INT: 11,
  LOCAL_ENU: 4,
} as const;

/** MAV_CMD values Dropline plans, transfers or simulates. */
export const Cmd = {
  NAV_WAYPOINT: 16,
  NAV_LOITER_UNLIM: 17,
  NAV_LOITER_TIME: 19,
  NAV_RETURN_TO_LAUNCH: 20,
  NAV_LAND: 21,
  NAV_TAKEOFF: 22,
  NAV_SPLINE_WAYPOINT: 82,
  NAV_DELAY: 93,
  NAV_PAYLOAD_PLACE: 94,
  DO_SET_MODE: 176,
  DO_JUMP: 177,
  DO_CHANGE_SPEED: 178,
  DO_SET_HOME: 179,
  DO_SET_SERVO: 183,
  DO_LAND_START: 189,
  DO_REPOSITION: 192,
  DO_PAUSE_CONTINUE: 193,
  DO_FENCE_ENABLE: 207,
  DO_GRIPPER: 211,
  PREFLIGHT_REBOOT_SHUTDOWN: 246,
  MISSION_START: 300,
  COMPONENT_ARM_DISARM: 400,
  GET_HOME_POSITION: 410,
  SET_MESSAGE_INTERVAL: 511,
  REQUEST_MESSAGE: 512,
  NAV_FENCE_RETURN_POINT: 5000,
  NAV_FENCE_POLYGON_VERTEX_INCLUSION: 5001,
  NAV_FENCE_POLYGON_VERTEX_EXCLUSION: 5002,
  NAV_FENCE_CIRCLE_INCLUSION: 5003,
  NAV_FENCE_CIRCLE_EXCLUSION: 5004,
  NAV_RALLY_POINT: 5100,
  DO_WINCH: 42600,
} as const;

export interface MissionItem {
  /** 0-based position in the transfer. */
  seq: number;
  /** MAV_FRAME */
  frame: number;
  /** MAV_CMD */
  command: number;
  /** 1 for the current item (ArduPilot ignores it on upload). Default 0. */
  current?: number;
  /** Default 1. */
  autocontinue?: number;
  param1: number;
  param2: number;
  param3: number;
  param4: number;
  /** Latitude × 1e7 (or local x). */
  x: number;
  /** Longitude × 1e7 (or local y). */
  y: number;
  /** Altitude in metres, meaning per frame. */
  z: number;
  /** MAV_MISSION_TYPE; default MISSION. */
  missionType?: MissionTypeValue;
}
