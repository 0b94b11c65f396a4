/**
 * Vehicle commissioning: compare a vehicle with the delivery vehicle profile in its own autopilot's
 * names (src/delivery/vehicle-profile.ts), set what differs (each value confirmed by reading it back),
 * reboot it when a parameter is read only at boot, wait for it to come back, and learn how big a
 * fence it stores.
 *
 * Fence capacity is measured by a bounded search (binary, from the profile's figure) over fences of
 * a fixed shape: as many polygons as the item count allows (⌊n/3⌋: an inclusion polygon of 3–5
 * vertices around home and 3-vertex exclusions inside it), the costliest shape per item in ArduPilot's
 * fence storage (2 bytes per polygon besides 8 per vertex). A fence of that many items in fewer,
 * larger polygons therefore fits too. Each probe is uploaded and verified by download; NO_SPACE,
 * MISSION_ERROR ("Fence validation failed") or a read-back that differs counts as refused. The
 * vehicle's own fence is downloaded first and put back (verified) afterwards, whatever happened.
 * Measured on ArduCopter SITL this gives 64 (DESIGN: 64 items in two polygons stored, 74 NO_SPACE;
 * 60 in eight polygons stored, 68 ERROR). Circle items (5003/5004) cost more storage and are not
 * covered; the planner emits polygons only.
 */
import { Cmd, Frame, MissionType, type MissionItem } from '../mavlink/mission-item';
import type { Autopilot, Outcome, VehicleHandle } from '../fleet/types';
import type { Store } from '../store';
import { readRequirementParams } from './preflight';
import { evaluate, profileFenceCapacity, requirementsFor, type ParamValues, type SetupParam, type VehicleProfile } from './vehicle-profile';

export interface FenceCapacity {
  /** Fence items (all polygons together) the vehicle stores. */
  items: number;
  /** 'measured' on this vehicle, or the airframe 'profile' figure. */
  source: 'measured' | 'profile';
  /** Measured: the search reached its upper bound, the vehicle may store more. */
  atLeast?: boolean;
  measuredAt?: string;
  measuredBy?: string | null;
}

export interface SetupReport {
  vehicleId: string;
  autopilot: Autopilot;
  profile: VehicleProfile;
  params: SetupParam[];
  fenceCapacity: FenceCapacity;
  /** Every parameter as the profile wants it. */
  ready: boolean;
}

export interface AppliedParam {
  name: string;
  from: number | null;
  to: number;
  ok: boolean;
  /** The value read back after the set (null when it could not be read). */
  readBack?: number | null;
  error?: string;
}

export interface FenceProbe {
  items: number;
  polygons: number;
  accepted: boolean;
  code?: string;
  message?: string;
  ms: number;
}

export type FenceMeasurement =
  | { ok: true; items: number; atLeast: boolean; probes: FenceProbe[]; restored: { items: number } }
  | { ok: false; code: 'NO_POSITION' | 'FENCE_DOWNLOAD_FAILED' | 'FENCE_PROBE_FAILED' | 'FENCE_RESTORE_FAILED' | 'FENCE_TOO_SMALL'; message: string; probes: FenceProbe[]; restored?: { items: number } };

export interface ApplyReport extends SetupReport {
  applied: AppliedParam[];
  rebooted: boolean;
  fenceMeasurement?: FenceMeasurement;
}

export interface SetupOptions {
  profile: VehicleProfile;
  /** Distance a circle fence must reach beyond the profile's range (the policy's fenceMarginM). */
  fenceMarginM: number;
  capacity: FenceCapacity;
  /** Bound on each round of parameter reads. Default 15000 ms. */
  paramsTimeoutMs?: number;
}

/**
 * What the vehicle is known to store: its measurement when one was made with the autopilot it runs
 * now, else the airframe profile's figure.
 */
