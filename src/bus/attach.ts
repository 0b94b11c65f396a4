/**
 * The service side of the bus: vehicles behind link agents join the fleet as bus links.
 *
 * - Discovery: every agent publishes `<root>.<site>.<vehicle>.presence` each second; the first one
 *   heard for a vehicle adds a BusLink to the fleet with link id `<site>.<vehicle>` (vehicle id
 *   `<site>.<vehicle>/<sysid>`, e.g. `fugou.radio1-3/3`) and no GCS heartbeat of ours: the agent
 *   sends it on the vehicle's link.
 * - Leases: every `renewMs` the node renews its lease on each vehicle it holds
 *   (`.lease`, {node, ttlMs}). While the lease holds, the agent sends GCS heartbeats; when it lapses
 *   (this process died) the agent goes on for its grace, so a restart is invisible to the vehicle.
 *
 * Every vehicle heard is held (one service node per site for now; leases between several nodes
 * come with shared state).
 */
import os from 'os';
import { randomBytes } from 'crypto';
import type { Bus, BusSubscription } from './bus';
import { BusLink } from './bus-link';
import { Subjects, checkToken, parseVehicleToken, type LeaseRenewal, type Presence } from './subjects';
import type { AddLinkOptions } from '../fleet/fleet';

/** What of the fleet this needs (src/fleet Fleet). */
export interface BusFleet {
  addLink(uri: string, opts?: AddLinkOptions): string;
  removeLink(id: string): Promise<void>;
}

/** A renewal holds the lease this long unless `leaseTtlMs` says otherwise. */
export const DEFAULT_LEASE_TTL_MS = 3000;

export interface BusVehiclesOptions {
  bus: Bus;
  fleet: BusFleet;
  /** Subject root. Default `dropline`. */
  subjects?: Subjects;
  /** Take vehicles from these sites only. Default: every site. */
  sites?: string[];
  /** This node's name in leases. Default `<host>-<pid>-<random>`. */
  node?: string;
  /** A renewal holds the lease this long. Default 3000 ms. */
  leaseTtlMs?: number;
  /** Renew every. Default 1000 ms. */
  renewMs?: number;
  /** A bus link is down after this long without presence or frames. Default 3000 ms. */
  silenceMs?: number;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

export interface BusVehicle {
  site: string;
  vehicle: string;
  /** The fleet's link id. */
  linkId: string;
  link: BusLink;
}

export interface BusVehicles {
  readonly node: string;
  vehicles(): BusVehicle[];
  /** Stop taking and renewing (leases lapse; the agents' grace covers a restart). */
  close(): Promise<void>;
}

export function attachBusVehicles(opts: BusVehiclesOptions): BusVehicles {
  const subjects = opts.subjects ?? new Subjects();
  for (const site of opts.sites ?? []) checkToken('bus site', site);
  const node = opts.node ?? `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const ttlMs = opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const renewMs = opts.renewMs ?? 1000;
  const held = new Map<string, BusVehicle>();
  const subs: BusSubscription[] = [];
  let closed = false;
  const lease = Buffer.from(JSON.stringify({ node, ttlMs } satisfies LeaseRenewal));

  const renew = (v: BusVehicle) => opts.bus.publish(subjects.vehicle(v.site, v.vehicle, 'lease'), lease);

  const onPresence = (subject: string, data: Uint8Array) => {
    if (closed) return;
    const s = subjects.parse(subject);
    if (!s || s.kind !== 'presence' || !parseVehicleToken(s.vehicle)) return;
    const key = `${s.site}.${s.vehicle}`;
    if (held.has(key)) return;
    let p: Presence;
    try {
      p = JSON.parse(Buffer.from(data).toString('utf8')) as Presence;
    } catch {
      return;
    }
    const link = new BusLink({ bus: opts.bus, site: s.site, vehicle: s.vehicle, subjects, silenceMs: opts.silenceMs });
    link.notePresence(p);
    try {
      opts.fleet.addLink(`bus:${s.site}/${s.vehicle}`, { id: key, transport: link, gcsHeartbeat: false });
    } catch (e) {
      void link.close();
      opts.log?.warn({ site: s.site, vehicle: s.vehicle, err: (e as Error).message }, 'vehicle on the bus not added');
      held.set(key, { site: s.site, vehicle: s.vehicle, linkId: '', link }); // do not retry every second
      return;
    }
    const v: BusVehicle = { site: s.site, vehicle: s.vehicle, linkId: key, link };
    held.set(key, v);
    renew(v);
    opts.log?.info({ site: s.site, vehicle: s.vehicle, linkId: key, agent: p.agent, uri: p.uri }, 'vehicle on the bus attached');
  };

  for (const site of opts.sites ?? [undefined]) subs.push(opts.bus.subscribe(subjects.all('presence', site), (m) => onPresence(m.subject, m.data)));

  const timer = setInterval(() => {
    for (const v of held.values()) if (v.linkId) renew(v);
  }, renewMs);
  timer.unref();

  return {
    node,
    vehicles: () => [...held.values()].filter((v) => v.linkId),
    close: async () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      for (const s of subs) s.unsubscribe();
      for (const v of held.values()) {
        if (!v.linkId) continue;
        await opts.fleet.removeLink(v.linkId).catch(() => undefined);
      }
      held.clear();
    },
  };
}
