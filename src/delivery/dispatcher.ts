/**
 * Dispatching a job: plan it from the vehicle (its fence capacity, its site, the airspace slot),
 * run the preflight policy, wait for a warming-up vehicle as a crew would, then the launch sequence:
 * upload fence, rally points and mission (each verified by download), arm, take off and confirm the
 * climb from telemetry, and hand the flight to the tracker (tracker.ts). The state machine and the
 * store stay in DeliveryManager (index.ts), reached through a DispatchHost.
 */
import crypto from 'crypto';
import type { FleetHandle, VehicleHandle, VehicleState, CommandResult } from '../fleet/types';
import { MissionType, type MissionItem, type MissionTypeValue } from '../mavlink/mission-item';
import type { Store } from '../store';
import type { AuthUser } from '../auth';
import { needsApproval, type Policy } from './policy';
import { runPreflight, warmingUp, WARMUP_CHECKS, type PlanForFlight } from './preflight';
import { knownFenceCapacity, type FenceCapacity } from './commissioning';
import { fenceCapacityRefusal, fenceStorageOf } from './fence-fit';
import { planInSlot, waitForSlot, type Airspace } from './airspace';
import { pauseAt } from './pause-point';
import { findReleaseSeqs, planForAutopilot } from './mission-items';
import type { Execution, Tracker } from './tracker';
import { greatCircleDistanceM } from '../../planner/geo';
import { TERMINAL, type Alert, type Delivery, type DeliveryState } from './types';
import { aloneToDropS, promisesBroken, riderIds, sortieExecutions, sortieRefusal, sortieRequest } from './sortie';
import type { DeliveryManagerOptions, PlanDeliveryFn, Result } from './index';

const nowIso = () => new Date().toISOString();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the dispatcher needs of the delivery manager. */
export interface DispatchHost {
  store: Store;
  fleet: FleetHandle;
  log: { info?(obj: unknown, msg?: string): void; warn(obj: unknown, msg?: string): void; error(obj: unknown, msg?: string): void };
  opts: DeliveryManagerOptions;
  airspace: Airspace;
  planDelivery: PlanDeliveryFn;
  confirmTimeoutMs: number;
  running: Set<string>;
  reserved: Set<string>;
  waitingFor: Map<string, string>;
  held: Map<string, string>;
  trackers: Map<string, Tracker>;
  isClosed(): boolean;
  airNowS(): number;
  airIso(s: number): string;
  alert(level: Alert['level'], text: string, ids?: { vehicleId?: string; deliveryId?: string }): void;
  event(id: string, event: string, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  transition(id: string, to: DeliveryState, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  fail(id: string, code: string, message: string, details?: unknown): Promise<Delivery | null>;
  currentPolicy(): Promise<{ policy: Policy; version: number }>;
  activeJobFor(vehicleId: string): Promise<Delivery | undefined>;
  stillActive(id: string): Promise<boolean>;
  startTracker(deliveryId: string, flightId: string, vehicleId: string, resumed: boolean): Tracker;
}

/**
 * Run the preflight policy and, if it passes, start the launch sequence in the background.
 * Resolves once the job is `uploading` (or refused: PREFLIGHT_FAILED leaves the job dispatchable).
 */
export async function dispatchJob(h: DispatchHost, id: string, vehicleId: string, user: AuthUser | null, timing?: (phase: string) => void, withIds?: string[]): Promise<Result<Delivery>> {
  if (withIds && withIds.length > 0) return dispatchSortie(h, id, vehicleId, withIds, user, timing);
  // Every read first: the checks and the marks below then happen without a pause another request could use.
  const d = await h.store.getDelivery(id);
  if (!d) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
  const { policy, version } = await h.currentPolicy();
  const busy = await h.activeJobFor(vehicleId);
  const leased = h.running.has(id) || (await h.store.leases.tryTake(id)); // given back by balanceLeases unless it runs
  if (d.state !== 'planned' && d.state !== 'approved')
    return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} is ${d.state}; only planned or approved jobs can be dispatched`, status: 409 };
  if (d.state === 'planned' && needsApproval(policy, d.priority))
    return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} needs a supervisor's approval (policy version ${version})`, status: 409 };
  if (h.running.has(id) || !leased) return { ok: false, code: 'CONFLICT', message: `delivery ${id} is already being dispatched${leased ? '' : ' (by another node)'}`, status: 409 };
  const v = h.fleet.get(vehicleId);
  if (!v) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `no vehicle ${vehicleId}`, status: 404 };
  if (vehicleId.startsWith('replay-')) return { ok: false, code: 'INVALID_STATE', message: `${vehicleId} is a replay and cannot fly`, status: 409 };
  if (h.reserved.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is being dispatched for another job`, status: 409 };
  if (h.held.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is busy: ${h.held.get(vehicleId)}`, status: 409 };
  if (busy || h.trackers.has(vehicleId))
    return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is busy${busy ? ` with ${busy.id}` : ' (a flight is still being tracked)'}`, status: 409 };
  h.running.add(id);
  h.reserved.add(vehicleId);
  let waiting = false;
  try {
    const p = await planFor(h, d, v, policy);
    if (!p.ok) {
      h.running.delete(id);
      return p;
    }
    const { plan, flown } = p.value;
    timing?.('plan');
    const report = await runPreflight({ vehicle: v, plan, policy, policyVersion: version });
    timing?.('preflight');
    if (!report.ok) {
      const failed = report.checks.filter((c) => !c.ok);
      // Only warm-up checks failing (EKF, GPS fix, home, pre-arm): wait for the vehicle, as a crew would.
      if (policy.readyWaitMs > 0 && failed.every((c) => WARMUP_CHECKS.has(c.name))) {
        const { params: _p, gripperServo: _g, ...stored } = report;
        const w = await startWaiting(h, id, v, failed, policy.readyWaitMs, stored);
        if (!w) {
          h.running.delete(id);
          return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} changed during preflight`, status: 409 };
        }
        waiting = true;
        // The job stays `running` (no second dispatch) until it launches, which then owns that mark.
        void waitThenLaunch(h, id, v, user, Date.parse(w.waiting!.until), timing)
          .then((launched) => {
            if (!launched) h.running.delete(id);
          })
          .catch((e) => {
            h.running.delete(id);
            h.log.error({ err: e, deliveryId: id }, 'waiting for the vehicle crashed');
          })
          .finally(() => {
            h.waitingFor.delete(vehicleId);
            h.reserved.delete(vehicleId);
          });
        return { ok: true, value: w };
      }
      h.running.delete(id);
      return await refuse(h, id, vehicleId, report);
    }
    return await begin(h, id, v, plan, flown, report, policy, user, timing);
  } catch (e) {
    h.running.delete(id);
    throw e;
  } finally {
    if (!waiting) h.reserved.delete(vehicleId);
  }
}

