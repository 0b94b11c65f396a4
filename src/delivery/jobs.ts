/**
 * A job's own life outside the flight: created (planned at once), approved, aborted (a vehicle
 * committed to it told to come home or land). The state machine and the store stay in
 * DeliveryManager (index.ts), reached through a JobsHost.
 */
import type { FleetHandle, CommandResult } from '../fleet/types';
import type { Store } from '../store';
import type { AuthUser } from '../auth';
import { readPolicy, needsApproval } from './policy';
import { unknownVehicleFenceCapacity } from './fence-fit';
import { ackSummary, plannerRefusal } from './dispatcher';
import { TERMINAL, VEHICLE_STATES, type Alert, type Delivery, type DeliveryState } from './types';
import type { CreateInput, PlanDeliveryFn, Result } from './index';

const nowIso = () => new Date().toISOString();

/** What creating, approving and aborting jobs needs of the delivery manager. */
export interface JobsHost {
  store: Store;
  fleet: FleetHandle;
  planDelivery: PlanDeliveryFn;
  isClosed(): boolean;
  alert(level: Alert['level'], text: string, ids?: { vehicleId?: string; deliveryId?: string }): void;
  event(id: string, event: string, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  transition(id: string, to: DeliveryState, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  fail(id: string, code: string, message: string, details?: unknown): Promise<Delivery | null>;
  get(id: string): Promise<Delivery | undefined>;
}

/**
 * Plan a request and record it. A plan failure leaves the job `failed` with PLAN_FAILED; a planner
 * that refuses to plan now (busy, timed out) records nothing and its refusal is the answer.
 */
export async function createJob(h: JobsHost, input: CreateInput, user: AuthUser | null): Promise<Result<Delivery>> {
  const zv = await h.store.latestZones();
  if (!zv) return { ok: false, code: 'INVALID_STATE', message: 'no zones configured', status: 409 };
  const policy = readPolicy(zv.policy);
  const createdAt = nowIso();
  // no vehicle chosen yet: plan the fence for what the airframe profile says a vehicle stores
  const request: Record<string, unknown> = { drop: input.drop, fenceCapacity: unknownVehicleFenceCapacity(policy.vehicle) };
  if (input.launch !== undefined) request.launch = input.launch;
  if (input.payload?.massKg !== undefined) request.payload = { massKg: input.payload.massKg };
  if (input.profile !== undefined) request.profile = input.profile;
  if (input.wind !== undefined) request.wind = input.wind;
  let plan: any;
  try {
    // The stored text, not parsed zones: a planner thread parses (and keeps) them.
    plan = await h.planDelivery({ version: zv.version, json: zv.zonesJson }, request);
  } catch (e) {
    const refused = plannerRefusal(e);
    if (refused) return refused;
    plan = { ok: false, error: { code: 'PLANNER_ERROR', message: (e as Error).message } };
  }
  if (h.isClosed()) return { ok: false, code: 'INVALID_STATE', message: 'the service is stopping', status: 503 };
  const priority = input.priority ?? 'normal';
  // The number is drawn and the job inserted in one transaction: concurrent requests never share one.
  const d = await h.store.tx(async (t) => {
    const seq = await t.nextDeliverySeq();
    const id = `D${String(seq).padStart(5, '0')}`;
    const d: Delivery = {
      id,
      state: 'requested',
      priority,
      drop: input.drop,
      launch: input.launch ?? null,
      payload: input.payload ?? { description: 'unspecified' },
      requester: input.requester ?? { name: user?.username ?? 'unknown' },
      note: input.note,
      createdAt,
      updatedAt: createdAt,
      promiseBy: new Date(Date.parse(createdAt) + policy.promiseMin * 60_000).toISOString(),
      createdBy: user?.username,
      ...(input.training ? { training: true } : {}),
      zonesVersion: zv.version,
      timeline: [],
    };
    await t.insertDelivery(d, seq, [{ at: createdAt, state: 'requested', detail: { by: user?.username ?? null, priority } }]);
    return d;
  });
  const id = d.id;
  if (!plan || !plan.ok) {
    const err = plan?.error ?? { code: 'PLANNER_ERROR', message: 'planner returned nothing' };
    const failed = await h.fail(id, 'PLAN_FAILED', err.message ?? 'planning failed', err);
    return { ok: false, code: 'PLAN_FAILED', message: err.message ?? 'planning failed', details: { planner: err, delivery: failed }, status: 422 };
  }
  const sealedZone = extractSealedZone(plan);
  const summary = { distanceM: plan.distanceM, durationS: plan.durationS, energyWh: plan.energyWh, reserveWh: plan.reserveWh, warnings: plan.warnings?.length ?? 0 };
  const planned = await h.transition(id, 'planned', summary, { plan, planRequest: request, sealedZone, launch: plan.launch ?? d.launch });
  if (!planned) return { ok: false, code: 'INVALID_STATE', message: 'job changed while planning', status: 409 };
  if (needsApproval(policy, priority)) await h.event(id, 'awaiting-approval', { policyVersion: zv.version });
  return { ok: true, value: (await h.get(id))! };
}

/** A supervisor's approval of a planned job. */
export async function approveJob(h: JobsHost, id: string, user: AuthUser): Promise<Result<Delivery>> {
  const d = await h.store.getDelivery(id);
  if (!d) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
  if (d.state !== 'planned') return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} is ${d.state}; only planned jobs can be approved`, status: 409 };
  const r = await h.transition(id, 'approved', { by: user.username }, { approvedBy: user.username });
  return r ? { ok: true, value: r } : { ok: false, code: 'INVALID_STATE', message: 'not approvable', status: 409 };
}

/** Abort a job. A vehicle committed to it is sent home (RTL) or, with `land`, lands where it is. */
export async function abortJob(h: JobsHost, id: string, reason: string, opts: { land?: boolean; user?: AuthUser | null } = {}): Promise<Result<{ delivery: Delivery; ack?: CommandResult }>> {
  const d = await h.store.getDelivery(id);
  if (!d) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
  if (TERMINAL.has(d.state)) return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} is already ${d.state}`, status: 409 };
  const vehicleCommitted = VEHICLE_STATES.has(d.state) && d.vehicleId;
  const r = await h.transition(id, 'aborted', { reason, by: opts.user?.username ?? null, action: vehicleCommitted ? (opts.land ? 'LAND' : 'RTL') : 'none' }, { abortReason: reason });
  if (!r) return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} cannot be aborted from ${d.state}`, status: 409 };
  // A sortie's flight comes home as a whole: every job of it whose parcel is still aboard is aborted with it.
  if (vehicleCommitted && d.sortie) {
    for (const other of d.sortie.jobs) {
      if (other === id) continue;
      const o = await h.store.getDelivery(other);
      if (!o || TERMINAL.has(o.state) || o.proofOfDrop) continue;
      const why = `${reason} (flown with ${id}: the flight returns)`;
      await h.transition(other, 'aborted', { reason: why, by: opts.user?.username ?? null, sortie: id }, { abortReason: why });
    }
  }
  let ack: CommandResult | undefined;
  if (vehicleCommitted) {
    const v = h.fleet.get(d.vehicleId!);
    const onGround = v && (v.state.landedState === 1 || (v.state.landedState === 0 && (v.state.position?.altRelM ?? 0) < 1));
    if (v && v.state.armed && onGround) {
      ack = await v.disarm(false);
      await h.event(id, 'disarm-commanded', { ack: ackSummary(ack), reason: 'aborted before take-off' });
    } else if (v && v.state.armed) {
      ack = opts.land ? await v.land() : await v.rtl();
      await h.event(id, opts.land ? 'land-commanded' : 'rtl-commanded', { ack: ackSummary(ack) });
    } else if (v && !v.state.armed) {
      ack = undefined;
      await h.event(id, 'abort-on-ground', { armed: false });
    }
  }
  h.alert('warning', `Delivery ${id} aborted: ${reason}`, { deliveryId: id, vehicleId: d.vehicleId });
  return { ok: true, value: { delivery: (await h.get(id))!, ack } };
}

/** The sealed zone the planner placed the drop in, if it says. */
function extractSealedZone(plan: any): Delivery['sealedZone'] {
  const cand = plan?.drop?.sealedZone ?? plan?.drop?.zone ?? plan?.sealedZone ?? null;
  if (!cand) return null;
  if (typeof cand === 'string') return { name: cand };
  return { id: cand.id ?? cand.index, name: cand.name };
}
