/**
 * The MAVLink mission protocol, one state machine for MISSION, FENCE and RALLY (mission_type 0/1/2).
 *
 * Upload:   COUNT →  vehicle asks MISSION_REQUEST_INT(seq) or legacy MISSION_REQUEST(seq) (ArduPilot
 *           4.7 uses the legacy one) → we answer MISSION_ITEM_INT(seq) → … → vehicle MISSION_ACK.
 * Download: REQUEST_LIST → COUNT → we ask REQUEST_INT(seq) → ITEM_INT(seq) (legacy ITEM accepted) → … → we ACK.
 * Clear:    CLEAR_ALL → ACK.
 *
 * Robustness (at least QGroundControl's): a step with no measured round trip yet (MISSION_COUNT,
 * MISSION_REQUEST_LIST) is resent every `timeoutMs` (1500 ms); once round trips are measured, a
 * silent step is resent after 4 × the smoothed round trip (at least `minResendMs`, 20 ms), backing
 * off ×1.5 per further miss up to `timeoutMs` (the round trip is kept from one transfer to the next). A transfer gives up with TIMEOUT after `timeoutMs × (retries + 1)`
 * (9 s) without progress. To ArduPilot an upload answers each request with the item asked for and
 * the next one (ARDUPILOT_SEND_AHEAD), so the next item is there when the vehicle asks for it and a
 * lost request costs nothing. In an upload a resend carries the last item asked for and, when the
 * vehicle has not asked for it yet, the next one (its request may be the message that was lost;
 * ArduPilot accepts the expected seq whether or not it asked). To ArduPilot a resend carries every
 * item from the last one asked for up to one past the highest sent so far (at most 8): an item sent
 * ahead may have been taken and the request after it lost, and ArduPilot takes the items it expects
 * in order and answers the others INVALID_SEQUENCE. Round trips are sampled only from clean
 * exchanges: the request for n + 1 timed from the one send of item n (asked for or sent ahead), with
 * no resend and no re-request in between. Requests may come duplicated or out
 * of order and are answered as asked; an INVALID_SEQUENCE ack mid-upload is not final (ArduPilot
 * re-requests the expected item); a vehicle that cancels an upload it waited for too long
 * (OPERATION_CANCELLED, ArduPilot after 8 s of its time) gets the upload again from MISSION_COUNT, up
 * to 3 times; a lost final ACK is recovered by resending the last item and, when still unanswered,
 * by downloading and comparing. A download keeps up to `window` item requests outstanding (ArduPilot
 * answers each request on its own: 4 in flight hide most of a lossy link's waits) and asks again for
 * the missing ones (32 on a fast link: ARDUPILOT_FAST_DOWNLOAD_WINDOW). Failures are values with
 * codes mapped from MAV_MISSION_RESULT.
 */
import { EventEmitter } from 'events';
import { common } from 'mavlink-mappings';
import type { Frame } from '../mavlink/codec';
import { msg } from '../mavlink/registry';
import { MissionItem, MissionTypeValue, MissionType, Cmd } from '../mavlink/mission-item';
import type { Autopilot, ErrorCode, Fail, Outcome, TransferProgress } from '../fleet/types';
import type { ProtocolDeps } from './types';
import type { TimerHandle } from './clock';

export interface MissionTransferOptions {
  /** Wait for each answer before resending. Default 1500 ms. */
  timeoutMs?: number;
  /** Give up after timeoutMs × (retries + 1) without progress. Default 5 (9 s). */
  retries?: number;
  /** Shortest adaptive resend interval. Default 20 ms (a lost frame costs little more than a round trip on a fast link). */
  minResendMs?: number;
  /** The link's round trip measured otherwise (TIMESYNC), used until transfers have measured their own. Default none. */
  rttHintMs?: () => number | null | undefined;
}

