/**
 * Preflight policy: every check named, with its result and a readable detail. The vehicle's
 * health comes from its live state (the fleet's one source of truth); failsafe, fence and release
 * configuration from its parameters, read fresh for every dispatch.
 */
import { greatCircleDistanceM } from '../../planner/geo';
import type { VehicleHandle, VehicleState } from '../fleet/types';
import type { MissionItem } from '../mavlink/mission-item';
import type { Policy, PreflightCheckName } from './policy';
import type { PreflightCheck, PreflightReport } from './types';

/** The part of a planner result the preflight and the dispatcher read. */
export interface PlanForFlight {
  ok: true;
  mission: MissionItem[];
  fence: MissionItem[];
  rally: MissionItem[];
  energyWh: number;
  reserveWh: number;
  farthestFromLaunchM?: number;
  distanceM?: number;
  durationS?: number;
  launch?: unknown;
  drop?: unknown;
  request?: unknown;
  warnings?: unknown[];
  [k: string]: unknown;
}

const PREARM_BIT = 1 << 28;

/** Farthest mission position from a point (metres). Items without a position (x = y = 0) are ignored. */
export function farthestFromM(items: MissionItem[], lat: number, lon: number): number {
  let max = 0;
  for (const it of items) {
    if (it.x === 0 && it.y === 0) continue;
    max = Math.max(max, greatCircleDistanceM([lon, lat], [it.y / 1e7, it.x / 1e7]));
  }
  return max;
}

/** Battery capacity in Wh if the plan's profile says so. */
function planBatteryWh(plan: PlanForFlight): number | null {
  const req = plan.request as any;
  const prof = (req && typeof req.profile === 'object' ? req.profile : null) ?? (plan as any).profile;
  if (!prof) return null;
  for (const k of ['batteryWh', 'capacityWh', 'batteryCapacityWh', 'usableWh']) if (typeof prof[k] === 'number') return prof[k];
  return null;
}

export interface PreflightInput {
  vehicle: VehicleHandle;
  plan: PlanForFlight;
  policy: Policy;
  policyVersion: number;
  /** Parameter read timeout per name is the vehicle layer's; this bounds the whole read. Default 15000 ms. */
  paramsTimeoutMs?: number;
}

const FAILSAFE_PARAMS = ['FS_GCS_ENABLE', 'BATT_FS_LOW_ACT', 'FENCE_ENABLE', 'FENCE_ACTION', 'FENCE_TYPE', 'FENCE_RADIUS', 'GRIP_ENABLE'];
const SERVO_FUNCTION_PARAMS = Array.from({ length: 16 }, (_, i) => `SERVO${i + 1}_FUNCTION`);

/** Read parameters in parallel; missing ones map to an error string. */
async function readParams(v: VehicleHandle, names: string[], timeoutMs: number): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  const timeout = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), timeoutMs).unref());
  await Promise.all(
    names.map(async (n) => {
      const r = await Promise.race([v.getParam(n).catch((e: Error) => ({ ok: false as const, code: 'FAILED', message: e.message })), timeout]);
      if (r === 'timeout') out[n] = `no answer within ${timeoutMs} ms`;
      else if (r.ok) out[n] = r.value;
      else out[n] = `${r.code}: ${r.message}`;
    }),
  );
  return out;
}

/** Servo number (1–16) whose function is the gripper (28), from read parameters. */
export function gripperServo(params: Record<string, number | string>): number | null {
  for (let i = 1; i <= 16; i++) if (params[`SERVO${i}_FUNCTION`] === 28) return i;
  return null;
}

