/**
 * Which vehicle should fly a new job: every vehicle the console sees, with why it cannot go now (link,
 * job, in the air, battery under the policy's minimum, no GPS fix) and its distance to the drop; the
 * ready ones first, nearest first. Pure: the console's numbers in, a ranking out.
 */
import { haversineM } from './geo';
import { isAirborne } from './vehicle-status';
import type { TelemetryFrame } from './types';

export interface Candidate {
  id: string;
  frame: TelemetryFrame;
  stale: boolean;
  /** The job it already flies. */
  busyWith?: string | null;
  simulated: boolean;
}

export interface RankPolicy {
  minBatteryPct: number;
  minGpsFix: number;
  /** Only simulated vehicles may fly (a trainer's training job). */
  simulatedOnly: boolean;
}

export interface Ranked {
  id: string;
  ready: boolean;
  /** i18n key and its parameters for the first reason it cannot fly now. */
  why: { key: string; params?: Record<string, string | number> } | null;
  batteryPct: number | null;
  distanceM: number | null;
  frame: TelemetryFrame;
}

export const DEFAULT_RANK_POLICY: RankPolicy = { minBatteryPct: 60, minGpsFix: 3, simulatedOnly: false };

export function rankVehicles(cands: Candidate[], drop: [number, number] | null, policy: RankPolicy = DEFAULT_RANK_POLICY): Ranked[] {
  const out = cands
    .filter((c) => !c.frame.replay && !c.id.startsWith('replay-'))
    .map((c): Ranked => {
      const f = c.frame;
      let why: Ranked['why'] = null;
      if (policy.simulatedOnly && !c.simulated) why = { key: 'ready.simOnly' };
      else if (c.stale) why = { key: 'ready.offline' };
      else if (c.busyWith) why = { key: 'ready.busy', params: { id: c.busyWith } };
      else if (isAirborne(f) || f.armed) why = { key: 'ready.armed' };
      else if (f.batteryPct == null || f.batteryPct < policy.minBatteryPct) why = { key: 'ready.battery', params: { pct: f.batteryPct == null ? '—' : Math.round(f.batteryPct), min: policy.minBatteryPct } };
      else if (f.gpsFix != null && f.gpsFix < policy.minGpsFix) why = { key: 'ready.gps', params: { fix: f.gpsFix } };
      else if (f.lat == null || f.lon == null) why = { key: 'ready.noPosition' };
      const distanceM = drop && f.lat != null && f.lon != null ? haversineM(f.lat, f.lon, drop[1], drop[0]) : null;
      return { id: c.id, ready: why === null, why, batteryPct: f.batteryPct, distanceM, frame: f };
    });
  out.sort((a, b) => {
    if (a.ready !== b.ready) return a.ready ? -1 : 1;
    const da = a.distanceM ?? Infinity;
    const db = b.distanceM ?? Infinity;
    if (Math.abs(da - db) > 50) return da - db;
    const ba = a.batteryPct ?? -1;
    const bb = b.batteryPct ?? -1;
    if (ba !== bb) return bb - ba;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  return out;
}
