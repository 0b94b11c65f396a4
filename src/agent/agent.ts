/**
 * The link agent: runs beside a radio (or SITL), holds its links, and moves MAVLink frames
 * between them and the bus (src/bus/subjects.ts names the subjects):
 *
 * - discovers vehicles by their HEARTBEAT (sysid) on each link and publishes their frames on
 *   `<root>.<site>.<link>-<sysid>.rx`, as received (signatures included);
 * - writes what arrives on `.tx` to the vehicle's link (signing unsigned frames on a signed link);
 * - sends the GCS heartbeats itself (src/agent/lease.ts): while a service node holds the vehicle's
 *   lease, then for a grace after it lapses, then no more, so the vehicle's own failsafe acts;
 * - publishes `.presence` for each vehicle every second and on every change;
 * - keeps every .rx and .tx frame in the recorded stream (JetStream `<ROOT>_TLOG`), so no node's
 *   restart loses flight records.
 *
 * Links are the reconnecting links of src/link, with the fleet's URI options (signing=,
 * signingKeyFile=, id=; src/fleet/link-spec.ts). A link's signing key signs the agent's own
 * heartbeats (with signing link id `signingLinkId`, apart from a node's own stream) and the frames
 * nodes send unsigned; with signing=require, unsigned and badly signed frames from the link are
 * dropped here, before the bus.
 */
import { EventEmitter } from 'events';
import fs from 'fs';
import os from 'os';
import { openLink, type Link, type LinkOptions } from '../link';
import { MavlinkDecoder, MavlinkEncoder, type Frame } from '../mavlink/codec';
import { Signer, parseHexKey, type SigningMode } from '../mavlink/signing';
import { parseLinkSpec } from '../fleet/link-spec';
import { GcsHeartbeat, VehicleDiscovery, type DiscoveredVehicle } from '../vehicle/heartbeat';
import { systemClock, type Clock, type TimerHandle } from '../vehicle/clock';
import type { Bus, BusSubscription } from '../bus/bus';
import { Subjects, checkToken, parseVehicleToken, vehicleToken, type LeaseRenewal, type Presence } from '../bus/subjects';
import { LeaseKeeper, DEFAULT_GRACE_MS } from './lease';
import { signFrames } from './sign-frames';

/**
 * Telemetry a vehicle streams on its own (ids of the MAVLink common set and ArduPilot's): may wait for
 * the bus's next round (a few ms, NatsBus publishRoundMs) to go out with other vehicles' frames. Any
 * other frame is an answer someone waits for (COMMAND_ACK, the mission protocol, PARAM_VALUE,
 * TIMESYNC, STATUSTEXT…) and is published at the end of this turn.
 */
const STREAMED: ReadonlySet<number> = new Set([
  0, // HEARTBEAT
  1, // SYS_STATUS
  2, // SYSTEM_TIME
  24, // GPS_RAW_INT
  27, // RAW_IMU
  29, // SCALED_PRESSURE
  30, // ATTITUDE
  31, // ATTITUDE_QUATERNION
  32, // LOCAL_POSITION_NED
  33, // GLOBAL_POSITION_INT
  35, // RC_CHANNELS_RAW
  36, // SERVO_OUTPUT_RAW
  42, // MISSION_CURRENT
  62, // NAV_CONTROLLER_OUTPUT
  65, // RC_CHANNELS
  74, // VFR_HUD
  116, // SCALED_IMU2
  125, // POWER_STATUS
  129, // SCALED_IMU3
  147, // BATTERY_STATUS
  152, // MEMINFO (ArduPilot)
  163, // AHRS (ArduPilot)
  178, // AHRS2 (ArduPilot)
  193, // EKF_STATUS_REPORT (ArduPilot)
  230, // ESTIMATOR_STATUS
  241, // VIBRATION
  242, // HOME_POSITION
  245, // EXTENDED_SYS_STATE
  246, // ADSB_VEHICLE
]);

