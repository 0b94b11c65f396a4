/**
 * Parameter tables of the simulated autopilots: ArduCopter 4.7 names and SITL defaults for what
 * Dropline reads and what the simulator acts on, and a small PX4 table for the PX4 personality.
 * Types are MAV_PARAM_TYPE (2 INT8, 4 INT16, 6 INT32, 9 REAL32).
 */
export type ParamType = 2 | 4 | 6 | 9;
export interface ParamDef {
  name: string;
  value: number;
  type: ParamType;
  /** Read only at boot: a change takes effect after a reboot (like GRIP_*). */
  rebootRequired?: boolean;
}

const I8 = 2 as const;
const I16 = 4 as const;
const I32 = 6 as const;
const F = 9 as const;

/** ArduCopter 4.7 SITL defaults (quad). */
export const ARDUCOPTER_PARAMS: ParamDef[] = [
  { name: 'FORMAT_VERSION', value: 120, type: I16 },
  { name: 'MAV_SYSID', value: 1, type: I16 },
  { name: 'MAV_GCS_SYSID', value: 255, type: I16 },
  { name: 'ARMING_CHECK', value: 1, type: I32 },
  { name: 'DISARM_DELAY', value: 10, type: I8 },
  { name: 'AUTO_OPTIONS', value: 0, type: I32 },
  { name: 'ANGLE_MAX', value: 3000, type: I16 },
  { name: 'FS_GCS_ENABLE', value: 0, type: I8 },
  { name: 'FS_GCS_TIMEOUT', value: 5, type: F },
  { name: 'FS_OPTIONS', value: 16, type: I32 },
  { name: 'FS_EKF_ACTION', value: 1, type: I8 },
  { name: 'FS_EKF_THRESH', value: 0.8, type: F },
  { name: 'FS_THR_ENABLE', value: 1, type: I8 },
  { name: 'BATT_MONITOR', value: 4, type: I8, rebootRequired: true },
  { name: 'BATT_CAPACITY', value: 3300, type: I32 },
  { name: 'BATT_LOW_VOLT', value: 10.5, type: F },
  { name: 'BATT_CRT_VOLT', value: 0, type: F },
  { name: 'BATT_LOW_MAH', value: 0, type: F },
  { name: 'BATT_CRT_MAH', value: 0, type: F },
  { name: 'BATT_LOW_TIMER', value: 10, type: I8 },
  { name: 'BATT_FS_LOW_ACT', value: 0, type: I8 },
  { name: 'BATT_FS_CRT_ACT', value: 0, type: I8 },
  { name: 'BATT_ARM_VOLT', value: 0, type: F },
  { name: 'BATT_ARM_MAH', value: 0, type: I32 },
  { name: 'MOT_BAT_VOLT_MAX', value: 0, type: F },
  { name: 'FENCE_ENABLE', value: 0, type: I8 },
  { name: 'FENCE_TYPE', value: 7, type: I8 },
  { name: 'FENCE_ACTION', value: 1, type: I8 },
  { name: 'FENCE_ALT_MAX', value: 100, type: F },
  { name: 'FENCE_ALT_MIN', value: -10, type: F },
  { name: 'FENCE_RADIUS', value: 150, type: F },
  { name: 'FENCE_MARGIN', value: 2, type: F },
  { name: 'FENCE_AUTOENABLE', value: 0, type: I8 },
  { name: 'RALLY_INCL_HOME', value: 1, type: I8 },
  { name: 'RALLY_LIMIT_KM', value: 0.3, type: F },
  { name: 'RTL_ALT', value: 1500, type: I32 },
  { name: 'RTL_ALT_FINAL', value: 0, type: I32 },
  { name: 'RTL_SPEED', value: 0, type: I16 },
  { name: 'RTL_LOIT_TIME', value: 5000, type: I32 },
  { name: 'RTL_CLIMB_MIN', value: 0, type: I16 },
  { name: 'WPNAV_SPEED', value: 1000, type: F },
  { name: 'WPNAV_RADIUS', value: 200, type: F },
  { name: 'WPNAV_SPEED_UP', value: 250, type: F },
  { name: 'WPNAV_SPEED_DN', value: 150, type: F },
  { name: 'PILOT_SPEED_UP', value: 250, type: I16 },
  { name: 'PILOT_SPEED_DN', value: 0, type: I16 },
  { name: 'WPNAV_ACCEL', value: 250, type: F },
  { name: 'WPNAV_ACCEL_Z', value: 100, type: F },
  { name: 'LAND_SPEED', value: 50, type: I16 },
  { name: 'LAND_SPEED_HIGH', value: 0, type: I16 },
  { name: 'LAND_ALT_LOW', value: 1000, type: I16 },
  { name: 'GRIP_ENABLE', value: 0, type: I8, rebootRequired: true },
  { name: 'GRIP_TYPE', value: 0, type: I8, rebootRequired: true },
  { name: 'GRIP_GRAB', value: 1900, type: I16 },
  { name: 'GRIP_RELEASE', value: 1100, type: I16 },
  { name: 'GRIP_NEUTRAL', value: 1500, type: I16 },
  { name: 'GRIP_REGRAB', value: 0, type: I8 },
  { name: 'SERVO9_FUNCTION', value: 0, type: I16, rebootRequired: true },
  { name: 'SERVO9_MIN', value: 1100, type: I16 },
  { name: 'SERVO9_MAX', value: 1900, type: I16 },
  { name: 'SERVO9_TRIM', value: 1500, type: I16 },
  { name: 'WINCH_TYPE', value: 0, type: I8, rebootRequired: true },
  { name: 'WINCH_RATE_MAX', value: 1, type: F },
  { name: 'PLDP_RNG_MAX', value: 0, type: F },
  { name: 'SIM_SPEEDUP', value: 1, type: F },
  { name: 'SIM_WIND_SPD', value: 0, type: F },
  { name: 'SIM_WIND_DIR', value: 180, type: F },
  { name: 'SIM_WIND_TURB', value: 0, type: F },
  { name: 'SIM_GPS1_ENABLE', value: 1, type: I8 },
  { name: 'SIM_BATT_VOLTAGE', value: 12.6, type: F },
  { name: 'SIM_BATT_CAP_AH', value: 0, type: F },
];

