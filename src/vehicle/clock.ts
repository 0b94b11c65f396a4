/**
 * Time as the protocol state machines see it. Injected so the same code runs on the wall clock
 * against real vehicles and on a fake clock in byte-level tests.
 */
export type TimerHandle = unknown;

export interface Clock {
  /** ms since the Unix epoch (fake clocks may start anywhere). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The wall clock. Timers are unref'd so a forgotten timer never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A deterministic clock for tests: time only moves when `advance` is called, and timers fire
 * in due order (ties in creation order). Timers scheduled while advancing fire in the same call
 * when they fall due.
 */
export class FakeClock implements Clock {
  private t: number;
  private nextId = 1;
  private timers: FakeTimer[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const x of this.timers) if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}