export function stateChecks(s: VehicleState, policy: Policy): Partial<Record<PreflightCheckName, PreflightCheck>> {
  const c: Partial<Record<PreflightCheckName, PreflightCheck>> = {};
  const ageMs = Date.now() - s.lastSeenMs;
  c.link = { name: 'link', ok: s.connected && ageMs < 5000, detail: s.connected ? `last message ${ageMs} ms ago` : 'vehicle not connected' };
  c.gps_fix = s.gps
    ? { name: 'gps_fix', ok: s.gps.fixType >= policy.minGpsFix, detail: `fix type ${s.gps.fixType} (need ≥ ${policy.minGpsFix}), ${s.gps.satellites} satellites` }
    : { name: 'gps_fix', ok: false, detail: 'no GPS_RAW_INT received' };
  if (s.ekfFlags == null) c.ekf = { name: 'ekf', ok: false, detail: 'no EKF_STATUS_REPORT received' };
  else {
    const missing = policy.ekfRequiredMask & ~s.ekfFlags;
    const bad = policy.ekfForbiddenMask & s.ekfFlags;
    c.ekf = {
      name: 'ekf',
      ok: missing === 0 && bad === 0,
      detail: `flags 0x${s.ekfFlags.toString(16)}` + (missing ? `, missing 0x${missing.toString(16)}` : '') + (bad ? `, forbidden 0x${bad.toString(16)} set` : ''),
    };
  }
  c.battery = s.battery
    ? { name: 'battery', ok: s.battery.remainingPct >= policy.minBatteryPct, detail: `${s.battery.remainingPct}% (need ≥ ${policy.minBatteryPct}%), ${s.battery.voltageV.toFixed(2)} V` }
    : { name: 'battery', ok: false, detail: 'no battery status received' };
  c.prearm =
    s.sensorsHealth == null
      ? { name: 'prearm', ok: false, detail: 'no SYS_STATUS received' }
      : { name: 'prearm', ok: (s.sensorsHealth & PREARM_BIT) !== 0, detail: (s.sensorsHealth & PREARM_BIT) !== 0 ? 'prearm checks pass' : 'SYS_STATUS prearm health bit (28) clear' };
  c.home = s.home ? { name: 'home', ok: true, detail: `home ${s.home.lat.toFixed(6)}, ${s.home.lon.toFixed(6)}` } : { name: 'home', ok: false, detail: 'no HOME_POSITION received' };
  c.disarmed = { name: 'disarmed', ok: !s.armed, detail: s.armed ? 'vehicle is already armed' : 'disarmed on the ground' };
  return c;
}

/** The checks a vehicle comes to pass by itself once it has warmed up after boot: worth waiting for. */
export const WARMUP_CHECKS: ReadonlySet<string> = new Set<PreflightCheckName>(['gps_fix', 'ekf', 'home', 'prearm']);

/**
 * The warm-up checks (enabled by the policy) the vehicle's live state fails now, in policy order,
 * each with its detail; empty when it is ready. Cheap: state only, no parameter reads.
 */
export function warmingUp(s: VehicleState, policy: Policy): PreflightCheck[] {
  const c = stateChecks(s, policy);
  return policy.checks.filter((n) => WARMUP_CHECKS.has(n) && c[n] && !c[n]!.ok).map((n) => c[n]!);
}

