/**
 * A scripted mission-protocol peer that behaves like ArduPilot 4.7 as measured (see DESIGN.md):
 * asks with MISSION_REQUEST (#40) or _INT, re-requests after 1 s, abandons after 8 s, replaces
 * item 0 of a MISSION with home, ACKs INVALID_SEQUENCE for a wrong item and re-requests.
 * Knobs let a test lose, duplicate or reorder messages.
 */
import { common } from 'mavlink-mappings';
import { msg } from '../../src/mavlink/registry';
import type { Frame } from '../../src/mavlink/codec';
import type { MissionItem } from '../../src/mavlink/mission-item';
import { itemFromMessage, itemToMessage } from '../../src/vehicle/mission-transfer';
import type { TimerHandle } from '../../src/vehicle/clock';
import type { Bench } from './harness';

export interface PeerKnobs {
  /** Ask with MISSION_REQUEST (#40) like ArduPilot 4.7. Default true. */
  legacyRequest?: boolean;
  /** Drop this message (direction 'in' = to the vehicle, 'out' = from it). */
  drop?: (name: string, dir: 'in' | 'out', n: number) => boolean;
  /** Answer MISSION_COUNT with this ACK at once (e.g. 4 NO_SPACE). */
  rejectCount?: number;
  /** Final ACK result after all items (default 0). */
  finalAck?: number;
  /** Reject the item with this seq with the given result. */
  rejectItem?: { seq: number; result: number };
  /** Send every request twice. */
  duplicateRequests?: boolean;
  /** Ask for items in this order (indices), instead of 0..n-1. */
  order?: number[];
  /** Never answer anything. */
  silent?: boolean;
  /** Replace MISSION item 0 with this home on download. */
  home?: MissionItem;
}

export class MissionPeer {
  readonly stored: Record<number, MissionItem[]> = { 0: [], 1: [], 2: [] };
  private up: { type: number; count: number; items: MissionItem[]; k: number; order: number[]; timer?: TimerHandle; lastRx: number } | undefined;
  private nIn = 0;
  private nOut = 0;
  requestsSent = 0;

  constructor(private readonly b: Bench, public knobs: PeerKnobs = {}) {
    b.peer = (f) => this.onMessage(f);
  }

  private send(m: common.MissionRequest | common.MissionRequestInt | common.MissionAck | common.MissionCount | common.MissionItemInt): void {
    const name = (m.constructor as unknown as { MSG_NAME: string }).MSG_NAME;
    if (this.knobs.drop?.(name, 'out', this.nOut++)) return;
    this.b.reply(m);
  }

  private ack(type: number, result: number): void {
    this.send(msg(common.MissionAck, { targetSystem: 255, targetComponent: 190, type: result, missionType: type }));
  }

  private request(seq: number): void {
    const up = this.up!;
    const cls = this.knobs.legacyRequest === false ? common.MissionRequestInt : common.MissionRequest;
    const m = msg(cls, { targetSystem: 255, targetComponent: 190, seq, missionType: up.type });
    this.requestsSent++;
    this.send(m);
    if (this.knobs.duplicateRequests) this.send(m);
    this.armTimer();
  }

  private armTimer(): void {
    const up = this.up!;
    if (up.timer !== undefined) this.b.clock.clearTimeout(up.timer);
    up.timer = this.b.clock.setTimeout(() => {
      if (!this.up) return;
      if (this.b.clock.now() - this.up.lastRx > 8000) {
        const t = this.up.type;
        this.up = undefined;
        this.ack(t, 15);
        return;
      }
      this.request(this.up.order[this.up.k]);
    }, 1000);
  }

  private onMessage(f: Frame): void {
    if (this.knobs.drop?.(f.name, 'in', this.nIn++)) return;
    if (this.knobs.silent) return;
    const d = f.data as unknown as { missionType: number };
    switch (f.name) {
      case 'MISSION_COUNT': {
        const c = f.data as common.MissionCount;
        if (this.knobs.rejectCount !== undefined) return this.ack(c.missionType, this.knobs.rejectCount);
        if (this.up?.timer !== undefined) this.b.clock.clearTimeout(this.up.timer);
        if (c.count === 0) {
          this.stored[c.missionType] = [];
          this.up = undefined;
          return this.ack(c.missionType, 0);
        }
        const order = this.knobs.order ?? Array.from({ length: c.count }, (_, i) => i);
        this.up = { type: c.missionType, count: c.count, items: [], k: 0, order, lastRx: this.b.clock.now() };
        this.request(order[0]);
        return;
      }
      case 'MISSION_ITEM_INT': {
        const m = f.data as common.MissionItemInt;
        const up = this.up;
        if (!up || up.type !== m.missionType) {
          // Not uploading: ArduPilot answers a stray item with an error.
          return this.ack(m.missionType, 1);
        }
        const expected = up.order[up.k];
        if (m.seq !== expected) {
          // Wrong item: say so; the 1 s re-request timer asks again for the expected one.
          this.ack(up.type, 13);
          return;
        }
        if (this.knobs.rejectItem && this.knobs.rejectItem.seq === m.seq) {
          if (up.timer !== undefined) this.b.clock.clearTimeout(up.timer);
          this.up = undefined;
          return this.ack(m.missionType, this.knobs.rejectItem.result);
        }
        up.lastRx = this.b.clock.now();
        up.items[m.seq] = itemFromMessage(m, false);
        up.k++;
        if (up.k === up.count) {
          if (up.timer !== undefined) this.b.clock.clearTimeout(up.timer);
          this.up = undefined;
          const result = this.knobs.finalAck ?? 0;
          if (result === 0) this.stored[m.missionType] = up.items;
          return this.ack(m.missionType, result);
        }
        this.request(up.order[up.k]);
        return;
      }
      case 'MISSION_REQUEST_LIST': {
        if (this.up) return this.ack(d.missionType, 14);
        this.send(msg(common.MissionCount, { targetSystem: 255, targetComponent: 190, count: this.stored[d.missionType].length, missionType: d.missionType }));
        return;
      }
      case 'MISSION_REQUEST_INT': {
        const r = f.data as common.MissionRequestInt;
        const items = this.stored[r.missionType];
        if (r.seq >= items.length) return this.ack(r.missionType, 13);
        let it = items[r.seq];
        if (r.missionType === 0 && r.seq === 0 && this.knobs.home) it = this.knobs.home;
        this.send(itemToMessage(it, r.seq, r.missionType as 0, { sysid: 255, compid: 190 }));
        return;
      }
      case 'MISSION_ACK':
        return;
      case 'MISSION_CLEAR_ALL': {
        this.stored[d.missionType] = [];
        return this.ack(d.missionType, 0);
      }
    }
  }
}
