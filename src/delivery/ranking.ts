/**
 * Assisted dispatch: for every queued job, the vehicles that could fly it now or soon, ranked by the
 * predicted drop time against the job's promise, each with its reasons (ready or when, from where,
 * route time, energy margin after reserve, how late). Pure: no I/O, no clock (`nowS` is an input).
 *
 * Estimates, not plans: the route from another site is the job's planned route scaled by the
 * straight-line distance from that site (the plan's detour factor kept); energy scales the same way.
 * The dispatch itself plans from the vehicle and runs the preflight, which has the last word.
 */
import { greatCircleDistanceM } from '../../planner/geo';
import { PRIORITY_RANK, type Priority } from './types';

export interface RankVehicle {
  id: string;
  /** Where it stands (home or position), [lon, lat]; null when unknown. */
  at: [number, number] | null;
  /** Warm-up checks still failing (GPS fix, EKF, home, pre-arm); empty when ready. */
  waitingFor: string[];
  /** Busy (flying a job, being dispatched, commissioning) until about this time, s; null = free. */
  busyUntilS: number | null;
  /** Battery remaining, %; null when not reported. */
  batteryPct: number | null;
  /** Usable battery energy when full, Wh. */
  batteryWh: number;
  /** Landed and not yet recharged or swapped: not ready until the battery is above the launch threshold. */
  connected: boolean;
}

export interface RankJob {
  id: string;
  priority: Priority;
  createdAtS: number;
  promiseByS: number;
  drop: [number, number];
  /** The job's plan: launch point, route length and time there and back, energy and reserve. */
  plan: { launch: [number, number]; distanceM: number; durationS: number; energyWh: number; reserveWh: number; outboundS: number };
}

export interface RankOptions {
  /** Launch threshold, % (the preflight's minBatteryPct). Default 60. */
  minBatteryPct?: number;
  /** Time a battery swap takes, s. Default 300. */
  batterySwapS?: number;
  /** Time a warming-up vehicle still needs, s. Default 60. */
  warmupS?: number;
  /** Turn-around after a flight (landing, checks), s. Default 120. */
  turnaroundS?: number;
  /** Dispatch to lift-off (plan, preflight, upload, arm), s. Default 30. */
  launchS?: number;
}

export type ReasonCode = 'ready' | 'warming_up' | 'busy' | 'battery_swap' | 'no_position' | 'offline' | 'energy_short' | 'on_time' | 'late';
export interface Reason {
  code: ReasonCode;
  params: Record<string, string | number>;
}

export interface Candidate {
  vehicleId: string;
  /** Can fly it (connected, a position, energy enough after the reserve). */
  eligible: boolean;
  /** When it could lift off, s. */
  launchAtS: number;
  /** Predicted drop time, s. */
  dropAtS: number;
  /** Seconds after the promise (negative: early). */
  lateByS: number;
  routeS: number;
  marginWh: number;
  distanceFromSiteM: number;
  reasons: Reason[];
}

export interface JobRanking {
  jobId: string;
  priority: Priority;
  /** The vehicle recommended for this job (the queue taken in dispatch order, one job per vehicle), or null. */
  recommended: string | null;
  candidates: Candidate[];
}

const D: Required<RankOptions> = { minBatteryPct: 60, batterySwapS: 300, warmupS: 60, turnaroundS: 120, launchS: 30 };

