/**
 * The preflight and dispatch policy: configuration, versioned together with the zones (every edit
 * of either writes a new zone version carrying both).
 */
import { z } from 'zod';
import { VehicleProfileSchema } from './vehicle-profile';
import { AirspacePolicySchema } from './airspace';
import { AutoDispatchPolicySchema } from './auto-dispatch';

export const PREFLIGHT_CHECKS = [
  'link',
  'gps_fix',
  'ekf',
  'battery',
  'prearm',
  'home',
  'disarmed',
  'fs_gcs_enable',
  'batt_fs_low_act',
  'fs_ekf_action',
  'fence_enable',
  'fence_action',
  'circle_fence_radius',
  'release_mechanism',
  'battery_match',
  'energy_reserve',
  'upload_verification',
] as const;
export type PreflightCheckName = (typeof PREFLIGHT_CHECKS)[number];

export const PolicySchema = z
  .object({
    /** Every job needs a supervisor's approval before dispatch (default false). */
    requireApproval: z.boolean().default(false),
    /** Jobs of these priorities skip approval even when requireApproval is set (default ['urgent']). */
    approvalExemptPriorities: z.array(z.enum(['urgent', 'high', 'normal'])).default(['urgent']),
    /** Minimum GPS fix type (3 = 3D). */
    minGpsFix: z.number().int().min(0).max(6).default(3),
    /**
     * Estimator flags that must all be set: EKF_STATUS_REPORT (ArduPilot) or ESTIMATOR_STATUS (PX4),
     * the same bits (default 0x33f: attitude, velocities, positions, predicted positions).
     */
    ekfRequiredMask: z.number().int().min(0).default(0x33f),
    /** Estimator flags that must be clear (default 0x8400: ArduPilot 0x400 uninitialised, 0x8000 GPS glitch; PX4 0x400 GPS glitch). */
    ekfForbiddenMask: z.number().int().min(0).default(0x8400),
    /** Minimum battery remaining, percent (default 60). */
    minBatteryPct: z.number().min(0).max(100).default(60),
    /** The circle fence must reach this far beyond the route's farthest point from home (default 20 m). */
    fenceMarginM: z.number().min(0).default(20),
    /** Checks to run; others are reported as skipped (default all). */
    checks: z.array(z.enum(PREFLIGHT_CHECKS)).default([...PREFLIGHT_CHECKS]),
    /** Climb the vehicle must show in telemetry after MISSION_START (default 1.5 m). */
    climbConfirmM: z.number().positive().default(1.5),
    /** Time allowed to see that climb (wall ms, default 20000). */
    climbTimeoutMs: z.number().int().positive().default(20000),
    /** A vehicle silent this long in flight fails the job as VEHICLE_LOST (default 60000 ms). */
    lostTimeoutMs: z.number().int().positive().default(60000),
    /** Promise to the requester: dropped within this many minutes of the request (default 15). */
    promiseMin: z.number().positive().default(15),
    /**
     * A dispatch to a vehicle still warming up (GPS fix, EKF, home, pre-arm: the checks it passes by
     * itself after boot) waits this long for it, the job showing "waiting for vehicle: …" (wall ms,
     * default 90000; 0 refuses at once). Other failed checks refuse at once whatever this says.
     */
    readyWaitMs: z.number().int().min(0).max(3_600_000).default(90_000),
    /**
     * What a delivery vehicle must be configured to do (failsafes, fence, release, range, fence
     * storage), checked by the preflight and set by commissioning in each autopilot's names
     * (src/delivery/vehicle-profile.ts). Default: every field's default.
     */
    vehicle: VehicleProfileSchema.prefault({}),
    /** Strategic deconfliction: cruise layers, separations, tolerances (src/delivery/airspace.ts). Default: every field's default. */
    airspace: AirspacePolicySchema.prefault({}),
    /** Priorities dispatched automatically to the recommended vehicle (src/delivery/auto-dispatch.ts). Default: none. */
    autoDispatch: AutoDispatchPolicySchema.prefault({}),
  })
  .strict();

export type Policy = z.infer<typeof PolicySchema>;

export const DEFAULT_POLICY: Policy = PolicySchema.parse({});

/** Parse a stored policy, filling defaults for fields added since it was written. */
export function readPolicy(raw: unknown): Policy {
  const r = PolicySchema.safeParse(raw ?? {});
  return r.success ? r.data : DEFAULT_POLICY;
}

export function needsApproval(policy: Policy, priority: 'urgent' | 'high' | 'normal'): boolean {
  return policy.requireApproval && !policy.approvalExemptPriorities.includes(priority);
}
