/**
 * Subject names on the bus. Every vehicle behind a link agent has four subjects under
 * `<root>.<site>.<vehicle>` (root `dropline` by default):
 *
 *   .rx        frames from the vehicle (MAVLink bytes as received, signatures included), agent → nodes
 *   .tx        frames to the vehicle (MAVLink bytes), nodes → agent
 *   .lease     a service node holds the vehicle: renewed about every second (LeaseRenewal, JSON)
 *   .presence  the agent's view of the vehicle: link, heartbeats-on-behalf state (Presence, JSON)
 *
 * `<vehicle>` is `<agent link id>-<sysid>` (`radio1-3`: sysid 3 on the agent's link radio1). Site
 * names, link ids and the root are single subject tokens: letters, digits, `_` and `-`.
 * The recorded stream (JetStream `<ROOT>_TLOG`, `DROPLINE_TLOG` by default) keeps every .rx and
 * .tx message.
 *
 * Between service nodes, three tokens (never four, so no vehicle subject pattern matches them and
 * `parse` answers null):
 *
 *   <root>.events.delivery  a job changed on the node running it (src/service/cross-node.ts), JSON
 *   <root>.events.alert     an alert a node raised or acknowledged, JSON
 */

export const DEFAULT_ROOT = 'dropline';

export type VehicleSubject = 'rx' | 'tx' | 'lease' | 'presence';

/** What service nodes tell each other's consoles (`<root>.events.<kind>`). */
export type NodeEvent = 'delivery' | 'alert';

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

export class SubjectError extends Error {
  readonly code = 'INVALID_BUS_NAME';
}

/** Throws SubjectError unless `s` can stand as one subject token (site, link id, root). */
export function checkToken(what: string, s: string): string {
  if (typeof s !== 'string' || !TOKEN.test(s)) throw new SubjectError(`${what} must be 1–64 letters, digits, _ or -, got ${JSON.stringify(s)}`);
  return s;
}

/** The vehicle token of sysid `sysid` on agent link `linkId`. */
export function vehicleToken(linkId: string, sysid: number): string {
  return `${linkId}-${sysid}`;
}

/** `radio1-3` → {linkId: 'radio1', sysid: 3}; null when it is not a vehicle token. */
export function parseVehicleToken(token: string): { linkId: string; sysid: number } | null {
  const m = /^([A-Za-z0-9_-]+)-(\d{1,3})$/.exec(token);
  if (!m) return null;
  const sysid = Number(m[2]);
  if (sysid < 1 || sysid > 255) return null;
  return { linkId: m[1], sysid };
}

/** Subjects under one root (`dropline` unless several deployments share a NATS server). */
export class Subjects {
  constructor(readonly root: string = DEFAULT_ROOT) {
    checkToken('bus subject root', root);
  }

  /** `<root>.<site>.<vehicle>.<kind>` */
  vehicle(site: string, vehicle: string, kind: VehicleSubject): string {
    return `${this.root}.${site}.${vehicle}.${kind}`;
  }

  /** Every vehicle of a site (or of every site when `site` is undefined), one kind. */
  all(kind: VehicleSubject, site?: string): string {
    return `${this.root}.${site ?? '*'}.*.${kind}`;
  }

  /** {site, vehicle, kind} of a vehicle subject under this root; null otherwise. */
  parse(subject: string): { site: string; vehicle: string; kind: VehicleSubject } | null {
    const parts = subject.split('.');
    if (parts.length !== 4 || parts[0] !== this.root) return null;
    const kind = parts[3];
    if (kind !== 'rx' && kind !== 'tx' && kind !== 'lease' && kind !== 'presence') return null;
    return { site: parts[1], vehicle: parts[2], kind };
  }

  /** `<root>.events.<kind>`: what one service node tells the others' consoles (never recorded). */
  event(kind: NodeEvent): string {
    return `${this.root}.events.${kind}`;
  }

  /** The JetStream stream that records every frame: `<ROOT>_TLOG` (`DROPLINE_TLOG`). */
  get tlogStream(): string {
    return `${this.root.toUpperCase().replace(/-/g, '_')}_TLOG`;
  }
}

/** A service node's claim on a vehicle, published on `.lease` about every second. */
export interface LeaseRenewal {
  /** The node holding the vehicle. */
  node: string;
  /** The lease lapses this long after this renewal unless renewed. */
  ttlMs: number;
}

/** What heartbeats-on-behalf the agent sends for a vehicle. */
export type HeartbeatMode =
  /** No node has held the vehicle since the agent started: no GCS heartbeats. */
  | 'idle'
  /** A node holds the lease: GCS heartbeats. */
  | 'leased'
  /** The lease lapsed: GCS heartbeats go on until the grace ends. */
  | 'grace'
  /** The grace ended: no GCS heartbeats, the vehicle's own failsafe acts. */
  | 'stopped';

/** The agent's view of one vehicle, published on `.presence` every second and on every change. */
export interface Presence {
  site: string;
  vehicle: string;
  /** The agent's id (host, pid). */
  agent: string;
  /** The agent's link id and its transport URI (without key material). */
  link: string;
  uri: string;
  linkUp: boolean;
  sysid: number;
  compid: number;
  autopilot: string;
  vehicleType: number;
  /** A HEARTBEAT from the vehicle within the last 5 s. */
  connected: boolean;
  heartbeats: HeartbeatMode;
  /** The node holding (or last holding) the lease; null if none ever did. */
  leaseHolder: string | null;
  /** When the lease lapses (leased) or lapsed (grace, stopped), ms since the epoch. */
  leaseUntilMs: number | null;
  /** When the grace ends or ended (grace, stopped), ms since the epoch. */
  graceUntilMs: number | null;
  /** GCS heartbeats the agent sent on the vehicle's link. */
  heartbeatsSent: number;
  /** The link's signing mode at the agent. */
  signing: 'off' | 'sign' | 'require';
  timeMs: number;
}
