/**
 * Drop points checked against the zones when a catalogue is saved: the planner (in its worker
 * threads, never on the event loop) plans a delivery to each drop from the nearest launch site.
 * A drop passes when the plan succeeds (inside the operating area, outside every no-fly zone,
 * reachable with the energy reserve) and lies in a sealed zone.
 */
import type { DropCheck } from './db';
import type { Place } from './places';

export interface ZonesRef {
  version: number;
  json: string;
}

export type PlanFn = (zones: ZonesRef, request: { drop: [number, number] }) => Promise<any>;

/** At most this many drops are planned at once (the pool's queue is bounded). */
const CONCURRENCY = 4;

export async function checkDrops(places: Place[], zones: ZonesRef, plan: PlanFn): Promise<Record<string, DropCheck>> {
  const drops = places.filter((p): p is Place & { drop: [number, number] } => !!p.drop);
  const out: Record<string, DropCheck> = {};
  let next = 0;
  const worker = async () => {
    while (next < drops.length) {
      const p = drops[next++];
      out[p.id] = await checkDrop(p.drop, zones, plan);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, drops.length) }, worker));
  return out;
}

/**
 * One drop point against the zones, by the rules above (a catalogue place, or a point an operator
 * placed on the map for a request). `retryable`: the planner could not answer now (busy, timed
 * out), which is no verdict on the point.
 */
export async function checkDrop(drop: [number, number], zones: ZonesRef, plan: PlanFn): Promise<DropCheck & { retryable?: boolean }> {
  let r: any;
  try {
    r = await plan(zones, { drop });
  } catch (e) {
    const err = e as { code?: string; message?: string };
    // The planner could not answer now (busy, timed out): not a verdict on the place.
    return { ok: false, code: err.code ?? 'PLANNER_ERROR', message: String(err.message ?? e), retryable: true };
  }
  if (!r?.ok) return { ok: false, code: r?.error?.code ?? 'PLAN_FAILED', message: String(r?.error?.message ?? 'planning failed'), ...(r?.error?.details !== undefined ? { details: r.error.details } : {}) };
  const sealed = typeof r.drop?.sealedZone === 'string' ? r.drop.sealedZone : (r.drop?.sealedZone?.name ?? null);
  if (!sealed) return { ok: false, code: 'DROP_OUTSIDE_SEALED_ZONE', message: 'the drop point lies in no sealed zone', launch: r.launch?.name ?? null };
  return { ok: true, sealedZone: sealed, launch: r.launch?.name ?? null };
}
