/**
 * The dispatcher's view of the queue for assisted dispatch: the fleet's vehicles and the queued jobs
 * as the ranking (ranking.ts) takes them — readiness from the preflight's warm-up checks, the launch
 * battery threshold from the policy, busy vehicles until their flight's planned end.
 */
import type { VehicleHandle } from '../fleet/types';
import { DEFAULT_PROFILE } from '../../planner/request';
import { warmingUp } from './preflight';
import type { Policy } from './policy';
import { rankQueue, rankJobOf, type JobRanking, type RankJob, type RankVehicle } from './ranking';
import type { Delivery } from './types';

export interface QueueView {
  vehicles: VehicleHandle[];
  queue: Delivery[];
  policy: Policy;
  /** The job a vehicle is committed to, if any. */
  activeJobFor(vehicleId: string): Delivery | undefined;
  /** Held for other work (commissioning, a dispatch under way). */
  busy(vehicleId: string): boolean;
  nowMs: number;
  /** The vehicles' clock rate (simulators at a speed-up). Default 1. */
  clockRate?: number;
}

export function recommendations(q: QueueView): JobRanking[] {
  const rate = q.clockRate ?? 1;
  const nowS = q.nowMs / 1000;
  const vehicles: RankVehicle[] = q.vehicles
    .filter((v) => !v.id.startsWith('replay-'))
    .map((v) => {
      const s = v.state;
      const job = q.activeJobFor(v.id);
      let busyUntilS: number | null = null;
      if (job) {
        const p = job.plan as { durationS?: number } | undefined;
        const startS = job.airspace ? job.airspace.launchAtS / rate : Date.parse(job.updatedAt) / 1000;
        busyUntilS = Math.max(nowS, startS + (p?.durationS ?? 0) / rate);
      } else if (q.busy(v.id)) busyUntilS = nowS;
      const at = s.home ?? s.position;
      return {
        id: v.id,
        at: at ? ([at.lon, at.lat] as [number, number]) : null,
        waitingFor: warmingUp(s, q.policy).map((c) => c.name),
        busyUntilS,
        batteryPct: s.battery ? s.battery.remainingPct : null,
        batteryWh: DEFAULT_PROFILE.batteryWh,
        connected: s.connected && q.nowMs - s.lastSeenMs < 5000,
      };
    });
  const jobs = q.queue.map((d) => rankJobOf(d)).filter((j): j is RankJob => j !== null);
  // durations on the vehicles' clock pass faster on the wall clock
  const scaled = rate === 1 ? jobs : jobs.map((j) => ({ ...j, plan: { ...j.plan, outboundS: j.plan.outboundS / rate, durationS: j.plan.durationS / rate } }));
  return rankQueue(scaled, vehicles, nowS, { minBatteryPct: q.policy.minBatteryPct });
}
