/**
 * MAVLink framing: bytes ⇄ messages.
 *
 * The encoder always writes MAVLink 2 with its own sequence counter (one encoder per link),
 * optionally signed. The decoder is fed bytes synchronously (`push`) and calls back with each
 * complete frame, resynchronising after garbage; it accepts MAVLink 1 and 2 on input.
 * Payload (de)serialisation uses node-mavlink's field serializers and mavlink-mappings'
 * message classes.
 */
import { MavLinkData, x25crc } from 'mavlink-mappings';
import { MavLinkProtocolV2 } from 'node-mavlink';
import { SERIALIZERS, DESERIALIZERS } from 'node-mavlink/dist/lib/serialization';
import { REGISTRY, MessageClass, nameOf } from './registry';
import { Signer, SIGNATURE_LENGTH } from './signing';

export const STX_V1 = 0xfe;
export const STX_V2 = 0xfd;
const V2_HEADER = 10;
const V1_HEADER = 6;
const IFLAG_SIGNED = 0x01;

export interface Frame {
  /** 1 or 2 */
  version: 1 | 2;
  seq: number;
  sysid: number;
  compid: number;
  msgid: number;
  /** MAVLink message name, e.g. 'HEARTBEAT'; 'UNKNOWN_<id>' when not in our dialect. */
  name: string;
  /** Decoded message; null when the id is unknown (the raw bytes are still delivered). */
  data: MavLinkData | null;
  /** The whole frame as received, signature included. */
  raw: Buffer;
  signed: boolean;
  /** True when the signature verified only with the key being replaced (see setSigner). */
  previousKey?: boolean;
}

export interface EncoderOptions {
  /** Our system id. Default 255 (ground station). */
  sysid?: number;
  /** Our component id. Default 190 (MAV_COMP_ID_MISSIONPLANNER). */
  compid?: number;
  signer?: Signer;
}

/** Serialise a message's fields into a full-length payload buffer. */
export function serializePayload(m: MavLinkData): Buffer {
  const cls = m.constructor as MessageClass;
  const buf = Buffer.alloc(cls.PAYLOAD_LENGTH);
  const bag = m as unknown as Record<string, unknown>;
  for (const f of cls.FIELDS) {
    const ser = (SERIALIZERS as Record<string, (v: unknown, b: Buffer, o: number, l?: number) => void>)[f.type];
    let v = bag[f.name];
    if (v === undefined) v = f.type.startsWith('char') ? '' : f.type.endsWith('[]') ? new Array(f.length).fill(0) : f.type.includes('int64') ? 0n : 0;
    ser(v, buf, f.offset, f.length);
  }
  return buf;
}

export function deserializePayload(cls: MessageClass, payload: Buffer): MavLinkData {
  // Zero-extend truncated payloads (MAVLink 2 trims trailing zeros).
  const full = payload.length >= cls.PAYLOAD_LENGTH ? payload : Buffer.concat([payload, Buffer.alloc(cls.PAYLOAD_LENGTH - payload.length)]);
  const m = new cls();
  const bag = m as unknown as Record<string, unknown>;
  for (const f of cls.FIELDS) {
    const de = (DESERIALIZERS as Record<string, (b: Buffer, o: number, l?: number) => unknown>)[f.type];
    bag[f.name] = de(full, f.offset, f.length);
  }
  return m;
}

export class MavlinkEncoder {
  sysid: number;
  compid: number;
  signer?: Signer;
  private seq = 0;
  /** Frames and bytes written by this encoder. */
  readonly stats = { packets: 0, bytes: 0 };

  constructor(opts: EncoderOptions = {}) {
    this.sysid = opts.sysid ?? 255;
    this.compid = opts.compid ?? 190;
    this.signer = opts.signer;
  }

