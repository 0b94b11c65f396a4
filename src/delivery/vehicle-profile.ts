/**
 * What a delivery vehicle must be configured to do, said once, and how each autopilot spells it.
 *
 * The profile (part of the versioned policy, `policy.vehicle`) names behaviours: what the vehicle does
 * when it loses its ground station, on low and critical battery, at the fence; how far deliveries go
 * (a circle fence must reach beyond); how the parcel is released; how big a fence the airframe stores
 * when nobody measured it. `requirementsFor(autopilot, profile, marginM)` turns it into parameter
 * requirements in the autopilot's own vocabulary:
 *
 *   behaviour            ArduCopter                                  PX4
 *   GCS loss             FS_GCS_ENABLE (≠ 0, ≠ 2), FS_GCS_TIMEOUT,     NAV_DLL_ACT (≠ 0), COM_DL_LOSS_T
 *                        FS_OPTIONS bits 2 and 16 clear
 *   battery low/critical BATT_FS_LOW_ACT, BATT_FS_CRT_ACT (≠ 0)       COM_LOW_BAT_ACT (≠ 0: one action for both)
 *   EKF failsafe         FS_EKF_ACTION (≠ 0)                          (built into PX4's commander)
 *   fence on, type       FENCE_ENABLE 1, FENCE_TYPE polygon (+ max alt) GF_MAX_VER_DIST > 0 (an uploaded fence is always enforced)
 *   fence action         FENCE_ACTION (≠ 0)                           GF_ACTION (≠ 0 none, ≠ 1 warning)
 *   circle vs range      FENCE_RADIUS ≥ range + margin if FENCE_TYPE has the circle   GF_MAX_HOR_DIST 0 or ≥ range + margin
 *   gripper              GRIP_ENABLE 1, GRIP_TYPE 1, SERVOn_FUNCTION 28 (reboot)       PD_GRIPPER_TYPE 0, PWM_MAIN_FUNCn 430
 *   servo release        SERVOn_FUNCTION 0 (DO_SET_SERVO drives it)  (PX4 does not act on DO_SET_SERVO)
 *   battery              BATT_CAPACITY, MOT_BAT_VOLT_MAX, BATT_*_VOLT/MAH   BAT1_N_CELLS, BAT1_CAPACITY, BAT_*_THR
 *                        (src/delivery/battery-profile.ts)
 *
 * Each requirement belongs to one preflight check (`check`), so the preflight and the commissioning
 * report read the same parameters and judge them the same way. Pure: no I/O.
 */
import { z } from 'zod';
import type { Autopilot } from '../fleet/types';
import { batteryRequirements } from './battery-profile';

const action = z.enum(['rtl', 'land']);