export interface AgentOptions {
  bus: Bus;
  /** This agent's site: one subject token (letters, digits, _ -). Unique per agent on a bus. */
  site: string;
  /** Link URIs (tcp:, udpin:, udpout:, serial:) with options after '?': signing=, signingKeyFile=, id=. Ids default to link0, link1, …. */
  links: string[];
  /** Subject root. Default `dropline`. */
  subjects?: Subjects;
  /** GCS heartbeats per second while leased or in grace. Default 2 (against a simulator sped up S times: at least 2·S). */
  heartbeatHz?: number;
  /** Heartbeats go on this long after a lease lapses. Default 20000 ms. */
  graceMs?: number;
  /** Longest lease a renewal may ask for. Default 10000 ms. */
  maxLeaseTtlMs?: number;
  /** Presence period. Default 1000 ms. */
  presenceMs?: number;
  /** A vehicle without HEARTBEAT this long is not connected. Default 5000 ms. */
  lostAfterMs?: number;
  /** Keep every frame in the recorded stream. Default true. */
  record?: boolean;
  /** Recorded stream limits. Defaults: 14 days, no byte limit beyond the server's. */
  recordMaxAgeMs?: number;
  recordMaxBytes?: number;
  /** Our GCS system id (the vehicle's MAV_GCS_SYSID / SYSID_MYGCS). Default 255. */
  gcsSysid?: number;
  /** Our component id. Default 190 (MAV_COMP_ID_MISSIONPLANNER). */
  gcsCompid?: number;
  /** Signing link id stamped on what the agent signs. Default 1 (a node signing itself uses 0). */
  signingLinkId?: number;
  /** Reconnect backoff of the links. Defaults in src/link. */
  link?: LinkOptions;
  /** This agent's name in presence. Default `<host>-<pid>`. */
  id?: string;
  clock?: Clock;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

export class AgentError extends Error {
  constructor(readonly code: 'INVALID_AGENT_OPTION' | 'INVALID_LINK_URI' | 'INVALID_SIGNING' | 'DUPLICATE_LINK', message: string) {
    super(message);
    this.name = 'AgentError';
  }
}

interface AgentVehicle {
  token: string;
  sysid: number;
  lease: LeaseKeeper;
  /** From the vehicle's HEARTBEAT; null until heard (a lease may come first, after an agent restart). */
  seen: DiscoveredVehicle | null;
  /** Frames published on .rx. */
  framesOut: number;
}

interface AgentLink {
  id: string;
  uri: string;
  link: Link;
  signing: SigningMode;
  signer: Signer | undefined;
  decoder: MavlinkDecoder;
  encoder: MavlinkEncoder;
  heartbeat: GcsHeartbeat;
  beating: boolean;
  discovery: VehicleDiscovery;
  vehicles: Map<number, AgentVehicle>;
  /** Frames of the chunk being decoded, by sysid. */
  pending: Map<number, Buffer[]>;
  /** The chunk holds a frame someone waits for (not periodic telemetry): published this turn. */
  answer: boolean;
  stats: { framesIn: number; framesPublished: number; framesUnrouted: number; txMessages: number; txSigned: number };
}

export interface AgentStatus {
  site: string;
  id: string;
  bus: { url: string; connected: boolean };
  links: Array<{ id: string; uri: string; up: boolean; signing: SigningMode; heartbeatsSent: number; beating: boolean; stats: AgentLink['stats'] & Link['stats'] }>;
  vehicles: Presence[];
}

/** Events: 'presence' (Presence), 'heartbeats' ({vehicle, mode, previous}). */
export class Agent extends EventEmitter {
  readonly site: string;
  readonly id: string;
  private readonly bus: Bus;
  private readonly subjects: Subjects;
  private readonly clock: Clock;
  private readonly links = new Map<string, AgentLink>();
  private readonly subs: BusSubscription[] = [];
  private presenceTimer: TimerHandle | undefined;
  private closed = false;