/** Item requests a download keeps outstanding on ArduPilot (each is answered on its own). */
export const ARDUPILOT_DOWNLOAD_WINDOW = 4;
/**
 * The same on a fast link (smoothed round trip under FAST_LINK_RTT_MS: USB, Ethernet, SITL), where
 * a lost answer would otherwise stall the window for a timeout every few items: ArduPilot drops a
 * request it has no room to answer, and the missing ones are asked again after the timeout, so a
 * window too wide costs time, never an item. Measured on ArduCopter SITL at 20 % loss each way
 * (bench/sitl-upload.bench.ts): 174 items uploaded and verified in ~3.4 s with 4, ~2.7 s with 16,
 * ~2.2 s with 32. A radio (round trips of 50 ms and more) keeps 4.
 */
export const ARDUPILOT_FAST_DOWNLOAD_WINDOW = 32;
export const FAST_LINK_RTT_MS = 30;

/** Item requests a verification download keeps outstanding: PX4 one at a time; ArduPilot 4, or 32 on a fast link. */
export function verificationWindow(autopilot: Autopilot, srttMs: number | undefined): number {
  if (autopilot !== 'ardupilot') return 1;
  return srttMs !== undefined && srttMs < FAST_LINK_RTT_MS ? ARDUPILOT_FAST_DOWNLOAD_WINDOW : ARDUPILOT_DOWNLOAD_WINDOW;
}
/** Most items an upload resend to ArduPilot carries. */
const ARDUPILOT_RESEND_SPAN = 8;
/**
 * Items an upload to ArduPilot sends ahead of the vehicle's requests: answering MISSION_REQUEST(n)
 * with n and n + 1, the next item is already there when the vehicle asks for it, so a lost request
 * costs nothing and the exchange no longer waits a round trip per item. ArduPilot takes items in
 * order whether or not it asked for them (an item out of turn gets INVALID_SEQUENCE, and the
 * resend covers from the last item asked for).
 */
export const ARDUPILOT_SEND_AHEAD = 1;
/** Times an upload is started again after the vehicle cancelled it. */
const UPLOAD_RESTARTS = 3;

/**
 * The round trip to the vehicle: the median of the last 9 clean exchanges (none taken after a
 * resend, Karn's rule), so the slow exchanges that losses cause do not inflate it. Kept across
 * transfers: a new transfer starts with what the last ones measured.
 */
class RoundTrip {
  private measured: number | undefined;
  private readonly samples: number[] = [];
  constructor(private readonly hint: () => number | null | undefined = () => undefined) {}
  get srttMs(): number | undefined {
    if (this.measured !== undefined) return this.measured;
    const h = this.hint();
    return typeof h === 'number' && Number.isFinite(h) && h >= 0 ? h : undefined;
  }
  add(sampleMs: number): void {
    this.samples.push(sampleMs);
    if (this.samples.length > 9) this.samples.shift();
    const sorted = [...this.samples].sort((a, b) => a - b);
    this.measured = sorted[Math.floor(sorted.length / 2)];
  }
}

/** Resend timing of one transfer: adaptive to the measured round trip, backing off while nothing progresses. */
class Pacer {
  private misses = 0;
  private lastProgressMs: number;
  constructor(
    private readonly clock: { now(): number },
    private readonly rtt: RoundTrip,
    private readonly timeoutMs: number,
    private readonly minResendMs: number,
    private readonly giveUpMs: number,
  ) {
    this.lastProgressMs = clock.now();
  }
  get srttMs(): number | undefined {
    return this.rtt.srttMs;
  }
  progress(rttSampleMs?: number): void {
    if (rttSampleMs !== undefined && this.misses === 0) this.rtt.add(rttSampleMs);
    this.misses = 0;
    this.lastProgressMs = this.clock.now();
  }
  delay(): number {
    if (this.srttMs === undefined) return this.timeoutMs;
    // Gentle backoff (×1.5 per miss after the first): radio losses are not congestion, and a
    // dead link is caught by the give-up time anyway.
    return Math.min(this.timeoutMs, Math.max(this.minResendMs, 4 * this.srttMs) * 1.5 ** Math.max(0, this.misses - 1));
  }
  miss(): void {
    this.misses++;
  }
  expired(): boolean {
    return this.clock.now() - this.lastProgressMs >= this.giveUpMs;
  }
}

