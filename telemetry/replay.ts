/**
 * Tlog replay through the live pipeline. The recorded packets are served, with their recorded
 * timing scaled by `speed`, over a local TCP socket (127.0.0.1, ephemeral port) that the given fleet
 * connects to with `fleet.addLink('tcp:127.0.0.1:<port>', {id: 'replay-<id>'})`. The fleet decodes
 * them with its real code, emits 'state' and 'frame' events, and the hub sends frames to viewers
 * exactly as for a live vehicle; the `replay-` link id marks those frames `replay: true`.
 *
 * Bytes the fleet sends (heartbeats, commands) are read and discarded: a replayed vehicle never
 * answers. Prefer a fleet of its own for replays (hub.addFleet(replayFleet, {replay: true})) so
 * that dispatching never offers a replayed vehicle.
 *
 * A tlog with a broken record plays every record before the break, then emits 'error' with a
 * ReplayError (code REPLAY_TLOG_BROKEN, details {offset, reason}); `tlogError` says the same from
 * the start. At the end of the records 'end' is emitted; the link stays open (the last state
 * stays visible, then turns stale) until `stop()`.
 */
import * as net from 'net';
import { EventEmitter } from 'events';
import type { FleetHandle } from '../src/fleet/types';
import { readTlog, type TlogRecord } from './tlog';
import { REPLAY_LINK_PREFIX } from './frame';

export const MIN_REPLAY_SPEED = 1;
export const MAX_REPLAY_SPEED = 50;

export class ReplayError extends Error {
  constructor(
    readonly code: 'REPLAY_INVALID_SPEED' | 'REPLAY_EMPTY' | 'REPLAY_TLOG_BROKEN' | 'REPLAY_INVALID_INDEX' | 'REPLAY_INVALID_ID' | 'REPLAY_SOCKET',
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ReplayError';
  }
}

export interface ReplayOptions {
  /** Path of a tlog or its bytes. */
  tlog: string | Buffer;
  /** The fleet that decodes the replayed packets (a link is added to it). */
  fleet: FleetHandle;
  /** Playback speed 1..50 (× recorded time). Default 1. */
  speed?: number;
  /** Replay id; the link id is `replay-<id>`. Default a random id. */
  id?: string;
  /** Start paused (use resume() or step()). Default false. */
  paused?: boolean;
}

export interface ReplayProgress {
  /** Records sent so far (next record's index). */
  index: number;
  total: number;
  /** Recorded time of the last record sent (of the first one before any was sent), µs since the epoch. */
  timeUs: bigint;
  /** Recorded times of the first and the last record (a flight is recorded from arming on): flight time is timeUs − startUs. */
  startUs: bigint;
  endUs: bigint;
}

export interface Replay {
  id: string;
  linkId: string;
  /** Valid records in the tlog. */
  readonly total: number;
  /** Set when the tlog breaks before its end: where and why. */
  readonly tlogError?: { offset: number; reason: string };
  /** Vehicle ids this replay produces: those the fleet has seen on the link, plus those predicted from the tlog's heartbeats. */
  vehicleIds(): string[];
  setSpeed(x: number): void;
  pause(): void;
  resume(): void;
  /** Pause and send the next n records (default 1) at once. */
  step(n?: number): void;
  /** Jump to record `index`: forward by sending the records in between at once, backward by restarting from 0 at once. Keeps the paused/playing state. */
  seek(index: number): void;
  /** Index of the first record at or after recorded time `us` (total when none is). */
  indexAtUs(us: bigint): number;
  readonly paused: boolean;
  stop(): Promise<void>;
  on(ev: 'end', fn: () => void): this;
  on(ev: 'error', fn: (err: ReplayError) => void): this;
  progress(): ReplayProgress;
}

const MAV_TYPE_GCS = 6;