export const VehicleProfileSchema = z
  .object({
    /** Display name. Default 'delivery multicopter'. */
    name: z.string().min(1).max(80).default('delivery multicopter'),
    /** What the vehicle does when its ground station falls silent. Default 'rtl'. */
    gcsLossAction: action.default('rtl'),
    /** Longest silence before that failsafe acts, seconds of the vehicle's clock. Default 30 (ArduCopter's default is 5, PX4's 10). */
    gcsLossTimeoutMaxS: z.number().positive().max(600).default(30),
    /** Action on low battery. Default 'rtl'. */
    batteryLowAction: action.default('rtl'),
    /** Action on critical battery (ArduPilot; PX4 has one battery action for both). Default 'land'. */
    batteryCriticalAction: action.default('land'),
    /** ArduPilot's EKF failsafe (FS_EKF_ACTION) must be on. Default true. */
    ekfFailsafe: z.boolean().default(true),
    /** Action at the fence. Default 'rtl'. */
    fenceAction: action.default('rtl'),
    /** The fence also enforces a maximum altitude. Default true. */
    fenceAltMax: z.boolean().default(true),
    /** Altitude ceiling set where the vehicle has none (PX4 GF_MAX_VER_DIST), metres above home. Default 120. */
    fenceAltMaxM: z.number().positive().max(10000).default(120),
    /** Farthest delivery from home, metres: a circle fence, where enabled, must reach beyond it by the policy's fenceMarginM. Default 3000. */
    rangeM: z.number().positive().max(100000).default(3000),
    /** How parcels are released: a gripper (DO_GRIPPER) or a plain servo (DO_SET_SERVO). Default 'gripper'. */
    release: z.enum(['gripper', 'servo']).default('gripper'),
    /** ArduPilot output (SERVOn) carrying the gripper or release servo. Default 9 (the first AUX output). */
    releaseOutputArdupilot: z.number().int().min(1).max(16).default(9),
    /**
     * ArduPilot outputs (SERVOn) of a multi-parcel release, one per parcel bay, each released on its
     * own by DO_SET_SERVO (SERVOn_FUNCTION 0): what lets one flight drop several parcels, each at its
     * own point (a sortie). Bay k carries the k-th parcel of the request. Default none: one parcel,
     * released by `release`.
     */
    parcelOutputsArdupilot: z.array(z.number().int().min(1).max(16)).max(4).refine((a) => new Set(a).size === a.length, 'parcel outputs must be distinct').default([]),
    /** PX4 output (PWM_MAIN_FUNCn) carrying the gripper. Default 5 (after a quad's four motors). */
    releaseOutputPx4: z.number().int().min(1).max(16).default(5),
    /**
     * Fence items an ArduPilot vehicle stores when it was not measured. Default 60 (ArduCopter SITL
     * stored 64 items in two polygons and 60 in eight; boards differ).
     */
    fenceCapacityArdupilot: z.number().int().min(3).max(1000).default(60),
    /** Fence items a PX4 vehicle stores when it was not measured. Default 64 (PX4 1.18's dataman; SITL stored 64 and answered NO_SPACE at 65). */
    fenceCapacityPx4: z.number().int().min(3).max(1000).default(64),
    /** Cells in series of the airframe's pack. Default 6 (the demo airframe's 6S pack). */
    batteryCells: z.number().int().min(1).max(24).default(6),
    /** Capacity of the airframe's pack, mAh. Default 20000 (6S 20 Ah: 444 Wh at 3.7 V per cell, the planner's default). */
    batteryCapacityMah: z.number().positive().max(1_000_000).default(20000),
    /** How far the vehicle's capacity parameter may differ from the profile's, percent. Default 10. */
    batteryCapacityTolerancePct: z.number().min(0).max(50).default(10),
    /** Energy a delivery keeps at landing, percent of the pack: capacity failsafes must not act above it. Default 25 (the planner's reservePct). */
    batteryReservePct: z.number().min(0).max(90).default(25),
  })
  .strict();

export type VehicleProfile = z.infer<typeof VehicleProfileSchema>;
export const DEFAULT_VEHICLE_PROFILE: VehicleProfile = VehicleProfileSchema.parse({});

/** The preflight checks parameter requirements belong to. */
export type ParamCheckName = 'fs_gcs_enable' | 'batt_fs_low_act' | 'fs_ekf_action' | 'fence_enable' | 'fence_action' | 'circle_fence_radius' | 'release_mechanism' | 'battery_match';

/** Read parameter values by name: a number, or why it could not be read. */
export type ParamValues = Record<string, number | string>;

export interface Requirement {
  check: ParamCheckName;
  /**
   * Parameter names, in order of preference: commissioning sets the first; the requirement is met
   * when any of them satisfies it (an output function may sit on any output).
   */
  names: string[];
  /** What counts as right, for people. */
  rule: string;
  ok(have: number, p: ParamValues): boolean;
  /** The value commissioning sets when not ok (null: nothing it can set). */
  want(have: number | null, p: ParamValues): number | null;
  /** Takes effect only after a reboot. */
  needsReboot: boolean;
  /** Read it at all (GRIP_TYPE exists on ArduPilot only once GRIP_ENABLE is 1). Default always. */
  readable?(p: ParamValues): boolean;
}

