/**
 * Airspace for the dispatcher: the policy (cruise layers, separations, tolerances), the record a job
 * keeps of the slot it was given (layer, hold, lift-off time), and the strategic deconfliction of a
 * job against every flight already planned or airborne (planner/deconflict.ts).
 *
 * Reservations: a job's slot is decided synchronously (no await between reading the active flights
 * and reserving), kept as pending until the job stores it (`uploading` carries `airspace`), so two
 * dispatches at once never take the same slot. A pending slot expires after `pendingTtlS` (a dispatch
 * refused by the preflight); an expired or stale slot only ever over-constrains.
 */
import { z } from 'zod';
import { deconflict, DEFAULT_DECONFLICT, type ActiveFlight, type DeconflictOptions, type FlightPath } from '../../planner/deconflict';
import type { Delivery } from './types';
import { SeparationPolicySchema } from './separation';
import { TrafficPolicySchema } from './traffic';

export const AirspacePolicySchema = z
  .object({
    /** Plan each dispatched flight clear of the flights already planned or airborne (default true). */
    deconflict: z.boolean().default(true),
    /**
     * Cruise layers above launch, m, in order of preference (default 60, 45, 75: the delivery
     * profile's cruise altitude first, so an uncongested flight keeps the plan it was given and costs
     * no planning at dispatch; 15 m apart keeps 10 m of separation with 2 m altitude tolerance).
     */
    layersM: z.array(z.number().min(5).max(500)).min(1).max(10).default([60, 45, 75]),
    /** Highest altitude a flight may reach, m (default: the vehicle profile's fence altitude limit less 10 m). */
    ceilingM: z.number().positive().max(1000).optional(),
    /** Horizontal separation between flights' volumes, m (default 50). */
    horizontalSepM: z.number().min(0).max(5000).default(DEFAULT_DECONFLICT.horizontalSepM),
    /** Vertical separation between flights' volumes, m (default 10). */
    verticalSepM: z.number().min(0).max(500).default(DEFAULT_DECONFLICT.verticalSepM),
    /** A vehicle's position error around its track, m (default 10). */
    positionToleranceM: z.number().min(0).max(500).default(DEFAULT_DECONFLICT.positionToleranceM),
    /** A vehicle's altitude error around its planned altitude, m (default 2). */
    altitudeToleranceM: z.number().min(0).max(100).default(DEFAULT_DECONFLICT.altitudeToleranceM),
    /** A vehicle flies between (1 − x) and (1 + x) × its planned speed (default 0.15). */
    speedTolerance: z.number().min(0).max(0.9).default(DEFAULT_DECONFLICT.speedTolerance),
    /** Lift-off may come this late after the slot's time, s (default 30); later, the slot is decided again. */
    launchSlackS: z.number().min(0).max(600).default(DEFAULT_DECONFLICT.launchSlackS),
    /** Longest timed hold at launch offered, s (default 1800); longer → AIRSPACE_FULL. */
    maxHoldS: z.number().min(0).max(86_400).default(DEFAULT_DECONFLICT.maxHoldS),
    /** Tactical separation while flying (src/delivery/separation.ts). Default: every field's default. */
    separation: SeparationPolicySchema.prefault({}),
    /** Manned aircraft heard over ADS-B (src/delivery/traffic.ts). Default: every field's default. */
    traffic: TrafficPolicySchema.prefault({}),
  })
  .strict();
export type AirspacePolicy = z.infer<typeof AirspacePolicySchema>;

/** The slot a job was given, kept in its document. */
export interface AirspaceSlot {
  method: 'clear' | 'layer' | 'hold';
  layerM: number;
  holdS: number;
  /** Lift-off not before, Unix seconds. */
  launchAtS: number;
  /** Flights the first layer at the requested time would have crossed. */
  avoided: string[];
  reason: string;
  decidedAt: string;
  options: DeconflictOptions;
}

export type SlotResult = { ok: true; slot: AirspaceSlot } | { ok: false; code: 'AIRSPACE_FULL' | 'AIRSPACE_NO_LAYER'; message: string; details: Record<string, unknown> };

export function deconflictOptions(policy: AirspacePolicy, fenceAltMaxM: number): DeconflictOptions {
  const { deconflict: _d, separation: _s, traffic: _t, ceilingM, ...rest } = policy;
  return { ...rest, layersM: [...policy.layersM], ceilingM: ceilingM ?? fenceAltMaxM - 10 };
}

