/**
 * Sorties: several queued jobs flown in one flight, each parcel in its own bay (a release output
 * driven by DO_SET_SERVO) and dropped at its own point, each with its own proof of drop.
 *
 * The job dispatched is the lead: it holds the flight (its plan is the sortie's, its dispatcher,
 * flight row and tracker are the flight's). The others ride with it: from the dispatch on they carry
 * the same vehicle, plan and flight, their own release item (execution), and follow the lead's
 * states until their own drop — uploading, ready and in-flight with it, failed or aborted with it
 * while their parcel is still aboard — then go delivered at their own release and completed when the
 * vehicle is down, like any job. Pure helpers here; the state changes are DeliveryManager's.
 */
import type { Execution } from './tracker';
import type { Delivery, Sortie } from './types';

/** At most this many jobs in one flight (the planner's MAX_STOPS + 1). */
export const MAX_SORTIE_JOBS = 4;

type Refusal = { ok: false; code: string; message: string; status: number; details?: unknown };

/** The riders of a sortie's lead (none for a job flown alone or for a rider). */
export function riderIds(d: Pick<Delivery, 'id' | 'sortie'> | undefined | null): string[] {
  return d?.sortie && d.sortie.lead === d.id ? d.sortie.jobs.filter((j) => j !== d.id) : [];
}

/** A rider: flown in another job's flight. */
export function isRider(d: Pick<Delivery, 'id' | 'sortie'> | undefined | null): boolean {
  return !!d?.sortie && d.sortie.lead !== d.id;
}

/**
 * Why these jobs cannot be flown with the lead on this vehicle, or null. The jobs must each be
 * dispatchable on their own (planned, or approved when the policy asks for it), of the same kind
 * (training or not) as the lead, and the vehicle must carry a parcel bay for each.
 */
export function sortieRefusal(
  lead: Delivery,
  riders: Array<Delivery | undefined>,
  withIds: string[],
  vehicle: { id: string; autopilot: string; parcelOutputs: number[] },
  needsApproval: (d: Delivery) => boolean,
): Refusal | null {
  if (new Set(withIds).size !== withIds.length || withIds.includes(lead.id))
    return { ok: false, code: 'SORTIE_INVALID', message: `a sortie names each job once, the dispatched job ${lead.id} not among "with"`, status: 400 };
  if (withIds.length + 1 > MAX_SORTIE_JOBS)
    return { ok: false, code: 'SORTIE_INVALID', message: `a sortie flies at most ${MAX_SORTIE_JOBS} jobs (${withIds.length + 1} given)`, status: 400 };
  for (let i = 0; i < withIds.length; i++) {
    const r = riders[i];
    if (!r) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${withIds[i]}`, status: 404 };
    if (r.state !== 'planned' && r.state !== 'approved')
      return { ok: false, code: 'INVALID_STATE', message: `delivery ${r.id} is ${r.state}; only planned or approved jobs can be flown together`, status: 409 };
    if (r.state === 'planned' && needsApproval(r)) return { ok: false, code: 'INVALID_STATE', message: `delivery ${r.id} needs a supervisor's approval`, status: 409 };
    if (r.waiting) return { ok: false, code: 'CONFLICT', message: `delivery ${r.id} is already dispatched to ${r.waiting.vehicleId} and waits for it`, status: 409 };
    if (!!r.training !== !!lead.training)
      return { ok: false, code: 'SORTIE_INVALID', message: `${r.id} is ${r.training ? 'a training job' : 'an operational job'} and ${lead.id} is not: they cannot fly together`, status: 409 };
  }
  const parcels = withIds.length + 1;
  if (vehicle.autopilot === 'px4')
    return { ok: false, code: 'MULTI_DROP_UNSUPPORTED', message: `${vehicle.id} is a PX4 vehicle: PX4 does not act on DO_SET_SERVO, so its parcels cannot be released one at a time`, status: 409, details: { parcels, parcelOutputs: [] } };
  if (vehicle.parcelOutputs.length < parcels)
    return {
      ok: false,
      code: 'MULTI_DROP_UNSUPPORTED',
      message: `${parcels} parcels need ${parcels} parcel bays; the vehicle profile names ${vehicle.parcelOutputs.length} (policy vehicle.parcelOutputsArdupilot)`,
      status: 409,
      details: { parcels, parcelOutputs: vehicle.parcelOutputs },
    };
  return null;
}

