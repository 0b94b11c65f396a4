/**
 * One vehicle on one link: its decoded state and its protocol clients (command, mission transfer,
 * params), all speaking through the link's encoder. Implements the VehicleHandle contract.
 */
import { EventEmitter } from 'events';
import { common } from 'mavlink-mappings';
import type { Frame } from '../mavlink/codec';
import { msg } from '../mavlink/registry';
import { MissionType, type MissionItem, type MissionTypeValue } from '../mavlink/mission-item';
import type { Clock, TimerHandle } from '../vehicle/clock';
import type { Sender } from '../vehicle/types';
import { CommandClient, Commands, setModeSpec, type CommandOptions } from '../vehicle/command';
import { MissionTransfer, ARDUPILOT_DOWNLOAD_WINDOW, type MissionTransferOptions } from '../vehicle/mission-transfer';
import { ParamClient, type ParamOptions } from '../vehicle/params';
import { applyFrame, emptyState } from './state';
import type { CommandResult, CommandSpec, Outcome, TransferProgress, UploadOptions, VehicleHandle, VehicleState } from './types';

/** Message rates (Hz) requested from every vehicle on discovery and after every reconnect. */
export const DEFAULT_MESSAGE_RATES_HZ: Readonly<Record<number, number>> = {
  1: 2, // SYS_STATUS
  24: 2, // GPS_RAW_INT
  30: 4, // ATTITUDE
  33: 4, // GLOBAL_POSITION_INT
  36: 2, // SERVO_OUTPUT_RAW
  42: 1, // MISSION_CURRENT
  74: 2, // VFR_HUD
  147: 1, // BATTERY_STATUS
  162: 1, // FENCE_STATUS
  193: 1, // EKF_STATUS_REPORT
  242: 0.5, // HOME_POSITION
  245: 1, // EXTENDED_SYS_STATE
  // ADSB_VEHICLE: ArduPilot sends one aircraft of its ADS-B list per slot, the list at most once a
  // second (AP_ADSB::send_adsb_vehicle), and nothing without traffic: 10 Hz refreshes ten aircraft a second.
  246: 10,
};

/** Asked of PX4 vehicles besides DEFAULT_MESSAGE_RATES_HZ: PX4 reports its estimator in ESTIMATOR_STATUS, not EKF_STATUS_REPORT. */
export const PX4_EXTRA_MESSAGE_RATES_HZ: Readonly<Record<number, number>> = {
  230: 1, // ESTIMATOR_STATUS
};

export interface VehicleOptions {
  /** Message rates to request (msgid → Hz). Default DEFAULT_MESSAGE_RATES_HZ (PX4: plus PX4_EXTRA_MESSAGE_RATES_HZ). */
  messageRatesHz?: Record<number, number>;
  /** How often to check that the requested streams still flow (re-requesting after a silent reboot). Default 3000 ms. */
  rateCheckMs?: number;
  /** TIMESYNC period for the round-trip time; 0 disables. Default 2000 ms. */
  timesyncMs?: number;
  /**
   * Coalesce 'state' events to at most one per this period. Default 0: every state-changing frame,
   * because readers (the telemetry hub) coalesce per viewer and a throttle here delays each position
   * by up to one period.
   */
  stateIntervalMs?: number;
  /** STATUSTEXT entries kept in the state. Default 50. */
  statusTextKeep?: number;
  command?: CommandOptions;
  mission?: MissionTransferOptions;
  params?: ParamOptions;
}

export class Vehicle extends EventEmitter implements VehicleHandle {
  readonly id: string;
  readonly state: VehicleState;
  readonly commands: CommandClient;
  readonly missions: MissionTransfer;
  readonly params: ParamClient;
  /** Times the full set of message rates was requested (discovery, reconnect, stalled streams). */
  rateRequests = 0;
  private requestingRates = false;
  private lastStreamMs = 0;
  private rateTimer: TimerHandle | undefined;
  private syncTimer: TimerHandle | undefined;
  private stateTimer: TimerHandle | undefined;
  private lastStateEmit = 0;
  private readonly lastSeq = new Map<number, number>();
  private readonly syncSent = new Map<bigint, number>();
  private readonly o: VehicleOptions;
  private disposed = false;