function randomId(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** Sysids that sent a HEARTBEAT from a non-GCS type in the records. */
function vehicleSysids(records: TlogRecord[]): number[] {
  const out = new Set<number>();
  for (const r of records) {
    const raw = r.raw;
    const v2 = raw[0] === 0xfd;
    const msgid = v2 ? raw.readUIntLE(7, 3) : raw[5];
    if (msgid !== 0) continue;
    const hdr = v2 ? 10 : 6;
    const plen = raw[1];
    // HEARTBEAT payload: custom_mode u32, type u8 @4 (MAVLink 2 may truncate trailing zeros).
    const type = plen > 4 ? raw[hdr + 4] : 0;
    if (type !== MAV_TYPE_GCS) out.add(raw[v2 ? 5 : 3]);
  }
  return [...out].sort((a, b) => a - b);
}

class ReplayImpl extends EventEmitter implements Replay {
  readonly id: string;
  readonly linkId: string;
  readonly total: number;
  readonly tlogError?: { offset: number; reason: string };
  private readonly records: TlogRecord[];
  private readonly predicted: string[];
  private index = 0;
  private speed: number;
  private pausedFlag: boolean;
  private timer: NodeJS.Timeout | null = null;
  private socket: net.Socket | null = null;
  private anchorWallMs = 0;
  private anchorUs = 0n;
  private ended = false;
  private stopped = false;

  constructor(
    private readonly fleet: FleetHandle,
    private readonly server: net.Server,
    records: TlogRecord[],
    tlogError: { offset: number; reason: string } | undefined,
    id: string,
    speed: number,
    paused: boolean,
  ) {
    super();
    this.id = id;
    this.linkId = REPLAY_LINK_PREFIX + id;
    this.records = records;
    this.total = records.length;
    this.tlogError = tlogError;
    this.speed = speed;
    this.pausedFlag = paused;
    this.predicted = vehicleSysids(records).map((s) => `${this.linkId}/${s}`);
    server.on('connection', (s) => this.onConnection(s));
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  private onConnection(s: net.Socket): void {
    if (this.stopped) {
      s.destroy();
      return;
    }
    // A reconnecting fleet continues from where the previous connection was.
    if (this.socket) this.socket.destroy();
    this.socket = s;
    s.setNoDelay(true);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.socket === s) {
        this.socket = null;
        this.clearTimer();
      }
    });
    this.reanchor();
    this.pump();
  }

  vehicleIds(): string[] {
    const ids = new Set(this.predicted);
    for (const v of this.fleet.vehicles()) if (v.state.linkId === this.linkId) ids.add(v.id);
    return [...ids].sort();
  }

  setSpeed(x: number): void {
    if (!(typeof x === 'number' && x >= MIN_REPLAY_SPEED && x <= MAX_REPLAY_SPEED)) {
      throw new ReplayError('REPLAY_INVALID_SPEED', `speed must be ${MIN_REPLAY_SPEED}..${MAX_REPLAY_SPEED} (got ${x})`);
    }
    this.speed = x;
    this.reanchor();
    this.clearTimer();
    this.pump();
  }

  pause(): void {
    this.pausedFlag = true;
    this.clearTimer();
  }

  resume(): void {
    if (this.stopped) return;
    this.pausedFlag = false;
    this.reanchor();
    this.pump();
  }

  step(n = 1): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new ReplayError('REPLAY_INVALID_INDEX', `step count must be a positive integer (got ${n})`);
    this.pause();
    this.sendUpTo(Math.min(this.total, this.index + n));
    this.checkEnd();
  }

  seek(index: number): void {
    if (!(Number.isInteger(index) && index >= 0 && index <= this.total)) {
      throw new ReplayError('REPLAY_INVALID_INDEX', `index must be an integer 0..${this.total} (got ${index})`);
    }
    this.clearTimer();
    if (index < this.index) {
      // Played again from the start: the replayed vehicles forget what came later.
      this.index = 0;
      this.ended = false;
      for (const v of this.fleet.vehicles()) if (v.state.linkId === this.linkId) (v as { resetState?: () => void }).resetState?.();
    }
    this.sendUpTo(index);
    this.reanchor();
    if (!this.pausedFlag) this.pump();
    else this.checkEnd();
  }

  progress(): ReplayProgress {
    const r = this.records[Math.max(0, this.index - 1)];
    const first = this.records[0]?.timeUs ?? 0n;
    const last = this.records[this.records.length - 1]?.timeUs ?? first;
    return { index: this.index, total: this.total, timeUs: r ? r.timeUs : 0n, startUs: first, endUs: last };
  }

  indexAtUs(us: bigint): number {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.records[mid].timeUs < us) lo = mid + 1;
      else hi = mid;
    }
    // Seeking to index i sends records 0..i-1: land on the record at that time (sent).
    return Math.min(this.total, lo + 1);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    try {
      await this.fleet.removeLink(this.linkId);
    } catch {
      /* link already gone */
    }
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private reanchor(): void {
    this.anchorWallMs = performance.now();
    const r = this.records[this.index];
    this.anchorUs = r ? r.timeUs : 0n;
  }

  /** Wall time (performance.now ms) at which record i is due. */
  private dueMs(i: number): number {
    return this.anchorWallMs + Number(this.records[i].timeUs - this.anchorUs) / 1000 / this.speed;
  }

  private sendUpTo(end: number): void {
    if (!this.socket || end <= this.index) return;
    const bufs: Buffer[] = [];
    for (let i = this.index; i < end; i++) bufs.push(this.records[i].raw);
    this.index = end;
    this.socket.write(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
  }

  private pump(): void {
    this.timer = null;
    if (this.stopped || this.pausedFlag || !this.socket) return;
    const now = performance.now();
    let end = this.index;
    while (end < this.total && this.dueMs(end) <= now + 0.5) end++;
    this.sendUpTo(end);
    if (this.index < this.total) {
      const wait = Math.max(0, this.dueMs(this.index) - performance.now());
      this.timer = setTimeout(() => this.pump(), wait);
    } else this.checkEnd();
  }

  private checkEnd(): void {
    if (this.index < this.total || this.ended) return;
    this.ended = true;
    // Let the last bytes reach the fleet before announcing the end.
    setTimeout(() => {
      if (this.tlogError) {
        const e = this.tlogError;
        this.emit('error', new ReplayError('REPLAY_TLOG_BROKEN', `tlog breaks at byte ${e.offset}: ${e.reason}`, e));
      }
      this.emit('end');
    }, 50);
  }
}