/** PREFLIGHT_FAILED: the job stays dispatchable, with the report and a timeline entry naming the failed checks. */
export async function refuse(h: DispatchHost, id: string, vehicleId: string, report: Awaited<ReturnType<typeof runPreflight>>, extra: Record<string, unknown> = {}): Promise<Result<Delivery>> {
  const { params: _p, gripperServo: _g, ...stored } = report;
  const failed = report.checks.filter((c) => !c.ok);
  await h.event(id, 'preflight-refused', { vehicleId, failed: failed.map((c) => c.name), ...extra }, { preflight: stored });
  return {
    ok: false,
    code: 'PREFLIGHT_FAILED',
    message: `preflight refused: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`,
    details: { checks: report.checks, failed: failed.map((c) => c.name), ...extra },
    status: 409,
  };
}

/** Preflight passed: the job goes `uploading` and the launch sequence runs in the background (it clears `running`). */
export async function begin(h: DispatchHost, id: string, v: VehicleHandle, plan: PlanForFlight, flown: Partial<Delivery>, report: Awaited<ReturnType<typeof runPreflight>>, policy: Policy, user: AuthUser | null, timing?: (phase: string) => void, together?: Together): Promise<Result<Delivery>> {
  const { params: _p, gripperServo, ...stored } = report;
  const d = (await h.store.getDelivery(id))!;
  const exec: Execution = together?.execs.get(id) ?? { ...findReleaseSeqs(plan.mission, d.drop), gripperServo };
  const r = await h.transition(id, 'uploading', { vehicleId: v.id, by: user?.username ?? null, ...(together ? { sortie: together.sortie.jobs } : {}) }, { vehicleId: v.id, preflight: stored, execution: exec, waiting: undefined, ...flown, ...(together ? { sortie: together.sortie } : {}) } as Partial<Delivery>);
  if (!r) {
    h.running.delete(id);
    return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} changed during preflight`, status: 409 };
  }
  if (together) {
    // The riders are committed to the flight with the lead: same vehicle, plan and preflight, their own release.
    for (const rid of together.sortie.jobs.slice(1)) {
      const moved = await h.transition(rid, 'uploading', { vehicleId: v.id, by: user?.username ?? null, sortie: together.sortie.jobs }, { vehicleId: v.id, preflight: stored, execution: together.execs.get(rid), waiting: undefined, plan, sortie: together.sortie, ...(flown.airspace ? { airspace: flown.airspace } : {}) } as Partial<Delivery>);
      if (!moved) {
        await h.fail(id, 'SORTIE_CHANGED', `delivery ${rid} changed while the sortie was being dispatched: nothing was uploaded; dispatch again`, { deliveryId: rid });
        h.running.delete(id);
        return { ok: false, code: 'SORTIE_CHANGED', message: `delivery ${rid} changed while the sortie was being dispatched`, status: 409 };
      }
    }
    for (const rid of together.sortie.jobs) await h.event(rid, 'sortie-formed', { lead: id, jobs: together.sortie.jobs, bays: together.sortie.bays });
    const bays = together.sortie.bays.map((b) => `bay ${b.bay} (SERVO${b.output}) ${b.deliveryId}`).join(', ');
    h.alert('info', `Sortie ${together.sortie.jobs.join('+')} on ${v.id}: ${bays}`, { deliveryId: id, vehicleId: v.id });
  }
  h.airspace.release(id); // stored with the job now
  if (r.airspace) await h.event(id, 'airspace-slot', { method: r.airspace.method, layerM: r.airspace.layerM, holdS: r.airspace.holdS, launchAt: h.airIso(r.airspace.launchAtS), avoided: r.airspace.avoided, reason: r.airspace.reason });
  void launch(h, id, v, plan, exec, policy, timing)
    .catch(async (e) => {
      if (h.isClosed()) return; // the service stopped under it
      h.log.error({ err: e, deliveryId: id }, 'launch sequence crashed');
      await h.fail(id, 'INTERNAL', (e as Error).message);
    })
    .finally(() => h.running.delete(id));
  return { ok: true, value: r };
}

/** Record that the job waits for the vehicle to warm up ("waiting for vehicle: ekf"). Null when the job moved on meanwhile. */
export async function startWaiting(h: DispatchHost, id: string, v: VehicleHandle, failed: Array<{ name: string; detail: string }>, waitMs: number, preflight: unknown): Promise<Delivery | null> {
  const d = await h.store.getDelivery(id);
  if (!d || (d.state !== 'planned' && d.state !== 'approved')) return null;
  const since = nowIso();
  const waiting = { vehicleId: v.id, checks: failed.map((c) => c.name), message: `waiting for vehicle: ${failed.map((c) => c.name).join(', ')}`, since, until: new Date(Date.parse(since) + waitMs).toISOString() };
  h.waitingFor.set(v.id, id);
  h.alert('info', `Delivery ${id} waiting for vehicle: ${waiting.checks.join(', ')} (${v.id}, up to ${Math.round(waitMs / 1000)} s)`, { deliveryId: id, vehicleId: v.id });
  return await h.event(id, 'waiting-for-vehicle', { ...waiting, checks: failed.map((c) => ({ name: c.name, detail: c.detail })) }, { waiting, preflight } as Partial<Delivery>);
}

/** The job still waits for this vehicle: planned or approved, not aborted, the service running. */
export async function stillWaiting(h: DispatchHost, id: string, vehicleId: string): Promise<boolean> {
  if (h.isClosed()) return false;
  const d = await h.store.getDelivery(id);
  return !!d && (d.state === 'planned' || d.state === 'approved') && d.waiting?.vehicleId === vehicleId;
}

/** End a wait: clear the job's `waiting` with a timeline entry saying why. */
export async function endWaiting(h: DispatchHost, id: string, reason: string, extra: Record<string, unknown> = {}): Promise<void> {
  const d = await h.store.getDelivery(id);
  if (!d?.waiting || h.isClosed()) return;
  await h.event(id, 'waiting-ended', { vehicleId: d.waiting.vehicleId, reason, ...extra }, { waiting: undefined });
}

/**
 * Wait until the vehicle passes the warm-up checks (or the deadline), then plan from where it
 * stands, run the whole preflight again with fresh parameters and launch, or refuse with reasons.
 */
export async function waitThenLaunch(h: DispatchHost, id: string, v: VehicleHandle, user: AuthUser | null, deadlineMs: number, timing?: (phase: string) => void): Promise<boolean> {
  const pollMs = h.opts.readyPollMs ?? 250;
  let last = (await h.store.getDelivery(id))?.waiting?.checks.join(',') ?? '';
  for (;;) {
    if (!await stillWaiting(h, id, v.id)) {
      if (h.isClosed()) return false;
      const d = await h.store.getDelivery(id);
      if (d && TERMINAL.has(d.state)) await endWaiting(h, id, `job ${d.state}`);
      return false;
    }
    const { policy } = await h.currentPolicy();
    const pending = warmingUp(v.state, policy);
    if (pending.length === 0) break;
    if (Date.now() >= deadlineMs) {
      const d = (await h.store.getDelivery(id))!;
      const waitedS = Math.round((Date.now() - Date.parse(d.waiting!.since)) / 1000);
      const message = `vehicle ${v.id} not ready after ${waitedS} s: ${pending.map((c) => `${c.name} (${c.detail})`).join('; ')}`;
      await h.event(id, 'preflight-refused', { vehicleId: v.id, failed: pending.map((c) => c.name), reason: message }, { waiting: undefined });
      h.alert('warning', `Delivery ${id} not dispatched: ${message}`, { deliveryId: id, vehicleId: v.id });
      return false;
    }
    const now = pending.map((c) => c.name).join(',');
    if (now !== last) {
      last = now;
      const d = (await h.store.getDelivery(id))!;
      const waiting = { ...d.waiting!, checks: pending.map((c) => c.name), message: `waiting for vehicle: ${pending.map((c) => c.name).join(', ')}` };
      await h.event(id, 'waiting-for-vehicle', { ...waiting, checks: pending.map((c) => ({ name: c.name, detail: c.detail })) }, { waiting });
    }
    await sleep(pollMs);
  }
  const d = (await h.store.getDelivery(id))!;
  const waitedMs = Date.now() - Date.parse(d.waiting!.since);
  await h.event(id, 'vehicle-ready', { vehicleId: v.id, waitedMs });
  const { policy, version } = await h.currentPolicy();
  const re = await planFor(h, (await h.store.getDelivery(id))!, v, policy);
  if (!re.ok) {
    await endWaiting(h, id, 'no plan for the vehicle', { code: re.code, message: re.message });
    h.alert('warning', `Delivery ${id} not dispatched: ${re.message}`, { deliveryId: id, vehicleId: v.id });
    return false;
  }
  const report = await runPreflight({ vehicle: v, plan: re.value.plan, policy, policyVersion: version });
  if (!await stillWaiting(h, id, v.id)) return false;
  if (!report.ok) {
    const r = await refuse(h, id, v.id, report);
    await endWaiting(h, id, 'preflight refused');
    if (!r.ok) h.alert('warning', `Delivery ${id} not dispatched: ${r.message}`, { deliveryId: id, vehicleId: v.id });
    return false;
  }
  return (await begin(h, id, v, re.value.plan, re.value.flown, report, policy, user, timing)).ok;
}

/**
 * The plan to fly on this vehicle: re-planned from where it stands, in its autopilot's form (`flown`:
 * the job keeps that form when it differs), or a refusal: FENCE_CAPACITY when the plan's fence is
 * larger than the vehicle stores.
 */
export async function planFor(h: DispatchHost, d: Delivery, v: VehicleHandle, policy: Policy): Promise<Result<{ plan: PlanForFlight; flown: Partial<Delivery> }>> {
  const cap = await knownFenceCapacity(h.store, v, policy.vehicle);
  const re = await replanFromVehicle(h, d, v, cap);
  if (!re.ok) return re;
  const zv = await h.store.latestZones();
  const slotted = await planInSlot(h.airspace, (await h.store.getDelivery(d.id)) ?? d, re.value, policy, (req) => h.planDelivery(zv && { version: zv.version, json: zv.zonesJson }, req), h.airNowS);
  if (!slotted.ok) {
    await h.event(d.id, 'airspace-refused', { vehicleId: v.id, code: slotted.code, message: slotted.message });
    return slotted;
  }
  const air: Partial<Delivery> = slotted.slot ? { airspace: slotted.slot, ...(slotted.request ? { planRequest: slotted.request } : {}) } : {};
  const plan = planForAutopilot(slotted.plan as PlanForFlight, v.state.autopilot);
  if ((plan.fence ?? []).length > cap.items) {
    const details = { vehicleId: v.id, capacity: cap.items, count: plan.fence.length, source: cap.source };
    await h.event(d.id, 'fence-capacity-refused', details);
    return {
      ok: false,
      code: 'FENCE_CAPACITY',
      message: `the plan's fence has ${plan.fence.length} items but ${v.id} stores ${cap.items} (${cap.source === 'measured' ? `measured ${cap.measuredAt}` : 'airframe profile'})`,
      details,
      status: 409,
    };
  }
  // The job keeps the mission as flown (PX4: without ArduPilot's home placeholder), which the tracker reads.
  return { ok: true, value: { plan, flown: plan !== re.value ? { plan, ...air } : air } };
}

