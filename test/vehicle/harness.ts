/**
 * Byte-level test bench for the protocol state machines: everything a machine sends is encoded to
 * MAVLink 2 bytes by a GCS encoder and decoded again; everything the scripted peer answers is
 * encoded by a vehicle encoder and decoded before it reaches the machine. Time is a FakeClock.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { MavlinkEncoder, decodeAll, Frame } from '../../src/mavlink/codec';
import { FakeClock } from '../../src/vehicle/clock';
import type { ProtocolDeps } from '../../src/vehicle/types';

export class Bench {
  readonly clock = new FakeClock();
  readonly gcs = new MavlinkEncoder({ sysid: 255, compid: 190 });
  readonly veh: MavlinkEncoder;
  /** Every frame the machine sent, decoded from its bytes. */
  readonly sent: Frame[] = [];
  /** Replies waiting to be delivered (in order). */
  private readonly inbox: Frame[] = [];
  /** The scripted peer: called for every frame the machine sends; answers with reply(). */
  peer: (f: Frame) => void = () => undefined;
  /** Where delivered frames go (the machine's handle). */
  sink: (f: Frame) => void = () => undefined;

  constructor(readonly sysid = 1, readonly compid = 1) {
    this.veh = new MavlinkEncoder({ sysid, compid });
  }

  readonly deps = (): ProtocolDeps => ({
    send: (m) => {
      const bytes = this.gcs.encode(m);
      const [f] = decodeAll(bytes);
      expect(f.raw.equals(bytes)).toBe(true);
      this.sent.push(f);
      this.peer(f);
    },
    clock: this.clock,
    target: { sysid: this.sysid, compid: this.compid },
  });

  /** A frame as the vehicle would send it (through bytes). */
  frame(m: MavLinkData, from?: { sysid?: number; compid?: number }): Frame {
    const [f] = decodeAll(this.veh.encode(m, from));
    return f;
  }

  /** Queue an answer from the vehicle. */
  reply(m: MavLinkData): void {
    this.inbox.push(this.frame(m));
  }

  /** Queue a frame from another system id. */
  inbox_from(m: MavLinkData, sysid: number): void {
    this.inbox.push(this.frame(m, { sysid }));
  }

  /** Deliver queued answers (and the answers they provoke) until none is left. */
  pump(): void {
    let n = 0;
    while (this.inbox.length > 0) {
      if (++n > 100000) throw new Error('reply storm');
      this.sink(this.inbox.shift()!);
    }
  }

  names(): string[] {
    return this.sent.map((f) => f.name);
  }

  /**
   * Drive a promise to completion: deliver replies, let promise callbacks run, then advance fake
   * time in `stepMs` steps. Fails the test if it does not settle within `limitMs` of fake time.
   */
  async run<T>(p: Promise<T>, stepMs = 10, limitMs = 600000): Promise<T> {
    let settled = false;
    let value: T;
    void p.then((v) => {
      settled = true;
      value = v;
    });
    const start = this.clock.now();
    for (;;) {
      this.pump();
      await flush();
      if (settled) return value!;
      if (this.clock.now() - start > limitMs) throw new Error(`did not settle within ${limitMs} ms of fake time`);
      this.clock.advance(stepMs);
    }
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
