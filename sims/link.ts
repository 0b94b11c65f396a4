/**
 * One MAVLink connection of a simulated vehicle (a TCP client or the UDP out peer): its own
 * encoder (sequence numbers are per link, as on the firmware), its own decoder, its own message
 * intervals, and the network faults the simulator can inject on its own sockets.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { MavlinkDecoder, MavlinkEncoder, Frame } from '../src/mavlink/codec';
import type { Signer } from '../src/mavlink/signing';

export interface LinkFaults {
  /** Drop everything in both directions. */
  linkLoss: boolean;
  /** Percentage of frames dropped, each direction. */
  packetLossPct: number;
  /** Extra wall-clock latency added to every outgoing frame, ms. */
  delayMs: number;
  /** Percentage of outgoing frames sent twice. */
  duplicatePct: number;
  /** Percentage of outgoing frames held back and sent after the next one. */
  reorderPct: number;
}

export const NO_LINK_FAULTS: LinkFaults = { linkLoss: false, packetLossPct: 0, delayMs: 0, duplicatePct: 0, reorderPct: 0 };

export interface LinkStats {
  framesIn: number;
  framesOut: number;
  droppedIn: number;
  droppedOut: number;
}

let nextLinkId = 1;

/**
 * Applies outgoing network faults to whole frames: loss, duplication, reordering (a held frame is
 * sent after the next one) and added latency (wall-clock ms).
 */
export class FaultShaper {
  private held: Buffer | null = null;
  constructor(
    private readonly faults: () => LinkFaults,
    private readonly random: () => number,
    private readonly write: (b: Buffer) => void,
    private readonly isClosed: () => boolean = () => false,
  ) {}

  /** Returns false when the frame was dropped. */
  push(frame: Buffer): boolean {
    const ft = this.faults();
    if (ft.linkLoss || (ft.packetLossPct > 0 && this.random() * 100 < ft.packetLossPct)) return false;
    if (ft.reorderPct > 0 && this.held === null && this.random() * 100 < ft.reorderPct) {
      this.held = frame;
      return true;
    }
    const out: Buffer[] = [frame];
    if (ft.duplicatePct > 0 && this.random() * 100 < ft.duplicatePct) out.push(frame);
    if (this.held) {
      out.push(this.held);
      this.held = null;
    }
    const data = out.length === 1 ? out[0] : Buffer.concat(out);
    if (ft.delayMs > 0) {
      const t = setTimeout(() => {
        if (!this.isClosed()) this.write(data);
      }, ft.delayMs);
      t.unref?.();
    } else {
      this.write(data);
    }
    return true;
  }
}

export class SimLink {
  readonly id = nextLinkId++;
  readonly encoder: MavlinkEncoder;
  readonly decoder: MavlinkDecoder;
  /** msgid → stream interval and next due time (sim seconds). Lost on reboot and per connection. */
  readonly intervals = new Map<number, { intervalS: number; nextS: number }>();
  readonly stats: LinkStats = { framesIn: 0, framesOut: 0, droppedIn: 0, droppedOut: 0 };
  private readonly shaper: FaultShaper;
  closed = false;

  constructor(
    readonly kind: 'tcp' | 'udp',
    writeRaw: (b: Buffer) => void,
    private readonly faults: () => LinkFaults,
    private readonly random: () => number,
    onFrame: (link: SimLink, f: Frame) => void,
    from: { sysid: number; compid: number },
  ) {
    this.encoder = new MavlinkEncoder({ sysid: from.sysid, compid: from.compid });
    this.shaper = new FaultShaper(faults, random, writeRaw, () => this.closed);
    this.decoder = new MavlinkDecoder((f) => {
      const ft = this.faults();
      if (ft.packetLossPct > 0 && this.random() * 100 < ft.packetLossPct) {
        this.stats.droppedIn++;
        return;
      }
      this.stats.framesIn++;
      onFrame(this, f);
    });
  }

  /** Signing on this link (sims/signing.ts), or undefined when the vehicle has no key. */
  get signer(): Signer | undefined {
    return this.encoder.signer;
  }

  /** Sign what this link sends and check what it receives with `signer` (undefined: neither). */
  setSigner(signer: Signer | undefined): void {
    this.encoder.signer = signer;
    this.decoder.setSigner(signer);
  }

  /** Bytes from the network. */
  receive(bytes: Buffer): void {
    if (this.closed) return;
    if (this.faults().linkLoss) {
      this.stats.droppedIn++;
      return;
    }
    this.decoder.push(bytes);
  }

  send(m: MavLinkData): void {
    if (this.closed) return;
    const bytes = this.encoder.encode(m);
    if (this.shaper.push(bytes)) this.stats.framesOut++;
    else this.stats.droppedOut++;
  }

  close(): void {
    this.closed = true;
  }
}