  /** Encode one message as a MAVLink 2 frame, optionally from another (sysid, compid). */
  encode(m: MavLinkData, from?: { sysid?: number; compid?: number }): Buffer {
    const cls = m.constructor as MessageClass;
    const full = serializePayload(m);
    let len = full.length;
    while (len > 1 && full[len - 1] === 0) len--;
    const signing = this.signer !== undefined && this.signer.mode !== 'off';
    const frame = Buffer.alloc(V2_HEADER + len + 2);
    frame[0] = STX_V2;
    frame[1] = len;
    frame[2] = signing ? IFLAG_SIGNED : 0;
    frame[3] = 0;
    frame[4] = this.seq;
    frame[5] = from?.sysid ?? this.sysid;
    frame[6] = from?.compid ?? this.compid;
    frame.writeUIntLE(cls.MSG_ID, 7, 3);
    full.copy(frame, V2_HEADER, 0, len);
    frame.writeUInt16LE(x25crc(frame, 1, 2, cls.MAGIC_NUMBER), V2_HEADER + len);
    this.seq = (this.seq + 1) & 0xff;
    const out = signing ? this.signer!.sign(frame) : frame;
    this.stats.packets++;
    this.stats.bytes += out.length;
    return out;
  }
}

export interface DecoderStats {
  bytes: number;
  packets: number;
  /** Frames whose checksum did not match (garbage that looked like a frame, or corruption). */
  crcErrors: number;
  /** Frames with a message id outside our dialect (delivered with data = null). */
  unknown: number;
  /** Packets missing according to sequence gaps, summed over all (sysid, compid) streams. */
  lost: number;
  /** Bytes skipped while looking for a start-of-frame. */
  skippedBytes: number;
  /** Signed frames rejected: bad signature, replayed or stale timestamp (the sum of the next two). */
  signatureRejected: number;
  /** Signed frames whose signature does not match the key (forged, or another key). */
  badSignatureRejected: number;
  /** Signed frames whose timestamp is not newer than the stream's last one, or too old for a new stream. */
  replayRejected: number;
  /** Unsigned frames dropped because the link requires signing. */
  unsignedRejected: number;
  /** Signed frames whose signature verified (0 while the decoder has no signer). */
  signedAccepted: number;
}

export interface DecoderOptions {
  /** Verify signatures (and, in 'require' mode, drop unsigned frames). Can be changed later with setSigner. */
  signer?: Signer;
  /** Maximum bytes held while waiting for the rest of a frame. Default 4096. */
  maxBufferBytes?: number;
}

export class MavlinkDecoder {
  readonly stats: DecoderStats = {
    bytes: 0, packets: 0, crcErrors: 0, unknown: 0, lost: 0, skippedBytes: 0,
    signatureRejected: 0, badSignatureRejected: 0, replayRejected: 0, unsignedRejected: 0, signedAccepted: 0,
  };
  private buf: Buffer = Buffer.alloc(0);
  private readonly lastSeq = new Map<number, number>();
  private signer?: Signer;
  /** While a key is being changed: frames signed with the previous key still pass. */
  private previous?: Signer;
  private readonly maxBufferBytes: number;

  constructor(private readonly onFrame: (f: Frame) => void, opts: DecoderOptions = {}) {
    this.signer = opts.signer;
    this.maxBufferBytes = opts.maxBufferBytes ?? 4096;
  }

  /**
   * Verify with another signer from the next frame on (undefined: accept everything); counters
   * carry on. `previous`, while a key is being replaced, still verifies frames signed before the
   * peer switched.
   */
  setSigner(signer: Signer | undefined, previous?: Signer): void {
    this.signer = signer;
    this.previous = previous;
  }

