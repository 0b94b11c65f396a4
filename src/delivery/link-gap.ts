/**
 * Gaps in what a job's tracker heard from its vehicle, as the job's timeline records them: a
 * `link-lost` event opens one (`from`: the last moment the vehicle's state is known for certain),
 * a `link-regained` event closes it with the vehicle's actual state when it is heard again. A gap
 * is never read as "landed": until the vehicle is heard (or an operator resolves the job), the job
 * stays where its record says it was.
 */
import type { TimelineEntry } from './types';
import type { VehicleState } from '../fleet/types';

export interface LinkGap {
  /** ISO time the gap began. */
  from: string;
  /**
   * Why nothing was heard: the link went quiet (`link-lost`); the node running the job stopped
   * following it — it restarted, failed, or lost its database connection and with it the job's
   * lease — and the restarted service or another node took the job up, not knowing which of these
   * happened (`service-restarted`: the code is older than this meaning and kept as records hold it);
   * or this node lost the job's lease while the database was unreachable, stopped following it, and
   * took it back (`lease-regained`: the service did not restart). The entry the taking node writes
   * (`tracking-resumed`, `dispatch-resumed`) names that node (`node`, takenUpBy).
   */
  reason: 'link-lost' | 'service-restarted' | 'lease-regained';
}

/** Entries a node writes when it takes a job up that nobody ran (src/delivery/index.ts resume, takeover.ts). */
const TAKE_OVER_EVENTS: ReadonlySet<string> = new Set(['tracking-resumed', 'dispatch-resumed']);

/**
 * Why a job this node takes up went unfollowed. `leaseLostAtMs`: when this node lost the job's lease
 * with its database connection (undefined: it did not). Taken back with no take-over on the job's
 * record since the loss: `lease-regained`. Otherwise the node that ran it (this service before a
 * restart, another node, or another node that took the job over since) stopped following it, for a
 * reason this node cannot know — it restarted, failed, or lost its database connection (the lease
 * goes with it, the process may live on): `service-restarted`.
 */
export function takeOverReason(timeline: readonly TimelineEntry[], leaseLostAtMs: number | undefined): 'service-restarted' | 'lease-regained' {
  if (leaseLostAtMs === undefined) return 'service-restarted';
  const takenOverSince = timeline.some((e) => e.event !== undefined && TAKE_OVER_EVENTS.has(e.event) && Date.parse(e.at) >= leaseLostAtMs);
  return takenOverSince ? 'service-restarted' : 'lease-regained';
}

/** What the entry a node writes on taking a job up says of the node (its name, when it has one). */
export function takenUpBy(node: string | undefined): { node?: string } {
  return node ? { node } : {};
}

/**
 * The gap a node opens for a job it takes up (after a restart, a take-over, or its lease regained):
 * from the job's last committed timeline entry (the last moment it is known to have been followed)
 * until now.
 */
export function openGap(timeline: readonly TimelineEntry[], reason: LinkGap['reason']): LinkGap {
  let lastMs = NaN;
  for (const e of timeline) {
    const ms = Date.parse(e.at);
    if (Number.isFinite(ms) && !(ms <= lastMs)) lastMs = ms;
  }
  return { from: new Date(Number.isFinite(lastMs) ? lastMs : Date.now()).toISOString(), reason };
}

/** The `link-regained` detail closing `gap`: its span and the vehicle's state as first heard again. */
/** `releaseSeq`: the job's release mission item (null: none), to say whether the vehicle is past it. */
export function closeGap(gap: LinkGap, s: VehicleState, releaseSeq: number | null, nowMs = Date.now()) {
  const fromMs = Date.parse(gap.from);
  return {
    vehicleId: s.id,
    from: gap.from,
    to: new Date(nowMs).toISOString(),
    gapS: Math.round((nowMs - fromMs) / 100) / 10,
    reason: gap.reason,
    state: {
      mode: s.mode,
      armed: s.armed,
      missionCurrent: s.mission.current,
      releaseReached: releaseSeq === null ? null : s.mission.current > releaseSeq || s.mission.reached.includes(releaseSeq),
      position: s.position ? { lat: s.position.lat, lon: s.position.lon, altRelM: s.position.altRelM } : null,
    },
  };
}