/** One requirement judged against what the vehicle reported. */
export interface SetupParam {
  name: string;
  want: number | null;
  /** null: not read (see `error`). */
  have: number | null;
  ok: boolean;
  needsReboot: boolean;
  check: ParamCheckName;
  rule: string;
  error?: string;
}

const num = (p: ParamValues, n: string): number | null => (typeof p[n] === 'number' ? (p[n] as number) : null);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** The requirements of a profile in an autopilot's vocabulary ('other' is judged as ArduPilot). */
export function requirementsFor(autopilot: Autopilot, profile: VehicleProfile, fenceMarginM: number): Requirement[] {
  const circleNeedM = Math.ceil(profile.rangeM + fenceMarginM);
  if (autopilot === 'px4') {
    const out = profile.releaseOutputPx4;
    const reqs: Requirement[] = [
      { check: 'fs_gcs_enable', names: ['NAV_DLL_ACT'], rule: '≠ 0 (a data-link loss failsafe)', ok: (v) => v !== 0, want: () => (profile.gcsLossAction === 'rtl' ? 2 : 3), needsReboot: false },
      {
        check: 'fs_gcs_enable', names: ['COM_DL_LOSS_T'], rule: `1–${profile.gcsLossTimeoutMaxS} s`,
        ok: (v) => v > 0 && v <= profile.gcsLossTimeoutMaxS, want: () => Math.min(10, Math.floor(profile.gcsLossTimeoutMaxS)) || 1, needsReboot: false,
      },
      { check: 'batt_fs_low_act', names: ['COM_LOW_BAT_ACT'], rule: '≠ 0 (0 only warns)', ok: (v) => v !== 0, want: () => (profile.batteryLowAction === 'rtl' ? 3 : 2), needsReboot: false },
      { check: 'fence_action', names: ['GF_ACTION'], rule: '≠ 0 (none) and ≠ 1 (warning only)', ok: (v) => v !== 0 && v !== 1, want: () => (profile.fenceAction === 'rtl' ? 3 : 5), needsReboot: false },
      {
        check: 'circle_fence_radius', names: ['GF_MAX_HOR_DIST'], rule: `0 (no distance limit) or ≥ ${circleNeedM} m (range ${profile.rangeM} m + margin ${fenceMarginM} m)`,
        ok: (v) => v <= 0 || v >= circleNeedM, want: () => circleNeedM, needsReboot: false,
      },
    ];
    if (profile.fenceAltMax)
      reqs.push({ check: 'fence_enable', names: ['GF_MAX_VER_DIST'], rule: '> 0 (an altitude ceiling)', ok: (v) => v > 0, want: () => profile.fenceAltMaxM, needsReboot: false });
    if (profile.release === 'gripper') {
      reqs.push({ check: 'release_mechanism', names: ['PD_GRIPPER_TYPE'], rule: '0 (servo gripper)', ok: (v) => v === 0, want: () => 0, needsReboot: false });
      reqs.push({
        check: 'release_mechanism', names: [out, ...range(1, 16).filter((i) => i !== out)].map((i) => `PWM_MAIN_FUNC${i}`),
        rule: `430 (Gripper) on an output, PWM_MAIN_FUNC${out} preferred`, ok: (v) => v === 430, want: () => 430, needsReboot: false,
      });
    } else {
      reqs.push({ check: 'release_mechanism', names: ['PD_GRIPPER_TYPE'], rule: 'release by servo: PX4 does not act on DO_SET_SERVO; use a gripper', ok: () => false, want: () => null, needsReboot: false });
    }
    return [...reqs, ...batteryRequirements('px4', profile)];
  }
  const out = profile.releaseOutputArdupilot;
  const outputs = [out, ...range(1, 16).filter((i) => i !== out)].map((i) => `SERVO${i}_FUNCTION`);
  const reqs: Requirement[] = [
    {
      check: 'fs_gcs_enable', names: ['FS_GCS_ENABLE'], rule: '≠ 0 (off) and ≠ 2 (carry on in AUTO)', ok: (v) => v !== 0 && v !== 2,
      want: () => (profile.gcsLossAction === 'rtl' ? 1 : 5), needsReboot: false,
    },
    {
      check: 'fs_gcs_enable', names: ['FS_GCS_TIMEOUT'], rule: `> 0 and ≤ ${profile.gcsLossTimeoutMaxS} s`,
      ok: (v) => v > 0 && v <= profile.gcsLossTimeoutMaxS, want: () => Math.min(5, profile.gcsLossTimeoutMaxS), needsReboot: false,
    },
    {
      // ArduCopter's default FS_OPTIONS 16 keeps a vehicle in a pilot-controlled mode on GCS loss:
      // BRAKE (the operator's HOLD) and LOITER would hover until the battery failsafe. Bit 2 carries on in AUTO.
      check: 'fs_gcs_enable', names: ['FS_OPTIONS'], rule: 'bits 2 (continue in AUTO) and 16 (continue in pilot-controlled modes) clear',
      ok: (v) => (v & 18) === 0, want: (have) => (have === null ? 8 : have & ~18), needsReboot: false,
    },
    { check: 'batt_fs_low_act', names: ['BATT_FS_LOW_ACT'], rule: '≠ 0 (no action)', ok: (v) => v !== 0, want: () => (profile.batteryLowAction === 'rtl' ? 2 : 1), needsReboot: false },
    { check: 'batt_fs_low_act', names: ['BATT_FS_CRT_ACT'], rule: '≠ 0 (no action)', ok: (v) => v !== 0, want: () => (profile.batteryCriticalAction === 'land' ? 1 : 2), needsReboot: false },
  ];
  if (profile.ekfFailsafe) reqs.push({ check: 'fs_ekf_action', names: ['FS_EKF_ACTION'], rule: '≠ 0', ok: (v) => v !== 0, want: () => 1, needsReboot: false });
  const typeBits = 4 | (profile.fenceAltMax ? 1 : 0);
  reqs.push(
    { check: 'fence_enable', names: ['FENCE_ENABLE'], rule: '1', ok: (v) => v === 1, want: () => 1, needsReboot: false },
    {
      check: 'fence_enable', names: ['FENCE_TYPE'], rule: profile.fenceAltMax ? 'polygon (4) and max altitude (1) bits set' : 'polygon (4) bit set',
      ok: (v) => (v & typeBits) === typeBits, want: (have) => (have === null ? typeBits : (have | typeBits) & ~2), needsReboot: false,
    },
    { check: 'fence_action', names: ['FENCE_ACTION'], rule: '≠ 0 (report only)', ok: (v) => v !== 0, want: () => (profile.fenceAction === 'rtl' ? 1 : 2), needsReboot: false },
    {
      check: 'circle_fence_radius', names: ['FENCE_RADIUS'], rule: `≥ ${circleNeedM} m (range ${profile.rangeM} m + margin ${fenceMarginM} m) while FENCE_TYPE has the circle (2)`,
      ok: (v, p) => ((num(p, 'FENCE_TYPE') ?? 2) & 2) === 0 || v >= circleNeedM, want: () => circleNeedM, needsReboot: false,
    },
  );
  if (profile.release === 'gripper') {
    reqs.push(
      { check: 'release_mechanism', names: ['GRIP_ENABLE'], rule: '1 (read at boot)', ok: (v) => v === 1, want: () => 1, needsReboot: true },
      // Hidden until GRIP_ENABLE is 1: ArduPilot does not answer for it before.
      { check: 'release_mechanism', names: ['GRIP_TYPE'], rule: '1 (servo; read at boot)', ok: (v) => v === 1, want: () => 1, needsReboot: true, readable: (p) => num(p, 'GRIP_ENABLE') === 1 },
      { check: 'release_mechanism', names: outputs, rule: `28 (Gripper) on an output, SERVO${out}_FUNCTION preferred`, ok: (v) => v === 28, want: () => 28, needsReboot: true },
    );
  } else {
    reqs.push({ check: 'release_mechanism', names: [`SERVO${out}_FUNCTION`], rule: '0 (Disabled: DO_SET_SERVO drives it)', ok: (v) => v === 0, want: () => 0, needsReboot: true });
  }
  // Parcel bays: DO_SET_SERVO moves only an output assigned no function (the release output itself is required above).
  for (const bay of profile.parcelOutputsArdupilot)
    if (bay !== out)
      reqs.push({ check: 'release_mechanism', names: [`SERVO${bay}_FUNCTION`], rule: `0 (Disabled: DO_SET_SERVO releases parcel bay ${profile.parcelOutputsArdupilot.indexOf(bay) + 1})`, ok: (v) => v === 0, want: () => 0, needsReboot: true });
  return [...reqs, ...batteryRequirements(autopilot, profile)];
}