export function paramChecks(
  p: Record<string, number | string>,
  plan: PlanForFlight,
  s: VehicleState,
  policy: Policy,
): Partial<Record<PreflightCheckName, PreflightCheck>> {
  const c: Partial<Record<PreflightCheckName, PreflightCheck>> = {};
  const num = (n: string) => (typeof p[n] === 'number' ? (p[n] as number) : null);
  const unread = (n: string) => `${n} not read (${p[n]})`;
  const fs = num('FS_GCS_ENABLE');
  c.fs_gcs_enable = { name: 'fs_gcs_enable', ok: fs !== null && fs !== 0, detail: fs === null ? unread('FS_GCS_ENABLE') : `FS_GCS_ENABLE = ${fs}${fs === 0 ? ' (GCS failsafe off)' : ''}` };
  const bl = num('BATT_FS_LOW_ACT');
  c.batt_fs_low_act = { name: 'batt_fs_low_act', ok: bl !== null && bl !== 0, detail: bl === null ? unread('BATT_FS_LOW_ACT') : `BATT_FS_LOW_ACT = ${bl}${bl === 0 ? ' (no action on low battery)' : ''}` };
  const fe = num('FENCE_ENABLE');
  c.fence_enable = { name: 'fence_enable', ok: fe === 1, detail: fe === null ? unread('FENCE_ENABLE') : `FENCE_ENABLE = ${fe}` };
  const fa = num('FENCE_ACTION');
  c.fence_action = { name: 'fence_action', ok: fa !== null && fa !== 0, detail: fa === null ? unread('FENCE_ACTION') : `FENCE_ACTION = ${fa}${fa === 0 ? ' (report only)' : ''}` };
  const ft = num('FENCE_TYPE');
  const fr = num('FENCE_RADIUS');
  const home = s.home ?? null;
  const farthest = home ? farthestFromM(plan.mission, home.lat, home.lon) : (plan.farthestFromLaunchM ?? farthestFromM(plan.mission, 0, 0));
  if (ft === null) c.circle_fence_radius = { name: 'circle_fence_radius', ok: false, detail: unread('FENCE_TYPE') };
  else if ((ft & 2) === 0) c.circle_fence_radius = { name: 'circle_fence_radius', ok: true, detail: `FENCE_TYPE = ${ft}: no circle fence` };
  else if (fr === null) c.circle_fence_radius = { name: 'circle_fence_radius', ok: false, detail: unread('FENCE_RADIUS') };
  else {
    const need = farthest + policy.fenceMarginM;
    c.circle_fence_radius = {
      name: 'circle_fence_radius',
      ok: fr >= need,
      detail: `FENCE_RADIUS ${fr} m vs route's farthest point ${farthest.toFixed(0)} m from ${home ? 'home' : 'launch'} + margin ${policy.fenceMarginM} m`,
    };
  }
  const ge = num('GRIP_ENABLE');
  const servo = gripperServo(p);
  c.release_mechanism = {
    name: 'release_mechanism',
    ok: ge === 1 && servo !== null,
    detail:
      (ge === null ? unread('GRIP_ENABLE') : `GRIP_ENABLE = ${ge}`) +
      (servo !== null ? `, gripper on SERVO${servo} (function 28)` : ', no SERVOn_FUNCTION = 28') +
      ' (GRIP_* take effect only after a reboot)',
  };
  const cap = planBatteryWh(plan);
  const pct = s.battery?.remainingPct ?? null;
  const needWh = plan.energyWh + plan.reserveWh;
  if (cap !== null && pct !== null) {
    const availWh = (cap * pct) / 100;
    c.energy_reserve = {
      name: 'energy_reserve',
      ok: needWh <= availWh,
      detail: `needs ${plan.energyWh.toFixed(1)} Wh + reserve ${plan.reserveWh.toFixed(1)} Wh, available ${availWh.toFixed(1)} Wh (${pct}% of ${cap} Wh)`,
    };
  } else {
    c.energy_reserve = {
      name: 'energy_reserve',
      ok: Number.isFinite(needWh),
      detail: `planner accepted ${plan.energyWh.toFixed(1)} Wh + reserve ${plan.reserveWh.toFixed(1)} Wh against its profile`,
    };
  }
  return c;
}

/**
 * Run the policy against a vehicle and a plan. `upload_verification` is not run here (it needs the
 * upload); it is appended by the dispatcher after verified uploads.
 */
export async function runPreflight(input: PreflightInput): Promise<PreflightReport & { params: Record<string, number | string>; gripperServo: number | null }> {
  const { vehicle, plan, policy } = input;
  const enabled = new Set(policy.checks);
  const timeoutMs = input.paramsTimeoutMs ?? 15000;
  // Grippers usually sit on the AUX outputs (SERVO9 first); read the other functions only when needed,
  // since a name the autopilot lacks costs a full read timeout.
  const params = await readParams(vehicle, [...FAILSAFE_PARAMS, 'SERVO9_FUNCTION'], timeoutMs);
  if (params.SERVO9_FUNCTION !== 28) Object.assign(params, await readParams(vehicle, SERVO_FUNCTION_PARAMS.filter((n) => n !== 'SERVO9_FUNCTION'), timeoutMs));
  const s = vehicle.state;
  const all = { ...stateChecks(s, policy), ...paramChecks(params, plan, s, policy) };
  const checks: PreflightCheck[] = [];
  for (const [name, chk] of Object.entries(all) as Array<[PreflightCheckName, PreflightCheck]>) {
    if (!enabled.has(name)) checks.push({ name, ok: true, skipped: true, detail: `skipped by policy (${chk.ok ? 'would pass' : 'would fail: ' + chk.detail})` });
    else checks.push(chk);
  }
  return {
    ok: checks.every((c) => c.ok),
    at: new Date().toISOString(),
    vehicleId: vehicle.id,
    policyVersion: input.policyVersion,
    checks,
    params,
    gripperServo: gripperServo(params),
  };
}
