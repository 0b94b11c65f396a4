/**
 * Signing frames that pass through the agent. A service node writes unsigned frames to `.tx`
 * unless it holds the link's key itself; on a signed link the agent signs them on the way to the
 * vehicle (one signer per link, so its timestamps never go backwards). Frames already signed
 * (by a node that holds the key) pass unchanged.
 */
import { x25crc } from 'mavlink-mappings';
import { REGISTRY } from '../mavlink/registry';
import { STX_V2 } from '../mavlink/codec';
import { SIGNATURE_LENGTH, type Signer } from '../mavlink/signing';

const V2_HEADER = 10;
const IFLAG_SIGNED = 0x01;

export interface SignFramesResult {
  bytes: Buffer;
  /** Frames this call signed. */
  signed: number;
  /** Frames left as they were: already signed, MAVLink 1, or an id outside our dialect. */
  passed: number;
}

/** Sign every unsigned MAVLink 2 frame in `bytes` (whole frames, as a node writes them). */
export function signFrames(bytes: Buffer, signer: Signer): SignFramesResult {
  const parts: Buffer[] = [];
  let signed = 0;
  let passed = 0;
  let off = 0;
  while (off < bytes.length) {
    if (bytes[off] !== STX_V2 || bytes.length - off < V2_HEADER + 2) {
      parts.push(bytes.subarray(off)); // MAVLink 1 or not a frame: as it is
      passed++;
      break;
    }
    const plen = bytes[off + 1];
    const isSigned = (bytes[off + 2] & IFLAG_SIGNED) !== 0;
    const total = V2_HEADER + plen + 2 + (isSigned ? SIGNATURE_LENGTH : 0);
    if (bytes.length - off < total) {
      parts.push(bytes.subarray(off));
      passed++;
      break;
    }
    const cls = REGISTRY[bytes.readUIntLE(off + 7, 3)];
    if (isSigned || !cls) {
      parts.push(bytes.subarray(off, off + total));
      passed++;
    } else {
      const frame = Buffer.from(bytes.subarray(off, off + total));
      frame[2] |= IFLAG_SIGNED;
      frame.writeUInt16LE(x25crc(frame, 1, 2, cls.MAGIC_NUMBER), V2_HEADER + plen);
      parts.push(signer.sign(frame));
      signed++;
    }
    off += total;
  }
  return { bytes: parts.length === 1 ? parts[0] : Buffer.concat(parts), signed, passed };
}
