/**
 * Telemetry logs in the standard `.tlog` format read by pymavlink, MAVExplorer and Mission
 * Planner: a sequence of records, each an 8-byte big-endian unsigned count of microseconds since
 * the Unix epoch followed by one raw MAVLink packet (v1 or v2, signature included). There is no
 * file header and no record length: the packet's own header gives its length.
 *
 * Flush policy (TlogWriter): records are appended to an in-memory buffer and written to the file
 * when the buffer reaches `maxBufferedBytes` (default 64 KiB) or `flushIntervalMs` after the first
 * unwritten record (default 1000 ms), whichever comes first; `close()` writes the rest and fsyncs.
 * A crash therefore loses at most the last `flushIntervalMs` of records and never more than
 * `maxBufferedBytes` (plus whatever the OS had not yet put on disk). A crash can leave a
 * truncated last record: `readTlog` returns every complete record and says where it broke.
 */
import * as fs from 'fs';
import * as path from 'path';
import { x25crc } from 'mavlink-mappings';
import type { FleetHandle, Frame } from '../src/fleet/types';
import { crcExtra } from '../src/mavlink/registry';

export const TLOG_TIMESTAMP_BYTES = 8;
const STX_V1 = 0xfe;
const STX_V2 = 0xfd;
const SIGNATURE_BYTES = 13;

/** Typed error with a stable code. */
export class TlogError extends Error {
  constructor(readonly code: 'TLOG_CLOSED' | 'TLOG_INVALID_PACKET' | 'TLOG_IO' | 'TLOG_NOT_RECORDING' | 'TLOG_INVALID_OPTIONS', message: string) {
    super(message);
    this.name = 'TlogError';
  }
}

const baseUs = BigInt(Date.now()) * 1000n;
const baseHr = process.hrtime.bigint();
/** µs since the Unix epoch with µs resolution and monotonic within the process. */
export function nowUs(): bigint {
  return baseUs + (process.hrtime.bigint() - baseHr) / 1000n;
}

/** Length of the MAVLink packet starting at `buf[off]`, or a reason it is not one. */
export function packetLength(buf: Buffer, off: number): { len: number } | { reason: string; needMore?: boolean } {
  if (off >= buf.length) return { reason: 'truncated packet: no start byte', needMore: true };
  const stx = buf[off];
  if (stx === STX_V2) {
    if (buf.length - off < 3) return { reason: 'truncated packet header', needMore: true };
    const signed = (buf[off + 2] & 0x01) !== 0;
    return { len: 10 + buf[off + 1] + 2 + (signed ? SIGNATURE_BYTES : 0) };
  }
  if (stx === STX_V1) {
    if (buf.length - off < 2) return { reason: 'truncated packet header', needMore: true };
    return { len: 6 + buf[off + 1] + 2 };
  }
  return { reason: `bad MAVLink start byte 0x${stx.toString(16).padStart(2, '0')}` };
}

/** Check a complete packet's CRC when its message id is known; unknown ids pass unchecked. */
function checkCrc(pkt: Buffer): string | null {
  const v2 = pkt[0] === STX_V2;
  const hdr = v2 ? 10 : 6;
  const plen = pkt[1];
  const msgid = v2 ? pkt.readUIntLE(7, 3) : pkt[5];
  const extra = crcExtra(msgid);
  if (extra === undefined) return null;
  const crc = x25crc(pkt.subarray(0, hdr + plen + 2), 1, 2, extra);
  return crc === pkt.readUInt16LE(hdr + plen) ? null : `CRC mismatch (msgid ${msgid})`;
}

export interface TlogRecord {
  /** µs since the Unix epoch when the packet was received. */
  timeUs: bigint;
  /** The packet as received, signature included. */
  raw: Buffer;
}

export interface TlogReadResult {
  records: TlogRecord[];
  /** Where reading stopped before the end of the data: byte offset of the broken record, and why. */
  error?: { offset: number; reason: string };
}

