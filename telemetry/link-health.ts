/**
 * Link health per vehicle, measured from the packets the fleet receives ('frame' events):
 * - loss: sequence gaps per (sysid, compid) stream — a gap of g < 128 counts g lost packets; a
 *   larger jump is taken as a reboot or duplicate, not loss (as MAVLink's own tools do);
 * - round-trip time: from TIMESYNC replies (tc1 ≠ 0) to our requests, whose ts1 is our send time
 *   in ns since the Unix epoch (the convention of MAVSDK and pymavlink); replies whose ts1 is not a
 *   recent time of ours are ignored;
 * - message rates: messages per second by name over a sliding window (default 5 s, 1 s buckets).
 * `prometheusText` renders these and the hub's counters in the Prometheus text format (0.0.4)
 * for the server's /metrics.
 */
import type { FleetHandle, Frame, VehicleState } from '../src/fleet/types';
import { systemClock, type Clock } from '../src/vehicle/clock';
import type { TelemetryHubStats } from './hub';

export interface LinkHealthReport {
  vehicleId: string;
  packets: number;
  lost: number;
  /** lost / (packets + lost) × 100. */
  lossPct: number;
  /** Latest TIMESYNC round trip, ms; null until one was measured. */
  rttMs: number | null;
  /** Messages per second by MAVLink name over the window. */
  ratesHz: Record<string, number>;
  /** ms since the epoch of the last packet. */
  lastPacketMs: number;
}

export interface LinkHealthOptions {
  /** Subscribe to this fleet's 'frame' events (otherwise call observe()). */
  fleet?: FleetHandle;
  /** Rate window, ms (whole seconds). Default 5000. */
  windowMs?: number;
  /** Largest round trip accepted from TIMESYNC, ms. Default 10000. */
  maxRttMs?: number;
  clock?: Clock;
}

const TIMESYNC = 111;
const BUCKET_MS = 1000;

interface VehicleHealth {
  packets: number;
  lost: number;
  lastSeq: Map<number, number>;
  rttMs: number | null;
  lastPacketMs: number;
  bucketStartMs: number;
  cur: Map<string, number>;
  history: Array<Map<string, number>>;
}

export class LinkHealth {
  private readonly vehicles = new Map<string, VehicleHealth>();
  private readonly windowBuckets: number;
  private readonly maxRttMs: number;
  private readonly clock: Clock;
  private readonly listener?: (id: string, f: Frame) => void;

  constructor(private readonly opts: LinkHealthOptions = {}) {
    this.windowBuckets = Math.max(1, Math.round((opts.windowMs ?? 5000) / BUCKET_MS));
    this.maxRttMs = opts.maxRttMs ?? 10000;
    this.clock = opts.clock ?? systemClock;
    if (opts.fleet) {
      this.listener = (id, f) => this.observe(id, f);
      opts.fleet.on('frame', this.listener);
    }
  }

  /** Account one packet received from a vehicle. */
  observe(vehicleId: string, frame: Pick<Frame, 'seq' | 'sysid' | 'compid' | 'msgid' | 'name' | 'data'>, nowMs = this.clock.now()): void {
    let h = this.vehicles.get(vehicleId);
    if (!h) {
      h = { packets: 0, lost: 0, lastSeq: new Map(), rttMs: null, lastPacketMs: nowMs, bucketStartMs: nowMs, cur: new Map(), history: [] };
      this.vehicles.set(vehicleId, h);
    }
    const stream = (frame.sysid << 8) | frame.compid;
    const last = h.lastSeq.get(stream);
    if (last !== undefined) {
      const gap = (frame.seq - last - 1 + 256) & 0xff;
      if (gap < 128) h.lost += gap;
    }
    h.lastSeq.set(stream, frame.seq);
    h.packets++;
    h.lastPacketMs = nowMs;
    this.roll(h, nowMs);
    h.cur.set(frame.name, (h.cur.get(frame.name) ?? 0) + 1);
    if (frame.msgid === TIMESYNC && frame.data) {
      const d = frame.data as unknown as { tc1: bigint | number; ts1: bigint | number };
      const tc1 = BigInt(d.tc1);
      const ts1 = BigInt(d.ts1);
      if (tc1 !== 0n) {
        const rttMs = Number(BigInt(Math.round(nowMs)) * 1_000_000n - ts1) / 1e6;
        if (rttMs >= 0 && rttMs <= this.maxRttMs) h.rttMs = rttMs;
      }
    }
  }