/** MAV_MISSION_RESULT → our error code. */
export function missionResultCode(result: number): ErrorCode {
  switch (result) {
    case 1:
      return 'MISSION_ERROR';
    case 2:
      return 'UNSUPPORTED_FRAME';
    case 3:
      return 'UNSUPPORTED';
    case 4:
      return 'NO_SPACE';
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
    case 10:
    case 11:
    case 12:
      return 'INVALID_PARAM';
    case 13:
      return 'INVALID_SEQUENCE';
    case 14:
      return 'DENIED';
    case 15:
      return 'CANCELLED';
    default:
      return 'MISSION_ERROR';
  }
}

const MISSION_RESULT_NAMES = ['ACCEPTED', 'ERROR', 'UNSUPPORTED_FRAME', 'UNSUPPORTED', 'NO_SPACE', 'INVALID', 'INVALID_PARAM1', 'INVALID_PARAM2', 'INVALID_PARAM3', 'INVALID_PARAM4', 'INVALID_PARAM5_X', 'INVALID_PARAM6_Y', 'INVALID_PARAM7', 'INVALID_SEQUENCE', 'DENIED', 'OPERATION_CANCELLED'];

const TYPE_NAMES = ['mission', 'fence', 'rally'];
const typeName = (t: number) => TYPE_NAMES[t] ?? `type ${t}`;

/** Frames whose x/y are latitude/longitude. */
const GLOBAL_FRAMES = new Set([0, 3, 5, 6, 10, 11]);

export function itemToMessage(it: MissionItem, seq: number, type: MissionTypeValue, target: { sysid: number; compid: number }): common.MissionItemInt {
  return msg(common.MissionItemInt, {
    targetSystem: target.sysid,
    targetComponent: target.compid,
    seq,
    frame: it.frame,
    command: it.command,
    current: it.current ?? 0,
    autocontinue: it.autocontinue ?? 1,
    param1: it.param1,
    param2: it.param2,
    param3: it.param3,
    param4: it.param4,
    x: Math.round(it.x),
    y: Math.round(it.y),
    z: it.z,
    missionType: type,
  });
}

/** A received MISSION_ITEM_INT or legacy MISSION_ITEM as a MissionItem (x/y ×1e7 for global frames). */
export function itemFromMessage(m: common.MissionItemInt | common.MissionItem, legacy: boolean): MissionItem {
  const scale = GLOBAL_FRAMES.has(m.frame) ? 1e7 : 1e4;
  return {
    seq: m.seq,
    frame: m.frame,
    command: m.command,
    current: m.current,
    autocontinue: m.autocontinue,
    param1: m.param1,
    param2: m.param2,
    param3: m.param3,
    param4: m.param4,
    x: legacy ? Math.round(m.x * scale) : m.x,
    y: legacy ? Math.round(m.y * scale) : m.y,
    z: m.z,
    missionType: m.missionType as MissionTypeValue,
  };
}

type Op =
  | { kind: 'upload'; type: MissionTypeValue; handle: (f: Frame) => void }
  | { kind: 'download'; type: MissionTypeValue; handle: (f: Frame) => void }
  | { kind: 'clear'; type: MissionTypeValue; handle: (f: Frame) => void };

export interface UploadResult {
  items: number;
  /** Messages resent because an answer did not come in time. */
  retries: number;
  /** True when the final ACK never came and the outcome must be confirmed by download. */
  ackLost?: boolean;
}

export class MissionTransfer extends EventEmitter {
  private op: Op | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly minResendMs: number;
  /** Resends over the lifetime of this client (for benchmarks and diagnostics). */
  totalRetries = 0;
  /** When false, operations fail at once with NOT_CONNECTED. */
  connected: () => boolean = () => true;

  constructor(private readonly deps: ProtocolDeps, opts: MissionTransferOptions = {}) {
    super();
    this.timeoutMs = opts.timeoutMs ?? 1500;
    this.retries = opts.retries ?? 5;
    this.minResendMs = opts.minResendMs ?? 20;
    this.rtt = new RoundTrip(opts.rttHintMs);
  }