/** Timestamps outside 2000-01-01 … 2100-01-01 mean the record boundary was lost. */
const MIN_US = BigInt(Date.UTC(2000, 0, 1)) * 1000n;
const MAX_US = BigInt(Date.UTC(2100, 0, 1)) * 1000n;

/**
 * Read a tlog (a Buffer, or a file path read synchronously). Returns every valid record up to the
 * first broken one; `error` gives the byte offset of the record that broke and why (truncated,
 * implausible timestamp, bad start byte, CRC mismatch for a known message id). Never throws on bad
 * content; throws TlogError('TLOG_IO') when the file cannot be read.
 */
export function readTlog(bufOrPath: Buffer | string): TlogReadResult {
  let buf: Buffer;
  if (typeof bufOrPath === 'string') {
    try {
      buf = fs.readFileSync(bufOrPath);
    } catch (e) {
      throw new TlogError('TLOG_IO', `cannot read tlog ${bufOrPath}: ${(e as Error).message}`);
    }
  } else {
    buf = bufOrPath;
  }
  const records: TlogRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < TLOG_TIMESTAMP_BYTES) return { records, error: { offset: off, reason: 'truncated record: incomplete timestamp' } };
    const timeUs = buf.readBigUInt64BE(off);
    if (timeUs < MIN_US || timeUs > MAX_US) return { records, error: { offset: off, reason: `implausible timestamp ${timeUs} µs` } };
    const pl = packetLength(buf, off + TLOG_TIMESTAMP_BYTES);
    if ('reason' in pl) return { records, error: { offset: off, reason: pl.needMore ? 'truncated record: ' + pl.reason : pl.reason } };
    const start = off + TLOG_TIMESTAMP_BYTES;
    if (buf.length - start < pl.len) return { records, error: { offset: off, reason: `truncated record: packet needs ${pl.len} bytes, ${buf.length - start} left` } };
    const raw = buf.subarray(start, start + pl.len);
    const bad = checkCrc(raw);
    if (bad) return { records, error: { offset: off, reason: bad } };
    records.push({ timeUs, raw: Buffer.from(raw) });
    off = start + pl.len;
  }
  return { records };
}

export interface TlogWriterOptions {
  /** Longest time a record waits in memory before it is written, ms. Default 1000. */
  flushIntervalMs?: number;
  /** Buffered bytes that trigger an immediate write. Default 65536. */
  maxBufferedBytes?: number;
  /** Append to an existing file instead of truncating it (a tlog is a plain concatenation of records). Default false. */
  append?: boolean;
}

/**
 * Appends records to a tlog file (created, or truncated unless `append`). Writes are asynchronous
 * and strictly ordered; see the module comment for the flush policy.
 */
export class TlogWriter {
  readonly path: string;
  /** Size of the file with everything accepted so far (written or buffered), bytes. */
  bytes = 0;
  /** Records accepted so far. */
  records = 0;
  private fd: number;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  private ioError: Error | null = null;
  private readonly flushIntervalMs: number;
  private readonly maxBufferedBytes: number;

  constructor(filePath: string, opts: TlogWriterOptions = {}) {
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 65536;
    if (!(this.flushIntervalMs >= 0) || !(this.maxBufferedBytes > 0)) throw new TlogError('TLOG_INVALID_OPTIONS', 'flushIntervalMs must be ≥ 0 and maxBufferedBytes > 0');
    this.path = filePath;
    try {
      this.fd = fs.openSync(filePath, opts.append ? 'a' : 'w');
      if (opts.append) this.bytes = fs.fstatSync(this.fd).size;
    } catch (e) {
      throw new TlogError('TLOG_IO', `cannot open tlog ${filePath}: ${(e as Error).message}`);
    }
  }

  /** First write error, if any (later records are dropped once the file failed). */
  get error(): Error | null {
    return this.ioError;
  }