  push(chunk: Buffer): void {
    this.stats.bytes += chunk.length;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    const b = this.buf;
    while (off < b.length) {
      const stx = b[off];
      if (stx !== STX_V2 && stx !== STX_V1) {
        off++;
        this.stats.skippedBytes++;
        continue;
      }
      const v2 = stx === STX_V2;
      const hdr = v2 ? V2_HEADER : V1_HEADER;
      if (b.length - off < hdr) break;
      const plen = b[off + 1];
      const signed = v2 && (b[off + 2] & IFLAG_SIGNED) !== 0;
      const total = hdr + plen + 2 + (signed ? SIGNATURE_LENGTH : 0);
      if (b.length - off < total) break;
      const msgid = v2 ? b.readUIntLE(off + 7, 3) : b[off + 5];
      const cls = REGISTRY[msgid];
      // Without a CRC_EXTRA an unknown id cannot be checked: accept it only when the next
      // byte starts a frame (or the buffer ends there), otherwise treat it as noise.
      const next = off + total < b.length ? b[off + total] : -1;
      const plausible = cls !== undefined || next === -1 || next === STX_V2 || next === STX_V1;
      const result = plausible ? this.tryFrame(b.subarray(off, off + total), v2, hdr, plen, signed, msgid, cls) : 'bad';
      if (result === 'bad') {
        // Not a frame after all: skip this start byte and resynchronise.
        off++;
        this.stats.skippedBytes++;
        continue;
      }
      off += total;
    }
    const rest = b.subarray(off);
    this.buf = rest.length > this.maxBufferBytes ? Buffer.from(rest.subarray(rest.length - this.maxBufferBytes)) : Buffer.from(rest);
  }

  private tryFrame(fb: Buffer, v2: boolean, hdr: number, plen: number, signed: boolean, msgid: number, cls: MessageClass | undefined): 'ok' | 'bad' | 'dropped' {
    const sysid = fb[v2 ? 5 : 3];
    const compid = fb[v2 ? 6 : 4];
    const seq = fb[v2 ? 4 : 2];
    if (cls) {
      const crc = x25crc(fb.subarray(0, hdr + plen + 2), 1, 2, cls.MAGIC_NUMBER);
      if (crc !== fb.readUInt16LE(hdr + plen)) {
        this.stats.crcErrors++;
        return 'bad';
      }
    } else {
      this.stats.unknown++;
    }
    let previousKey = false;
    if (this.signer && this.signer.mode !== 'off' && !this.signer.acceptsUnsigned(msgid)) {
      if (signed) {
        let v = this.signer.verify(fb, sysid, compid);
        if (v === 'bad-signature' && this.previous && this.previous.verify(fb, sysid, compid) === 'ok') {
          v = 'ok';
          previousKey = true;
        }
        if (v !== 'ok') {
          this.stats.signatureRejected++;
          if (v === 'bad-signature') this.stats.badSignatureRejected++;
          else this.stats.replayRejected++;
          return 'dropped';
        }
        this.stats.signedAccepted++;
      } else if (this.signer.mode === 'require') {
        this.stats.unsignedRejected++;
        return 'dropped';
      }
    }
    const stream = (sysid << 8) | compid;
    const last = this.lastSeq.get(stream);
    if (last !== undefined) {
      const gap = (seq - last - 1 + 256) & 0xff;
      // A gap above 128 is more likely a reboot or duplicate than 128+ lost packets.
      if (gap < 128) this.stats.lost += gap;
    }
    this.lastSeq.set(stream, seq);
    this.stats.packets++;
    const raw = Buffer.from(fb);
    const data = cls ? deserializePayload(cls, raw.subarray(hdr, hdr + plen)) : null;
    const frame: Frame = { version: v2 ? 2 : 1, seq, sysid, compid, msgid, name: cls ? cls.MSG_NAME : `UNKNOWN_${msgid}`, data, raw, signed };
    if (previousKey) frame.previousKey = true;
    this.onFrame(frame);
    return 'ok';
  }
}

/** Decode every frame in a buffer (convenience for tests and tools). */
export function decodeAll(bytes: Buffer, opts?: DecoderOptions): Frame[] {
  const out: Frame[] = [];
  new MavlinkDecoder((f) => out.push(f), opts).push(bytes);
  return out;
}

export { nameOf, MavLinkProtocolV2 };
