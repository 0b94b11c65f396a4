/**
 * A tiny ground station for simulator tests only: a TCP socket, the project codec, heartbeats,
 * and helpers that wait on frames. Protocol logic here is deliberately naive; the real ground
 * station protocols live elsewhere.
 */
import * as net from 'net';
import type { MavLinkData } from 'mavlink-mappings';
import { MavlinkDecoder, MavlinkEncoder, Frame } from '../../src/mavlink/codec';
import { msg, common, minimal } from '../../src/mavlink/registry';
import type { MissionItem } from '../../src/mavlink/mission-item';

export class TestGcs {
  readonly frames: Frame[] = [];
  readonly texts: string[] = [];
  private readonly listeners = new Set<(f: Frame) => void>();
  private readonly waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private hbTimer: NodeJS.Timeout | null = null;
  readonly enc: MavlinkEncoder;
  readonly dec: MavlinkDecoder;
  closed = false;

  private constructor(readonly sock: net.Socket, sysid: number, compid: number) {
    this.enc = new MavlinkEncoder({ sysid, compid });
    this.dec = new MavlinkDecoder((f) => this.onFrame(f));
    sock.on('data', (b) => this.dec.push(b));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
  }

  static connect(port: number, opts: { sysid?: number; compid?: number; heartbeatHz?: number } = {}): Promise<TestGcs> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('error', reject);
      sock.once('connect', () => {
        const g = new TestGcs(sock, opts.sysid ?? 255, opts.compid ?? 190);
        if (opts.heartbeatHz !== 0) g.startHeartbeat(opts.heartbeatHz ?? 10);
        resolve(g);
      });
    });
  }

  startHeartbeat(hz: number): void {
    this.stopHeartbeat();
    const send = () => this.send(msg(minimal.Heartbeat, { type: 6, autopilot: 8, baseMode: 0, customMode: 0, systemStatus: 4 }));
    send();
    this.hbTimer = setInterval(send, 1000 / hz);
  }
  stopHeartbeat(): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = null;
  }

  /** Vehicle time (time_boot_ms) of the latest frame that carried one: sim time, in band. */
  bootMs = 0;

  private readonly frameBootMs = new WeakMap<Frame, number>();
  /** Vehicle time (ms) when a frame was received, from the last time_boot_ms before it in the stream. */
  at(f: Frame): number {
    return this.frameBootMs.get(f) ?? this.bootMs;
  }

  private onFrame(f: Frame): void {
    this.frames.push(f);
    const tb = (f.data as { timeBootMs?: unknown } | null)?.timeBootMs;
    if (typeof tb === 'number') this.bootMs = tb;
    this.frameBootMs.set(f, this.bootMs);
    if (this.frames.length > 20000) this.frames.splice(0, 10000);
    if (f.name === 'STATUSTEXT') this.texts.push((f.data as common.StatusText).text);
    for (const l of [...this.listeners]) l(f);
    for (let i = 0; i < this.waiters.length; ) {
      if (this.waiters[i].pred(f)) {
        const w = this.waiters.splice(i, 1)[0];
        w.resolve(f);
      } else i++;
    }
  }

  send(m: MavLinkData): void {
    if (!this.sock.destroyed) this.sock.write(this.enc.encode(m));
  }
  sendRaw(b: Buffer): void {
    this.sock.write(b);
  }

  /** Next frame (after now) matching; rejects after timeoutMs. */
  next(name: string, pred: (d: any, f: Frame) => boolean = () => true, timeoutMs = 10000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const w = {
        pred: (f: Frame) => f.name === name && pred(f.data, f),
        resolve: (f: Frame) => {
          clearTimeout(t);
          resolve(f);
        },
      };
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`timeout waiting for ${name}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Resolves null instead of rejecting on timeout. */
  async maybe(name: string, pred: (d: any, f: Frame) => boolean = () => true, timeoutMs = 1000): Promise<Frame | null> {
    try {
      return await this.next(name, pred, timeoutMs);
    } catch {
      return null;
    }
  }

  async waitText(re: RegExp, timeoutMs = 10000): Promise<string> {
    const seen = this.texts.find((t) => re.test(t));
    if (seen) return seen;
    const f = await this.next('STATUSTEXT', (d) => re.test(d.text), timeoutMs);
    return (f.data as common.StatusText).text;
  }

  async command(command: number, params: number[] = [], opts: { target?: number; timeoutMs?: number; tries?: number } = {}): Promise<number> {
    const p = [...params, 0, 0, 0, 0, 0, 0, 0];
    for (let attempt = 0; attempt < (opts.tries ?? 3); attempt++) {
      const ack = this.next('COMMAND_ACK', (d) => d.command === command, opts.timeoutMs ?? 3000);
      this.send(msg(common.CommandLong, {
        targetSystem: opts.target ?? 1, targetComponent: 1, command, confirmation: attempt,
        param1: p[0], param2: p[1], param3: p[2], param4: p[3], param5: p[4], param6: p[5], param7: p[6],
      }));
      try {
        return ((await ack).data as common.CommandAck).result;
      } catch {
        /* retry */
      }
    }
    throw new Error(`no COMMAND_ACK for ${command}`);
  }

  async setRate(msgid: number, hz: number, target = 1): Promise<void> {
    const r = await this.command(511, [msgid, hz > 0 ? 1e6 / hz : -1], { target });
    if (r !== 0) throw new Error(`SET_MESSAGE_INTERVAL ${msgid} → ${r}`);
  }

  /**
   * Wait until the vehicle is ready to fly as ArduCopter reports it: the SYS_STATUS pre-arm health
   * bit (28) and EKF_STATUS_REPORT flags 0x33f. (On the firmware the pre-arm bit comes first, while
   * the EKF does not use GPS yet.)
   */
  async waitReady(timeoutMs = 30000, target = 1): Promise<void> {
    await this.setRate(1, 10, target);
    await this.setRate(193, 10, target);
    const ok = () => {
      const ss = this.last('SYS_STATUS');
      const ekf = this.last('EKF_STATUS_REPORT');
      return !!ss && (ss.onboardControlSensorsHealth & 0x10000000) !== 0 && !!ekf && (ekf.flags & 0x33f) === 0x33f;
    };
    if (ok()) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new Error('vehicle not ready (pre-arm bit and EKF 0x33f)'));
      }, timeoutMs);
      const off = this.on(() => {
        if (!ok()) return;
        clearTimeout(t);
        off();
        resolve();
      });
    });
  }

  /** Upload items answering MISSION_REQUEST / MISSION_REQUEST_INT; resolves with the final MISSION_ACK type. */
  async upload(items: MissionItem[], missionType = 0, target = 1, timeoutMs = 20000, noAckMs = 3000): Promise<{ ack: number; requests: string[] }> {
    const requests: string[] = [];
    let lastAckTimer: NodeJS.Timeout | null = null;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        cleanup();
        reject(new Error('upload timeout'));
      }, timeoutMs);
      const onFrame = (f: Frame) => {
        const d = f.data as any;
        if ((f.name === 'MISSION_REQUEST' || f.name === 'MISSION_REQUEST_INT') && (d.missionType ?? 0) === missionType) {
          requests.push(f.name);
          const it = items[d.seq];
          if (!it) return;
          // After the last item, a lost MISSION_ACK cannot be recovered: report ack -1 (verify by download).
          if (lastAckTimer) clearTimeout(lastAckTimer);
          if (d.seq === items.length - 1) {
            lastAckTimer = setTimeout(() => {
              cleanup();
              resolve({ ack: -1, requests });
            }, noAckMs);
          }
          this.send(msg(common.MissionItemInt, {
            targetSystem: target, targetComponent: 1, seq: d.seq, frame: it.frame, command: it.command, current: 0, autocontinue: 1,
            param1: it.param1, param2: it.param2, param3: it.param3, param4: it.param4, x: it.x, y: it.y, z: it.z, missionType,
          }));
        } else if (f.name === 'MISSION_ACK' && (d.missionType ?? 0) === missionType && d.type !== 13) {
          cleanup();
          resolve({ ack: d.type, requests });
        }
      };
      // A lost MISSION_COUNT is resent until the vehicle asks for an item (as real ground stations do).
      const sendCount = () => this.send(msg(common.MissionCount, { targetSystem: target, targetComponent: 1, count: items.length, missionType }));
      const retry = setInterval(() => {
        if (requests.length === 0) sendCount();
      }, 300);
      const cleanup = () => {
        clearTimeout(t);
        clearInterval(retry);
        if (lastAckTimer) clearTimeout(lastAckTimer);
        this.listeners.delete(onFrame);
      };
      this.listeners.add(onFrame);
      sendCount();
    });
  }

  /** Called for every frame. */
  on(fn: (f: Frame) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Download a list with MISSION_REQUEST_INT and retries. */
  async download(missionType = 0, target = 1, tryMs = 2000): Promise<MissionItem[]> {
    let countF: Frame | null = null;
    // Generous: on a lossy link the request, the count or both may be lost several times in a row,
    // and a list request is DENIED while the vehicle still finishes an upload.
    for (let i = 0; i < 20 && !countF; i++) {
      const w = this.maybe('MISSION_COUNT', (d) => (d.missionType ?? 0) === missionType, tryMs);
      this.send(msg(common.MissionRequestList, { targetSystem: target, targetComponent: 1, missionType }));
      countF = await w;
    }
    if (!countF) throw new Error('no MISSION_COUNT');
    const count = (countF.data as common.MissionCount).count;
    const out: MissionItem[] = [];
    for (let seq = 0; seq < count; seq++) {
      let got: Frame | null = null;
      for (let i = 0; i < 10 && !got; i++) {
        const w = this.maybe('MISSION_ITEM_INT', (d) => d.seq === seq && (d.missionType ?? 0) === missionType, tryMs);
        this.send(msg(common.MissionRequestInt, { targetSystem: target, targetComponent: 1, seq, missionType }));
        got = await w;
      }
      if (!got) throw new Error(`no item ${seq}`);
      const d = got.data as common.MissionItemInt;
      out.push({ seq, frame: d.frame, command: d.command, param1: d.param1, param2: d.param2, param3: d.param3, param4: d.param4, x: d.x, y: d.y, z: d.z, missionType: missionType as 0 });
    }
    this.send(msg(common.MissionAck, { targetSystem: target, targetComponent: 1, type: 0, missionType }));
    return out;
  }

  /** Latest decoded message of a name, or undefined. */
  last(name: string): any {
    for (let i = this.frames.length - 1; i >= 0; i--) if (this.frames[i].name === name) return this.frames[i].data;
    return undefined;
  }

  async close(): Promise<void> {
    this.stopHeartbeat();
    if (this.sock.destroyed) return;
    await new Promise<void>((r) => {
      this.sock.once('close', () => r());
      this.sock.destroy();
    });
  }
}

/** Poll a condition (wall time). */
export async function until(cond: () => boolean, timeoutMs = 20000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function item(seq: number, command: number, lat = 0, lon = 0, z = 0, p: Partial<Record<'param1' | 'param2' | 'param3' | 'param4' | 'frame', number>> = {}): MissionItem {
  return { seq, frame: p.frame ?? 6, command, param1: p.param1 ?? 0, param2: p.param2 ?? 0, param3: p.param3 ?? 0, param4: p.param4 ?? 0, x: Math.round(lat * 1e7), y: Math.round(lon * 1e7), z };
}