/**
 * Start replaying a tlog into `fleet`. Resolves once the link is added (playback starts when the
 * fleet connects). Throws ReplayError REPLAY_EMPTY when the tlog holds no valid record,
 * REPLAY_INVALID_SPEED for a speed outside 1..50, REPLAY_INVALID_ID for an id outside [A-Za-z0-9._-]{1,64};
 * TlogError TLOG_IO when the file cannot be read; the fleet's own error when it refuses the link.
 */
export async function startReplay(opts: ReplayOptions): Promise<Replay> {
  const speed = opts.speed ?? 1;
  if (!(typeof speed === 'number' && speed >= MIN_REPLAY_SPEED && speed <= MAX_REPLAY_SPEED)) {
    throw new ReplayError('REPLAY_INVALID_SPEED', `speed must be ${MIN_REPLAY_SPEED}..${MAX_REPLAY_SPEED} (got ${speed})`);
  }
  const id = opts.id ?? randomId();
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new ReplayError('REPLAY_INVALID_ID', `replay id must match [A-Za-z0-9._-]{1,64} (got ${JSON.stringify(id)})`);
  const { records, error } = readTlog(opts.tlog);
  if (records.length === 0) {
    throw new ReplayError('REPLAY_EMPTY', error ? `tlog has no valid record: breaks at byte ${error.offset}: ${error.reason}` : 'tlog is empty', error);
  }
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ReplayError('REPLAY_SOCKET', `cannot listen: ${e.message}`)));
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const replay = new ReplayImpl(opts.fleet, server, records, error, id, speed, opts.paused ?? false);
  // Without an 'error' listener an EventEmitter throws; the tlog break is also in replay.tlogError.
  replay.on('error', () => undefined);
  try {
    opts.fleet.addLink(`tcp:127.0.0.1:${port}`, { id: replay.linkId });
  } catch (e) {
    // e.g. a link with this id exists already (FleetError DUPLICATE_LINK): nothing is left open.
    server.close();
    throw e;
  }
  return replay;
}
