/**
 * The MAVLink parameter protocol.
 *
 * - fetchAll: PARAM_REQUEST_LIST; PARAM_VALUE streams in with index/count; when the stream pauses
 *   for `gapTimeoutMs`, the missing indices are re-requested one by one with PARAM_REQUEST_READ,
 *   for up to `retries` rounds without progress.
 * - get: PARAM_REQUEST_READ by name, retried; ArduPilot does not answer an unknown name, so the
 *   result is then TIMEOUT (or UNKNOWN_PARAM when a full list is known and lacks the name), naming it.
 * - set: PARAM_SET, confirmed by the PARAM_VALUE that echoes the name; a different value back
 *   (clamped or refused) is FAILED.
 * PX4 encodes integer parameters bytewise in the float field (`bytewise: true`); ArduPilot casts.
 */
import { common } from 'mavlink-mappings';
import type { Frame } from '../mavlink/codec';
import { msg } from '../mavlink/registry';
import type { Fail, Outcome } from '../fleet/types';
import type { ProtocolDeps } from './types';
import type { TimerHandle } from './clock';

export interface ParamOptions {
  /** Wait for a PARAM_VALUE before resending a read or set. Default 1000 ms. */
  timeoutMs?: number;
  /** Resends of a read or set. Default 3. */
  retries?: number;
  /** Pause in the PARAM_VALUE stream after which gaps are re-requested. Default 1000 ms. */
  gapTimeoutMs?: number;
  /** Integer params travel bytewise in the float (PX4). Default false (ArduPilot casts). */
  bytewise?: boolean;
}

/** MAV_PARAM_TYPE */
export const ParamType = { UINT8: 1, INT8: 2, UINT16: 3, INT16: 4, UINT32: 5, INT32: 6, REAL32: 9 } as const;

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const u32 = new Uint32Array(f32.buffer);

/** Round to float32, as the value travels. */
export const toFloat32 = (v: number): number => Math.fround(v);

export class ParamClient {
  /** Every value seen (from any reply or broadcast), by name. */
  readonly values = new Map<string, number>();
  readonly types = new Map<string, number>();
  /** Total count announced by the vehicle, once known. */
  count: number | undefined;
  /** True once fetchAll has completed: the name list is complete. */
  complete = false;
  private readonly listeners = new Set<(name: string, value: number, index: number, count: number) => void>();
  private readonly o: Required<ParamOptions>;
  connected: () => boolean = () => true;

  constructor(private readonly deps: ProtocolDeps, opts: ParamOptions = {}) {
    this.o = { timeoutMs: opts.timeoutMs ?? 1000, retries: opts.retries ?? 3, gapTimeoutMs: opts.gapTimeoutMs ?? 1000, bytewise: opts.bytewise ?? false };
  }

  setBytewise(on: boolean): void {
    this.o.bytewise = on;
  }

  private decode(v: number, type: number): number {
    if (!this.o.bytewise || type === ParamType.REAL32 || type === 10 /* REAL64 */) return v;
    f32[0] = v;
    switch (type) {
      case ParamType.UINT8:
        return u32[0] & 0xff;
      case ParamType.INT8:
        return (i32[0] << 24) >> 24;
      case ParamType.UINT16:
        return u32[0] & 0xffff;
      case ParamType.INT16:
        return (i32[0] << 16) >> 16;
      case ParamType.UINT32:
        return u32[0];
      default:
        return i32[0];
    }
  }

  private encode(v: number, type: number): number {
    if (!this.o.bytewise || type === ParamType.REAL32) return v;
    i32[0] = Math.round(v);
    return f32[0];
  }

  /** Feed every frame from the vehicle. */
  handle(f: Frame): void {
    if (f.name !== 'PARAM_VALUE' || f.sysid !== this.deps.target.sysid) return;
    const p = f.data as common.ParamValue;
    const name = p.paramId.replace(/\0.*$/, '');
    const value = this.decode(p.paramValue, p.paramType);
    this.values.set(name, value);
    this.types.set(name, p.paramType);
    if (p.paramCount > 0 && p.paramCount !== 0xffff) this.count = p.paramCount;
    for (const l of [...this.listeners]) l(name, value, p.paramIndex, p.paramCount);
  }

  private readRequest(name: string | null, index = -1): void {
    const { target } = this.deps;
    this.deps.send(msg(common.ParamRequestRead, { targetSystem: target.sysid, targetComponent: target.compid, paramId: name ?? '', paramIndex: name ? -1 : index }));
  }

  /** Read one parameter by name. */
  get(name: string): Promise<Outcome<{ value: number }>> {
    const bad = this.check(name);
    if (bad) return Promise.resolve(bad);
    return this.exchange(name, () => this.readRequest(name), () => true);
  }