  /** Round trips measured so far on this vehicle's link. */
  private readonly rtt: RoundTrip;

  private pacer(): Pacer {
    return new Pacer(this.deps.clock, this.rtt, this.timeoutMs, this.minResendMs, this.timeoutMs * (this.retries + 1));
  }

  get busy(): boolean {
    return this.op !== undefined;
  }

  /** Feed every frame from the vehicle. */
  handle(f: Frame): void {
    if (!this.op || f.sysid !== this.deps.target.sysid) return;
    const d = f.data as unknown as { targetSystem?: number; missionType?: number } | null;
    if (!d) return;
    if (!['MISSION_REQUEST', 'MISSION_REQUEST_INT', 'MISSION_ACK', 'MISSION_COUNT', 'MISSION_ITEM_INT', 'MISSION_ITEM'].includes(f.name)) return;
    const self = this.deps.self ?? { sysid: 255, compid: 190 };
    if (d.targetSystem !== undefined && d.targetSystem !== 0 && d.targetSystem !== self.sysid) return;
    if ((d.missionType ?? 0) !== this.op.type) return;
    this.op.handle(f);
  }

  private begin(): Fail | undefined {
    if (!this.connected()) return { ok: false, code: 'NOT_CONNECTED', message: 'vehicle is not connected' };
    if (this.op) return { ok: false, code: 'BUSY', message: `a ${typeName(this.op.type)} ${this.op.kind} is already running` };
    return undefined;
  }

  private progress(p: TransferProgress, cb?: (p: TransferProgress) => void): void {
    this.emit('progress', p);
    cb?.(p);
  }

