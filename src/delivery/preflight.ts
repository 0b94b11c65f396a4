/**
 * Preflight policy: every check named, with its result and a readable detail. The vehicle's
 * health comes from its live state (the fleet's one source of truth); failsafe, fence and release
 * configuration from its parameters, read fresh for every dispatch in the vehicle's own vocabulary
 * (ArduPilot or PX4 names), from the same vehicle profile the commissioning report uses
 * (policy.vehicle, src/delivery/vehicle-profile.ts).
 */
import { greatCircleDistanceM } from '../../planner/geo';
import type { Autopilot, VehicleHandle, VehicleState } from '../fleet/types';
import type { MissionItem } from '../mavlink/mission-item';
import type { Policy, PreflightCheckName } from './policy';
import type { PreflightCheck, PreflightReport } from './types';
import { PACK_CELL_MAX_V, PACK_CELL_MIN_V, vehicleEnergy, type VehicleEnergy } from './battery-profile';
import { circleFence, evaluate, gripperOutput, namesToRead, requirementsFor, type ParamCheckName, type ParamValues, type Requirement, type SetupParam } from './vehicle-profile';

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

/** The reserve the plan keeps at landing, percent of the pack (the planner profile's reservePct; default 25). */
export function planReservePct(plan: PlanForFlight): number {
  const req = plan.request as any;
  const prof = (req && typeof req.profile === 'object' ? req.profile : null) ?? (plan as any).profile;
  return prof && typeof prof.reservePct === 'number' && Number.isFinite(prof.reservePct) ? prof.reservePct : 25;
}

export interface PreflightInput {
  vehicle: VehicleHandle;
  plan: PlanForFlight;
  policy: Policy;
  policyVersion: number;
  /** Parameter read timeout per name is the vehicle layer's; this bounds the whole read. Default 15000 ms. */
  paramsTimeoutMs?: number;
}

/**
 * Read parameters in parallel; missing ones map to an error string. The whole read is bounded by
 * `timeoutMs` (a name the autopilot lacks gets no answer at all and costs the vehicle layer's retries).
 */