  /** Set a parameter and wait until the vehicle echoes it. `type` defaults to the type last seen, else REAL32. */
  set(name: string, value: number, type?: number): Promise<Outcome<{ value: number }>> {
    const bad = this.check(name);
    if (bad) return Promise.resolve(bad);
    if (!Number.isFinite(value)) return Promise.resolve({ ok: false, code: 'INVALID_INPUT', message: `value for ${name} must be a finite number` });
    const t = type ?? this.types.get(name) ?? ParamType.REAL32;
    const { target } = this.deps;
    const sendSet = () => this.deps.send(msg(common.ParamSet, { targetSystem: target.sysid, targetComponent: target.compid, paramId: name, paramValue: this.encode(value, t), paramType: t }));
    return this.exchange(name, sendSet, (v) => Math.abs(v - toFloat32(value)) <= 1e-6 * Math.max(1, Math.abs(value)));
  }

  private check(name: string): Fail | undefined {
    if (typeof name !== 'string' || name.length === 0 || name.length > 16) return { ok: false, code: 'INVALID_INPUT', message: `parameter name must be 1–16 characters: ${JSON.stringify(name)}` };
    if (!this.connected()) return { ok: false, code: 'NOT_CONNECTED', message: `vehicle is not connected (param ${name})` };
    return undefined;
  }

  /**
   * Send, and wait for a PARAM_VALUE naming the parameter that `accept`s. A value that does not
   * match may be a stale broadcast still in flight, so it is only reported (FAILED) when no
   * matching value follows before the attempt's timer runs out.
   */
  private exchange(name: string, transmit: () => void, accept: (v: number) => boolean): Promise<Outcome<{ value: number }>> {
    const { clock } = this.deps;
    return new Promise((resolve) => {
      let tries = 0;
      let timer: TimerHandle | undefined;
      let mismatch: number | undefined;
      const listener = (n: string, v: number) => {
        if (n !== name) return;
        if (accept(v)) {
          end();
          resolve({ ok: true, value: v });
        } else mismatch = v;
      };
      const end = () => {
        if (timer !== undefined) clock.clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const attempt = () => {
        tries++;
        transmit();
        timer = clock.setTimeout(() => {
          if (mismatch !== undefined) {
            end();
            resolve({ ok: false, code: 'FAILED', message: `${name} is ${mismatch} on the vehicle (refused or clamped)`, details: { value: mismatch } });
          } else if (tries > this.o.retries) {
            end();
            if (this.complete && !this.values.has(name)) resolve({ ok: false, code: 'UNKNOWN_PARAM', message: `no parameter named ${name} on the vehicle` });
            else resolve({ ok: false, code: 'TIMEOUT', message: `no PARAM_VALUE for ${name} after ${tries} tries (unknown parameter?)` });
          } else attempt();
        }, this.o.timeoutMs);
      };
      this.listeners.add(listener);
      attempt();
    });
  }

  /** Fetch the whole list, re-requesting gaps by index. */
  fetchAll(): Promise<Outcome<{ params: Record<string, number>; rerequested: number }>> {
    if (!this.connected()) return Promise.resolve({ ok: false, code: 'NOT_CONNECTED', message: 'vehicle is not connected' });
    const { clock, target } = this.deps;
    return new Promise((resolve) => {
      const byIndex = new Map<number, string>();
      let total: number | undefined;
      let timer: TimerHandle | undefined;
      let idleRounds = 0;
      let rerequested = 0;
      let progressed = false;
      const listener = (name: string, _v: number, index: number, count: number) => {
        if (count === 0 || count === 0xffff || index === 0xffff) return;
        total = count;
        if (!byIndex.has(index)) {
          byIndex.set(index, name);
          progressed = true;
        }
        if (byIndex.size >= total) finish();
      };
      const finish = () => {
        if (timer !== undefined) clock.clearTimeout(timer);
        this.listeners.delete(listener);
        const params: Record<string, number> = {};
        for (const n of byIndex.values()) params[n] = this.values.get(n)!;
        this.complete = true;
        resolve({ ok: true, params, rerequested });
      };
      const tick = () => {
        if (progressed) idleRounds = 0;
        else idleRounds++;
        progressed = false;
        if (idleRounds > this.o.retries) {
          this.listeners.delete(listener);
          resolve({ ok: false, code: 'TIMEOUT', message: total === undefined ? 'no PARAM_VALUE in answer to PARAM_REQUEST_LIST' : `parameter list incomplete: ${byIndex.size} of ${total}` });
          return;
        }
        if (total === undefined) {
          this.deps.send(msg(common.ParamRequestList, { targetSystem: target.sysid, targetComponent: target.compid }));
        } else {
          // Re-request the missing indices (bounded per round so a huge gap does not flood the link).
          let n = 0;
          for (let i = 0; i < total && n < 64; i++) {
            if (!byIndex.has(i)) {
              this.readRequest(null, i);
              rerequested++;
              n++;
            }
          }
        }
        timer = clock.setTimeout(tick, this.o.gapTimeoutMs);
      };
      this.listeners.add(listener);
      this.deps.send(msg(common.ParamRequestList, { targetSystem: target.sysid, targetComponent: target.compid }));
      // The first tick only re-requests if the stream went quiet.
      const watch = () => {
        if (progressed) {
          progressed = false;
          idleRounds = 0;
          timer = clock.setTimeout(watch, this.o.gapTimeoutMs);
        } else tick();
      };
      timer = clock.setTimeout(watch, this.o.gapTimeoutMs);
    });
  }
}