  constructor(
    linkId: string,
    sysid: number,
    compid: number,
    private readonly send: Sender,
    private readonly clock: Clock,
    self: { sysid: number; compid: number },
    opts: VehicleOptions = {},
  ) {
    super();
    this.o = opts;
    this.state = emptyState(linkId, sysid, compid);
    this.id = this.state.id;
    const target = { sysid, compid };
    const deps = { send, clock, target, self };
    this.commands = new CommandClient(deps, opts.command);
    // Until transfers have measured their own round trips, the link's (TIMESYNC) paces the first resends.
    this.missions = new MissionTransfer(deps, { rttHintMs: () => this.state.link.rttMs, ...opts.mission });
    this.params = new ParamClient(deps, opts.params);
    const connected = () => this.state.connected;
    this.commands.connected = connected;
    this.missions.connected = connected;
    this.params.connected = connected;
  }

  /**
   * Forget everything decoded so far, keeping identity and link status: for a recording that is
   * played again from an earlier point, so nothing from later in the flight lingers.
   */
  resetState(): void {
    if (this.disposed) return;
    const { connected, lastSeenMs, autopilot, vehicleType } = this.state;
    Object.assign(this.state, emptyState(this.state.linkId, this.state.sysid, this.state.compid), { connected, lastSeenMs, autopilot, vehicleType });
    this.stateChanged();
  }

  /** Every frame from this vehicle's sysid. */
  handleFrame(f: Frame): void {
    if (this.disposed) return;
    const s = this.state;
    s.link.packets++;
    const stream = f.compid;
    const last = this.lastSeq.get(stream);
    if (last !== undefined) {
      const gap = (f.seq - last - 1 + 256) & 0xff;
      if (gap < 128) s.link.lost += gap;
    }
    this.lastSeq.set(stream, f.seq);
    s.link.lossPct = Math.round((s.link.lost / (s.link.packets + s.link.lost)) * 10000) / 100;
    if (f.name === 'GLOBAL_POSITION_INT' || f.name === 'ATTITUDE') this.lastStreamMs = this.clock.now();
    if (f.name === 'TIMESYNC') this.onTimesync(f.data as common.TimeSync);
    const r = applyFrame(s, f, this.clock.now(), { statusTextKeep: this.o.statusTextKeep });
    if (f.name === 'HEARTBEAT' && f.compid === s.compid) this.params.setBytewise(s.autopilot === 'px4');
    this.commands.handle(f);
    this.missions.handle(f);
    this.params.handle(f);
    this.emit('frame', f);
    if (r.statusText) this.emit('statustext', r.statusText);
    if (r.reached !== undefined) this.emit('item-reached', r.reached);
    if (r.changed) this.stateChanged();
  }

  private stateChanged(): void {
    const every = this.o.stateIntervalMs ?? 0;
    const now = this.clock.now();
    if (every <= 0 || now - this.lastStateEmit >= every) {
      this.lastStateEmit = now;
      this.emit('state', this.state);
      return;
    }
    if (this.stateTimer !== undefined) return;
    this.stateTimer = this.clock.setTimeout(() => {
      this.stateTimer = undefined;
      this.lastStateEmit = this.clock.now();
      this.emit('state', this.state);
    }, every - (now - this.lastStateEmit));
  }

  /** Called by the fleet when the vehicle is discovered or found again. */
  setConnected(on: boolean): void {
    if (this.disposed) return;
    this.state.connected = on;
    this.stateChanged();
    if (on) {
      this.emit('found');
      void this.requestRates();
      this.startTimers();
    } else {
      this.emit('lost');
      this.stopTimers();
    }
  }

