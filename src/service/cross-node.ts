/**
 * Consoles on every node see every node's jobs and alerts. Several service nodes share the store and
 * the bus; a job runs on one of them, and each node's consoles hear only that node's hub. So each
 * node tells the others, over the bus (src/bus/subjects.ts), what it tells its own consoles:
 *
 *   <root>.events.delivery  {v:1, node, from, delivery}   every change of a job it makes (with its progress)
 *                           {v:1, node, from, id}         the same when the document is larger than the
 *                                                         bus takes: receivers read the job themselves
 *   <root>.events.alert     {v:1, node, from, kind, alert} every alert it raises ('job' or 'fleet') or
 *                                                         acknowledges ('ack'), once it is stored
 *
 * `node` is the node's name (its name in the agents' leases), `from` this process's own random id:
 * a node ignores what it sent itself. A receiver passes what it hears to its own hub only: an alert
 * is stored once, by the node that raised it (or acknowledged, by the node that took the request).
 * A fleet alert (link lost, battery low, a vehicle's STATUSTEXT …) is raised by one node only, the
 * vehicle's alert owner (src/service/alert-owner.ts), and passed on like any other.
 *
 * What arrives is checked before it goes anywhere; anything malformed is dropped. Per job, what
 * reaches the consoles keeps the order it was sent in (an update waits behind a job being read),
 * and a job's update never goes back: one with fewer timeline entries than the last this node showed
 * (a late message from a node that lost the job) is dropped. After the bus connection comes back,
 * the jobs changed meanwhile are read and shown again: what was sent during the outage is lost.
 */
import { randomBytes } from 'crypto';
import type { Bus, BusSubscription, Subjects } from '../bus';
import type { AlertInput } from '../../telemetry/hub';

export type AlertKind = 'job' | 'fleet' | 'ack';

interface DeliveryDoc {
  id: string;
  timeline?: unknown;
  updatedAt?: unknown;
}

export interface CrossNodeOptions {
  bus: Bus;
  subjects: Subjects;
  /** This node's name (its name in the agents' leases), on everything it sends. */
  node: string;
  /** Where the consoles of this node are told (telemetry/hub.ts). */
  hub: { publishDelivery(d: object): void; publishAlert(a: AlertInput): unknown };
  /** False once the hub is closing. */
  hubOpen: () => boolean;
  /** A job as this node reads it (DeliveryManager.get: the stored job with the progress this node knows). */
  getDelivery: (id: string) => Promise<object | undefined>;
  /** Jobs most recently changed first, with their updatedAt (DeliveryManager.list): read again after a bus outage. */
  listDeliveries?: () => Promise<Array<{ id: string; updatedAt: string }>>;
  log: { warn(o: object, msg: string): void; info(o: object, msg: string): void };
  /** Jobs read at once for id-only updates, at most. Default 64. */
  maxReads?: number;
}

export interface CrossNode {
  /** A job changed here (after it went to this node's hub). */
  delivery(d: DeliveryDoc): void;
  /** An alert raised or acknowledged here (after it was stored and went to this node's hub). */
  alert(a: AlertInput & { id: string; at: string }, kind: AlertKind): void;
  close(): void;
}

const ID = /^[A-Za-z0-9_.:/-]{1,128}$/;
const MAX_TEXT = 4000;
/** Jobs whose last shown timeline length is remembered (oldest forgotten first). */
const MAX_REMEMBERED = 5000;
/** A job changed this long before the outage began is shown again too (clocks of nodes differ a little). */
const RESYNC_MARGIN_MS = 60_000;

