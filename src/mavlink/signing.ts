/**
 * MAVLink 2 message signing.
 *
 * Signature = first 6 bytes of sha256(secretKey ‖ header ‖ payload ‖ crc ‖ linkId ‖ timestamp48),
 * timestamp in units of 10 µs since 2015-01-01T00:00:00Z.
 *
 * Unlike node-mavlink's helper this keeps the full 10 µs resolution, never reuses a timestamp
 * when sending, and rejects replays on receive: each (sysid, compid, linkId) stream must present
 * a strictly newer timestamp than the last accepted one, and a new stream must be within
 * `maxSkewUs` of our clock (ArduPilot and PX4 apply the same one-minute rule).
 */
import { createHash } from 'crypto';

export const SIGNATURE_LENGTH = 13;
/** 2015-01-01T00:00:00Z in ms since the Unix epoch. */
export const SIGNING_EPOCH_MS = Date.UTC(2015, 0, 1);

export type SigningMode = 'off' | 'sign' | 'require';

export interface SigningOptions {
  /** 32-byte secret key. */
  key: Buffer;
  /** 'sign': sign outgoing, accept unsigned incoming; 'require': also drop unsigned/badly signed incoming. Default 'sign'. */
  mode?: SigningMode;
  /** Link id stamped into outgoing signatures. Default 0. */
  linkId?: number;
  /** A stream never seen before is accepted only within this skew of our clock. Default 60 s. */
  maxSkewUs?: number;
  /** Clock in ms since the Unix epoch (may be fractional). Default Date.now. */
  nowMs?: () => number;
}

/** sha256 of a passphrase, as Mission Planner and QGroundControl derive keys. */
export function keyFromPassphrase(passphrase: string): Buffer {
  return createHash('sha256').update(passphrase, 'utf8').digest();
}

export type VerifyResult = 'ok' | 'unsigned' | 'bad-signature' | 'replay' | 'stale';

export class Signer {
  readonly mode: SigningMode;
  readonly linkId: number;
  private readonly key: Buffer;
  private readonly maxSkewUs: number;
  private readonly nowMs: () => number;
  /** Last timestamp used when sending (10 µs units). */
  private lastSent = 0;
  /** Last accepted timestamp per incoming stream `${sysid}/${compid}/${linkId}`. */
  private readonly streams = new Map<string, number>();

  constructor(opts: SigningOptions) {
    if (!Buffer.isBuffer(opts.key) || opts.key.length !== 32) {
      throw Object.assign(new Error('signing key must be 32 bytes'), { code: 'INVALID_SIGNING_KEY' });
    }
    this.key = opts.key;
    this.mode = opts.mode ?? 'sign';
    this.linkId = (opts.linkId ?? 0) & 0xff;
    this.maxSkewUs = opts.maxSkewUs ?? 60_000_000;
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** Current time in 10 µs units since 2015. */
  nowTicks(): number {
    return Math.floor((this.nowMs() - SIGNING_EPOCH_MS) * 100);
  }

  /** Next send timestamp: the clock, but always strictly greater than the previous one. */
  nextTimestamp(): number {
    const t = Math.max(this.nowTicks(), this.lastSent + 1);
    this.lastSent = t;
    return t;
  }

  /** Append a 13-byte signature to an unsigned v2 frame whose incompat flags already have bit 0 set. */
  sign(frame: Buffer): Buffer {
    const ts = this.nextTimestamp();
    const tail = Buffer.alloc(SIGNATURE_LENGTH);
    tail.writeUInt8(this.linkId, 0);
    tail.writeUIntLE(ts, 1, 6);
    const sig = this.digest(frame, tail.subarray(0, 7));
    sig.copy(tail, 7, 0, 6);
    return Buffer.concat([frame, tail]);
  }

  /**
   * Check a complete signed v2 frame (header..crc..signature). Updates the stream's
   * last timestamp only when the frame is accepted.
   */
  verify(frame: Buffer, sysid: number, compid: number): VerifyResult {
    const sigStart = frame.length - SIGNATURE_LENGTH;
    if (sigStart < 12) return 'unsigned';
    const linkId = frame.readUInt8(sigStart);
    const ts = frame.readUIntLE(sigStart + 1, 6);
    const expected = this.digest(frame.subarray(0, sigStart), frame.subarray(sigStart, sigStart + 7));
    if (!expected.subarray(0, 6).equals(frame.subarray(sigStart + 7, sigStart + 13))) return 'bad-signature';
    const stream = `${sysid}/${compid}/${linkId}`;
    const last = this.streams.get(stream);
    if (last === undefined) {
      if (Math.abs(this.nowTicks() - ts) * 10 > this.maxSkewUs) return 'stale';
    } else if (ts <= last) {
      return 'replay';
    }
    this.streams.set(stream, ts);
    return 'ok';
  }

  private digest(frameNoSig: Buffer, linkAndTs: Buffer): Buffer {
    return createHash('sha256').update(this.key).update(frameNoSig).update(linkAndTs).digest();
  }
}