export async function readParams(v: VehicleHandle, names: string[], timeoutMs: number): Promise<ParamValues> {
  const out: ParamValues = {};
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

/**
 * Read what the requirements need, in rounds (a gripper output is looked for on other outputs only
 * when the preferred one does not carry it; GRIP_TYPE only once GRIP_ENABLE is 1). Returns every
 * value read, numbers or error strings.
 */
export async function readRequirementParams(v: VehicleHandle, reqs: Requirement[], timeoutMs: number, known: ParamValues = {}): Promise<ParamValues> {
  const p: ParamValues = { ...known };
  for (let round = 0; round < 4; round++) {
    const names = namesToRead(reqs, p);
    if (names.length === 0) break;
    Object.assign(p, await readParams(v, names, timeoutMs));
  }
  return p;
}

/** Servo number (1–16) whose function is the gripper (ArduPilot: 28), from read parameters. */
export function gripperServo(params: Record<string, number | string>): number | null {
  return gripperOutput('ardupilot', params);
}

export function stateChecks(s: VehicleState, policy: Policy): Partial<Record<PreflightCheckName, PreflightCheck>> {
  const c: Partial<Record<PreflightCheckName, PreflightCheck>> = {};
  const ageMs = Date.now() - s.lastSeenMs;
  c.link = { name: 'link', ok: s.connected && ageMs < 5000, detail: s.connected ? `last message ${ageMs} ms ago` : 'vehicle not connected' };
  c.gps_fix = s.gps
    ? { name: 'gps_fix', ok: s.gps.fixType >= policy.minGpsFix, detail: `fix type ${s.gps.fixType} (need ≥ ${policy.minGpsFix}), ${s.gps.satellites} satellites` }
    : { name: 'gps_fix', ok: false, detail: 'no GPS_RAW_INT received' };
  if (s.ekfFlags == null) c.ekf = { name: 'ekf', ok: false, detail: 'no EKF_STATUS_REPORT (ArduPilot) or ESTIMATOR_STATUS (PX4) received' };
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

/** A parameter value as people read it: REAL32 values come back as 25.200000762939453. */
const shown = (v: number) => String(Math.round(v * 1e4) / 1e4);
const fmt = (l: SetupParam) => (l.have === null ? `${l.name} not read (${l.error ?? 'no answer'})` : `${l.name} = ${shown(l.have)}${l.ok ? '' : ` (want ${l.rule})`}`);

const CHECK_NAMES: Record<Exclude<ParamCheckName, 'circle_fence_radius'>, string> = {
  fs_gcs_enable: 'GCS-loss failsafe',
  batt_fs_low_act: 'battery failsafe',
  fs_ekf_action: 'EKF failsafe',
  fence_enable: 'fence',
  fence_action: 'fence action',
  release_mechanism: 'release mechanism',
  battery_match: 'battery configuration',
};

/**
 * Parameter checks: the vehicle profile's requirements in the autopilot's names (the vehicle's
 * state says which autopilot), the circle fence against this plan's farthest point, the battery
 * against the profile's pack, and the energy the vehicle has (its pack, not the planner's).
 */
export function paramChecks(
  p: ParamValues,
  plan: PlanForFlight,
  s: VehicleState,
  policy: Policy,
): Partial<Record<PreflightCheckName, PreflightCheck>> {
  const c: Partial<Record<PreflightCheckName, PreflightCheck>> = {};
  const autopilot: Autopilot = s.autopilot;
  const lines = evaluate(requirementsFor(autopilot, policy.vehicle, policy.fenceMarginM), p);
  for (const name of Object.keys(CHECK_NAMES) as Array<keyof typeof CHECK_NAMES>) {
    const mine = lines.filter((l) => l.check === name);
    if (mine.length === 0) {
      c[name] = { name, ok: true, detail: `${autopilot === 'px4' ? 'PX4' : autopilot}: no parameter to check (${CHECK_NAMES[name]} built in)` };
      continue;
    }
    let detail = mine.map(fmt).join(', ');
    if (name === 'fs_gcs_enable' && mine.some((l) => l.name === 'FS_GCS_ENABLE' && l.have === 0)) detail += ' (GCS failsafe off)';
    if (name === 'batt_fs_low_act' && mine.some((l) => l.name === 'BATT_FS_LOW_ACT' && l.have === 0)) detail += ' (no action on low battery)';
    if (name === 'release_mechanism' && autopilot !== 'px4') {
      const servo = gripperServo(p);
      detail += servo !== null ? `, gripper on SERVO${servo} (function 28)` : policy.vehicle.release === 'gripper' ? ', no SERVOn_FUNCTION = 28' : '';
      detail += ' (GRIP_* take effect only after a reboot)';
    }
    c[name] = { name, ok: mine.every((l) => l.ok), detail };
  }
  const bm = c.battery_match;
  const volts = s.battery?.voltageV ?? 0;
  const cells = policy.vehicle.batteryCells;
  if (bm && volts > 0 && (volts / cells < PACK_CELL_MIN_V || volts / cells > PACK_CELL_MAX_V)) {
    c.battery_match = { name: 'battery_match', ok: false, detail: `${bm.detail}; the pack reads ${volts.toFixed(2)} V: not ${cells} cells` };
  }
  const home = s.home ?? null;
  const farthest = home ? farthestFromM(plan.mission, home.lat, home.lon) : (plan.farthestFromLaunchM ?? farthestFromM(plan.mission, 0, 0));
  const circle = circleFence(autopilot, p);
  const unreadCircle = autopilot === 'px4' ? 'GF_MAX_HOR_DIST' : circle.enabled === null ? 'FENCE_TYPE' : 'FENCE_RADIUS';
  if (circle.enabled === null) c.circle_fence_radius = { name: 'circle_fence_radius', ok: false, detail: `${unreadCircle} not read (${p[unreadCircle]})` };
  else if (!circle.enabled) c.circle_fence_radius = { name: 'circle_fence_radius', ok: true, detail: autopilot === 'px4' ? 'GF_MAX_HOR_DIST = 0: no distance limit' : `FENCE_TYPE = ${p.FENCE_TYPE}: no circle fence` };
  else if (circle.radiusM === null) c.circle_fence_radius = { name: 'circle_fence_radius', ok: false, detail: `${unreadCircle} not read (${p[unreadCircle]})` };
  else {
    const need = farthest + policy.fenceMarginM;
    c.circle_fence_radius = {
      name: 'circle_fence_radius',
      ok: circle.radiusM >= need,
      detail: `${autopilot === 'px4' ? 'GF_MAX_HOR_DIST' : 'FENCE_RADIUS'} ${circle.radiusM} m vs route's farthest point ${farthest.toFixed(0)} m from ${home ? 'home' : 'launch'} + margin ${policy.fenceMarginM} m`,
    };
  }
  c.energy_reserve = energyCheck(plan, vehicleEnergy(autopilot, p, s, policy.vehicle));
  return c;
}

/**
 * The go/no-go on energy: the plan's energy (the profile's consumption model) plus the reserve
 * (the plan's reservePct of the VEHICLE's pack) against what the vehicle has now (its capacity
 * parameter and state of charge). A vehicle that does not say fails.
 */
export function energyCheck(plan: PlanForFlight, e: VehicleEnergy): PreflightCheck {
  const needWh = plan.energyWh;
  if (e.capacityWh === null || e.availableWh === null || e.pct === null) {
    return { name: 'energy_reserve', ok: false, detail: `vehicle battery unknown: ${e.why ?? 'no capacity'}; needs ${needWh.toFixed(1)} Wh` };
  }
  const reserveWh = (e.capacityWh * planReservePct(plan)) / 100;
  return {
    name: 'energy_reserve',
    ok: Number.isFinite(needWh) && needWh + reserveWh <= e.availableWh,
    detail: `needs ${needWh.toFixed(1)} Wh + reserve ${reserveWh.toFixed(1)} Wh, available ${e.availableWh.toFixed(1)} Wh (${e.pct}% of ${e.capacityWh.toFixed(1)} Wh)`,
  };
}

/**
 * Run the policy against a vehicle and a plan. `upload_verification` is not run here (it needs the
 * upload); it is appended by the dispatcher after verified uploads.
 */
export async function runPreflight(input: PreflightInput): Promise<PreflightReport & { params: Record<string, number | string>; gripperServo: number | null }> {
  const { vehicle, plan, policy } = input;
  const enabled = new Set(policy.checks);
  const timeoutMs = input.paramsTimeoutMs ?? 15000;
  // The requirements name the circle fence's parameters too (FENCE_TYPE/FENCE_RADIUS, GF_MAX_HOR_DIST).
  const params = await readRequirementParams(vehicle, requirementsFor(vehicle.state.autopilot, policy.vehicle, policy.fenceMarginM), timeoutMs);
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
    gripperServo: gripperOutput(vehicle.state.autopilot, params),
  };
}