  /** Append one raw MAVLink packet stamped `timeUs` (default: now). */
  write(raw: Buffer, timeUs: bigint = nowUs()): void {
    if (this.closed) throw new TlogError('TLOG_CLOSED', `tlog ${this.path} is closed`);
    const pl = packetLength(raw, 0);
    if ('reason' in pl || pl.len !== raw.length) throw new TlogError('TLOG_INVALID_PACKET', `not one whole MAVLink packet (${raw.length} bytes)`);
    const rec = Buffer.allocUnsafe(TLOG_TIMESTAMP_BYTES + raw.length);
    rec.writeBigUInt64BE(timeUs, 0);
    raw.copy(rec, TLOG_TIMESTAMP_BYTES);
    this.chunks.push(rec);
    this.chunkBytes += rec.length;
    this.bytes += rec.length;
    this.records++;
    if (this.chunkBytes >= this.maxBufferedBytes) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Write whatever is buffered now; resolves when it is in the file. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.chunks.length > 0) {
      const data = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.chunkBytes);
      this.chunks = [];
      this.chunkBytes = 0;
      const fd = this.fd;
      this.writing = this.writing.then(() => writeAll(fd, data)).catch((e: Error) => {
        if (!this.ioError) this.ioError = new TlogError('TLOG_IO', `write to ${this.path} failed: ${e.message}`);
      });
    }
    return this.writing;
  }

  /** Flush, fsync and close the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return this.writing;
    await this.flush();
    this.closed = true;
    const fd = this.fd;
    this.writing = new Promise<void>((resolve) => {
      fs.fsync(fd, () => fs.close(fd, () => resolve()));
    });
    return this.writing;
  }
}

function writeAll(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number): void => {
      fs.write(fd, data, off, data.length - off, null, (err, n) => {
        if (err) return reject(err);
        if (off + n < data.length) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}

export interface FlightRecorderOptions {
  fleet: FleetHandle;
  /** Directory for the tlogs (created if missing). */
  dir: string;
  /** Start a new file (`<flightId>.<n>.tlog`) once the current one reaches this many bytes. Default 256 MiB. */
  rotateBytes?: number;
  /** Delete tlogs in `dir` older than this many days when a recording starts. Default 30; 0 = keep forever. */
  retentionDays?: number;
  /** Keep at most this many tlogs in `dir` (oldest deleted first) when a recording starts. Default 1000; 0 = no limit. */
  maxFiles?: number;
  /** Passed to TlogWriter. Default 1000 ms. */
  flushIntervalMs?: number;
}

interface Recording {
  flightId: string;
  paths: string[];
  writer: TlogWriter;
  bytes: number;
  frames: number;
}

/** Result of stopping a recording: the first file, all files (after rotation), total bytes and packets. */
export interface RecordingSummary {
  path: string;
  paths: string[];
  bytes: number;
  frames: number;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Records every MAVLink packet received from a vehicle (fleet 'frame' events) into one tlog per
 * flight, named `<flightId>.tlog` (then `<flightId>.1.tlog`, … after rotation). Recording a flight id
 * again (e.g. after a restart) appends to its file rather than overwriting it. Retention is applied
 * to `*.tlog` files in `dir` when a recording starts; files being written are never deleted.
 */
export class FlightRecorder {
  private readonly active = new Map<string, Recording>();
  private readonly listener: (vehicleId: string, frame: Frame) => void;
  private readonly rotateBytes: number;
  private readonly retentionDays: number;
  private readonly maxFiles: number;
  private readonly flushIntervalMs: number;
  private closed = false;

  constructor(private readonly opts: FlightRecorderOptions) {
    this.rotateBytes = opts.rotateBytes ?? 256 * 1024 * 1024;
    this.retentionDays = opts.retentionDays ?? 30;
    this.maxFiles = opts.maxFiles ?? 1000;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    if (!(this.rotateBytes > 0)) throw new TlogError('TLOG_INVALID_OPTIONS', 'rotateBytes must be > 0');
    fs.mkdirSync(opts.dir, { recursive: true });
    this.listener = (vehicleId, frame) => this.onFrame(vehicleId, frame);
    opts.fleet.on('frame', this.listener);
  }