  constructor(private readonly opts: AgentOptions) {
    super();
    this.bus = opts.bus;
    this.site = checkToken('site', opts.site);
    this.subjects = opts.subjects ?? new Subjects();
    this.clock = opts.clock ?? systemClock;
    this.id = opts.id ?? `${os.hostname()}-${process.pid}`;
    if (!opts.links.length) throw new AgentError('INVALID_AGENT_OPTION', 'an agent needs at least one --link');
    const hz = opts.heartbeatHz ?? 2;
    if (!(hz > 0 && hz <= 50)) throw new AgentError('INVALID_AGENT_OPTION', `heartbeat rate must be in (0, 50] Hz, got ${hz}`);
    const grace = opts.graceMs ?? DEFAULT_GRACE_MS;
    if (!(grace >= 0 && grace <= 3_600_000)) throw new AgentError('INVALID_AGENT_OPTION', `grace must be 0..3600 s, got ${grace / 1000} s`);
    // Check every link before opening any.
    const specs = opts.links.map((uri, i) => {
      let spec;
      try {
        spec = parseLinkSpec(uri);
      } catch (e) {
        throw new AgentError('INVALID_LINK_URI', (e as Error).message);
      }
      const id = spec.id ?? `link${i}`;
      try {
        checkToken('link id', id);
      } catch (e) {
        throw new AgentError('INVALID_LINK_URI', `link ${JSON.stringify(uri)}: ${(e as Error).message}`);
      }
      return { uri, id, spec, key: spec.signingKeyFile ? readKey(id, spec.signingKeyFile) : undefined };
    });
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.id)) throw new AgentError('DUPLICATE_LINK', `two links with id ${s.id}: give each an id= of its own`);
      seen.add(s.id);
      const mode = s.spec.signing ?? (s.key ? 'require' : 'off');
      if (mode !== 'off' && !s.key) throw new AgentError('INVALID_SIGNING', `link ${s.id}: signing=${mode} needs signingKeyFile= (the key as 64 hex digits)`);
    }
    for (const s of specs) this.openAgentLink(s.id, s.uri, s.spec.transport, s.spec.signing ?? (s.key ? 'require' : 'off'), s.key, hz);
  }

  /** Subscribe, set up the recorded stream, and start publishing presence. */
  async start(): Promise<void> {
    if (this.opts.record !== false) {
      const root = this.subjects.root;
      await this.bus.ensureRecording({
        stream: this.subjects.tlogStream,
        subjects: [`${root}.*.*.rx`, `${root}.*.*.tx`],
        maxAgeMs: this.opts.recordMaxAgeMs,
        maxBytes: this.opts.recordMaxBytes,
      });
    }
    this.subs.push(
      this.bus.subscribe(this.subjects.all('tx', this.site), (m) => this.onTx(m.subject, m.data)),
      this.bus.subscribe(this.subjects.all('lease', this.site), (m) => this.onLease(m.subject, m.data)),
    );
    const period = this.opts.presenceMs ?? 1000;
    const tick = () => {
      this.publishAllPresence();
      if (!this.closed) this.presenceTimer = this.clock.setTimeout(tick, period);
    };
    tick();
  }

  private openAgentLink(id: string, uri: string, transport: string, signing: SigningMode, key: Buffer | undefined, hz: number): void {
    const signer = signing !== 'off' && key ? new Signer({ key, mode: signing, linkId: this.opts.signingLinkId ?? 1 }) : undefined;
    const link = openLink(transport, this.opts.link);
    const encoder = new MavlinkEncoder({ sysid: this.opts.gcsSysid ?? 255, compid: this.opts.gcsCompid ?? 190, signer });
    const discovery = new VehicleDiscovery(this.clock, { lostAfterMs: this.opts.lostAfterMs });
    const al: AgentLink = {
      id,
      uri: transport,
      link,
      signing,
      signer,
      encoder,
      discovery,
      heartbeat: new GcsHeartbeat((m) => link.write(encoder.encode(m)), this.clock, { hz }),
      beating: false,
      vehicles: new Map(),
      pending: new Map(),
      answer: false,
      decoder: new MavlinkDecoder((f) => this.onFrame(al, f), { signer }),
      stats: { framesIn: 0, framesPublished: 0, framesUnrouted: 0, txMessages: 0, txSigned: 0 },
    };
    this.links.set(id, al);
    discovery.on('discovered', (d: DiscoveredVehicle) => {
      const v = this.vehicleOf(al, d.sysid);
      v.seen = d;
      this.opts.log?.info({ link: id, sysid: d.sysid, autopilot: d.autopilot, vehicle: v.token }, 'vehicle discovered');
      this.publishPresence(al, v);
    });
    discovery.on('found', (d: DiscoveredVehicle) => this.publishPresence(al, this.vehicleOf(al, d.sysid)));
    discovery.on('lost', (d: DiscoveredVehicle) => this.publishPresence(al, this.vehicleOf(al, d.sysid)));
    link.on('data', (b: Buffer) => this.onBytes(al, b));
    link.on('error', () => undefined);
    link.on('up', () => {
      this.opts.log?.info({ link: id, uri: transport }, 'link up');
      if (al.beating) al.heartbeat.beatNow();
      for (const v of al.vehicles.values()) this.publishPresence(al, v);
    });
    link.on('down', () => {
      this.opts.log?.warn({ link: id, uri: transport }, 'link down');
      for (const d of discovery.vehicles.values()) discovery.markLost(d);
      for (const v of al.vehicles.values()) this.publishPresence(al, v);
    });
  }

  private vehicleOf(al: AgentLink, sysid: number): AgentVehicle {
    let v = al.vehicles.get(sysid);
    if (v) return v;
    const lease = new LeaseKeeper({ clock: this.clock, graceMs: this.opts.graceMs, maxTtlMs: this.opts.maxLeaseTtlMs });
    v = { token: vehicleToken(al.id, sysid), sysid, lease, seen: null, framesOut: 0 };
    const vv = v;
    lease.on('change', (mode, previous) => {
      const level = mode === 'stopped' || mode === 'grace' ? 'warn' : 'info';
      this.opts.log?.[level]({ vehicle: vv.token, heartbeats: mode, previous, holder: lease.holder, graceUntilMs: lease.graceUntilMs }, `GCS heartbeats: ${mode}`);
      this.updateHeartbeat(al);
      this.emit('heartbeats', { vehicle: vv.token, mode, previous });
      this.publishPresence(al, vv);
    });
    al.vehicles.set(sysid, v);
    return v;
  }

  /** One link sends heartbeats while any of its vehicles is leased or in grace (a HEARTBEAT has no target). */
  private updateHeartbeat(al: AgentLink): void {
    const want = !this.closed && [...al.vehicles.values()].some((v) => v.lease.beating);
    if (want === al.beating) return;
    al.beating = want;
    if (want) al.heartbeat.start();
    else al.heartbeat.stop();
  }

  private onBytes(al: AgentLink, b: Buffer): void {
    al.decoder.push(b); // calls onFrame for each whole frame
    if (al.pending.size === 0) return;
    for (const [sysid, frames] of al.pending) {
      const v = al.vehicles.get(sysid);
      if (!v) continue;
      const data = frames.length === 1 ? frames[0] : Buffer.concat(frames);
      this.bus.publish(this.subjects.vehicle(this.site, v.token, 'rx'), data, { now: al.answer });
      v.framesOut += frames.length;
      al.stats.framesPublished += frames.length;
    }
    al.pending.clear();
    al.answer = false;
  }

  private onFrame(al: AgentLink, f: Frame): void {
    al.stats.framesIn++;
    al.discovery.handle(f);
    // Only frames of a vehicle heard by HEARTBEAT (not other ground stations on the same radio).
    if (!al.discovery.vehicles.has(f.sysid)) {
      al.stats.framesUnrouted++;
      return;
    }
    if (!al.vehicles.has(f.sysid)) this.vehicleOf(al, f.sysid);
    if (!STREAMED.has(f.msgid)) al.answer = true;
    const list = al.pending.get(f.sysid);
    if (list) list.push(f.raw);
    else al.pending.set(f.sysid, [f.raw]);
  }

  private target(subject: string): { al: AgentLink; v: AgentVehicle } | null {
    const s = this.subjects.parse(subject);
    if (!s || s.site !== this.site) return null;
    const t = parseVehicleToken(s.vehicle);
    if (!t) return null;
    const al = this.links.get(t.linkId);
    if (!al) return null;
    return { al, v: this.vehicleOf(al, t.sysid) };
  }

  private onTx(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    const t = this.target(subject);
    if (!t) return;
    let bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (t.al.signer) {
      const r = signFrames(bytes, t.al.signer);
      bytes = r.bytes;
      t.al.stats.txSigned += r.signed;
    }
    t.al.stats.txMessages++;
    t.al.link.write(bytes);
  }

  private onLease(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    const t = this.target(subject);
    if (!t) return;
    let r: LeaseRenewal;
    try {
      r = JSON.parse(Buffer.from(data).toString('utf8')) as LeaseRenewal;
    } catch {
      return;
    }
    const before = t.v.lease.holder;
    if (t.v.lease.renew(r) && before !== r.node) {
      this.opts.log?.info({ vehicle: t.v.token, node: r.node, previous: before }, 'lease taken');
      this.publishPresence(t.al, t.v);
    }
  }

  private presenceOf(al: AgentLink, v: AgentVehicle): Presence {
    const d = al.discovery.vehicles.get(v.sysid);
    return {
      site: this.site,
      vehicle: v.token,
      agent: this.id,
      link: al.id,
      uri: al.uri,
      linkUp: al.link.up,
      sysid: v.sysid,
      compid: d?.compid ?? v.seen?.compid ?? 0,
      autopilot: d?.autopilot ?? v.seen?.autopilot ?? 'unknown',
      vehicleType: d?.vehicleType ?? v.seen?.vehicleType ?? 0,
      connected: !!d?.connected,
      heartbeats: v.lease.mode,
      leaseHolder: v.lease.holder,
      leaseUntilMs: v.lease.leaseUntilMs,
      graceUntilMs: v.lease.graceUntilMs,
      heartbeatsSent: al.heartbeat.sent,
      signing: al.signing,
      timeMs: this.clock.now(),
    };
  }

  private publishPresence(al: AgentLink, v: AgentVehicle): void {
    if (this.closed || !this.subs.length) return;
    const p = this.presenceOf(al, v);
    this.bus.publish(this.subjects.vehicle(this.site, v.token, 'presence'), Buffer.from(JSON.stringify(p)));
    this.emit('presence', p);
  }

  private publishAllPresence(): void {
    for (const al of this.links.values()) for (const v of al.vehicles.values()) this.publishPresence(al, v);
  }

  status(): AgentStatus {
    return {
      site: this.site,
      id: this.id,
      bus: { url: this.bus.url, connected: this.bus.connected },
      links: [...this.links.values()].map((al) => ({
        id: al.id,
        uri: al.uri,
        up: al.link.up,
        signing: al.signing,
        heartbeatsSent: al.heartbeat.sent,
        beating: al.beating,
        stats: { ...al.link.stats, ...al.stats },
      })),
      vehicles: [...this.links.values()].flatMap((al) => [...al.vehicles.values()].map((v) => this.presenceOf(al, v))),
    };
  }

  /** Stop: no more heartbeats (the vehicles' failsafes act after their timeout), links closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.presenceTimer !== undefined) this.clock.clearTimeout(this.presenceTimer);
    for (const s of this.subs) s.unsubscribe();
    for (const al of this.links.values()) {
      al.heartbeat.stop();
      for (const v of al.vehicles.values()) v.lease.dispose();
      al.discovery.stop();
      al.discovery.removeAllListeners();
      await al.link.close();
    }
  }
}

function readKey(linkId: string, file: string): Buffer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AgentError('INVALID_SIGNING', `link ${linkId}: cannot read signingKeyFile ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return parseHexKey(text);
  } catch {
    throw new AgentError('INVALID_SIGNING', `link ${linkId}: signingKeyFile ${file} must hold 64 hex digits (32 bytes)`);
  }
}

/** Create and start an agent (subscriptions, recorded stream, presence). */
export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const a = new Agent(opts);
  try {
    await a.start();
  } catch (e) {
    await a.close();
    throw e;
  }
  return a;
}