export async function knownFenceCapacity(store: Pick<Store, 'getFenceCapacity'>, v: Pick<VehicleHandle, 'id' | 'state'>, profile: VehicleProfile): Promise<FenceCapacity> {
  const row = await store.getFenceCapacity(v.id);
  if (row && row.autopilot === v.state.autopilot) return { items: row.items, source: 'measured', atLeast: row.atLeast, measuredAt: row.measuredAt, measuredBy: row.measuredBy };
  return { items: profileFenceCapacity(v.state.autopilot, profile), source: 'profile' };
}

/** Read the vehicle's parameters and judge them against the profile. */
export async function readSetup(v: VehicleHandle, o: SetupOptions): Promise<SetupReport> {
  const reqs = requirementsFor(v.state.autopilot, o.profile, o.fenceMarginM);
  const p = await readRequirementParams(v, reqs, o.paramsTimeoutMs ?? 15000);
  const params = evaluate(reqs, p);
  return { vehicleId: v.id, autopilot: v.state.autopilot, profile: o.profile, params, fenceCapacity: o.capacity, ready: params.every((l) => l.ok) };
}

export interface RebootOptions {
  /** Time for the vehicle to drop off after an accepted reboot command. Default 15000 ms. */
  lostTimeoutMs?: number;
  /** Time for it to come back and answer a parameter read. Default 120000 ms. */
  backTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sameValue = (a: number, b: number) => Math.abs(a - Math.fround(b)) <= 1e-6 * Math.max(1, Math.abs(b));

/**
 * MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN (param1 1: reboot the autopilot), then wait until the vehicle
 * has dropped off (its link drops, or it falls silent) and is back, answering a parameter read.
 */
export async function rebootAndWait(v: VehicleHandle, probeParam: string, o: RebootOptions = {}): Promise<Outcome<{ ms: number }>> {
  const t0 = Date.now();
  let lost = false;
  const onLost = () => (lost = true);
  v.on('lost', onLost);
  try {
    const ack = await v.command({ command: Cmd.PREFLIGHT_REBOOT_SHUTDOWN, params: [1, 0, 0, 0, 0, 0, 0] });
    if (!ack.ok) return { ok: false, code: ack.result === 'TIMEOUT' || ack.result === 'NOT_CONNECTED' ? 'TIMEOUT' : 'DENIED', message: `reboot: the vehicle answered ${ack.result}` };
    const lostBy = Date.now() + (o.lostTimeoutMs ?? 15000);
    while (!lost && v.state.connected && Date.now() < lostBy) await sleep(50);
    if (!lost && v.state.connected) return { ok: false, code: 'FAILED', message: `reboot accepted but the vehicle did not drop off within ${o.lostTimeoutMs ?? 15000} ms` };
    const backBy = Date.now() + (o.backTimeoutMs ?? 120000);
    while (Date.now() < backBy) {
      if (v.state.connected) {
        const r = await v.getParam(probeParam);
        if (r.ok) return { ok: true, ms: Date.now() - t0 };
      }
      await sleep(250);
    }
    return { ok: false, code: 'TIMEOUT', message: `the vehicle did not come back within ${o.backTimeoutMs ?? 120000} ms of the reboot` };
  } finally {
    v.off('lost', onLost);
  }
}

export interface ApplyOptions extends SetupOptions {
  reboot?: RebootOptions;
  /** Measure the fence capacity (and restore the fence). Default true. */
  measureFence?: boolean;
  fenceSearch?: FenceSearchOptions;
}

/**
 * Set every parameter that differs from the profile (in the requirements' order, each confirmed by
 * reading it back), reboot when one of them is read only at boot and wait for the vehicle, repeat
 * once for parameters that only became readable, optionally measure the fence capacity, and report.
 * Throws nothing: failures are in `applied`, `fenceMeasurement` and the report.
 */
export async function applySetup(v: VehicleHandle, o: ApplyOptions): Promise<ApplyReport & { rebootFailure?: { code: string; message: string } }> {
  const timeoutMs = o.paramsTimeoutMs ?? 15000;
  const applied: AppliedParam[] = [];
  let rebooted = false;
  let rebootFailure: { code: string; message: string } | undefined;
  for (let round = 0; round < 2; round++) {
    const reqs = requirementsFor(v.state.autopilot, o.profile, o.fenceMarginM);
    let p: ParamValues = await readRequirementParams(v, reqs, timeoutMs);
    let needReboot = false;
    // Passes: a set can make other parameters readable (GRIP_TYPE after GRIP_ENABLE) or matter to
    // the next requirement (FENCE_RADIUS after FENCE_TYPE).
    for (let pass = 0; pass < 3; pass++) {
      let changed = false;
      for (const r of reqs) {
        const [line] = evaluate([r], p);
        // Unread parameters are left alone: their type is unknown (PX4 refuses a wrong one) and a name
        // the vehicle does not answer for cannot be set either.
        if (line.ok || line.want === null || line.have === null) continue;
        const set = await v.setParam(line.name, line.want);
        const back = set.ok ? await v.getParam(line.name) : set;
        const readBack = back.ok ? back.value : null;
        const ok = back.ok && sameValue(back.value, line.want);
        const entry: AppliedParam = { name: line.name, from: line.have, to: line.want, ok, readBack };
        if (!ok) entry.error = back.ok ? `read back ${back.value}` : `${back.code}: ${back.message}`;
        applied.push(entry);
        if (ok) {
          p[line.name] = readBack!;
          changed = true;
          if (r.needsReboot) needReboot = true;
        }
      }
      if (!changed) break;
      p = await readRequirementParams(v, reqs, timeoutMs, p);
    }
    if (!needReboot) break;
    const probe = reqs.find((r) => r.needsReboot)?.names[0] ?? reqs[0].names[0];
    const rb = await rebootAndWait(v, probe, o.reboot);
    if (!rb.ok) {
      rebootFailure = { code: rb.code, message: rb.message };
      break;
    }
    rebooted = true;
  }
  let fenceMeasurement: FenceMeasurement | undefined;
  if ((o.measureFence ?? true) && !rebootFailure) {
    fenceMeasurement = await measureFenceCapacity(v, { startItems: profileFenceCapacity(v.state.autopilot, o.profile), ...(o.fenceSearch ?? {}) });
  }
  const capacity: FenceCapacity =
    fenceMeasurement?.ok ? { items: fenceMeasurement.items, source: 'measured', atLeast: fenceMeasurement.atLeast, measuredAt: new Date().toISOString() } : o.capacity;
  const report = await readSetup(v, { ...o, capacity });
  return { ...report, applied, rebooted, ...(fenceMeasurement ? { fenceMeasurement } : {}), ...(rebootFailure ? { rebootFailure } : {}) };
}

export interface FenceSearchOptions {
  /** Smallest fence probed (a polygon needs 3 vertices). Default 3. */
  minItems?: number;
  /** Largest fence probed: the search bound. Default 100. */
  maxItems?: number;
  /** First probe (the airframe profile's figure). Default 60. */
  startItems?: number;
}

/** Regular polygon of `n` vertices (lat/lon) around a centre, radius in metres. */
function ring(lat: number, lon: number, radiusM: number, n: number, phase = 0): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const mPerDegLat = 111_320;
  const mPerDegLon = 111_320 * Math.cos((lat * Math.PI) / 180);
  for (let i = 0; i < n; i++) {
    const a = phase + (2 * Math.PI * i) / n;
    out.push([lat + (radiusM * Math.cos(a)) / mPerDegLat, lon + (radiusM * Math.sin(a)) / mPerDegLon]);
  }
  return out;
}