  /**
   * Upload items as they go on the wire (seq = index; for an ArduPilot MISSION, item 0 is the home
   * placeholder and is replaced by the vehicle).
   */
  upload(type: MissionTypeValue, items: MissionItem[], opts: { onProgress?: (p: TransferProgress) => void; autopilot?: Autopilot } = {}): Promise<Outcome<UploadResult>> {
    const busy = this.begin();
    if (busy) return Promise.resolve(busy);
    const { send, clock, target } = this.deps;
    const count = items.length;
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      let retriesUsed = 0;
      let phase: 'count' | 'items' = 'count';
      let lastSeq = -1;
      let lastError: number | undefined;
      let finalResent = false;
      let finalResends = 0;
      let restarts = 0;
      let strayErrors = 0;
      /** No resend and no re-request since the last new request: the next one times a clean round trip. */
      let clean = true;
      /** Times each item went out, and when it first did. */
      const sends = new Map<number, number>();
      const firstSentAt = new Map<number, number>();
      const spanAhead = opts.autopilot === 'ardupilot';
      const ahead = spanAhead ? ARDUPILOT_SEND_AHEAD : 0;
      const pace = this.pacer();
      /** Items the vehicle asked for. */
      const sent = new Set<number>();
      /** Items that went out at least once, asked for or sent ahead. */
      const everSent = new Set<number>();
      const done = (o: Outcome<UploadResult>) => {
        if (timer !== undefined) clock.clearTimeout(timer);
        this.op = undefined;
        resolve(o);
      };
      const fail = (code: ErrorCode, message: string, details?: unknown) => done({ ok: false, code, message, details });
      const armTimer = () => {
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = clock.setTimeout(onTimeout, pace.delay());
      };
      const sendCount = () => {
        send(msg(common.MissionCount, { targetSystem: target.sysid, targetComponent: target.compid, count, missionType: type }));
        armTimer();
      };
      const sendItem = (seq: number) => {
        if (!everSent.has(seq)) firstSentAt.set(seq, clock.now());
        everSent.add(seq);
        sends.set(seq, (sends.get(seq) ?? 0) + 1);
        send(itemToMessage(items[seq], seq, type, target));
      };
      const onTimeout = () => {
        timer = undefined;
        // Everything went out, the vehicle asked for the last item, and only the final ACK is missing:
        // after a few resends of the last item, stop waiting; the outcome is then settled by
        // downloading (see uploadVerified). An item sent ahead and never asked for may never have
        // arrived (the vehicle would keep the upload open): that is no reason to stop.
        const ackOverdue = phase === 'items' && everSent.size === count && finalResends >= 3;
        if (pace.expired() || ackOverdue) {
          if (phase === 'count') return fail('TIMEOUT', `no answer to MISSION_COUNT (${typeName(type)}, ${count} items) after ${retriesUsed + 1} tries`);
          if (everSent.size === count) {
            // Everything was sent; only the final ACK is missing. The caller verifies by download.
            return done({ ok: true, items: count, retries: retriesUsed, ackLost: true });
          }
          const after = lastError !== undefined ? ` (last ack ${MISSION_RESULT_NAMES[lastError] ?? lastError})` : '';
          return fail('TIMEOUT', `${typeName(type)} upload stalled at item ${lastSeq} of ${count}${after}`);
        }
        pace.miss();
        retriesUsed++;
        this.totalRetries++;
        if (phase === 'count') return sendCount();
        if (everSent.size === count) {
          finalResent = true;
          if (sent.has(count - 1)) finalResends++;
        }
        clean = false;
        if (spanAhead) {
          // ArduPilot may hold items up to the highest sent (its requests after them lost): send
          // from the last asked for to one past the highest sent; it takes what it expects, in order.
          let highest = lastSeq;
          for (const q of everSent) if (q > highest) highest = q;
          const hi = Math.min(count - 1, lastSeq + ARDUPILOT_RESEND_SPAN, Math.max(lastSeq + 1, highest + 1));
          for (let q = lastSeq; q <= hi; q++) sendItem(q);
        } else {
          sendItem(lastSeq);
          // The vehicle may already hold lastSeq and its request for the next one was lost.
          if (lastSeq + 1 < count && !sent.has(lastSeq + 1)) sendItem(lastSeq + 1);
        }
        armTimer();
      };
      const handle = (f: Frame) => {
        if (f.name === 'MISSION_REQUEST_INT' || f.name === 'MISSION_REQUEST') {
          const seq = (f.data as common.MissionRequestInt).seq;
          if (seq >= count) return;
          phase = 'items';
          // Sent ahead and not asked for before: it is (almost surely) there already; a lost copy is
          // resent when the vehicle stays silent (onTimeout), or when it asks for the item again.
          const wentAhead = ahead > 0 && !sent.has(seq) && everSent.has(seq);
          if (!sent.has(seq)) {
            // A clean round trip: item seq − 1 went out once (as the answer to its own request, or
            // ahead of it) and the vehicle asks for seq once it has taken it: timed from that send.
            const prevAt = firstSentAt.get(seq - 1);
            const timed = clean && prevAt !== undefined && seq === lastSeq + 1 && sends.get(seq - 1) === 1;
            pace.progress(timed ? clock.now() - prevAt! : undefined);
            clean = true;
            sent.add(seq);
            this.progress({ missionType: type, direction: 'upload', done: sent.size, total: count }, opts.onProgress);
          } else clean = false; // the vehicle asked again: this exchange is no clean round trip
          lastSeq = seq;
          if (!wentAhead) sendItem(seq);
          for (let q = seq + 1; q <= Math.min(count - 1, seq + ahead); q++) if (!everSent.has(q)) sendItem(q);
          armTimer();
        } else if (f.name === 'MISSION_ACK') {
          const r = (f.data as common.MissionAck).type;
          if (r === 0) {
            if (everSent.size === count || count === 0) {
              if (sent.size < count) this.progress({ missionType: type, direction: 'upload', done: count, total: count }, opts.onProgress);
              return done({ ok: true, items: count, retries: retriesUsed });
            }
            return fail('MISSION_ERROR', `vehicle accepted the ${typeName(type)} after ${everSent.size} of ${count} items`);
          }
          if (r === 1 && phase === 'count' && ++strayErrors === 1) {
            // Before any request this may answer a resend of the last upload of this type: wait for more.
            return;
          }
          if (r === 13 && phase === 'items') {
            // An item arrived out of turn (often a duplicate of ours answering a duplicated
            // request, or a resend): ArduPilot keeps the transfer open and re-requests the item it expects.
            lastError = r;
            return;
          }
          if (finalResent || (spanAhead && r === 1 && everSent.size === count && [...sends.values()].some((n) => n > 1))) {
            // The real ACK may have been lost and this one answers our resend: let the download decide.
            // ArduPilot answers ERROR to any item that arrives once its upload is complete, so after
            // resends (an item sent twice, the last one already out) an ERROR may answer a duplicate
            // (ArduPilot only: PX4 answers them ERROR too, "IGN MISSION_ITEM: No transfer", but its
            // delivery test on PX4 SITL failed its verification download with this, so PX4 keeps failing here).
            return done({ ok: true, items: count, retries: retriesUsed, ackLost: true });
          }
          if (r === 15 && restarts < UPLOAD_RESTARTS) {
            // The vehicle gave up waiting for an item (a long run of losses): start again, as a ground station does.
            restarts++;
            retriesUsed++;
            this.totalRetries++;
            phase = 'count';
            sent.clear();
            everSent.clear();
            lastSeq = -1;
            finalResends = 0;
            clean = false;
            sends.clear();
            firstSentAt.clear();
            this.progress({ missionType: type, direction: 'upload', done: 0, total: count }, opts.onProgress);
            return sendCount();
          }
          fail(missionResultCode(r), `vehicle rejected the ${typeName(type)} upload: ${MISSION_RESULT_NAMES[r] ?? r}${lastSeq >= 0 ? ` (last item sent ${lastSeq})` : ''}`, { result: r, lastSeq });
        }
      };
      this.op = { kind: 'upload', type, handle };
      this.progress({ missionType: type, direction: 'upload', done: 0, total: count }, opts.onProgress);
      sendCount();
    });
  }

  /**
   * Download every item of a type, keeping up to `window` item requests outstanding (default 1:
   * one at a time; ArduPilot answers each request on its own, see ARDUPILOT_DOWNLOAD_WINDOW).
   */
  download(type: MissionTypeValue, opts: { onProgress?: (p: TransferProgress) => void; window?: number } = {}): Promise<Outcome<{ items: MissionItem[]; retries: number }>> {
    const busy = this.begin();
    if (busy) return Promise.resolve(busy);
    const { send, clock, target } = this.deps;
    const window = Math.max(1, Math.floor(opts.window ?? 1));
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      let retriesUsed = 0;
      let count = -1;
      let askedAt = 0;
      let resent = false;
      const pace = this.pacer();
      const got = new Map<number, MissionItem>();
      /** Outstanding item requests: seq → when asked and whether it was a resend (no round-trip sample then). */
      const asked = new Map<number, { at: number; resent: boolean }>();
      /** Lowest seq not received yet. */
      let want = 0;
      let strayAcks = 0;
      const done = (o: Outcome<{ items: MissionItem[]; retries: number }>) => {
        if (timer !== undefined) clock.clearTimeout(timer);
        this.op = undefined;
        resolve(o);
      };
      const armTimer = () => {
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = clock.setTimeout(onTimeout, pace.delay());
      };
      const requestList = () => {
        askedAt = clock.now();
        send(msg(common.MissionRequestList, { targetSystem: target.sysid, targetComponent: target.compid, missionType: type }));
        armTimer();
      };
      const requestItem = (seq: number, again: boolean) => {
        asked.set(seq, { at: clock.now(), resent: again });
        send(msg(common.MissionRequestInt, { targetSystem: target.sysid, targetComponent: target.compid, seq, missionType: type }));
      };
      /** Ask for every missing item in the window [want, want + window) not asked for yet. */
      const fillWindow = () => {
        for (let seq = want; seq < Math.min(count, want + window); seq++) if (!got.has(seq) && !asked.has(seq)) requestItem(seq, false);
        armTimer();
      };
      const sendAck = (result: number) => send(msg(common.MissionAck, { targetSystem: target.sysid, targetComponent: target.compid, type: result, missionType: type }));
      const finish = () => {
        sendAck(0);
        const items = Array.from({ length: count }, (_, i) => got.get(i)!);
        done({ ok: true, items, retries: retriesUsed });
      };
      const onTimeout = () => {
        timer = undefined;
        if (pace.expired()) {
          const what = count < 0 ? `no MISSION_COUNT for the ${typeName(type)}` : `item ${want} of ${count} (${typeName(type)}) never came`;
          if (count >= 0) sendAck(15);
          return done({ ok: false, code: 'TIMEOUT', message: `${what} after ${retriesUsed + 1} tries` });
        }
        pace.miss();
        retriesUsed++;
        this.totalRetries++;
        if (count < 0) {
          resent = true;
          return requestList();
        }
        // Ask again for everything still missing in the window.
        for (let seq = want; seq < Math.min(count, want + window); seq++) if (!got.has(seq)) requestItem(seq, true);
        armTimer();
      };
      const handle = (f: Frame) => {
        if (f.name === 'MISSION_COUNT') {
          if (count >= 0) return; // duplicate answer to a resent REQUEST_LIST
          count = (f.data as common.MissionCount).count;
          pace.progress(resent ? undefined : clock.now() - askedAt);
          this.progress({ missionType: type, direction: 'download', done: 0, total: count }, opts.onProgress);
          if (count === 0) return finish();
          want = 0;
          fillWindow();
        } else if (f.name === 'MISSION_ITEM_INT' || f.name === 'MISSION_ITEM') {
          if (count < 0) return;
          const it = itemFromMessage(f.data as common.MissionItemInt, f.name === 'MISSION_ITEM');
          if (it.seq >= count || got.has(it.seq)) return; // duplicate
          got.set(it.seq, it);
          const a = asked.get(it.seq);
          asked.delete(it.seq);
          pace.progress(a && !a.resent ? clock.now() - a.at : undefined);
          this.progress({ missionType: type, direction: 'download', done: got.size, total: count }, opts.onProgress);
          if (got.size === count) return finish();
          while (got.has(want)) want++;
          fillWindow();
        } else if (f.name === 'MISSION_ACK') {
          const r = (f.data as common.MissionAck).type;
          if (r === 0) return;
          // ERROR and INVALID_SEQUENCE may answer items of an upload just finished (resends still on
          // the way when its ACK came): final only when they keep coming.
          if ((r === 1 || r === 13) && ++strayAcks < 3) return;
          done({ ok: false, code: missionResultCode(r), message: `vehicle ended the ${typeName(type)} download: ${MISSION_RESULT_NAMES[r] ?? r}` });
        }
      };
      this.op = { kind: 'download', type, handle };
      requestList();
    });
  }

  /** Remove every item of a type (MISSION_CLEAR_ALL). */
  clear(type: MissionTypeValue): Promise<Outcome> {
    const busy = this.begin();
    if (busy) return Promise.resolve(busy);
    const { send, clock, target } = this.deps;
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      let tries = 0;
      const done = (o: Outcome) => {
        if (timer !== undefined) clock.clearTimeout(timer);
        this.op = undefined;
        resolve(o);
      };
      const sendClear = () => {
        send(msg(common.MissionClearAll, { targetSystem: target.sysid, targetComponent: target.compid, missionType: type }));
        timer = clock.setTimeout(onTimeout, this.timeoutMs);
      };
      const onTimeout = () => {
        timer = undefined;
        if (tries >= this.retries) return done({ ok: false, code: 'TIMEOUT', message: `no answer to MISSION_CLEAR_ALL (${typeName(type)}) after ${tries + 1} tries` });
        tries++;
        this.totalRetries++;
        sendClear();
      };
      const handle = (f: Frame) => {
        if (f.name !== 'MISSION_ACK') return;
        const r = (f.data as common.MissionAck).type;
        if (r === 0) done({ ok: true });
        else done({ ok: false, code: missionResultCode(r), message: `vehicle refused to clear the ${typeName(type)}: ${MISSION_RESULT_NAMES[r] ?? r}` });
      };
      this.op = { kind: 'clear', type, handle };
      sendClear();
    });
  }

  /**
   * Upload, then (unless `verify` is false) download and compare. A lost final ACK is settled by
   * the comparison; without verification it is a TIMEOUT.
   */
  async uploadVerified(
    type: MissionTypeValue,
    items: MissionItem[],
    opts: { verify?: boolean; autopilot?: Autopilot; onProgress?: (p: TransferProgress) => void } = {},
  ): Promise<Outcome<{ items: number; retries: number }>> {
    const up = await this.upload(type, items, opts);
    if (!up.ok) return up;
    const verify = opts.verify ?? true;
    if (!verify) {
      if (up.ackLost) return { ok: false, code: 'TIMEOUT', message: `the vehicle never acknowledged the ${typeName(type)} upload` };
      return { ok: true, items: up.items, retries: up.retries };
    }
    const downOpts = { ...opts, window: verificationWindow(opts.autopilot ?? 'ardupilot', this.rtt.srttMs) };
    let down = await this.download(type, downOpts);
    // On a lossy link the vehicle can still hold the upload open (its final ACK lost while a resend of
    // ours was on its way) and answers the download DENIED; it gives an open upload up after 8 s of
    // silence (ArduPilot): ask again meanwhile, as a ground station does.
    for (let i = 0; !down.ok && down.code === 'DENIED' && i < 5; i++) {
      await new Promise<void>((resolve) => this.deps.clock.setTimeout(resolve, 2000));
      down = await this.download(type, downOpts);
    }
    if (!down.ok) return { ...down, message: `verification download failed: ${down.message}` };
    const diff = compareItems(items, down.items, { autopilot: opts.autopilot ?? 'ardupilot', type });
    if (diff) return { ok: false, code: 'VERIFY_MISMATCH', message: diff.message, details: diff };
    return { ok: true, items: up.items, retries: up.retries + down.retries };
  }
}