/**
 * Parameter names to read next, given what has been read: each requirement's first name, the
 * others only when the first does not satisfy it, nothing a requirement says is unreadable yet.
 * Call until it returns nothing (a few rounds at most).
 */
export function namesToRead(reqs: Requirement[], p: ParamValues): string[] {
  const out = new Set<string>();
  for (const r of reqs) {
    if (r.readable && !r.readable(p)) continue;
    const first = r.names[0];
    if (!(first in p)) {
      out.add(first);
      continue;
    }
    const v = num(p, first);
    if (v !== null && r.ok(v, p)) continue;
    for (const n of r.names.slice(1)) if (!(n in p)) out.add(n);
  }
  return [...out];
}

/** Judge every requirement against read values. */
export function evaluate(reqs: Requirement[], p: ParamValues): SetupParam[] {
  return reqs.map((r) => {
    const base = { needsReboot: r.needsReboot, check: r.check, rule: r.rule };
    if (r.readable && !r.readable(p)) {
      return { ...base, name: r.names[0], have: null, ok: false, want: r.want(null, p), error: 'not readable until the parameters it depends on are set' };
    }
    const found = r.names.find((n) => {
      const v = num(p, n);
      return v !== null && r.ok(v, p);
    });
    if (found !== undefined) {
      const have = num(p, found)!;
      return { ...base, name: found, have, ok: true, want: have };
    }
    const name = r.names[0];
    const have = num(p, name);
    const line: SetupParam = { ...base, name, have, ok: false, want: r.want(have, p) };
    if (have === null) line.error = typeof p[name] === 'string' ? (p[name] as string) : 'not read';
    return line;
  });
}

