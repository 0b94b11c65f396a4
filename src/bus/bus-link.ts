/**
 * A link whose bytes come from and go to the bus: one vehicle behind a link agent. What the agent
 * publishes on `<root>.<site>.<vehicle>.rx` comes out as 'data'; what the fleet writes goes to
 * `.tx`. The fleet and everything above it see an ordinary Link (src/link).
 *
 * Up while the bus is connected, the agent has been heard (presence or frames) within
 * `silenceMs`, and its own link to the vehicle is up; 'down' otherwise, so a dead agent shows as
 * a lost vehicle at once.
 */
import { EventEmitter } from 'events';
import type { Link, LinkStats } from '../link';
import { newStats } from '../link/link';
import { systemClock, type Clock, type TimerHandle } from '../vehicle/clock';
import type { Bus, BusSubscription } from './bus';
import { Subjects, type Presence } from './subjects';

export interface BusLinkOptions {
  bus: Bus;
  site: string;
  /** Vehicle token (`<agent link id>-<sysid>`). */
  vehicle: string;
  /** Subject root. Default `dropline`. */
  subjects?: Subjects;
  /** Down when nothing was heard from the agent for this long. Default 3000 ms. */
  silenceMs?: number;
  clock?: Clock;
}

export class BusLink extends EventEmitter implements Link {
  readonly kind = 'bus' as const;
  readonly uri: string;
  readonly local = null;
  readonly stats: LinkStats = newStats();
  up = false;
  /** The agent's last presence message for this vehicle. */
  presence: Presence | null = null;
  readonly site: string;
  readonly vehicle: string;
  private readonly bus: Bus;
  private readonly subjects: Subjects;
  private readonly txSubject: string;
  private readonly subs: BusSubscription[] = [];
  private readonly clock: Clock;
  private readonly silenceMs: number;
  private lastHeardMs = -Infinity;
  private everUp = false;
  private timer: TimerHandle | undefined;
  private closed = false;
  private readonly onBus = () => this.check();

  constructor(opts: BusLinkOptions) {
    super();
    this.bus = opts.bus;
    this.site = opts.site;
    this.vehicle = opts.vehicle;
    this.subjects = opts.subjects ?? new Subjects();
    this.clock = opts.clock ?? systemClock;
    this.silenceMs = opts.silenceMs ?? 3000;
    this.uri = `bus:${opts.site}/${opts.vehicle}`;
    this.txSubject = this.subjects.vehicle(opts.site, opts.vehicle, 'tx');
    this.subs.push(
      this.bus.subscribe(this.subjects.vehicle(opts.site, opts.vehicle, 'rx'), (m) => {
        if (this.closed) return;
        this.heard();
        const b = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        this.stats.bytesIn += b.length;
        this.stats.packetsIn++;
        this.emit('data', b);
      }),
      this.bus.subscribe(this.subjects.vehicle(opts.site, opts.vehicle, 'presence'), (m) => {
        try {
          this.notePresence(JSON.parse(Buffer.from(m.data).toString('utf8')) as Presence);
        } catch {
          /* not a presence message */
        }
      }),
    );
    this.bus.on('connected', this.onBus);
    this.bus.on('disconnected', this.onBus);
    this.tick();
  }

  /** The agent's presence for this vehicle (also fed by whoever discovered it). */
  notePresence(p: Presence): void {
    if (this.closed) return;
    this.presence = p;
    this.heard();
  }

  private heard(): void {
    this.lastHeardMs = this.clock.now();
    this.check();
  }

  private tick(): void {
    this.check();
    if (!this.closed) this.timer = this.clock.setTimeout(() => this.tick(), Math.max(100, this.silenceMs / 4));
  }

  private check(): void {
    const up = !this.closed && this.bus.connected && this.clock.now() - this.lastHeardMs <= this.silenceMs && this.presence?.linkUp !== false;
    if (up === this.up) return;
    this.up = up;
    if (up && this.everUp) this.stats.reconnects++;
    this.everUp ||= up;
    this.emit(up ? 'up' : 'down');
  }

  write(bytes: Buffer): boolean {
    // What the fleet writes is awaited by someone (a command, a mission item, a parameter): this turn.
    if (!this.up || !this.bus.publish(this.txSubject, bytes, { now: true })) {
      this.stats.dropped++;
      return false;
    }
    this.stats.bytesOut += bytes.length;
    this.stats.packetsOut++;
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    for (const s of this.subs) s.unsubscribe();
    this.bus.off('connected', this.onBus);
    this.bus.off('disconnected', this.onBus);
    if (this.up) {
      this.up = false;
      this.emit('down');
    }
  }
}