/**
 * The plan to fly with this vehicle: the stored one when the vehicle stands at its launch point
 * and stores its fence, otherwise a new plan from the vehicle's home and within the fence items
 * it stores (the stored job is updated, with a timeline entry). FENCE_CAPACITY when no fence for
 * the route fits the vehicle.
 */
export async function replanFromVehicle(h: DispatchHost, d: Delivery, v: VehicleHandle, cap: FenceCapacity): Promise<Result<PlanForFlight>> {
  const plan = d.plan as PlanForFlight & { launch?: { lon: number; lat: number } };
  const at = v.state.home ?? v.state.position;
  const offM = at && plan?.launch ? greatCircleDistanceM([at.lon, at.lat], [plan.launch.lon, plan.launch.lat]) : 0;
  const fenceNeeds = fenceStorageOf(plan);
  const move = !!at && offM > 30, refit = fenceNeeds > cap.items;
  if (!move && !refit) return { ok: true, value: plan };
  const zv = await h.store.latestZones();
  const request = { ...(d.planRequest ?? { drop: d.drop }), fenceCapacity: cap.items, ...(move ? { launch: [at!.lon, at!.lat] } : {}) };
  let p: any;
  try {
    p = await h.planDelivery(zv && { version: zv.version, json: zv.zonesJson }, request);
  } catch (e) {
    const refused = plannerRefusal(e);
    if (refused) return refused;
    p = { ok: false, error: { code: 'PLANNER_ERROR', message: (e as Error).message } };
  }
  if (!p?.ok) {
    await h.event(d.id, 'replan-failed', { vehicleId: v.id, error: p?.error });
    if (p?.error?.code === 'FENCE_CAPACITY') {
      const { details, message } = fenceCapacityRefusal(v.id, cap, p.error);
      await h.event(d.id, 'fence-capacity-refused', details);
      return { ok: false, code: 'FENCE_CAPACITY', message, details, status: 409 };
    }
    return { ok: false, code: 'PLAN_FAILED', message: `cannot plan from ${v.id}'s position: ${p?.error?.message ?? 'planner failed'}`, details: p?.error, status: 422 };
  }
  const reason = [move ? `vehicle stands ${offM.toFixed(0)} m from the planned launch` : '', refit ? `the plan's fence takes ${fenceNeeds} items but ${v.id} stores ${cap.items}` : ''].filter(Boolean).join('; ');
  await h.event(d.id, 'replanned', { vehicleId: v.id, reason, distanceM: p.distanceM, fenceCapacity: cap.items, fenceItems: fenceStorageOf(p), zonesVersion: zv?.version }, { plan: p, planRequest: request, launch: p.launch, zonesVersion: zv?.version });
  return { ok: true, value: p as PlanForFlight };
}


