/**
 * Which service node raises the fleet alerts of a vehicle (src/service/fleet-alerts.ts: link lost and
 * up, battery low, fence breach, failsafe mode changes, the vehicle's STATUSTEXT). Every node hears
 * every vehicle on the bus, so each would raise and store every such alert: one copy per node. Exactly
 * one live node raises them instead; the other nodes' consoles hear it through src/service/cross-node.ts.
 *
 * The rule: every node renews its lease on every vehicle it holds once a second
 * (`<root>.<site>.<vehicle>.lease`, {node, ttlMs}, src/bus/attach.ts). Each node listens to every
 * renewal and keeps, per vehicle, the nodes heard renewing it within their ttl, itself always among
 * them. The vehicle's alert owner is the lowest node name among them (plain string order, the same on
 * every node). A vehicle nobody else renews (a link or simulator of this node's own) is this node's.
 *
 * The nodes agree once each has heard the others. Around a change they may not, and alerts of that
 * window can be missed or raised twice (accepted: the alternative is a coordination protocol):
 *
 * - The owner dies (or loses the bus): the others count it until its last renewal lapses, up to its
 *   ttl (3 s); alerts of that window are missed. A node whose renewals stall longer than its ttl
 *   (an event loop blocked that long) while it still raises counts as gone for the others: doubles.
 * - A node starting hears the others within a renewal period. For its first `settleMs` (one lease
 *   ttl) it holds back the alerts it would raise and decides them then (`ready`), so it neither
 *   doubles the owner's alerts nor loses its own when it is the owner. When it is the owner it raises
 *   again what it sees anew at its start (a battery already low), as every node did before this rule.
 * - A node with a lower name joining takes over as soon as the others hear its first renewal.
 * - While this node's bus connection is down its view stands still (the vehicles are silent to every
 *   node then, and the owner before the outage raises their link alerts alone); once it is back,
 *   every node heard before counts for the time it had left when the connection was lost, in which
 *   it is heard again or lapses. An owner cut off alone raises the loss of links the others still
 *   have (they take over once its renewals lapse, and raise nothing: their vehicles are fine).
 *
 * Without a bus there is one process and it raises every alert (no AlertOwner).
 */
import type { Bus, BusSubscription, Subjects } from '../bus';
import { DEFAULT_LEASE_TTL_MS } from '../bus/attach';

export interface AlertOwnerOptions {
  bus: Bus;
  subjects: Subjects;
  /** This node's name in its leases (BusVehicles.node). */
  node: string;
  /**
   * How long a node listens before it decides (long enough to hear every node holding a vehicle: one
   * lease ttl). Default the lease ttl of src/bus/attach.ts (3000 ms).
   */
  settleMs?: number;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
}

export interface AlertOwner {
  /** Whether this node raises the fleet alerts of this vehicle (`<link id>/<sysid>`), as it knows now. */
  owns(vehicleId: string): boolean;
  /** Resolves once this node has listened `settleMs`: owns() before then may answer wrong. */
  readonly ready: Promise<void>;
  close(): void;
}

/** A renewal's ttl is counted at most this long (a malformed or hostile one cannot hold a vehicle for ever). */
const MAX_TTL_MS = 60_000;

export function startAlertOwner(opts: AlertOwnerOptions): AlertOwner {
  const { bus, subjects, node } = opts;
  const clock = opts.now ?? Date.now;
  const settleMs = opts.settleMs ?? DEFAULT_LEASE_TTL_MS;
  /** Per lease key (`<site>.<vehicle>`, the bus link's id): the other nodes heard renewing it, each until when it counts. */
  const holders = new Map<string, Map<string, number>>();
  /** The bus connection was lost at (ms) while down: the view stands still at that time. */
  let downSinceMs: number | null = bus.connected ? null : clock();
  const now = () => downSinceMs ?? clock();
  let closed = false;

  /** The renewals of one node are the same bytes every second: parsed once. */
  const parsed = new Map<string, { node: string; ttlMs: number } | null>();
  const parse = (data: Uint8Array): { node: string; ttlMs: number } | null => {
    const text = Buffer.from(data).toString('utf8');
    let r = parsed.get(text);
    if (r !== undefined) return r;
    r = null;
    try {
      const m = JSON.parse(text);
      if (m && typeof m === 'object' && typeof m.node === 'string' && m.node.length > 0 && m.node.length <= 256 && typeof m.ttlMs === 'number' && m.ttlMs > 0) r = { node: m.node, ttlMs: Math.min(m.ttlMs, MAX_TTL_MS) };
    } catch {
      r = null;
    }
    if (text.length <= 512) {
      if (parsed.size >= 256) parsed.clear();
      parsed.set(text, r);
    }
    return r;
  };

  let sweptMs = clock();
  const sweep = (t: number) => {
    for (const [key, nodes] of holders) {
      for (const [n, until] of nodes) if (until <= t) nodes.delete(n);
      if (nodes.size === 0) holders.delete(key);
    }
  };

  const onRenewal = (subject: string, data: Uint8Array) => {
    if (closed || downSinceMs !== null) return;
    const s = subjects.parse(subject);
    if (!s || s.kind !== 'lease') return;
    const r = parse(data);
    if (!r || r.node === node) return;
    const key = `${s.site}.${s.vehicle}`;
    const t = clock();
    let nodes = holders.get(key);
    if (!nodes) holders.set(key, (nodes = new Map()));
    nodes.set(r.node, t + r.ttlMs);
    if (t - sweptMs > MAX_TTL_MS) {
      sweptMs = t;
      sweep(t);
    }
  };

  const onDown = () => {
    downSinceMs ??= clock();
  };
  const onUp = () => {
    if (downSinceMs === null) return;
    const t = clock();
    // Every node heard before counts for the time it had left when the connection was lost, from
    // now: heard again by then, or it lapses.
    for (const nodes of holders.values()) for (const [n, until] of nodes) nodes.set(n, t + Math.max(0, Math.min(until - downSinceMs, MAX_TTL_MS)));
    downSinceMs = null;
  };

  const sub: BusSubscription = bus.subscribe(subjects.all('lease'), (m) => onRenewal(m.subject, m.data));
  bus.on('disconnected', onDown);
  bus.on('connected', onUp);

  let settle: NodeJS.Timeout | null = null;
  const ready = new Promise<void>((resolve) => {
    settle = setTimeout(resolve, settleMs);
    settle.unref?.();
  });

  return {
    owns(vehicleId) {
      const slash = vehicleId.lastIndexOf('/');
      const nodes = holders.get(slash < 0 ? vehicleId : vehicleId.slice(0, slash));
      if (!nodes) return true;
      const t = now();
      for (const [n, until] of nodes) if (until > t && n < node) return false;
      return true;
    },
    ready,
    close() {
      if (closed) return;
      closed = true;
      sub.unsubscribe();
      bus.off('disconnected', onDown);
      bus.off('connected', onUp);
      holders.clear();
    },
  };
}