/**
 * A probe fence of exactly `n` items (n ≥ 3) in ⌊n/3⌋ polygons: an inclusion polygon of 3 + n mod 3
 * vertices, 3 km around the point, and 3-vertex exclusions 15 m across on a 500 m circle inside it.
 */
export function fenceProbeItems(home: { lat: number; lon: number }, n: number): MissionItem[] {
  if (!Number.isInteger(n) || n < 3) throw new Error(`a fence probe needs at least 3 items, got ${n}`);
  const polygons = Math.floor(n / 3);
  const rings: Array<{ inclusion: boolean; pts: Array<[number, number]> }> = [{ inclusion: true, pts: ring(home.lat, home.lon, 3000, 3 + (n % 3)) }];
  for (let k = 0; k < polygons - 1; k++) {
    const a = (2 * Math.PI * k) / (polygons - 1);
    const c = ring(home.lat, home.lon, 500, 1, a)[0];
    rings.push({ inclusion: false, pts: ring(c[0], c[1], 15, 3, a) });
  }
  const items: MissionItem[] = [];
  for (const r of rings) {
    for (const [lat, lon] of r.pts) {
      items.push({
        seq: items.length, frame: Frame.GLOBAL, command: r.inclusion ? Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION : Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        current: 0, autocontinue: 1, param1: r.pts.length, param2: 0, param3: 0, param4: 0,
        x: Math.round(lat * 1e7), y: Math.round(lon * 1e7), z: 0, missionType: MissionType.FENCE,
      });
    }
  }
  return items;
}