export function vehicleLost(h: DispatchHost, v: VehicleHandle): boolean {
  const s = v.state;
  return !s.connected || Date.now() - s.lastSeenMs > 3000;
}

export async function waitFor(h: DispatchHost, v: VehicleHandle, pred: (s: VehicleState) => boolean, timeoutMs: number, id?: string): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (pred(v.state)) return true;
    if (id && !await h.stillActive(id)) return false;
    await sleep(50);
  }
  return pred(v.state);
}

export function lastTexts(h: DispatchHost, v: VehicleHandle, n = 5) {
  return v.state.statusText.slice(-n).map((t) => `${t.severity}: ${t.text}`);
}

/** Upload fence → rally → mission (verified), GUIDED (PX4: AUTO.LOITER), arm, MISSION_START, confirm the climb. */
export async function launch(h: DispatchHost, id: string, v: VehicleHandle, plan: PlanForFlight, exec: Execution, policy: Policy, timing?: (phase: string) => void): Promise<void> {
  const uploads: Array<[string, MissionTypeValue, MissionItem[]]> = [
    ['fence', MissionType.FENCE, plan.fence ?? []],
    ['rally', MissionType.RALLY, plan.rally ?? []],
    ['mission', MissionType.MISSION, plan.mission],
  ];
  for (const [name, type, items] of uploads) {
    if (!await h.stillActive(id)) return;
    const t0 = Date.now();
    const onProgress = type === MissionType.MISSION ? (p: { direction: string; done: number; total: number }) => p.direction === 'upload' && p.done >= p.total / 2 && p.done < p.total && pauseAt('upload-mission', { deliveryId: id, done: p.done, total: p.total }) : undefined;
    const r = items.length > 0 ? await v.uploadItems(type, items, { verify: true, onProgress }) : await v.clearItems(type);
    if (!r.ok) {
      const details = { missionType: name, transferCode: r.code, message: r.message, details: r.details, statusText: lastTexts(h, v) };
      if (r.code === 'VERIFY_MISMATCH') {
        await h.event(id, 'upload-verification-failed', details);
        await h.fail(id, 'UPLOAD_VERIFY_FAILED', `${name} read back differs from what was uploaded: ${r.message}`, details);
      } else if (vehicleLost(h, v)) await h.fail(id, 'VEHICLE_LOST', `vehicle ${v.id} stopped answering during the ${name} upload (${r.code})`, details);
      else await h.fail(id, 'UPLOAD_FAILED', `${name} upload failed: ${r.code}: ${r.message}`, details);
      return;
    }
    await h.event(id, `${name}-uploaded`, { items: items.length, verified: items.length > 0, ms: Date.now() - t0 });
  }
  timing?.('upload');
  const d0 = await h.store.getDelivery(id);
  if (!d0 || d0.state !== 'uploading') return;
  const preflight = d0.preflight ? { ...d0.preflight, checks: [...d0.preflight.checks, { name: 'upload_verification', ok: true, detail: 'fence, rally and mission read back identical' }] } : undefined;
  if (!await h.transition(id, 'ready', { verified: true }, { preflight })) return;
  await fly(h, id, v, plan, exec, policy, timing);
}