  private startTimers(): void {
    this.stopTimers();
    const check = () => {
      this.rateTimer = this.clock.setTimeout(check, this.o.rateCheckMs ?? 3000);
      const stale = this.clock.now() - this.lastStreamMs > Math.max(3000, 3 * (this.o.rateCheckMs ?? 3000));
      if (this.state.connected && !this.requestingRates && stale) void this.requestRates();
    };
    this.rateTimer = this.clock.setTimeout(check, this.o.rateCheckMs ?? 3000);
    const syncMs = this.o.timesyncMs ?? 2000;
    if (syncMs > 0) {
      const sync = () => {
        this.sendTimesync();
        this.syncTimer = this.clock.setTimeout(sync, syncMs);
      };
      sync();
    }
  }

  private stopTimers(): void {
    for (const t of [this.rateTimer, this.syncTimer, this.stateTimer]) if (t !== undefined) this.clock.clearTimeout(t);
    this.rateTimer = this.syncTimer = this.stateTimer = undefined;
  }

  private sendTimesync(): void {
    const ts1 = BigInt(Math.round(this.clock.now())) * 1_000_000n;
    this.syncSent.set(ts1, this.clock.now());
    if (this.syncSent.size > 8) this.syncSent.delete(this.syncSent.keys().next().value as bigint);
    this.send(msg(common.TimeSync, { tc1: 0n, ts1 }));
  }

  private onTimesync(m: common.TimeSync): void {
    if (m.tc1 === 0n) {
      // The vehicle asks: answer with our time so it can estimate its own RTT.
      this.send(msg(common.TimeSync, { tc1: BigInt(Math.round(this.clock.now())) * 1_000_000n, ts1: m.ts1 }));
      return;
    }
    const sentAt = this.syncSent.get(m.ts1);
    if (sentAt === undefined) return;
    this.syncSent.delete(m.ts1);
    this.state.link.rttMs = this.clock.now() - sentAt;
  }

  /**
   * Ask for every stream we decode (SET_MESSAGE_INTERVAL each). ArduPilot streams almost nothing
   * until asked, and forgets on reboot or reconnect. Resolves with the per-message results.
   */
  async requestRates(): Promise<Record<number, CommandResult>> {
    if (this.requestingRates) return {};
    this.requestingRates = true;
    this.rateRequests++;
    this.lastStreamMs = this.clock.now();
    const out: Record<number, CommandResult> = {};
    try {
      const rates = this.o.messageRatesHz ?? (this.state.autopilot === 'px4' ? { ...DEFAULT_MESSAGE_RATES_HZ, ...PX4_EXTRA_MESSAGE_RATES_HZ } : DEFAULT_MESSAGE_RATES_HZ);
      for (const [id, hz] of Object.entries(rates)) {
        if (!this.state.connected || this.disposed) break;
        out[Number(id)] = await this.setMessageInterval(Number(id), hz > 0 ? Math.round(1e6 / hz) : -1);
      }
    } finally {
      this.requestingRates = false;
    }
    this.emit('rates', out);
    return out;
  }