/** Fence items the vehicle stores according to the profile (when it was not measured). */
export function profileFenceCapacity(autopilot: Autopilot, profile: VehicleProfile): number {
  if (autopilot === 'px4') return profile.fenceCapacityPx4;
  if (autopilot === 'ardupilot') return profile.fenceCapacityArdupilot;
  return Math.min(profile.fenceCapacityArdupilot, profile.fenceCapacityPx4);
}

/**
 * The circle fence a vehicle enforces around home, in its vocabulary, from read values:
 * ArduPilot FENCE_TYPE bit 2 with FENCE_RADIUS; PX4 GF_MAX_HOR_DIST > 0. null radius: not read.
 */
export function circleFence(autopilot: Autopilot, p: ParamValues): { enabled: boolean | null; radiusM: number | null; names: string } {
  if (autopilot === 'px4') {
    const d = num(p, 'GF_MAX_HOR_DIST');
    return { enabled: d === null ? null : d > 0, radiusM: d, names: 'GF_MAX_HOR_DIST' };
  }
  const t = num(p, 'FENCE_TYPE');
  return { enabled: t === null ? null : (t & 2) !== 0, radiusM: num(p, 'FENCE_RADIUS'), names: 'FENCE_TYPE/FENCE_RADIUS' };
}

/** The output (1-based) carrying the gripper: SERVOn_FUNCTION 28 (ArduPilot) or PWM_MAIN_FUNCn 430 (PX4). */
export function gripperOutput(autopilot: Autopilot, p: ParamValues): number | null {
  for (let i = 1; i <= 16; i++) {
    if (autopilot === 'px4' ? p[`PWM_MAIN_FUNC${i}`] === 430 : p[`SERVO${i}_FUNCTION`] === 28) return i;
  }
  return null;
}