/** The path of a stored plan (PlanOk), or null when it has no legs. */
export function pathOf(plan: unknown): (FlightPath & { dropAltM?: number; launch?: { lon: number; lat: number } }) | null {
  const p = plan as { legs?: FlightPath['legs']; cruiseAltM?: number; dropAltM?: number; launch?: { lon: number; lat: number } } | undefined;
  if (!p || !Array.isArray(p.legs) || p.legs.length === 0 || typeof p.cruiseAltM !== 'number') return null;
  return { legs: p.legs, cruiseAltM: p.cruiseAltM, dropAltM: p.dropAltM, launch: p.launch };
}

export class Airspace {
  private readonly pending = new Map<string, { flight: ActiveFlight; expiresAtS: number }>();

  /**
   * `committed`: the jobs with a vehicle committed (their stored slots are the active flights);
   * `dispatching`: whether a job is still being dispatched (a pending slot of a job that is not —
   * refused, aborted — is dropped).
   */
  /** The committed jobs as last read from the store (refresh() before deciding). */
  private snapshot: Delivery[] = [];

  constructor(private readonly committed: () => Promise<Delivery[]>, private readonly dispatching: (id: string) => boolean = () => true, private readonly pendingTtlS = 120) {}

  /** Read the committed jobs again; call right before decide() (pending slots of this process are kept in memory). */
  async refresh(): Promise<void> {
    this.snapshot = await this.committed();
  }

  /** Flights already planned or airborne: stored slots of committed jobs, and pending slots not yet stored. */
  active(exceptId: string, nowS: number): ActiveFlight[] {
    const out = new Map<string, ActiveFlight>();
    for (const d of this.snapshot) {
      const slot = d.airspace;
      const path = pathOf(d.plan);
      if (!slot || !path || d.id === exceptId) continue;
      out.set(d.id, { id: d.id, path, layerM: slot.layerM, launchAtS: slot.launchAtS, options: slot.options });
    }
    for (const [id, p] of this.pending) {
      if (p.expiresAtS < nowS || !this.dispatching(id)) this.pending.delete(id);
      else if (id !== exceptId && !out.has(id)) out.set(id, p.flight);
    }
    return [...out.values()];
  }

  /**
   * Decide a slot for a job's flight lifting off not before `nowS`, and reserve it. `plans`: the
   * job's plan at each cruise layer it may fly (a plan whose cruise altitude is not the layer is
   * flown at the layer). Synchronous: nothing else decides between reading the active flights and
   * reserving.
   */
  decide(id: string, plans: ReadonlyArray<{ layerM: number; plan: unknown }>, opts: DeconflictOptions, nowS: number): SlotResult & { plan?: unknown } {
    const paths = new Map<number, NonNullable<ReturnType<typeof pathOf>>>();
    for (const { layerM, plan } of plans) {
      const p = pathOf(plan);
      // Layers below the drop altitude would turn the descent to the drop into a climb.
      if (p && (p.dropAltM === undefined || layerM >= p.dropAltM)) paths.set(layerM, p);
    }
    const first = paths.values().next().value;
    if (!first) return { ok: false, code: 'AIRSPACE_NO_LAYER', message: 'no plan at any cruise layer to deconflict', details: { layersM: plans.map((p) => p.layerM) } };
    const options = { ...opts, layersM: [...paths.keys()] };
    const origin: [number, number] | undefined = first.launch ? [first.launch.lon, first.launch.lat] : undefined;
    const r = deconflict({ id, path: first, pathAt: (l) => paths.get(l) ?? null, launchAtS: nowS, active: this.active(id, nowS), options, origin });
    if (!r.ok) return r;
    const path = paths.get(r.layerM)!;
    const slot: AirspaceSlot = { method: r.method, layerM: r.layerM, holdS: r.holdS, launchAtS: r.launchAtS, avoided: r.avoided, reason: r.reason, decidedAt: new Date(nowS * 1000).toISOString(), options };
    this.pending.set(id, { flight: { id, path, layerM: r.layerM, launchAtS: r.launchAtS, options }, expiresAtS: Math.max(nowS + this.pendingTtlS, r.launchAtS + (options.launchSlackS ?? DEFAULT_DECONFLICT.launchSlackS)) });
    return { ok: true, slot, plan: plans.find((p) => p.layerM === r.layerM)!.plan };
  }

  /** The job stored its slot, or gave it up. */
  release(id: string): void {
    this.pending.delete(id);
  }
}

/** The planner request for a job's flight at a cruise layer. */
export function requestAtLayer(request: Record<string, unknown>, layerM: number): Record<string, unknown> {
  const profile = (request.profile && typeof request.profile === 'object' ? request.profile : {}) as Record<string, unknown>;
  return { ...request, profile: { ...profile, cruiseAltM: layerM } };
}

export type Refusal = { ok: false; code: string; message: string; details?: unknown; status: number };

/**
 * Decide the slot of a job's flight and give the plan that flies it: the job's plan at every cruise
 * layer (the plan as it is for a layer equal to its cruise altitude, else planned again at that layer
 * with `planAt`, all at once), then one synchronous decision over them. Without deconfliction in the
 * policy: the plan as it is, no slot.
 */