/** Upload outcomes that mean "the vehicle cannot store this fence" (others end the search). */
const REFUSALS = new Set(['NO_SPACE', 'MISSION_ERROR', 'VERIFY_MISMATCH']);

/**
 * The largest probe fence the vehicle stores, by binary search in [minItems, maxItems] starting at
 * startItems; the vehicle's fence is downloaded first and restored (verified) at the end.
 */
export async function measureFenceCapacity(v: VehicleHandle, o: FenceSearchOptions = {}): Promise<FenceMeasurement> {
  const minItems = Math.max(3, o.minItems ?? 3);
  const maxItems = Math.max(minItems, o.maxItems ?? 100);
  const probes: FenceProbe[] = [];
  const home = v.state.home ?? v.state.position;
  if (!home) return { ok: false, code: 'NO_POSITION', message: 'no home or position yet: the probe fences are drawn around it', probes };
  const original = await v.downloadItems(MissionType.FENCE);
  if (!original.ok) return { ok: false, code: 'FENCE_DOWNLOAD_FAILED', message: `could not read the vehicle's fence to restore it afterwards: ${original.code}: ${original.message}`, probes };
  let good = minItems - 1;
  let bad = maxItems + 1;
  let next = Math.min(maxItems, Math.max(minItems, o.startItems ?? 60));
  let failure: { code: 'FENCE_PROBE_FAILED'; message: string } | null = null;
  while (bad - good > 1) {
    const items = fenceProbeItems(home, next);
    const t0 = Date.now();
    const r = await v.uploadItems(MissionType.FENCE, items, { verify: true });
    const probe: FenceProbe = { items: next, polygons: Math.floor(next / 3), accepted: r.ok, ms: Date.now() - t0 };
    if (!r.ok) Object.assign(probe, { code: r.code, message: r.message });
    probes.push(probe);
    if (r.ok) good = next;
    else if (REFUSALS.has(r.code)) bad = next;
    else {
      failure = { code: 'FENCE_PROBE_FAILED', message: `a ${next}-item probe fence failed with ${r.code} (not a refusal to store it): ${r.message}` };
      break;
    }
    next = Math.floor((good + bad) / 2);
  }
  const back = original.items.length > 0 ? await v.uploadItems(MissionType.FENCE, original.items, { verify: true }) : await v.clearItems(MissionType.FENCE);
  const restored = { items: original.items.length };
  if (!back.ok) return { ok: false, code: 'FENCE_RESTORE_FAILED', message: `the vehicle's own fence (${original.items.length} items) could not be put back: ${back.code}: ${back.message}`, probes };
  if (failure) return { ...failure, ok: false, probes, restored };
  if (good < minItems) return { ok: false, code: 'FENCE_TOO_SMALL', message: `the vehicle refused even a ${minItems}-item fence`, probes, restored };
  return { ok: true, items: good, atLeast: good === maxItems, probes, restored };
}
