/**
 * The 15-minute promise: on time, at risk or late, from the time a job still needs to reach its drop
 * point against the time left; stopped at the drop (a delivered job keeps the verdict of its release).
 */
import type { Delivery, PlanOk } from './types';

/** Upload, arming and start before a dispatched vehicle leaves the ground (a measured allowance). */
export const DISPATCH_OVERHEAD_S = 30;

export type Outlook = 'on-time' | 'at-risk' | 'late';

interface LegLike {
  kind?: string;
  cumDurationS?: number;
}

/** Flight time from take-off to the release (the plan's outbound legs), or half the round trip. */
export function timeToDropS(plan: Pick<PlanOk, 'durationS'> & { legs?: unknown[] } | null | undefined): number | null {
  if (!plan) return null;
  const legs = (plan.legs ?? []) as LegLike[];
  const rel = legs.find((l) => l && l.kind === 'release' && typeof l.cumDurationS === 'number');
  if (rel) return rel.cumDurationS!;
  return Number.isFinite(plan.durationS) ? plan.durationS / 2 : null;
}

/** At risk once the time still needed uses more than 80 % of the time left; late when it exceeds it. */
export function outlook(neededS: number | null, leftS: number): Outlook {
  if (leftS <= 0) return 'late';
  if (neededS == null || !Number.isFinite(neededS)) return leftS < 120 ? 'at-risk' : 'on-time';
  if (neededS > leftS) return 'late';
  return neededS > 0.8 * leftS ? 'at-risk' : 'on-time';
}

export interface PromiseView {
  outlook: Outlook;
  /** Seconds until the promise (negative when past). */
  leftS: number;
  /** Seconds the job still needs to reach its drop, when known. */
  neededS: number | null;
  /** The drop happened: the verdict is final. */
  final: boolean;
}

const WAITING = new Set(['requested', 'planned', 'approved']);

/** Where a job stands against its promise now. */
export function promiseView(d: Pick<Delivery, 'state' | 'promiseBy' | 'plan' | 'progress' | 'proofOfDrop'>, nowMs: number): PromiseView {
  const promiseMs = Date.parse(d.promiseBy);
  if (d.proofOfDrop?.at) {
    const leftS = (promiseMs - Date.parse(d.proofOfDrop.at)) / 1000;
    return { outlook: leftS >= 0 ? 'on-time' : 'late', leftS, neededS: 0, final: true };
  }
  const leftS = (promiseMs - nowMs) / 1000;
  const plan = d.plan && (d.plan as { ok?: boolean }).ok !== false ? (d.plan as PlanOk) : null;
  let neededS: number | null = null;
  if (WAITING.has(d.state)) {
    const fly = timeToDropS(plan);
    neededS = fly == null ? null : fly + DISPATCH_OVERHEAD_S;
  } else if (d.state === 'uploading' || d.state === 'ready') {
    const fly = timeToDropS(plan);
    neededS = fly == null ? null : fly + DISPATCH_OVERHEAD_S / 2;
  } else if (d.state === 'in-flight') {
    neededS = d.progress?.etaS ?? null;
  }
  if (d.state === 'failed' || d.state === 'aborted') return { outlook: leftS < 0 ? 'late' : 'at-risk', leftS, neededS: null, final: true };
  return { outlook: outlook(neededS, leftS), leftS, neededS, final: d.state === 'completed' };
}