export async function planInSlot(
  airspace: Airspace,
  d: Pick<Delivery, 'id' | 'drop' | 'planRequest'>,
  plan: any,
  policy: { airspace: AirspacePolicy; vehicle: { fenceAltMaxM: number } },
  planAt: (request: Record<string, unknown>) => Promise<any>,
  nowS: () => number,
): Promise<{ ok: true; plan: any; slot?: AirspaceSlot; request?: Record<string, unknown> } | Refusal> {
  if (!policy.airspace.deconflict) return { ok: true, plan };
  const opts = deconflictOptions(policy.airspace, policy.vehicle.fenceAltMaxM);
  const layers = (opts.layersM ?? DEFAULT_DECONFLICT.layersM).filter((l) => typeof plan?.dropAltM !== 'number' || l >= plan.dropAltM);
  // The plan as it is, when its cruise altitude is a layer and that layer is clear now: no planning.
  if (layers.some((l) => Math.abs(l - plan?.cruiseAltM) < 1e-6)) {
    await airspace.refresh();
    const r = airspace.decide(d.id, [{ layerM: plan.cruiseAltM, plan }], { ...opts, layersM: [plan.cruiseAltM] }, nowS());
    if (r.ok && r.slot.holdS === 0) return { ok: true, plan, slot: r.slot };
  }
  const base = d.planRequest ?? { drop: d.drop };
  const planned = await Promise.all(
    layers.map(async (layerM) => {
      if (Math.abs(layerM - plan.cruiseAltM) < 1e-6) return { layerM, plan, request: undefined };
      const request = requestAtLayer(base, layerM);
      try {
        return { layerM, plan: await planAt(request), request };
      } catch (e) {
        return { layerM, plan: { ok: false, error: { code: (e as { code?: string }).code ?? 'PLANNER_ERROR', message: (e as Error).message } }, request };
      }
    }),
  );
  const usable = planned.filter((p) => p.plan?.ok);
  if (usable.length === 0) {
    const err = planned[0]?.plan?.error;
    return { ok: false, code: 'PLAN_FAILED', message: `cannot plan at any cruise layer (${layers.join('/')} m): ${err?.message ?? 'no layer at or above the drop altitude'}`, details: err, status: 422 };
  }
  await airspace.refresh();
  const r = airspace.decide(d.id, usable, opts, nowS());
  if (!r.ok) return { ...r, status: 409 };
  const chosen = usable.find((p) => p.layerM === r.slot.layerM)!;
  return { ok: true, plan: chosen.plan, slot: r.slot, ...(chosen.request ? { request: chosen.request } : {}) };
}

/**
 * Before lift-off: wait for the slot's time (a timed hold at launch), then make sure lift-off still
 * falls within the slot (its launch slack less `armBudgetS` for mode, arming and MISSION_START); when
 * it does not (a slow upload), decide the slot again on the same layer (the uploaded mission flies it)
 * and wait for the new time. Resolves to the slot to fly, or a refusal (AIRSPACE_FULL), or null when
 * the job stopped meanwhile.
 */
export async function waitForSlot(
  airspace: Airspace,
  id: string,
  slot: AirspaceSlot,
  plan: unknown,
  hooks: { stillActive(): Promise<boolean>; onHold(slot: AirspaceSlot, waitS: number): unknown; onMoved(slot: AirspaceSlot, previous: AirspaceSlot): unknown; nowS(): number; sleep(ms: number): Promise<void> },
  armBudgetS = 15,
): Promise<{ ok: true; slot: AirspaceSlot } | Refusal | null> {
  let current = slot;
  let told = false;
  for (;;) {
    if (!(await hooks.stillActive())) return null;
    const now = hooks.nowS();
    if (now < current.launchAtS) {
      if (!told) await hooks.onHold(current, current.launchAtS - now);
      told = true;
      await hooks.sleep(Math.min(1000, (current.launchAtS - now) * 1000));
      continue;
    }
    const slackS = current.options.launchSlackS ?? DEFAULT_DECONFLICT.launchSlackS;
    if (now <= current.launchAtS + Math.max(0, slackS - armBudgetS)) return { ok: true, slot: current };
    await airspace.refresh();
    const r = airspace.decide(id, [{ layerM: current.layerM, plan }], { ...current.options, layersM: [current.layerM] }, hooks.nowS());
    if (!r.ok) return { ...r, status: 409 };
    await hooks.onMoved(r.slot, current);
    if (r.slot.holdS === 0) return { ok: true, slot: r.slot }; // decided at this instant: lift-off follows
    current = r.slot;
    told = false;
  }
}
