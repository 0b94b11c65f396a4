/**
 * The fleet: many links, many vehicles per link, one Vehicle per (link, sysid) holding the one
 * decoded state. Per link: a MAVLink 2 encoder (its own sequence counter), a decoder with its
 * counters, optional signing, a GCS heartbeat and HEARTBEAT discovery.
 */
import { EventEmitter } from 'events';
import type { MavLinkData } from 'mavlink-mappings';
import { MavlinkDecoder, MavlinkEncoder, type Frame } from '../mavlink/codec';
import { Signer, type SigningMode } from '../mavlink/signing';
import { openLink, type Link, type LinkOptions } from '../link';
import { systemClock, type Clock } from '../vehicle/clock';
import { GcsHeartbeat, VehicleDiscovery, type DiscoveredVehicle } from '../vehicle/heartbeat';
import { Vehicle, type VehicleOptions } from './vehicle';
import type { FleetHandle, VehicleHandle } from './types';

export interface LinkSigning {
  /** 'off' (default), 'sign' (sign outgoing, accept unsigned), 'require' (drop unsigned and bad signatures). */
  mode: SigningMode;
  /** 32-byte key (e.g. keyFromPassphrase). Required unless mode is 'off'. */
  key?: Buffer;
  /** Link id stamped into our signatures. Default 0. */
  linkId?: number;
}

export interface AddLinkOptions {
  /** Link id (used in vehicle ids `${linkId}/${sysid}`). Default `link1`, `link2`, … */
  id?: string;
  /** Signing on this link. Default: the fleet's `signing`, else off. */
  signing?: LinkSigning;
}

export interface FleetOptions extends VehicleOptions {
  /** Our MAVLink system id. Default 255. */
  gcsSysid?: number;
  /** Our component id. Default 190 (MAV_COMP_ID_MISSIONPLANNER). */
  gcsCompid?: number;
  /** GCS heartbeats per second on every link. Default 2. */
  heartbeatHz?: number;
  /** A vehicle silent (no HEARTBEAT) this long is lost. Default 5000 ms. */
  lostAfterMs?: number;
  /** Default signing for links that do not set their own. Default off. */
  signing?: LinkSigning;
  /** Reconnect backoff and UDP remote expiry for every link. Defaults in LinkOptions. */
  link?: LinkOptions;
  /** Clock for protocol timers. Default the wall clock. */
  clock?: Clock;
}

export class FleetError extends Error {
  constructor(readonly code: 'DUPLICATE_LINK' | 'UNKNOWN_LINK' | 'INVALID_SIGNING' | 'INVALID_LINK_URI', message: string) {
    super(message);
    this.name = 'FleetError';
  }
}

interface LinkEntry {
  id: string;
  uri: string;
  link: Link;
  encoder: MavlinkEncoder;
  decoder: MavlinkDecoder;
  heartbeat: GcsHeartbeat;
  discovery: VehicleDiscovery;
  vehicles: Map<number, Vehicle>;
  signing: SigningMode;
}

export class Fleet extends EventEmitter implements FleetHandle {
  private readonly entries = new Map<string, LinkEntry>();
  private readonly clock: Clock;
  private nextLink = 1;
  private closed = false;

  constructor(private readonly opts: FleetOptions = {}) {
    super();
    this.clock = opts.clock ?? systemClock;
  }

