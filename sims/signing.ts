/**
 * MAVLink 2 signing in the built-in simulator, following what ArduPilot's
 * libraries/GCS_MAVLink/GCS_Signing.cpp and the MAVLink C library do (described here in our own
 * words, not copied):
 *
 * - SETUP_SIGNING (#256) addressed to the vehicle stores the key and the initial timestamp (in
 *   ArduPilot's persistent storage, so the key survives reboots) and takes effect at once on every
 *   link. While armed it is refused with the STATUSTEXT "ERROR: Won't setup signing when armed".
 *   An all-zero key with a zero timestamp turns signing off again.
 * - On loading a key (at SETUP_SIGNING and at every boot) the vehicle's signing clock starts one
 *   minute past the stored timestamp, so a timestamp saved a little late can never repeat. After
 *   that it moves only forward: one tick per frame sent, up to the real-time clock once that is
 *   set from the GPS (here: the wall clock, which the simulator's SYSTEM_TIME also reports, once
 *   the GPS has a fix), and up to the newest timestamp it accepted from a peer.
 * - With a key, every frame the vehicle sends is signed (stamped with the link's channel number).
 * - Incoming frames that are unsigned, signed with another key, replayed (a timestamp not newer
 *   than the last one of that sysid/compid/link stream) or from a new stream more than a minute
 *   behind the vehicle's signing clock are dropped. ArduPilot's accept-unsigned callback lets two
 *   messages through anyway: RADIO_STATUS and RADIO (telemetry radios cannot sign). It also lets
 *   everything through on channel 0, taken to be a trusted wire (USB on a flight controller;
 *   SERIAL0, the first TCP port, in SITL). The simulator has no trusted channel: every link checks.
 * - One table of stream timestamps is shared by all links, against a frame captured on one link
 *   being replayed on another.
 * - SETUP_SIGNING passes the same check as any message: once a key is set, only a frame signed
 *   with the current key can replace it.
 *
 * PX4 handles signing differently (its own storage and rules); the PX4 personality ignores
 * SETUP_SIGNING.
 */
import { SIGNING_EPOCH_MS, Signer, signingKeyId } from '../src/mavlink/signing';
import type { SimLink } from './link';

/** RADIO_STATUS (common) and RADIO (ardupilotmega): accepted unsigned, as ArduPilot does. */
export const ACCEPTED_UNSIGNED = new Set([109, 166]);
/** One minute in signing ticks (10 µs). */
const MINUTE_TICKS = 60 * 100_000;

export type SetupResult = 'enabled' | 'disabled' | 'refused-armed';

export class SimSigning {
  /** What ArduPilot keeps in storage: the key and the last saved timestamp (ticks). */
  private stored: { key: Buffer; timestampTicks: number } | null = null;
  /** The signing clock restarts from here at each load (ticks). */
  private baseTicks = 0;
  private readonly streams = new Map<string, number>();
  /** Signers handed to links, and the newest timestamp of those already gone. */
  private readonly signers = new Map<SimLink, Signer>();
  private goneNewest = 0;

  constructor(
    /** Whether the GPS has a fix (the signing clock then follows GPS time). */
    private readonly gpsFixed: () => boolean,
    initial?: { key: Buffer; timestampTicks?: number },
  ) {
    if (initial) {
      this.stored = { key: Buffer.from(initial.key), timestampTicks: initial.timestampTicks ?? Math.floor((Date.now() - SIGNING_EPOCH_MS) * 100) };
      this.load();
    }
  }

  get enabled(): boolean {
    return this.stored !== null;
  }

  /** Fingerprint of the key in use (for tools and tests); null when signing is off. */
  get keyId(): string | null {
    return this.stored ? signingKeyId(this.stored.key) : null;
  }

  /** The signing clock in ms since the Unix epoch: the loaded base, or GPS time when later. */
  private clockMs(): number {
    const base = SIGNING_EPOCH_MS + this.baseTicks / 100;
    return this.gpsFixed() ? Math.max(base, Date.now()) : base;
  }

  private load(): void {
    this.baseTicks = this.stored ? this.stored.timestampTicks + MINUTE_TICKS : 0;
  }

  /**
   * The newest timestamp any link sent or accepted. ArduPilot's signing state belongs to the
   * channel (a serial port, SITL's TCP port), not to one connection: a ground station that
   * reconnects finds the vehicle's clock where it was. New connections start from here.
   */
  private newest(): number {
    let t = this.goneNewest;
    for (const [l, s] of this.signers) {
      t = Math.max(t, s.lastTimestamp);
      if (l.closed) {
        this.goneNewest = Math.max(this.goneNewest, s.lastTimestamp);
        this.signers.delete(l);
      }
    }
    return t;
  }

  /** Give a link the current signing (a new link, or after a change). */
  apply(link: SimLink): void {
    if (!this.stored) {
      link.setSigner(undefined);
      this.signers.delete(link);
      return;
    }
    const signer = new Signer({
      key: this.stored.key,
      mode: 'require',
      linkId: link.id & 0xff,
      nowMs: () => this.clockMs(),
      lastSentTicks: this.newest(),
      streams: this.streams,
      acceptUnsigned: (msgid) => ACCEPTED_UNSIGNED.has(msgid),
    });
    this.signers.set(link, signer);
    link.setSigner(signer);
  }

  /** SETUP_SIGNING from a ground station (it already passed the link's signature check). */
  setup(secretKey: number[], initialTimestamp: bigint, armed: boolean, links: Iterable<SimLink>): SetupResult {
    if (armed) return 'refused-armed';
    const key = Buffer.from(secretKey.slice(0, 32).map((b) => b & 0xff));
    const ts = Number(initialTimestamp);
    if (ts === 0 && key.every((b) => b === 0)) {
      this.stored = null;
    } else {
      this.stored = { key, timestampTicks: ts };
    }
    // A new key starts its clock from the initial timestamp, not from the old key's.
    this.signers.clear();
    this.goneNewest = 0;
    this.load();
    for (const l of links) this.apply(l);
    return this.stored ? 'enabled' : 'disabled';
  }

  /** A reboot: the stored key is loaded again, its clock a minute past the newest timestamp seen. */
  reboot(links: Iterable<SimLink>): void {
    if (!this.stored) return;
    // Saved timestamp (ArduPilot saves it every 30 s and at GPS updates; here: now), then loaded
    // again a minute past it.
    this.stored.timestampTicks = Math.max(this.stored.timestampTicks, this.baseTicks, this.newest());
    this.signers.clear();
    this.goneNewest = 0;
    this.load();
    for (const l of links) this.apply(l);
  }
}
