/**
 * Continuity across restarts and nodes: resuming the flights recorded as active, taking over jobs
 * nobody runs (leases in the store: exactly one node runs each job), giving back leases of jobs this
 * node no longer runs, and letting go of flights whose lease was lost with the database connection.
 * The gap while nobody followed a job is recorded on it (src/delivery/link-gap.ts). Reached from
 * DeliveryManager through a ContinuityHost.
 */
import type { Store } from '../store';
import { continueOnGround } from './takeover';
import { openGap, takeOverReason, takenUpBy, type LinkGap } from './link-gap';
import { isRider } from './sortie';
import type { Tracker } from './tracker';
import type { Alert, Delivery } from './types';
import type { FlightRecorderApi } from './index';

/** How long a lost lease is remembered for telling a job taken back from one taken over (src/delivery/link-gap.ts takeOverReason). */
export const LEASE_LOSS_MEMORY_MS = 3_600_000;

/** What continuity needs of the delivery manager. */
export interface ContinuityHost {
  store: Store;
  log: { warn(obj: unknown, msg?: string): void; error(obj: unknown, msg?: string): void };
  opts: { recorder?: FlightRecorderApi | null; node?: string };
  trackers: Map<string, Tracker>;
  docCache: Map<string, Delivery>;
  running: Set<string>;
  endingFlights: Map<string, string>;
  leaseLostAtMs: Map<string, number>;
  takeoverHost: Parameters<typeof continueOnGround>[0];
  isClosed(): boolean;
  startTracker(deliveryId: string, flightId: string, vehicleId: string, resumed: boolean): Tracker;
  openGap(t: Tracker, deliveryId: string, gap: LinkGap): Promise<void>;
  alert(level: Alert['level'], text: string, ids?: { vehicleId?: string; deliveryId?: string }): void;
  event(id: string, event: string, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  fail(id: string, code: string, message: string, details?: unknown): Promise<Delivery | null>;
}

/** Resume following every flight recorded as active (after a restart). Returns their ids. */
export async function resume(h: ContinuityHost): Promise<string[]> {
  const out: string[] = [];
  for (const f of await h.store.activeFlights()) {
    if (h.trackers.has(f.vehicleId) || h.endingFlights.has(f.id)) continue;
    // A job still on the ground (its flight row written at the arming): taken over below.
    const job = f.deliveryId ? await h.store.getDelivery(f.deliveryId) : undefined;
    if (job && (job.state === 'uploading' || job.state === 'ready') && !h.running.has(job.id)) continue;
    const leaseId = f.deliveryId || `flight:${f.id}`;
    if (!(await adopt(h, leaseId))) continue; // another node follows it
    const lostAtMs = leaseRegained(h, leaseId);
    const t = h.startTracker(f.deliveryId ?? '', f.id, f.vehicleId, true);
    // Nothing was heard from the vehicle while nobody followed it (the service was down, or this
    // node had lost its lease): a gap from the job's last committed entry (read before this resume
    // adds its own) until the vehicle is heard again.
    const d = f.deliveryId ? await h.store.getDelivery(f.deliveryId) : undefined;
    const gap = d ? openGap(d.timeline, takeOverReason(d.timeline, lostAtMs)) : null;
    if (f.deliveryId) await h.event(f.deliveryId, 'tracking-resumed', { flightId: f.id, vehicleId: f.vehicleId, ...takenUpBy(h.opts.node) });
    if (d && gap) await h.openGap(t, d.id, gap); // a finished job's flight too: its vehicle is still followed
    h.alert('info', `Resumed tracking flight ${f.id} on ${f.vehicleId}`, { vehicleId: f.vehicleId, deliveryId: f.deliveryId ?? undefined });
    out.push(f.id);
  }
  // A wait for a warming-up vehicle ended with the process: the job stays dispatchable.
  for (const d of await h.store.deliveriesInStates(['planned', 'approved'])) {
    if (d.waiting && (await adopt(h, d.id))) await h.event(d.id, 'waiting-ended', { vehicleId: d.waiting.vehicleId, reason: 'the service restarted; dispatch again' }, { waiting: undefined });
  }
  // Jobs interrupted on the ground between preflight and launch: continued from what the vehicle holds (src/delivery/takeover.ts).
  for (const d of await h.store.deliveriesInStates(['uploading', 'ready'])) {
    if (h.trackers.has(d.vehicleId ?? '') || h.running.has(d.id)) continue;
    if (isRider(d)) continue; // moved with its lead's take-over
    if (!(await adopt(h, d.id))) continue;
    const lostAtMs = leaseRegained(h, d.id);
    h.running.add(d.id);
    void continueOnGround(h.takeoverHost, d, lostAtMs)
      .catch(async (e) => {
        if (h.isClosed()) return;
        h.log.error({ err: e, deliveryId: d.id }, 'take-over of a job on the ground crashed');
        await h.fail(d.id, 'INTERNAL', (e as Error).message);
      })
      .finally(() => h.running.delete(d.id));
  }
  return out;
}

/**
 * Take the lease of a job this node does not run yet (its node died, or this one restarted). False
 * when it runs here already or another node holds it.
 */
export async function adopt(h: ContinuityHost, leaseId: string): Promise<boolean> {
  if (h.running.has(leaseId) || h.store.leases.holds(leaseId)) return false;
  return h.store.leases.tryTake(leaseId);
}

/**
 * A lease just taken: when this node had lost it with the database connection (then forgotten),
 * or undefined when it had not. Says whether the job is taken back rather than taken over.
 */
export function leaseRegained(h: ContinuityHost, leaseId: string): number | undefined {
  const at = h.leaseLostAtMs.get(leaseId);
  h.leaseLostAtMs.delete(leaseId);
  return at;
}

/** Nodes sharing a store: give back the leases of jobs this node no longer runs, take over those nobody runs. */
export async function balanceLeases(h: ContinuityHost): Promise<void> {
  // Leases lost long ago that this node never took back (another node runs those jobs): forgotten.
  for (const [id, at] of h.leaseLostAtMs) if (Date.now() - at > LEASE_LOSS_MEMORY_MS) h.leaseLostAtMs.delete(id);
  const following = new Set([...h.trackers.values()].map((t) => t.deliveryId || `flight:${t.flightId}`).concat([...h.endingFlights.values()]));
  for (const id of h.store.leases.held()) if (!h.running.has(id) && !following.has(id)) await h.store.leases.release(id);
  if (h.store.kind !== 'postgres' || h.isClosed()) return;
  for (const flightId of await resume(h)) {
    const f = await h.store.getFlight(flightId);
    try {
      if (f) await h.opts.recorder?.start(f.vehicleId, f.id);
    } catch (e) {
      h.log.warn({ err: e, flightId }, 'flight recorder did not start');
    }
  }
}

/** The leases' database connection broke: this node may no longer follow those jobs (another node may already). */
export function leasesLost(h: ContinuityHost, ids: string[]): void {
  const now = Date.now();
  for (const id of ids) h.leaseLostAtMs.set(id, now);
  for (const t of [...h.trackers.values()]) {
    if (!ids.includes(t.deliveryId || `flight:${t.flightId}`)) continue;
    h.trackers.delete(t.vehicleId);
    h.docCache.delete(t.deliveryId);
    h.alert('critical', `Stopped following flight ${t.flightId} on ${t.vehicleId}: this node lost its lease (database connection)`, { vehicleId: t.vehicleId, deliveryId: t.deliveryId || undefined });
  }
}