  private roll(h: VehicleHealth, nowMs: number): void {
    while (nowMs - h.bucketStartMs >= BUCKET_MS) {
      h.history.push(h.cur);
      if (h.history.length > this.windowBuckets) h.history.shift();
      h.cur = new Map();
      h.bucketStartMs += BUCKET_MS;
      // After a long silence, skip whole empty windows at once.
      if (nowMs - h.bucketStartMs > BUCKET_MS * (this.windowBuckets + 1)) {
        h.history = [];
        h.bucketStartMs = nowMs - ((nowMs - h.bucketStartMs) % BUCKET_MS);
      }
    }
  }

  get(vehicleId: string, nowMs = this.clock.now()): LinkHealthReport | undefined {
    const h = this.vehicles.get(vehicleId);
    if (!h) return undefined;
    this.roll(h, nowMs);
    const ratesHz: Record<string, number> = {};
    const seconds = h.history.length;
    if (seconds > 0) {
      for (const b of h.history) for (const [name, n] of b) ratesHz[name] = (ratesHz[name] ?? 0) + n;
      for (const name of Object.keys(ratesHz)) ratesHz[name] = Math.round((ratesHz[name] / seconds) * 100) / 100;
    }
    const total = h.packets + h.lost;
    return {
      vehicleId, packets: h.packets, lost: h.lost, lossPct: total === 0 ? 0 : Math.round((h.lost / total) * 10000) / 100,
      rttMs: h.rttMs, ratesHz, lastPacketMs: h.lastPacketMs,
    };
  }

  all(nowMs = this.clock.now()): LinkHealthReport[] {
    return [...this.vehicles.keys()].sort().map((id) => this.get(id, nowMs)!);
  }

  /** Forget a vehicle (e.g. when its link is removed). */
  forget(vehicleId: string): void {
    this.vehicles.delete(vehicleId);
  }

  close(): void {
    if (this.opts.fleet && this.listener) this.opts.fleet.off('frame', this.listener);
  }
}

/** Escape a Prometheus label value. */
export function promLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

export interface MetricsInput {
  /** Vehicle states from the fleet (connected, loss, rtt as the fleet measures them). */
  vehicles?: VehicleState[];
  /** Per-vehicle health measured here (adds message rates). */
  health?: LinkHealth;
  /** Hub counters. */
  hub?: TelemetryHubStats;
  /** The fleet's links (fleet.links()): MAVLink signing mode and counters per link. */
  links?: Array<{ id: string; signing?: string; stats: Record<string, number> }>;
  nowMs?: number;
}