  /** Is this vehicle being recorded? */
  recording(vehicleId: string): boolean {
    return this.active.has(vehicleId);
  }

  /**
   * Start recording a vehicle's packets for a flight; returns the tlog path. Starting again for a
   * vehicle already recording stops the previous recording first (its file is closed in the background).
   */
  start(vehicleId: string, flightId: string): string {
    if (this.closed) throw new TlogError('TLOG_CLOSED', 'flight recorder is closed');
    if (!SAFE_ID.test(flightId)) throw new TlogError('TLOG_INVALID_OPTIONS', `flightId must match ${SAFE_ID} (got ${JSON.stringify(flightId)})`);
    if (this.active.has(vehicleId)) void this.stop(vehicleId);
    this.applyRetention();
    const p = path.join(this.opts.dir, `${flightId}.tlog`);
    const writer = new TlogWriter(p, { flushIntervalMs: this.flushIntervalMs, append: true });
    this.active.set(vehicleId, { flightId, paths: [p], writer, bytes: 0, frames: 0 });
    return p;
  }

  /** Stop recording a vehicle; resolves when the file is closed. Null when it was not recording. */
  async stop(vehicleId: string): Promise<RecordingSummary | null> {
    const r = this.active.get(vehicleId);
    if (!r) return null;
    this.active.delete(vehicleId);
    await r.writer.close();
    return { path: r.paths[0], paths: r.paths, bytes: r.bytes, frames: r.frames };
  }

  /** Stop every recording and unsubscribe from the fleet. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.opts.fleet.off('frame', this.listener);
    await Promise.all([...this.active.keys()].map((id) => this.stop(id)));
  }

  private onFrame(vehicleId: string, frame: Frame): void {
    const r = this.active.get(vehicleId);
    if (!r) return;
    const len = TLOG_TIMESTAMP_BYTES + frame.raw.length;
    if (r.writer.bytes > 0 && r.writer.bytes + len > this.rotateBytes) {
      void r.writer.close();
      const p = path.join(this.opts.dir, `${r.flightId}.${r.paths.length}.tlog`);
      r.paths.push(p);
      r.writer = new TlogWriter(p, { flushIntervalMs: this.flushIntervalMs, append: true });
    }
    r.writer.write(frame.raw);
    r.bytes += len;
    r.frames++;
  }

  /** Delete old tlogs per retentionDays / maxFiles, never one being written. */
  applyRetention(nowMs = Date.now()): string[] {
    const inUse = new Set<string>();
    for (const r of this.active.values()) for (const p of r.paths) inUse.add(path.resolve(p));
    let files: Array<{ p: string; mtimeMs: number }> = [];
    for (const name of fs.readdirSync(this.opts.dir)) {
      if (!name.endsWith('.tlog')) continue;
      const p = path.join(this.opts.dir, name);
      if (inUse.has(path.resolve(p))) continue;
      try {
        const st = fs.statSync(p);
        if (st.isFile()) files.push({ p, mtimeMs: st.mtimeMs });
      } catch {
        /* vanished meanwhile */
      }
    }
    const removed: string[] = [];
    const rm = (p: string): void => {
      try {
        fs.unlinkSync(p);
        removed.push(p);
      } catch {
        /* already gone */
      }
    };
    if (this.retentionDays > 0) {
      const cutoff = nowMs - this.retentionDays * 86_400_000;
      for (const f of files) if (f.mtimeMs < cutoff) rm(f.p);
      files = files.filter((f) => f.mtimeMs >= cutoff);
    }
    if (this.maxFiles > 0) {
      // Room for the file about to be created.
      const keep = Math.max(0, this.maxFiles - inUse.size - 1);
      files.sort((a, b) => b.mtimeMs - a.mtimeMs);
      for (const f of files.slice(keep)) rm(f.p);
    }
    return removed;
  }
}