/**
 * The planner request of the sortie: the lead's request (its profile, wind, launch options) with
 * the riders' drops as stops, released by servo on the bays (parcel k on bay k), flown in the
 * shortest order.
 */
export function sortieRequest(lead: Delivery, riders: Delivery[], bays: number[]): Record<string, unknown> {
  const base = (lead.planRequest ?? { drop: lead.drop }) as Record<string, any>;
  const profile = { ...(base.profile ?? {}), releaseServos: bays.slice(0, riders.length + 1) };
  return {
    ...base,
    drop: lead.drop,
    stops: riders.map((r) => ({ drop: r.drop, massKg: r.payload?.massKg ?? 1, ref: r.id })),
    payload: { massKg: lead.payload?.massKg ?? 1, release: 'servo' },
    profile,
    options: { ...(base.options ?? {}), orderStops: 'shortest' },
  };
}

interface PlanDropLike {
  index: number;
  ref?: string;
  releaseSeq: number;
  holdSeq: number;
  servo: number;
  etaS: number;
}

/**
 * Each job's release item, hold over its drop and bay output, from the sortie plan's drops (request
 * index 0 is the lead, k the rider of stops[k − 1]). Null when the plan does not name every job.
 */
export function sortieExecutions(plan: { drops?: PlanDropLike[]; dropOrder?: number[] }, jobs: string[]): { execs: Map<string, Execution>; sortie: Sortie } | null {
  const drops = plan.drops ?? [];
  const execs = new Map<string, Execution>();
  const bays: Sortie['bays'] = [];
  for (let k = 0; k < jobs.length; k++) {
    const pos = drops.findIndex((x) => x.index === k);
    if (pos < 0) return null;
    const x = drops[pos];
    if (k > 0 && x.ref !== undefined && x.ref !== jobs[k]) return null;
    execs.set(jobs[k], { releaseSeq: x.releaseSeq, dropSeq: x.holdSeq, gripperServo: x.servo });
    bays.push({ deliveryId: jobs[k], output: x.servo, bay: k + 1, dropOrder: pos + 1 });
  }
  return { execs, sortie: { lead: jobs[0], jobs: [...jobs], bays } };
}

/**
 * Jobs the sortie would make late against their promise that flown alone would be on time: a
 * combined flight may not break a promise a single flight keeps. `aloneS`: each job's planned
 * seconds from take-off to its drop flown alone; `etaS`: in the sortie. Seconds are the vehicle's;
 * `clockRate` converts them to wall time (simulators may run faster).
 */
export function promisesBroken(
  jobs: Delivery[],
  sortieEtaS: Map<string, number>,
  aloneS: Map<string, number>,
  nowMs: number,
  clockRate = 1,
): Array<{ deliveryId: string; promiseBy: string; lateByS: number }> {
  const out: Array<{ deliveryId: string; promiseBy: string; lateByS: number }> = [];
  for (const d of jobs) {
    const by = Date.parse(d.promiseBy);
    const inSortie = nowMs + ((sortieEtaS.get(d.id) ?? 0) * 1000) / clockRate;
    const alone = nowMs + ((aloneS.get(d.id) ?? 0) * 1000) / clockRate;
    if (inSortie > by && alone <= by) out.push({ deliveryId: d.id, promiseBy: d.promiseBy, lateByS: Math.ceil((inSortie - by) / 1000) });
  }
  return out;
}

/** Planned seconds from take-off to the drop of a job's own single-drop plan (half its flight when it says no more). */
export function aloneToDropS(plan: unknown): number {
  const p = plan as { durationS?: number; pointOfNoReturn?: unknown } | undefined;
  return typeof p?.durationS === 'number' && Number.isFinite(p.durationS) ? p.durationS / 2 : 0;
}