  addLink(uri: string, opts: AddLinkOptions = {}): string {
    const id = opts.id ?? `link${this.nextLink++}`;
    if (this.entries.has(id)) throw new FleetError('DUPLICATE_LINK', `a link with id ${id} already exists`);
    const signing = opts.signing ?? this.opts.signing ?? { mode: 'off' };
    let signer: Signer | undefined;
    if (signing.mode !== 'off') {
      if (!signing.key || signing.key.length !== 32) throw new FleetError('INVALID_SIGNING', `link ${id}: signing mode ${signing.mode} needs a 32-byte key`);
      signer = new Signer({ key: signing.key, mode: signing.mode, linkId: signing.linkId ?? 0 });
    }
    const link = openLink(uri, this.opts.link); // throws LinkError INVALID_LINK_URI
    const self = { sysid: this.opts.gcsSysid ?? 255, compid: this.opts.gcsCompid ?? 190 };
    const encoder = new MavlinkEncoder({ sysid: self.sysid, compid: self.compid, signer });
    const send = (m: MavLinkData) => {
      link.write(encoder.encode(m));
    };
    const discovery = new VehicleDiscovery(this.clock, { lostAfterMs: this.opts.lostAfterMs });
    const vehicles = new Map<number, Vehicle>();
    const entry: LinkEntry = {
      id,
      uri,
      link,
      encoder,
      heartbeat: new GcsHeartbeat(send, this.clock, { hz: this.opts.heartbeatHz }),
      discovery,
      vehicles,
      signing: signing.mode,
      decoder: new MavlinkDecoder((f) => this.onFrame(entry, f), { signer }),
    };
    this.entries.set(id, entry);

    discovery.on('discovered', (d: DiscoveredVehicle) => {
      const v = new Vehicle(id, d.sysid, d.compid, send, this.clock, self, this.opts);
      v.on('state', (s) => this.emit('state', s));
      vehicles.set(d.sysid, v);
      // Announce it connected, then start its protocols (rates, timesync). The heartbeat that
      // discovered it is applied right after this, like every later frame.
      v.state.autopilot = d.autopilot;
      v.state.vehicleType = d.vehicleType;
      v.state.connected = true;
      this.emit('vehicle', v);
      v.setConnected(true);
    });
    discovery.on('found', (d: DiscoveredVehicle) => {
      const v = vehicles.get(d.sysid);
      if (!v) return;
      this.emit('found', v.id);
      v.setConnected(true);
    });
    discovery.on('lost', (d: DiscoveredVehicle) => {
      const v = vehicles.get(d.sysid);
      if (!v) return;
      v.setConnected(false);
      this.emit('lost', v.id);
    });
    link.on('data', (b: Buffer) => entry.decoder.push(b));
    link.on('error', () => undefined);
    link.on('up', () => {
      entry.heartbeat.beatNow();
      this.emit('link-up', id);
    });
    link.on('down', () => {
      // Nothing can be heard on a dead link: its vehicles are lost now, not in 5 s.
      for (const d of discovery.vehicles.values()) discovery.markLost(d);
      this.emit('link-down', id);
    });
    entry.heartbeat.start();
    return id;
  }

  private onFrame(entry: LinkEntry, f: Frame): void {
    entry.discovery.handle(f);
    const v = entry.vehicles.get(f.sysid);
    if (!v) return;
    v.handleFrame(f);
    this.emit('frame', v.id, f);
  }

  async removeLink(id: string): Promise<void> {
    const e = this.entries.get(id);
    if (!e) throw new FleetError('UNKNOWN_LINK', `no link with id ${id}`);
    this.entries.delete(id);
    e.heartbeat.stop();
    for (const v of e.vehicles.values()) {
      const wasConnected = v.state.connected;
      v.dispose();
      if (wasConnected) this.emit('lost', v.id);
    }
    e.discovery.stop();
    e.discovery.removeAllListeners();
    await e.link.close();
  }

  links(): Array<{ id: string; uri: string; up: boolean; stats: Record<string, number>; signing: SigningMode; local: { address: string; port: number } | null }> {
    return [...this.entries.values()].map((e) => ({
      id: e.id,
      uri: e.uri,
      up: e.link.up,
      local: e.link.local,
      signing: e.signing,
      stats: {
        ...e.link.stats,
        framesIn: e.decoder.stats.packets,
        framesOut: e.encoder.stats.packets,
        crcErrors: e.decoder.stats.crcErrors,
        unknown: e.decoder.stats.unknown,
        lost: e.decoder.stats.lost,
        skippedBytes: e.decoder.stats.skippedBytes,
        signatureRejected: e.decoder.stats.signatureRejected,
        unsignedRejected: e.decoder.stats.unsignedRejected,
        heartbeatsSent: e.heartbeat.sent,
      },
    }));
  }

  vehicles(): VehicleHandle[] {
    const out: VehicleHandle[] = [];
    for (const e of this.entries.values()) out.push(...e.vehicles.values());
    return out;
  }

  get(id: string): Vehicle | undefined {
    const slash = id.lastIndexOf('/');
    if (slash < 0) return undefined;
    return this.entries.get(id.slice(0, slash))?.vehicles.get(Number(id.slice(slash + 1)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.entries.keys()].map((id) => this.removeLink(id)));
  }
}

/** Create a fleet. See FleetOptions for every option and its default. */
export function createFleet(opts: FleetOptions = {}): Fleet {
  return new Fleet(opts);
}