/** Commands whose x/y/z carry a position (others are compared by command only). */
function hasPosition(it: MissionItem): boolean {
  return GLOBAL_FRAMES.has(it.frame) && (it.command < 176 || it.command >= 5000 || it.command === Cmd.NAV_PAYLOAD_PLACE);
}

/**
 * Compare what was uploaded with what came back. Tolerates what real autopilots do to a mission:
 * float rounding of altitude (1 cm), DO items returned with another frame, normalised params. Checks
 * command, lat/lon to 1e-7 degrees (±1) and altitude; for fence items also the vertex count / radius
 * (param1). ArduPilot's MISSION item 0 (home) is not compared. Returns undefined when they agree.
 */
export function compareItems(
  sent: MissionItem[],
  got: MissionItem[],
  ctx: { autopilot: Autopilot; type: MissionTypeValue },
): { message: string; seq?: number } | undefined {
  if (sent.length !== got.length) return { message: `vehicle holds ${got.length} items, ${sent.length} were uploaded` };
  const skipHome = ctx.autopilot !== 'px4' && ctx.type === MissionType.MISSION;
  for (let i = skipHome ? 1 : 0; i < sent.length; i++) {
    const a = sent[i];
    const b = got[i];
    if (a.command !== b.command) return { seq: i, message: `item ${i}: command ${b.command} on the vehicle, ${a.command} uploaded` };
    if (hasPosition(a)) {
      if (Math.abs(Math.round(a.x) - b.x) > 1 || Math.abs(Math.round(a.y) - b.y) > 1) {
        return { seq: i, message: `item ${i}: position ${b.x},${b.y} on the vehicle, ${a.x},${a.y} uploaded` };
      }
      if (Math.abs(a.z - b.z) > 0.01 + Math.abs(a.z) * 1e-6) return { seq: i, message: `item ${i}: altitude ${b.z} on the vehicle, ${a.z} uploaded` };
    }
    if (ctx.type === MissionType.FENCE && Math.abs(a.param1 - b.param1) > 1e-3 * Math.max(1, Math.abs(a.param1))) {
      return { seq: i, message: `item ${i}: param1 ${b.param1} on the vehicle, ${a.param1} uploaded` };
    }
  }
  return undefined;
}