export function startCrossNode(opts: CrossNodeOptions): CrossNode {
  const { bus, hub, log } = opts;
  const from = randomBytes(8).toString('hex');
  const deliverySubject = opts.subjects.event('delivery');
  const alertSubject = opts.subjects.event('alert');
  const maxReads = opts.maxReads ?? 64;
  let closed = false;

  // ---------------------------------------------------------------- sending
  const send = (subject: string, msg: object): boolean => bus.publish(subject, Buffer.from(JSON.stringify({ v: 1, node: opts.node, from, ...msg })));

  // ---------------------------------------------------------------- what this node's consoles were shown
  /** Per job: timeline entries of the last update shown here (by this node or passed on). */
  const shown = new Map<string, number>();
  const remember = (d: DeliveryDoc) => {
    const n = Array.isArray(d.timeline) ? d.timeline.length : 0;
    shown.delete(d.id);
    shown.set(d.id, Math.max(n, 0));
    if (shown.size > MAX_REMEMBERED) shown.delete(shown.keys().next().value!);
  };
  const showDelivery = (d: DeliveryDoc) => {
    if (closed || !opts.hubOpen()) return;
    const before = shown.get(d.id);
    if (before !== undefined && Array.isArray(d.timeline) && d.timeline.length < before) return;
    remember(d);
    try {
      hub.publishDelivery(d);
    } catch (e) {
      log.warn({ err: e, deliveryId: d.id }, 'delivery update from another node not published');
    }
  };

  // ---------------------------------------------------------------- jobs read here (id-only updates)
  type Item = { doc: DeliveryDoc } | { read: true };
  /** Jobs being read: what arrived for each meanwhile, shown after it in order. */
  const reading = new Map<string, Item[]>();
  const enqueue = (id: string, item: Item) => {
    const waiting = reading.get(id);
    if (waiting) {
      // A read shows the job as stored then: whatever came before a later read is superseded by it.
      if ('read' in item) waiting.length = 0;
      waiting.push(item);
      return;
    }
    if ('doc' in item) return showDelivery(item.doc);
    if (reading.size >= maxReads) {
      log.warn({ deliveryId: id, reading: reading.size }, 'too many jobs being read: update from another node dropped');
      return;
    }
    reading.set(id, []);
    void drain(id, item);
  };
  const drain = async (id: string, first: Item) => {
    let item: Item | undefined = first;
    while (item && !closed) {
      if ('doc' in item) showDelivery(item.doc);
      else {
        try {
          const d = (await opts.getDelivery(id)) as DeliveryDoc | undefined;
          if (d) showDelivery(d);
        } catch (e) {
          log.warn({ err: e, deliveryId: id }, 'job changed on another node not read');
        }
      }
      item = reading.get(id)?.shift();
    }
    reading.delete(id);
  };

  // ---------------------------------------------------------------- receiving
  const parse = (data: Uint8Array): Record<string, unknown> | null => {
    try {
      const m = JSON.parse(Buffer.from(data).toString('utf8'));
      if (!m || typeof m !== 'object' || Array.isArray(m) || m.v !== 1 || typeof m.from !== 'string' || typeof m.node !== 'string') return null;
      return m.from === from ? null : m;
    } catch {
      return null;
    }
  };
  const onDelivery = (data: Uint8Array) => {
    const m = parse(data);
    if (!m) return;
    if (m.delivery !== undefined) {
      const d = m.delivery as DeliveryDoc;
      if (!d || typeof d !== 'object' || Array.isArray(d) || typeof d.id !== 'string' || !ID.test(d.id) || typeof (d as { state?: unknown }).state !== 'string') return;
      if (d.timeline !== undefined && !Array.isArray(d.timeline)) return;
      enqueue(d.id, { doc: d });
    } else if (typeof m.id === 'string' && ID.test(m.id)) enqueue(m.id, { read: true });
  };

  /** Alerts already shown here (id and acknowledgement), so a repeat is not shown twice. */
  const alertsShown = new Set<string>();
  const alertKey = (a: { id: string; ackedAt?: string }) => `${a.id}|${a.ackedAt ?? ''}`;
  const noteAlert = (key: string) => {
    alertsShown.add(key);
    if (alertsShown.size > MAX_REMEMBERED) alertsShown.delete(alertsShown.values().next().value!);
  };
  const onAlert = (data: Uint8Array) => {
    const m = parse(data);
    if (!m || (m.kind !== 'job' && m.kind !== 'fleet' && m.kind !== 'ack')) return;
    const a = checkAlert(m.alert);
    if (!a) return;
    const key = alertKey(a);
    if (alertsShown.has(key)) return;
    noteAlert(key);
    if (closed || !opts.hubOpen()) return;
    try {
      hub.publishAlert(a);
    } catch (e) {
      log.warn({ err: e, alertId: a.id }, 'alert from another node not published');
    }
  };

  // ---------------------------------------------------------------- after a bus outage
  let downSinceMs: number | null = null;
  const onDown = () => {
    downSinceMs ??= Date.now();
  };
  const onUp = () => {
    const since = downSinceMs;
    downSinceMs = null;
    if (since === null || !opts.listDeliveries || closed) return;
    void opts
      .listDeliveries()
      .then((list) => {
        const changed = list.filter((d) => Date.parse(d.updatedAt) >= since - RESYNC_MARGIN_MS);
        if (changed.length) log.info({ jobs: changed.length }, 'bus back: jobs changed meanwhile shown again');
        for (const d of changed) enqueue(d.id, { read: true });
      })
      .catch((e) => log.warn({ err: e }, 'bus back: jobs changed meanwhile not read'));
  };

  const subs: BusSubscription[] = [bus.subscribe(deliverySubject, (m) => onDelivery(m.data)), bus.subscribe(alertSubject, (m) => onAlert(m.data))];
  bus.on('disconnected', onDown);
  bus.on('connected', onUp);

  return {
    delivery(d) {
      if (closed || typeof d?.id !== 'string') return;
      remember(d);
      // Too large for the bus (false while connected): the others read it from the store.
      if (!send(deliverySubject, { delivery: d }) && bus.connected) send(deliverySubject, { id: d.id });
    },
    alert(a, kind) {
      if (closed) return;
      noteAlert(alertKey(a));
      if (!send(alertSubject, { kind, alert: a }) && bus.connected) log.warn({ alertId: a.id }, 'alert too large for the bus: other nodes show it on reload only');
    },
    close() {
      if (closed) return;
      closed = true;
      for (const s of subs) s.unsubscribe();
      bus.off('disconnected', onDown);
      bus.off('connected', onUp);
      reading.clear();
    },
  };
}

