/**
 * MAVLink 2 message signing.
 *
 * Signature = first 6 bytes of sha256(secretKey ‖ header ‖ payload ‖ crc ‖ linkId ‖ timestamp48),
 * timestamp in units of 10 µs since 2015-01-01T00:00:00Z.
 *
 * Unlike node-mavlink's helper this keeps the full 10 µs resolution, never reuses a timestamp
 * when sending, and rejects replays on receive: each (sysid, compid, linkId) stream must present
 * a strictly newer timestamp than the last accepted one. The rules follow the MAVLink C library
 * that ArduPilot and PX4 use:
 * - a stream never seen before is accepted unless its timestamp is more than `maxSkewUs` older
 *   than our own signing time (newer is fine: ArduPilot starts signing a minute past the
 *   timestamp it stored, and SITL's GPS time runs ahead of the wall clock when sped up);
 * - our own signing time is the clock, never less than the newest timestamp we accepted or sent,
 *   so a peer whose clock runs ahead still sees our streams as new and fresh.
 *
 * The key is held in a private field: it is never enumerated, serialised or logged with the
 * signer. `signingKeyId(key)` is the fingerprint that may be shown instead.
 */
import { createHash, timingSafeEqual } from 'crypto';

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
  /** A stream never seen before is refused when its timestamp is older than our signing time by more than this. Default 60 s. */
  maxSkewUs?: number;
  /** Clock in ms since the Unix epoch (may be fractional). Default Date.now. */
  nowMs?: () => number;
  /** Our first timestamp is greater than this (10 µs units; e.g. the previous key's last one). Default 0. */
  lastSentTicks?: number;
  /**
   * Last accepted timestamp per incoming stream. Pass one map to several signers to share it, as
   * ArduPilot shares one table across all its channels against cross-channel replay. Default: own map.
   */
  streams?: Map<string, number>;
  /**
   * Message ids accepted whatever their signature (unsigned, or signed with another key), as the
   * MAVLink C library's accept-unsigned callback does. Default: none.
   */
  acceptUnsigned?: (msgid: number) => boolean;
}

/** sha256 of a passphrase, as Mission Planner and QGroundControl derive keys. */
export function keyFromPassphrase(passphrase: string): Buffer {
  return createHash('sha256').update(passphrase, 'utf8').digest();
}

/** Public fingerprint of a key: the first 8 hex digits of its sha256. Reveals nothing of the key. */
export function signingKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** A key from text: exactly 64 hex digits (whitespace ignored); throws INVALID_SIGNING_KEY without echoing the text. */
export function parseHexKey(text: string): Buffer {
  const hex = text.replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw Object.assign(new Error('signing key must be 64 hex digits (32 bytes)'), { code: 'INVALID_SIGNING_KEY' });
  return Buffer.from(hex, 'hex');
}

export type VerifyResult = 'ok' | 'unsigned' | 'bad-signature' | 'replay' | 'stale';

export class Signer {
  private currentMode: SigningMode;
  readonly linkId: number;
  /** Fingerprint of the key (signingKeyId). */
  readonly keyId: string;
  readonly #key: Buffer;
  private readonly maxSkewUs: number;
  private readonly nowMs: () => number;
  private readonly acceptList?: (msgid: number) => boolean;
  /** Last timestamp used when sending, or accepted on receive when newer (10 µs units). */
  private lastSent: number;
  /** Last accepted timestamp per incoming stream `${sysid}/${compid}/${linkId}`. */
  private readonly streams: Map<string, number>;

  constructor(opts: SigningOptions) {
    if (!Buffer.isBuffer(opts.key) || opts.key.length !== 32) {
      throw Object.assign(new Error('signing key must be 32 bytes'), { code: 'INVALID_SIGNING_KEY' });
    }
    this.#key = Buffer.from(opts.key);
    this.keyId = signingKeyId(this.#key);
    this.currentMode = opts.mode ?? 'sign';
    this.linkId = (opts.linkId ?? 0) & 0xff;
    this.maxSkewUs = opts.maxSkewUs ?? 60_000_000;
    this.nowMs = opts.nowMs ?? Date.now;
    this.lastSent = opts.lastSentTicks ?? 0;
    this.streams = opts.streams ?? new Map();
    this.acceptList = opts.acceptUnsigned;
  }

  get mode(): SigningMode {
    return this.currentMode;
  }

  /** Change what is accepted (e.g. 'sign' while a peer switches to this key, then 'require'). */
  setMode(mode: SigningMode): void {
    this.currentMode = mode;
  }

  /** Same key as `key`? (constant time) */
  hasKey(key: Buffer): boolean {
    return key.length === 32 && timingSafeEqual(key, this.#key);
  }

  /** Whether frames with this message id pass whatever their signature. */
  acceptsUnsigned(msgid: number): boolean {
    return this.acceptList?.(msgid) ?? false;
  }

  /** Current time in 10 µs units since 2015. */
  nowTicks(): number {
    return Math.floor((this.nowMs() - SIGNING_EPOCH_MS) * 100);
  }

  /** The newest timestamp sent or accepted so far (10 µs units). */
  get lastTimestamp(): number {
    return this.lastSent;
  }

  /** Our signing time: the clock, never behind what we sent or accepted. */
  signingTime(): number {
    return Math.max(this.nowTicks(), this.lastSent);
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
      if ((this.signingTime() - ts) * 10 > this.maxSkewUs) return 'stale';
    } else if (ts <= last) {
      return 'replay';
    }
    this.streams.set(stream, ts);
    if (ts > this.lastSent) this.lastSent = ts;
    return 'ok';
  }

  private digest(frameNoSig: Buffer, linkAndTs: Buffer): Buffer {
    return createHash('sha256').update(this.#key).update(frameNoSig).update(linkAndTs).digest();
  }

  /** Never show the key, whatever prints this object. */
  toJSON(): object {
    return { mode: this.mode, linkId: this.linkId, keyId: this.keyId };
  }
}
