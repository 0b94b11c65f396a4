/**
 * The fleet: many links, many vehicles per link, one Vehicle per (link, sysid) holding the one
 * decoded state. Per link: a MAVLink 2 encoder (its own sequence counter), a decoder with its
 * counters, optional signing, a GCS heartbeat (unless a link agent sends it: AddLinkOptions.gcsHeartbeat)
 * and HEARTBEAT discovery.
 *
 * Signing is per link: one key, one mode (off / sign / require, see link-spec.ts). A link
 * usually carries one vehicle; the key belongs to the link id. `provisionSigning` gives a vehicle
 * a new key with SETUP_SIGNING and moves its link to that key once the vehicle answers signed.
 */
import { EventEmitter } from 'events';
import fs from 'fs';
import type { MavLinkData } from 'mavlink-mappings';
import { common } from 'mavlink-mappings';
import { MavlinkDecoder, MavlinkEncoder, type Frame } from '../mavlink/codec';
import { msg } from '../mavlink/registry';
import { Signer, parseHexKey, type SigningMode } from '../mavlink/signing';
import { openLink, type Link, type LinkOptions } from '../link';
import { parseLinkSpec } from './link-spec';
import { systemClock, type Clock } from '../vehicle/clock';
import { GcsHeartbeat, VehicleDiscovery, type DiscoveredVehicle } from '../vehicle/heartbeat';
import { Vehicle, type VehicleOptions } from './vehicle';
import type { FleetHandle, Outcome, VehicleHandle } from './types';

export interface LinkSigning {
  /** 'off' (default), 'sign' (sign outgoing, accept unsigned), 'require' (drop unsigned and bad signatures). */
  mode: SigningMode;
  /** 32-byte key (e.g. keyFromPassphrase). Required unless mode is 'off'. */
  key?: Buffer;
  /** Link id stamped into our signatures. Default 0. */
  linkId?: number;
}

export interface AddLinkOptions {
  /** Link id (used in vehicle ids `${linkId}/${sysid}`). Default: the URI's `id=`, else `link1`, `link2`, … */
  id?: string;
  /**
   * Signing on this link. Default: the URI's `signing=` and `signingKeyFile=`, then the key from
   * `signingKeyFor(id)`, then the fleet's `signing`; the mode defaults to 'require' when a key was
   * found that way, else 'off'.
   */
  signing?: LinkSigning;
  /**
   * An open transport to use instead of opening the URI (a bus link from a link agent,
   * src/bus/bus-link.ts). The URI then only names the link and may carry MAVLink options after '?'.
   * Default: open the URI (src/link). The fleet closes it on removeLink.
   */
  transport?: Link;
  /**
   * Send our GCS heartbeat on this link. Default true. False where a link agent sends the GCS
   * heartbeats on the vehicle's own link (src/agent): they must go on while this process restarts.
   */
  gcsHeartbeat?: boolean;
}

/** Signing counters of one link (frames received). */
export interface SigningCounters {
  /** Signed frames that verified. */
  accepted: number;
  /** Unsigned frames dropped (mode 'require'). */
  rejectedUnsigned: number;
  /** Signed frames whose signature did not match the key. */
  rejectedBadSignature: number;
  /** Signed frames replayed (timestamp not newer than the stream's) or too old for a new stream. */
  rejectedReplay: number;
}

/** What may be shown of a link's signing: never the key. */
export interface LinkSigningStatus {
  linkId: string;
  enabled: boolean;
  mode: SigningMode;
  /** The mode the link was configured with; null when it follows the key (require with a key, else off). */
  configuredMode: SigningMode | null;
  /** Fingerprint of the key in use (first 8 hex of its sha256); null without a key. */
  keyId: string | null;
  counters: SigningCounters;
}