const str = (x: unknown, max = 256): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;

/** An alert as received, with only the fields consoles read; null when anything is off. */
export function checkAlert(x: unknown): (AlertInput & { id: string; at: string }) | null {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return null;
  const r = x as Record<string, unknown>;
  if (!str(r.id, 128) || !ID.test(r.id) || !str(r.at, 64) || Number.isNaN(Date.parse(r.at))) return null;
  if (r.level !== 'info' && r.level !== 'warning' && r.level !== 'critical') return null;
  if (!str(r.text, MAX_TEXT)) return null;
  const a: AlertInput & { id: string; at: string } = { id: r.id, at: r.at, level: r.level, text: r.text };
  for (const k of ['code', 'vehicleId', 'deliveryId'] as const) {
    if (r[k] === undefined || r[k] === null) continue;
    if (!str(r[k])) return null;
    a[k] = r[k];
  }
  if (r.params !== undefined && r.params !== null) {
    if (typeof r.params !== 'object' || Array.isArray(r.params)) return null;
    a.params = r.params as Record<string, unknown>;
  }
  if (r.ackedAt !== undefined && r.ackedAt !== null) {
    if (!str(r.ackedAt, 64) || Number.isNaN(Date.parse(r.ackedAt)) || (r.ackedBy !== undefined && r.ackedBy !== null && !str(r.ackedBy))) return null;
    a.ackedAt = r.ackedAt;
    if (typeof r.ackedBy === 'string') a.ackedBy = r.ackedBy;
  }
  return a;
}