/** One vehicle for one job. */
export function candidate(job: RankJob, v: RankVehicle, nowS: number, o: Required<RankOptions>): Candidate {
  const reasons: Reason[] = [];
  let launchAtS = nowS + o.launchS;
  let eligible = true;
  if (!v.connected) (eligible = false), reasons.push({ code: 'offline', params: {} });
  if (!v.at) (eligible = false), reasons.push({ code: 'no_position', params: {} });
  if (v.busyUntilS !== null) {
    launchAtS = Math.max(launchAtS, v.busyUntilS + o.turnaroundS + o.batterySwapS);
    reasons.push({ code: 'busy', params: { freeInS: Math.round(Math.max(0, v.busyUntilS - nowS)) } });
  } else if (v.batteryPct !== null && v.batteryPct < o.minBatteryPct) {
    launchAtS = Math.max(launchAtS, nowS + o.batterySwapS);
    reasons.push({ code: 'battery_swap', params: { batteryPct: Math.round(v.batteryPct), needPct: o.minBatteryPct } });
  } else if (v.waitingFor.length > 0) {
    launchAtS = Math.max(launchAtS, nowS + o.warmupS);
    reasons.push({ code: 'warming_up', params: { checks: v.waitingFor.join(', ') } });
  } else reasons.push({ code: 'ready', params: {} });
  // the job's route, scaled from its planned launch to this vehicle's site
  const straightPlanned = Math.max(1, greatCircleDistanceM(job.plan.launch, job.drop));
  const straight = v.at ? greatCircleDistanceM(v.at, job.drop) : straightPlanned;
  const scale = straight / straightPlanned;
  const routeS = job.plan.outboundS * scale;
  // energy: the part that scales with distance, plus the vertical legs and holds (the rest)
  const energyWh = job.plan.energyWh * Math.max(scale, 0.25);
  // a vehicle flying now gets a fresh battery before it launches again
  const availableWh = v.busyUntilS !== null || (v.batteryPct !== null && v.batteryPct < o.minBatteryPct) ? v.batteryWh : (v.batteryWh * (v.batteryPct ?? 100)) / 100;
  const marginWh = availableWh - energyWh - job.plan.reserveWh;
  if (marginWh < 0) (eligible = false), reasons.push({ code: 'energy_short', params: { needWh: Math.round(energyWh + job.plan.reserveWh), haveWh: Math.round(availableWh) } });
  const dropAtS = launchAtS + routeS;
  const lateByS = dropAtS - job.promiseByS;
  reasons.push(lateByS > 0 ? { code: 'late', params: { lateByMin: Math.ceil(lateByS / 60) } } : { code: 'on_time', params: { spareMin: Math.floor(-lateByS / 60) } });
  return { vehicleId: v.id, eligible, launchAtS, dropAtS, lateByS, routeS, marginWh, distanceFromSiteM: straight, reasons };
}

const better = (a: Candidate, b: Candidate) => (a.eligible !== b.eligible ? (a.eligible ? -1 : 1) : a.dropAtS !== b.dropAtS ? a.dropAtS - b.dropAtS : b.marginWh - a.marginWh || (a.vehicleId < b.vehicleId ? -1 : 1));

/**
 * Rank the vehicles for every queued job. Jobs are taken in dispatch order (urgent first, then the
 * oldest), each recommended the best eligible vehicle not recommended to an earlier job.
 */
export function rankQueue(jobs: ReadonlyArray<RankJob>, vehicles: ReadonlyArray<RankVehicle>, nowS: number, options: RankOptions = {}): JobRanking[] {
  const o = { ...D, ...options };
  const order = [...jobs].sort((a, b) => PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || a.createdAtS - b.createdAtS || (a.id < b.id ? -1 : 1));
  const taken = new Set<string>();
  return order.map((job) => {
    const candidates = vehicles.map((v) => candidate(job, v, nowS, o)).sort(better);
    const pick = candidates.find((c) => c.eligible && !taken.has(c.vehicleId)) ?? null;
    if (pick) taken.add(pick.vehicleId);
    return { jobId: job.id, priority: job.priority, recommended: pick?.vehicleId ?? null, candidates };
  });
}

/** A stored job as a RankJob (null when it has no usable plan). */
export function rankJobOf(d: { id: string; priority: Priority; createdAt: string; promiseBy: string; drop: [number, number]; plan?: unknown }): RankJob | null {
  const p = d.plan as { ok?: boolean; launch?: { lon: number; lat: number }; distanceM?: number; durationS?: number; energyWh?: number; reserveWh?: number; legs?: Array<{ kind: string; phase: string; cumDurationS: number; durationS: number }> } | undefined;
  if (!p?.ok || !p.launch || typeof p.durationS !== 'number' || typeof p.energyWh !== 'number') return null;
  const descend = p.legs?.find((l) => l.kind === 'descend' && l.phase === 'outbound');
  const outboundS = descend ? descend.cumDurationS : p.durationS / 2;
  return { id: d.id, priority: d.priority, createdAtS: Date.parse(d.createdAt) / 1000, promiseByS: Date.parse(d.promiseBy) / 1000, drop: d.drop, plan: { launch: [p.launch.lon, p.launch.lat], distanceM: p.distanceM ?? 0, durationS: p.durationS, energyWh: p.energyWh, reserveWh: p.reserveWh ?? 0, outboundS } };
}