/** Prometheus text exposition (version 0.0.4) of link health and hub counters. */
export function prometheusText(input: MetricsInput): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Record<string, string>, number]>): void => {
    if (samples.length === 0) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${promLabel(x)}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${fmt(v)}`);
    }
  };
  const vs = input.vehicles ?? [];
  metric('dropline_vehicle_connected', 'gauge', 'Vehicle heard from recently (1) or lost (0).', vs.map((s) => [{ vehicle: s.id }, s.connected ? 1 : 0]));
  metric('dropline_vehicle_link_packets_total', 'counter', 'MAVLink packets received from the vehicle.', vs.map((s) => [{ vehicle: s.id }, s.link.packets]));
  metric('dropline_vehicle_link_lost_total', 'counter', 'Packets missing by sequence gaps.', vs.map((s) => [{ vehicle: s.id }, s.link.lost]));
  metric('dropline_vehicle_link_loss_ratio', 'gauge', 'Packet loss ratio from sequence gaps (0..1).', vs.map((s) => [{ vehicle: s.id }, s.link.lossPct / 100]));
  metric(
    'dropline_vehicle_link_rtt_seconds', 'gauge', 'Round-trip time from TIMESYNC.',
    vs.filter((s) => s.link.rttMs !== null).map((s) => [{ vehicle: s.id }, (s.link.rttMs as number) / 1000]),
  );
  if (input.health) {
    const reports = input.health.all(input.nowMs);
    const rates: Array<[Record<string, string>, number]> = [];
    for (const r of reports) for (const [name, hz] of Object.entries(r.ratesHz)) rates.push([{ vehicle: r.vehicleId, message: name }, hz]);
    metric('dropline_vehicle_message_rate_hz', 'gauge', 'Messages per second by MAVLink message name.', rates);
    if (vs.length === 0) {
      metric('dropline_vehicle_link_loss_ratio', 'gauge', 'Packet loss ratio from sequence gaps (0..1).', reports.map((r) => [{ vehicle: r.vehicleId }, r.lossPct / 100]));
      metric(
        'dropline_vehicle_link_rtt_seconds', 'gauge', 'Round-trip time from TIMESYNC.',
        reports.filter((r) => r.rttMs !== null).map((r) => [{ vehicle: r.vehicleId }, (r.rttMs as number) / 1000]),
      );
    }
  }
  const links = input.links ?? [];
  metric('dropline_link_signing_mode', 'gauge', 'MAVLink signing mode of a link (1 for the mode in force).', links.map((l) => [{ link: l.id, mode: l.signing ?? 'off' }, 1]));
  const signing: Array<[Record<string, string>, number]> = [];
  for (const l of links) {
    signing.push(
      [{ link: l.id, result: 'accepted' }, l.stats.signedAccepted ?? 0],
      [{ link: l.id, result: 'unsigned' }, l.stats.unsignedRejected ?? 0],
      [{ link: l.id, result: 'bad_signature' }, l.stats.badSignatureRejected ?? 0],
      [{ link: l.id, result: 'replay' }, l.stats.replayRejected ?? 0],
    );
  }
  metric('dropline_link_signing_frames_total', 'counter', 'Frames received by signature check: accepted (signed and verified) or dropped (unsigned, bad_signature, replay).', signing);
  const h = input.hub;
  if (h) {
    metric('dropline_telemetry_viewers', 'gauge', 'Connected WebSocket viewers.', [[{}, h.viewers]]);
    metric('dropline_telemetry_frames_sent_total', 'counter', 'Telemetry frames sent to viewers.', [[{}, h.framesSent]]);
    metric('dropline_telemetry_frames_dropped_total', 'counter', 'Frames coalesced away (a newer state replaced them before sending).', [[{}, h.framesDropped]]);
    metric('dropline_telemetry_messages_sent_total', 'counter', 'WebSocket messages sent.', [[{}, h.messagesSent]]);
    metric('dropline_telemetry_bytes_sent_total', 'counter', 'WebSocket bytes sent (payload).', [[{}, h.bytesSent]]);
    metric('dropline_telemetry_backpressure_skips_total', 'counter', 'Sends skipped because a viewer socket was full.', [[{}, h.backpressureSkips]]);
    metric('dropline_telemetry_refused_total', 'counter', 'Upgrades refused (401/503/500).', [[{}, h.refused]]);
    metric('dropline_telemetry_closed_bad_input_total', 'counter', 'Viewers closed for malformed or oversized messages.', [[{}, h.closedForBadInput]]);
    metric('dropline_telemetry_closed_dead_total', 'counter', 'Viewers terminated for not answering pings.', [[{}, h.closedDead]]);
  }
  return out.length ? out.join('\n') + '\n' : '';
}
