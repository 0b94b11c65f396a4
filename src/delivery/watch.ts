/**
 * The flights' watch, every tick: a vehicle silent in flight (alert after 3 s, the gap recorded on
 * the job, VEHICLE_LOST after the policy's lostTimeoutMs), a job late against its promise, a
 * mission that stalls, a flight that ended without a state event after the disarm, and jobs still
 * queued past their promise. Leases are balanced once a second. Reached from DeliveryManager.
 */
import type { FleetHandle, VehicleState } from '../fleet/types';
import type { Store } from '../store';
import type { Policy } from './policy';
import type { Tracker } from './tracker';
import type { LinkGap } from './link-gap';
import { riderIds } from './sortie';
import { TERMINAL, VEHICLE_STATES, type Alert, type Delivery } from './types';

/** What the watch needs of the delivery manager. */
export interface WatchHost {
  store: Store;
  fleet: FleetHandle;
  trackers: Map<string, Tracker>;
  lateQueued: Set<string>;
  currentPolicy(): Promise<{ policy: Policy; version: number }>;
  setActiveJobs(jobs: Delivery[]): void;
  balanceLeasesDue(now: number): Promise<void>;
  alert(level: Alert['level'], text: string, ids?: { vehicleId?: string; deliveryId?: string }): void;
  event(id: string, event: string, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  fail(id: string, code: string, message: string, details?: unknown): Promise<Delivery | null>;
  openGap(t: Tracker, deliveryId: string, gap: LinkGap): Promise<void>;
  onVehicleState(s: VehicleState): void;
  queue(training?: boolean): Promise<Delivery[]>;
}

export async function watchFlights(h: WatchHost): Promise<void> {
  const now = Date.now();
  const { policy } = await h.currentPolicy();
  h.setActiveJobs(await h.store.deliveriesInStates([...VEHICLE_STATES]));
  await h.balanceLeasesDue(now);
  for (const t of [...h.trackers.values()]) {
    const v = h.fleet.get(t.vehicleId);
    const connected = !!v && v.state.connected && now - v.state.lastSeenMs < 5000;
    const d = t.deliveryId ? await h.store.getDelivery(t.deliveryId) : undefined;
    if (!connected) {
      t.lostSinceMs ??= now;
      if (!t.lostAlerted && now - t.lostSinceMs > 3000) {
        t.lostAlerted = true;
        h.alert('critical', `Link to ${t.vehicleId} lost in flight`, { vehicleId: t.vehicleId, deliveryId: d?.id });
        if (d && !t.gap) await h.openGap(t, d.id, { from: new Date(t.lostSinceMs).toISOString(), reason: 'link-lost' });
      }
      if (d && !TERMINAL.has(d.state) && now - t.lostSinceMs > policy.lostTimeoutMs)
        await h.fail(d.id, 'VEHICLE_LOST', `no message from ${t.vehicleId} for ${Math.round((now - t.lostSinceMs) / 1000)} s`);
      continue;
    }
    // each job aboard against its own promise (a sortie's riders too), once
    for (const j of d ? [d, ...(await Promise.all(riderIds(d).map((r) => h.store.getDelivery(r))))] : []) {
      if (!j || TERMINAL.has(j.state) || j.proofOfDrop || now <= Date.parse(j.promiseBy) || (t.lateAlerted && j.id === d!.id) || t.lateJobs?.has(j.id)) continue;
      if (j.id === d!.id) t.lateAlerted = true;
      else (t.lateJobs ??= new Set()).add(j.id);
      h.alert('warning', `Delivery ${j.id} is late against its promise (${j.promiseBy})`, { deliveryId: j.id, vehicleId: t.vehicleId });
      await h.event(j.id, 'late', { promiseBy: j.promiseBy });
    }
    if (d && d.state === 'in-flight' && !t.stallAlerted && now - t.lastProgressMs > 30000) {
      t.stallAlerted = true;
      h.alert('warning', `Mission on ${t.vehicleId} seems stalled at item ${t.lastMissionCurrent}`, { deliveryId: d.id, vehicleId: t.vehicleId });
    }
    // Catch the end of a flight even when no state event arrives after the disarm.
    if (v) h.onVehicleState(v.state);
  }
  // Jobs waiting in the queue past their promise.
  for (const d of [...(await h.queue()), ...(await h.queue(true))]) {
    if (now > Date.parse(d.promiseBy) && !h.lateQueued.has(d.id)) {
      h.lateQueued.add(d.id);
      h.alert('warning', `Delivery ${d.id} (${d.priority}) is still waiting and late against its promise`, { deliveryId: d.id });
    }
  }
}