/** From `ready`: the airspace slot, GUIDED (PX4: AUTO.LOITER), arm, the flight row, MISSION_START, the climb confirmed. */
export async function fly(h: DispatchHost, id: string, v: VehicleHandle, plan: PlanForFlight, exec: Execution, policy: Policy, timing?: (phase: string) => void): Promise<void> {
  // The airspace slot: a timed hold at launch, and lift-off within the slot (decided again when late).
  const slot = (await h.store.getDelivery(id))?.airspace;
  if (slot) {
    const w = await waitForSlot(h.airspace, id, slot, plan, {
      stillActive: () => h.stillActive(id),
      nowS: h.airNowS,
      sleep: (ms) => sleep(ms / (h.opts.vehicleClockRate ?? 1)),
      onHold: (s, waitS) => h.event(id, 'airspace-hold', { holdS: Math.ceil(waitS), layerM: s.layerM, until: h.airIso(s.launchAtS), reason: s.reason }),
      onMoved: (s, prev) => h.event(id, 'airspace-slot-moved', { layerM: s.layerM, from: h.airIso(prev.launchAtS), to: h.airIso(s.launchAtS), reason: s.reason }, { airspace: s }),
    });
    if (!w) return;
    if (!w.ok) {
      await h.fail(id, w.code === 'AIRSPACE_NO_LAYER' ? 'AIRSPACE_NO_LAYER' : 'AIRSPACE_FULL', w.message, w.details);
      return;
    }
  }

  // GUIDED, then arm (arming in AUTO is refused by ArduPilot), then MISSION_START within DISARM_DELAY.
  // PX4 has no GUIDED: it arms in Hold (AUTO.LOITER) and MISSION_START switches it to AUTO.MISSION.
  const groundMode = v.state.autopilot === 'px4' ? 'AUTO.LOITER' : 'GUIDED';
  const mode = await v.setMode(groundMode);
  if (!mode.ok || !(await waitFor(h, v, (s) => s.mode === groundMode, h.confirmTimeoutMs, id))) {
    if (!await h.stillActive(id)) return;
    await h.fail(id, vehicleLost(h, v) ? 'VEHICLE_LOST' : 'MODE_CHANGE_FAILED', `${groundMode} not confirmed (ack ${mode.result}, mode ${v.state.mode})`, { ack: mode, statusText: lastTexts(h, v) });
    return;
  }
  if (!await h.stillActive(id)) return;
  const arm = await v.arm(false);
  if (!arm.ok || !(await waitFor(h, v, (s) => s.armed, h.confirmTimeoutMs, id))) {
    if (!await h.stillActive(id)) return;
    await h.fail(id, vehicleLost(h, v) ? 'VEHICLE_LOST' : 'ARM_FAILED', `arming not confirmed (ack ${arm.result})`, { ack: arm, statusText: lastTexts(h, v) });
    return;
  }
  timing?.('arm');
  pauseAt('armed', { deliveryId: id });
  exec.launchAltRelM = v.state.position?.altRelM ?? 0;
  const flightId = `F${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
  await h.store.insertFlight({ id: flightId, deliveryId: id, vehicleId: v.id, summary: { launch: v.state.position } });
  await h.event(id, 'armed', { ack: ackSummary(arm), flightId }, { flightId, execution: exec } as Partial<Delivery>);
  for (const rid of riderIds(await h.store.getDelivery(id))) await h.event(rid, 'armed', { ack: ackSummary(arm), flightId, sortie: id }, { flightId });
  h.startTracker(id, flightId, v.id, false);
  try {
    await h.opts.recorder?.start(v.id, flightId);
  } catch (e) {
    h.log.warn({ err: e, flightId }, 'flight recorder did not start');
  }
  if (!await h.stillActive(id)) return;
  let start = await v.missionStart();
  // PX4 validates an uploaded mission in the background; until then MISSION_START is DENIED ("Mission
  // start denied! No valid mission"). Ask again for a few seconds (well within its COM_DISARM_PRFLT).
  for (const until = Date.now() + 5000; v.state.autopilot === 'px4' && !start.ok && start.result === 'DENIED' && Date.now() < until && await h.stillActive(id); ) {
    await sleep(250);
    start = await v.missionStart();
  }
  await h.event(id, 'mission-start', { ack: ackSummary(start) });
  if (!start.ok) {
    // Name the failure first: the disarm that follows ends the flight record.
    await h.fail(id, vehicleLost(h, v) ? 'VEHICLE_LOST' : 'MISSION_START_FAILED', `MISSION_START ${start.result}`, { ack: start, statusText: lastTexts(h, v) });
    await v.disarm(false).catch(() => undefined);
    return;
  }
  const base = exec.launchAltRelM;
  const climbed = await waitFor(h, v, (s) => s.armed && !!s.position && s.position.altRelM - base >= policy.climbConfirmM, policy.climbTimeoutMs, id);
  if (!await h.stillActive(id)) return;
  if (!climbed) {
    const s = v.state;
    await h.fail(id, vehicleLost(h, v) ? 'VEHICLE_LOST' : 'CLIMB_NOT_CONFIRMED', `no climb of ${policy.climbConfirmM} m seen within ${policy.climbTimeoutMs} ms of MISSION_START (armed ${s.armed}, mode ${s.mode}, altRelM ${s.position?.altRelM?.toFixed(1)})`, {
      statusText: lastTexts(h, v),
    });
    if (s.armed && (s.position?.altRelM ?? 0) - base < 0.5) await v.disarm(false).catch(() => undefined);
    return;
  }
  timing?.('takeoff');
  const s = v.state;
  await h.transition(id, 'in-flight', { altRelM: s.position?.altRelM, climbMps: s.climbMps, mode: s.mode });
}

export function ackSummary(r: CommandResult) {
  return { result: r.result, command: r.command, attempts: r.attempts, elapsedMs: r.elapsedMs };
}


/** A planner's refusal to plan now (an error with a string code and an HTTP status) as a Result, or null. */
export function plannerRefusal(e: unknown): Extract<Result<never>, { ok: false }> | null {
  const x = e as { code?: unknown; status?: unknown; message?: unknown; retryAfterS?: unknown; details?: unknown } | null;
  if (!x || typeof x.code !== 'string' || typeof x.status !== 'number') return null;
  return {
    ok: false,
    code: x.code,
    message: String(x.message ?? x.code),
    status: x.status,
    ...(typeof x.retryAfterS === 'number' ? { retryAfterS: x.retryAfterS } : {}),
    ...(x.details !== undefined ? { details: x.details } : {}),
  };
}

/** A sortie being dispatched: each job's execution and the bays. */
export interface Together {
  execs: Map<string, Execution>;
  sortie: NonNullable<Delivery['sortie']>;
}

/**
 * Dispatch the job with others in one flight (src/delivery/sortie.ts): the jobs checked as for a
 * dispatch of each, one plan from the vehicle through every drop (shortest order, parcel k in bay k),
 * no promise a single flight would keep broken, the preflight of that plan, then the launch as for
 * one job. A sortie does not wait for a warming-up vehicle: the refusal names the checks.
 */
export async function dispatchSortie(h: DispatchHost, id: string, vehicleId: string, withIds: string[], user: AuthUser | null, timing?: (phase: string) => void): Promise<Result<Delivery>> {
  const d = await h.store.getDelivery(id);
  if (!d) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
  const riders = await Promise.all(withIds.map((r) => h.store.getDelivery(r)));
  const { policy, version } = await h.currentPolicy();
  const busy = await h.activeJobFor(vehicleId);
  const ids = [id, ...withIds];
  if (d.state !== 'planned' && d.state !== 'approved')
    return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} is ${d.state}; only planned or approved jobs can be dispatched`, status: 409 };
  if (d.state === 'planned' && needsApproval(policy, d.priority))
    return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} needs a supervisor's approval (policy version ${version})`, status: 409 };
  const v = h.fleet.get(vehicleId);
  if (!v) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `no vehicle ${vehicleId}`, status: 404 };
  const refusal = sortieRefusal(d, riders, withIds, { id: v.id, autopilot: v.state.autopilot, parcelOutputs: policy.vehicle.parcelOutputsArdupilot }, (x) => needsApproval(policy, x.priority));
  if (refusal) return refusal;
  if (vehicleId.startsWith('replay-')) return { ok: false, code: 'INVALID_STATE', message: `${vehicleId} is a replay and cannot fly`, status: 409 };
  if (h.reserved.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is being dispatched for another job`, status: 409 };
  if (h.held.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is busy: ${h.held.get(vehicleId)}`, status: 409 };
  if (busy || h.trackers.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is busy${busy ? ` with ${busy.id}` : ' (a flight is still being tracked)'}`, status: 409 };
  const running = ids.find((x) => h.running.has(x));
  if (running) return { ok: false, code: 'CONFLICT', message: `delivery ${running} is already being dispatched`, status: 409 };
  for (const x of ids) if (!(await h.store.leases.tryTake(x))) return { ok: false, code: 'CONFLICT', message: `delivery ${x} is already being dispatched (by another node)`, status: 409 };
  if (ids.some((x) => h.running.has(x)) || h.reserved.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `a job of the sortie or ${vehicleId} was dispatched meanwhile`, status: 409 };
  for (const x of ids) h.running.add(x);
  h.reserved.add(vehicleId);
  let begun = false;
  try {
    const jobs = [d, ...(riders as Delivery[])];
    const cap = await knownFenceCapacity(h.store, v, policy.vehicle);
    const at = v.state.home ?? v.state.position;
    const request = { ...sortieRequest(d, jobs.slice(1), policy.vehicle.parcelOutputsArdupilot), fenceCapacity: cap.items, ...(at ? { launch: [at.lon, at.lat] } : {}) };
    const zv = await h.store.latestZones();
    const planAt = async (req: Record<string, unknown>) => {
      try {
        return await h.planDelivery(zv && { version: zv.version, json: zv.zonesJson }, req);
      } catch (e) {
        const refused = plannerRefusal(e);
        if (refused) throw Object.assign(new Error(refused.message), refused);
        return { ok: false, error: { code: 'PLANNER_ERROR', message: (e as Error).message } };
      }
    };
    let p: any;
    try {
      p = await planAt(request);
    } catch (e) {
      return plannerRefusal(e) ?? { ok: false, code: 'PLAN_FAILED', message: (e as Error).message, status: 422 };
    }
    if (!p?.ok) {
      await h.event(id, 'sortie-refused', { vehicleId, jobs: ids, code: p?.error?.code, message: p?.error?.message });
      if (p?.error?.code === 'FENCE_CAPACITY') {
        const { details, message } = fenceCapacityRefusal(v.id, cap, p.error);
        return { ok: false, code: 'FENCE_CAPACITY', message, details, status: 409 };
      }
      return { ok: false, code: 'PLAN_FAILED', message: `cannot plan ${ids.join(' + ')} as one flight from ${v.id}: ${p?.error?.message ?? 'planner failed'}`, details: p?.error, status: 422 };
    }
    const slotted = await planInSlot(h.airspace, { id, drop: d.drop, planRequest: request }, p, policy, planAt, h.airNowS);
    if (!slotted.ok) {
      await h.event(id, 'airspace-refused', { vehicleId, code: slotted.code, message: slotted.message });
      return slotted;
    }
    const plan = slotted.plan as PlanForFlight & { drops?: any[]; dropOrder?: number[] };
    const fitted = sortieExecutions(plan, ids);
    if (!fitted) return { ok: false, code: 'PLAN_FAILED', message: `the sortie's plan does not name a release for every job of ${ids.join(' + ')}`, status: 422 };
    if ((plan.fence ?? []).length > cap.items) {
      const details = { vehicleId: v.id, capacity: cap.items, count: plan.fence.length, source: cap.source };
      await h.event(id, 'fence-capacity-refused', details);
      return { ok: false, code: 'FENCE_CAPACITY', message: `the sortie's fence has ${plan.fence.length} items but ${v.id} stores ${cap.items}`, details, status: 409 };
    }
    // No promise that a single flight would keep is broken by flying together.
    const etaS = new Map(ids.map((x, k) => [x, (plan.drops ?? []).find((y: any) => y.index === k)?.etaS ?? 0] as [string, number]));
    const aloneS = new Map(jobs.map((x) => [x.id, aloneToDropS(x.plan)] as [string, number]));
    const late = promisesBroken(jobs, etaS, aloneS, Date.now() + (slotted.slot ? Math.max(0, slotted.slot.holdS) * 1000 : 0), h.opts.vehicleClockRate ?? 1);
    if (late.length > 0) {
      await h.event(id, 'sortie-refused', { vehicleId, jobs: ids, code: 'SORTIE_LATE', late });
      return { ok: false, code: 'SORTIE_LATE', message: `flying together would make ${late.map((x) => `${x.deliveryId} late by ${Math.ceil(x.lateByS / 60)} min`).join(', ')}, which flown alone would be on time`, details: { late }, status: 409 };
    }
    timing?.('plan');
    const report = await runPreflight({ vehicle: v, plan, policy, policyVersion: version });
    timing?.('preflight');
    if (!report.ok) return await refuse(h, id, vehicleId, report, { sortie: ids });
    const flown: Partial<Delivery> = { plan, planRequest: slotted.request ?? request, ...(slotted.slot ? { airspace: slotted.slot } : {}) };
    const r = await begin(h, id, v, plan, flown, report, policy, user, timing, { execs: fitted.execs, sortie: fitted.sortie });
    begun = r.ok;
    return r;
  } finally {
    // The lead's launch owns its own mark from here; the riders are committed (uploading) or untouched.
    for (const x of withIds) h.running.delete(x);
    if (!begun) h.running.delete(id);
    h.reserved.delete(vehicleId);
  }
}
