/**
 * A job's plan made for the vehicle that flies it: the planner is told how many fence items that
 * vehicle stores (measured at commissioning, else the airframe profile's figure), so a plan is
 * made within it instead of being refused when the fence is uploaded.
 */
import type { Autopilot } from '../fleet/types';
import type { FenceCapacity } from './commissioning';
import { profileFenceCapacity, type VehicleProfile } from './vehicle-profile';

/**
 * The fence storage a plan takes as the planner counts it (vertices, plus one item per four
 * polygons beyond the first: never less than its item count), or its item count for a plan
 * without that summary.
 */
export function fenceStorageOf(plan: unknown): number {
  const p = plan as { fenceSummary?: { storageItems?: unknown }; fence?: unknown[] } | null | undefined;
  const s = p?.fenceSummary?.storageItems;
  if (typeof s === 'number') return s;
  return Array.isArray(p?.fence) ? p!.fence!.length : 0;
}

/** The capacity to plan for before a vehicle is chosen: the airframe profile's, the smaller of its autopilots' figures. */
export function unknownVehicleFenceCapacity(profile: VehicleProfile): number {
  return profileFenceCapacity('other' satisfies Autopilot, profile);
}

/** Why the planner could not fit a fence into the vehicle (its FENCE_CAPACITY refusal), for the dispatcher's answer. */
export function fenceCapacityRefusal(vehicleId: string, cap: FenceCapacity, plannerError: { message?: string; details?: { itemsNeeded?: number | null } } | undefined) {
  const needed = plannerError?.details?.itemsNeeded ?? null;
  const details = { vehicleId, capacity: cap.items, count: needed, source: cap.source };
  const stores = `${vehicleId} stores ${cap.items} (${cap.source === 'measured' ? `measured ${cap.measuredAt}` : 'airframe profile'})`;
  const message = `no fence for this route fits the vehicle: the smallest needs ${needed === null ? 'more than that' : `at least ${needed} items`} but ${stores}`;
  return { details, message };
}