  /**
   * Resolve true once `pred(state)` holds (checked on every state change), false after timeoutMs.
   * For confirming from telemetry what an ACK only promises.
   */
  waitFor(pred: (s: VehicleState) => boolean, timeoutMs: number): Promise<boolean> {
    if (pred(this.state)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onFrame = () => {
        if (!pred(this.state)) return;
        done(true);
      };
      const timer = this.clock.setTimeout(() => done(false), timeoutMs);
      const done = (v: boolean) => {
        this.clock.clearTimeout(timer);
        this.off('frame', onFrame);
        resolve(v);
      };
      this.on('frame', onFrame);
    });
  }

  dispose(): void {
    if (this.state.connected) this.setConnected(false);
    this.disposed = true;
    this.stopTimers();
  }

  // ---- VehicleHandle ----

  command(spec: CommandSpec): Promise<CommandResult> {
    return this.commands.send(spec);
  }
  arm(force = false): Promise<CommandResult> {
    return this.command(Commands.arm(force));
  }
  disarm(force = false): Promise<CommandResult> {
    return this.command(Commands.disarm(force));
  }
  setMode(name: string): Promise<CommandResult> {
    const spec = setModeSpec(this.state.autopilot, name);
    if (!spec) return Promise.resolve({ ok: false, result: 'UNKNOWN_MODE', command: 176, attempts: 0, elapsedMs: 0 });
    return this.command(spec);
  }
  /** Take off to altRelM above home (PX4 gets the AMSL altitude it expects, from HOME_POSITION). */
  takeoff(altRelM: number): Promise<CommandResult> {
    if (this.state.autopilot === 'px4') return this.command(Commands.takeoffPx4(this.state.home ? this.state.home.altAmslM + altRelM : NaN));
    return this.command(Commands.takeoff(altRelM));
  }
  rtl(): Promise<CommandResult> {
    return this.state.autopilot === 'ardupilot' ? this.setMode('RTL') : this.command(Commands.returnToLaunch());
  }
  land(): Promise<CommandResult> {
    return this.state.autopilot === 'ardupilot' ? this.setMode('LAND') : this.command(Commands.land());
  }
  /** Stop and hold position: BRAKE on ArduCopter (needs no RC), AUTO.LOITER on PX4. */
  hold(): Promise<CommandResult> {
    return this.setMode(this.state.autopilot === 'px4' ? 'HOLD' : 'BRAKE');
  }
  missionStart(): Promise<CommandResult> {
    return this.command(Commands.missionStart());
  }
  pauseContinue(pause: boolean): Promise<CommandResult> {
    return this.command(Commands.pauseContinue(pause));
  }
  gripper(action: 'release' | 'grab'): Promise<CommandResult> {
    return this.command(Commands.gripper(action));
  }
  setServo(servo: number, pwm: number): Promise<CommandResult> {
    return this.command(Commands.setServo(servo, pwm));
  }
  winch(action: 'relax' | 'length' | 'rate', value?: number): Promise<CommandResult> {
    return this.command(Commands.winch(action, value));
  }
  fenceEnable(enable: boolean): Promise<CommandResult> {
    return this.command(Commands.fenceEnable(enable));
  }
  setMessageInterval(msgid: number, intervalUs: number): Promise<CommandResult> {
    return this.command(Commands.setMessageInterval(msgid, intervalUs));
  }
  requestMessage(msgid: number): Promise<CommandResult> {
    return this.command(Commands.requestMessage(msgid));
  }

  async uploadItems(type: MissionTypeValue, items: MissionItem[], opts: UploadOptions = {}): Promise<Outcome<{ items: number; retries?: number }>> {
    const r = await this.missions.uploadVerified(type, items, { verify: opts.verify, autopilot: this.state.autopilot, onProgress: opts.onProgress });
    if (r.ok && type === MissionType.MISSION) this.state.mission.total = items.length;
    return r;
  }
  async downloadItems(type: MissionTypeValue, opts: { onProgress?: (p: TransferProgress) => void } = {}): Promise<Outcome<{ items: MissionItem[] }>> {
    const r = await this.missions.download(type, { window: this.state.autopilot === 'ardupilot' ? ARDUPILOT_DOWNLOAD_WINDOW : 1, ...opts });
    if (r.ok && type === MissionType.MISSION) this.state.mission.total = r.items.length;
    return r;
  }
  clearItems(type: MissionTypeValue): Promise<Outcome> {
    return this.missions.clear(type);
  }
  getParam(name: string): Promise<Outcome<{ value: number }>> {
    return this.params.get(name);
  }
  setParam(name: string, value: number): Promise<Outcome<{ value: number }>> {
    return this.params.set(name, value);
  }
  async fetchParams(): Promise<Outcome<{ params: Record<string, number> }>> {
    return this.params.fetchAll();
  }
}