export interface ProvisionOptions {
  /** Wait this long for a HEARTBEAT signed with the new key after each SETUP_SIGNING. Default 3000 ms. */
  timeoutMs?: number;
  /** SETUP_SIGNING attempts. Default 3. */
  attempts?: number;
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
  /** The stored key of a link id, used when neither the link options nor its URI give one. Default none. */
  signingKeyFor?: (linkId: string) => Buffer | undefined;
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
  /** False where a link agent sends the GCS heartbeats (AddLinkOptions.gcsHeartbeat). */
  sendsHeartbeat: boolean;
  discovery: VehicleDiscovery;
  vehicles: Map<number, Vehicle>;
  signing: SigningMode;
  configuredMode: SigningMode | null;
  signer: Signer | undefined;
  /** Link id stamped into our signatures. */
  signingLinkId: number;
  provisioning: boolean;
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
    const spec = parseLinkSpec(uri, { transportGiven: opts.transport !== undefined }); // throws LinkError INVALID_LINK_URI
    const id = opts.id ?? spec.id ?? `link${this.nextLink++}`;
    if (this.entries.has(id)) throw new FleetError('DUPLICATE_LINK', `a link with id ${id} already exists`);
    let key = opts.signing?.key;
    if (!key && spec.signingKeyFile) key = readKeyFile(id, spec.signingKeyFile);
    if (!key && !opts.signing) key = this.opts.signingKeyFor?.(id) ?? this.opts.signing?.key;
    const configuredMode = opts.signing?.mode ?? spec.signing ?? this.opts.signing?.mode ?? null;
    const mode: SigningMode = configuredMode ?? (key ? 'require' : 'off');
    const signingLinkId = (opts.signing?.linkId ?? this.opts.signing?.linkId ?? 0) & 0xff;
    let signer: Signer | undefined;
    if (mode !== 'off') {
      if (!key || key.length !== 32)
        throw new FleetError(
          'INVALID_SIGNING',
          `link ${id}: signing mode ${mode} needs a 32-byte key (provision the vehicle first, or give signingKeyFile=)`,
        );
      signer = new Signer({ key, mode, linkId: signingLinkId });
    }
    const link = opts.transport ?? openLink(spec.transport, this.opts.link); // throws LinkError INVALID_LINK_URI
    const sendsHeartbeat = opts.gcsHeartbeat ?? true;
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
      sendsHeartbeat,
      discovery,
      vehicles,
      signing: mode,
      configuredMode,
      signer,
      signingLinkId,
      provisioning: false,
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
      if (sendsHeartbeat) entry.heartbeat.beatNow();
      this.emit('link-up', id);
    });
    link.on('down', () => {
      // Nothing can be heard on a dead link: its vehicles are lost now, not in 5 s.
      for (const d of discovery.vehicles.values()) discovery.markLost(d);
      this.emit('link-down', id);
    });
    if (sendsHeartbeat) entry.heartbeat.start();
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

  links(): Array<{
    id: string;
    uri: string;
    up: boolean;
    stats: Record<string, number>;
    signing: SigningMode;
    /** Fingerprint of the link's key; null without one. */
    signingKeyId: string | null;
    local: { address: string; port: number } | null;
  }> {
    return [...this.entries.values()].map((e) => ({
      id: e.id,
      uri: e.uri,
      up: e.link.up,
      local: e.link.local,
      signing: e.signing,
      signingKeyId: e.signer?.keyId ?? null,
      stats: {
        ...e.link.stats,
        framesIn: e.decoder.stats.packets,
        framesOut: e.encoder.stats.packets,
        crcErrors: e.decoder.stats.crcErrors,
        unknown: e.decoder.stats.unknown,
        lost: e.decoder.stats.lost,
        skippedBytes: e.decoder.stats.skippedBytes,
        signatureRejected: e.decoder.stats.signatureRejected,
        badSignatureRejected: e.decoder.stats.badSignatureRejected,
        replayRejected: e.decoder.stats.replayRejected,
        unsignedRejected: e.decoder.stats.unsignedRejected,
        signedAccepted: e.decoder.stats.signedAccepted,
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

  /** Signing of a link, or of the link a vehicle id (`link/sysid`) is on; undefined when unknown. */
  signingStatus(linkOrVehicleId: string): LinkSigningStatus | undefined {
    const e = this.entries.get(linkOrVehicleId) ?? this.entries.get(linkOrVehicleId.slice(0, Math.max(0, linkOrVehicleId.lastIndexOf('/'))));
    if (!e) return undefined;
    const st = e.decoder.stats;
    return {
      linkId: e.id,
      enabled: e.signing !== 'off',
      mode: e.signing,
      configuredMode: e.configuredMode,
      keyId: e.signer?.keyId ?? null,
      counters: { accepted: st.signedAccepted, rejectedUnsigned: st.unsignedRejected, rejectedBadSignature: st.badSignatureRejected, rejectedReplay: st.replayRejected },
    };
  }

  private useSigner(e: LinkEntry, signer: Signer | undefined, mode: SigningMode, previous?: Signer): void {
    e.signer = signer;
    e.signing = mode;
    e.encoder.signer = signer;
    e.decoder.setSigner(signer, previous);
  }

  /**
   * Give a vehicle a new signing key: SETUP_SIGNING (#256) with the key and our current signing
   * time, sent under the link's present signing (unsigned, or signed with the old key: a vehicle
   * that signs takes SETUP_SIGNING only that way); then the link signs and verifies with the new
   * key, and the vehicle must answer with a HEARTBEAT signed with it. Otherwise it is sent again
   * (`attempts`), and at the end the link goes back to what it had.
   *
   * The link then runs in its configured mode, or 'require' when it had none. Refused while the
   * vehicle is armed (ArduPilot ignores SETUP_SIGNING then), on a link configured signing=off, and
   * on a link that carries other vehicles (one key per link). SETUP_SIGNING carries the key in
   * clear: provision over a link nobody else can listen to.
   */
  async provisionSigning(vehicleId: string, key: Buffer, opts: ProvisionOptions = {}): Promise<Outcome<{ keyId: string; mode: SigningMode; attempts: number }>> {
    if (!Buffer.isBuffer(key) || key.length !== 32) throw new FleetError('INVALID_SIGNING', 'a signing key is 32 bytes');
    const v = this.get(vehicleId);
    const e = v ? this.entries.get(v.state.linkId) : undefined;
    if (!v || !e) return { ok: false, code: 'NOT_CONNECTED', message: `no vehicle ${vehicleId}` };
    if (e.configuredMode === 'off') return { ok: false, code: 'DENIED', message: `link ${e.id} is configured with signing=off` };
    // The link agent signs its own GCS heartbeats: it needs the key first (signingKeyFile= on its --link).
    if (!e.sendsHeartbeat) return { ok: false, code: 'DENIED', message: `${v.id} is behind a link agent: give the agent the key (signingKeyFile= on its --link), not the vehicle over the bus` };
    const others = [...e.vehicles.values()].filter((x) => x !== v).map((x) => x.id);
    if (others.length > 0) return { ok: false, code: 'DENIED', message: `link ${e.id} also carries ${others.join(', ')}: signing keys are per link` };
    if (e.provisioning) return { ok: false, code: 'BUSY', message: `a signing key is already being provisioned on link ${e.id}` };
    if (!v.state.connected || !e.link.up) return { ok: false, code: 'NOT_CONNECTED', message: `${v.id} is not connected` };
    if (v.state.armed) return { ok: false, code: 'DENIED', message: `${v.id} is armed: autopilots refuse a new signing key in flight` };
    const timeoutMs = opts.timeoutMs ?? 3000;
    const attempts = Math.max(1, opts.attempts ?? 3);
    const before = { signer: e.signer, mode: e.signing };
    const mode: SigningMode = e.configuredMode ?? 'require';
    const next = new Signer({ key, mode, linkId: e.signingLinkId, lastSentTicks: before.signer?.lastTimestamp });
    // Until the vehicle answers with the new key, frames it sent before switching still pass:
    // unsigned ones if the link was unsigned (as they did a moment ago), or those signed with the
    // old key.
    const waiting: SigningMode = before.mode === 'off' ? 'sign' : mode;
    // The vehicle's signing clock starts from this timestamp (ArduPilot: a minute past it) and
    // accepts a new stream only if it is not more than a minute older: one second before our own
    // signing time keeps our first frames clear of that edge.
    const setup = msg(common.SetupSigning, {
      targetSystem: v.state.sysid,
      targetComponent: v.state.compid,
      secretKey: [...key],
      initialTimestamp: BigInt(Math.max(0, next.signingTime() - 100_000)),
    });
    e.provisioning = true;
    try {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (this.closed || !this.entries.has(e.id)) break;
        this.useSigner(e, before.signer, before.mode);
        e.link.write(e.encoder.encode(setup));
        next.setMode(waiting);
        this.useSigner(e, next, waiting, before.signer);
        if (await this.signedHeartbeat(v.id, timeoutMs)) {
          next.setMode(mode);
          this.useSigner(e, next, mode);
          return { ok: true, keyId: next.keyId, mode, attempts: attempt };
        }
      }
      this.useSigner(e, before.signer, before.mode);
      return { ok: false, code: 'TIMEOUT', message: `${v.id} did not answer signed with the new key after ${attempts} SETUP_SIGNING` };
    } finally {
      e.provisioning = false;
    }
  }

  /** Resolves true on the vehicle's next HEARTBEAT that verified with the link's (new) key. */
  private signedHeartbeat(vehicleId: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const onFrame = (id: string, f: Frame) => {
        if (id === vehicleId && f.name === 'HEARTBEAT' && f.signed && !f.previousKey) done(true);
      };
      const timer = this.clock.setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        this.off('frame', onFrame);
        this.clock.clearTimeout(timer);
        resolve(ok);
      };
      this.on('frame', onFrame);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.entries.keys()].map((id) => this.removeLink(id)));
  }
}

/** A key file: 64 hex digits. Errors name the link and the file, never the content. */
function readKeyFile(linkId: string, file: string): Buffer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FleetError('INVALID_SIGNING', `link ${linkId}: cannot read signingKeyFile ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return parseHexKey(text);
  } catch {
    throw new FleetError('INVALID_SIGNING', `link ${linkId}: signingKeyFile ${file} must hold 64 hex digits (32 bytes)`);
  }
}

/** Create a fleet. See FleetOptions for every option and its default. */
export function createFleet(opts: FleetOptions = {}): Fleet {
  return new Fleet(opts);
}