/** PX4 v1.15 names and defaults for what the simulator acts on (PX4 personality). */
export const PX4_PARAMS: ParamDef[] = [
  { name: 'MAV_SYS_ID', value: 1, type: I32 },
  { name: 'COM_DL_LOSS_T', value: 10, type: I32 },
  { name: 'NAV_DLL_ACT', value: 0, type: I32 },
  { name: 'COM_DISARM_PRFLT', value: 10, type: F },
  { name: 'COM_DISARM_LAND', value: 2, type: F },
  { name: 'COM_LOW_BAT_ACT', value: 0, type: I32 },
  { name: 'BAT_LOW_THR', value: 0.15, type: F },
  { name: 'BAT_CRIT_THR', value: 0.07, type: F },
  { name: 'BAT1_CAPACITY', value: 3300, type: F },
  { name: 'BAT1_N_CELLS', value: 4, type: I32 },
  { name: 'GF_ACTION', value: 2, type: I32 },
  { name: 'GF_MAX_HOR_DIST', value: 0, type: F },
  { name: 'GF_MAX_VER_DIST', value: 0, type: F },
  { name: 'RTL_RETURN_ALT', value: 60, type: F },
  { name: 'RTL_DESCEND_ALT', value: 30, type: F },
  { name: 'MPC_XY_CRUISE', value: 5, type: F },
  { name: 'MPC_XY_VEL_MAX', value: 12, type: F },
  { name: 'MPC_ACC_HOR', value: 3, type: F },
  { name: 'MPC_Z_VEL_MAX_UP', value: 3, type: F },
  { name: 'MPC_Z_VEL_MAX_DN', value: 1.5, type: F },
  { name: 'MPC_LAND_SPEED', value: 0.7, type: F },
  { name: 'MIS_TAKEOFF_ALT', value: 2.5, type: F },
  { name: 'NAV_ACC_RAD', value: 2, type: F },
  { name: 'PD_GRIPPER_EN', value: 0, type: I32, rebootRequired: true },
  // PX4 1.18 names for the gripper: its type and the output carrying it (function 430); the quad's motors on 1–4.
  { name: 'PD_GRIPPER_TYPE', value: 0, type: I32 },
  { name: 'PD_GRIPPER_TO', value: 1, type: F },
  ...[101, 102, 103, 104, 0, 0, 0, 0].map((value, i) => ({ name: `PWM_MAIN_FUNC${i + 1}`, value, type: I32 })),
];

/** A live parameter store: name → value, with the boot-time snapshot of reboot-only parameters. */
export class ParamStore {
  private readonly defs: ParamDef[];
  private readonly index = new Map<string, number>();
  private readonly values: number[];
  private bootValues = new Map<string, number>();

  constructor(defs: ParamDef[], overrides: Record<string, number> = {}) {
    this.defs = defs;
    this.values = defs.map((d) => d.value);
    defs.forEach((d, i) => this.index.set(d.name, i));
    for (const [k, v] of Object.entries(overrides)) {
      const i = this.index.get(k);
      if (i !== undefined) this.values[i] = v;
    }
    this.snapshotBoot();
  }

  get count(): number {
    return this.defs.length;
  }
  has(name: string): boolean {
    return this.index.has(name);
  }
  get(name: string): number | undefined {
    const i = this.index.get(name);
    return i === undefined ? undefined : this.values[i];
  }
  /** Value as the running firmware sees it: for reboot-only parameters, the value at boot. */
  live(name: string): number {
    if (this.bootValues.has(name)) return this.bootValues.get(name)!;
    return this.get(name) ?? 0;
  }
  /** Returns false for an unknown name. Integer parameters are rounded like the firmware stores them. */
  set(name: string, value: number): boolean {
    const i = this.index.get(name);
    if (i === undefined || !Number.isFinite(value)) return false;
    const t = this.defs[i].type;
    this.values[i] = t === 9 ? Math.fround(value) : Math.round(value);
    return true;
  }
  byIndex(i: number): { name: string; value: number; type: ParamType; index: number } | undefined {
    const d = this.defs[i];
    return d ? { name: d.name, value: this.values[i], type: d.type, index: i } : undefined;
  }
  indexOf(name: string): number {
    return this.index.get(name) ?? -1;
  }
  typeOf(name: string): ParamType {
    const i = this.index.get(name);
    return i === undefined ? 9 : this.defs[i].type;
  }
  /** Called at boot: freeze the values of reboot-only parameters. */
  snapshotBoot(): void {
    this.bootValues = new Map(this.defs.filter((d) => d.rebootRequired).map((d) => [d.name, this.get(d.name)!]));
  }
}
