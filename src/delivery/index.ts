/**
 * Delivery jobs: the state machine and the priority queue, and the wiring of the parts that act on
 * jobs: jobs.ts (create, approve, abort), dispatcher.ts (preflight, launch; sortie.ts for several
 * jobs in one flight), tracker.ts (following a flight from its telemetry), watch.ts (the flights'
 * watch every tick: link loss, lateness, stalls), continuity.ts (resuming and leases), takeover.ts
 * (continuing a job another node or process left on the ground).
 *
 * requested → planned → (approved) → uploading → ready → in-flight → delivered → returning → completed,
 * or failed / aborted with a named reason. Every transition and event is written to SQLite (with its
 * timeline entry, in one transaction) before anyone is told about it. Nothing is believed from an
 * ACK alone: mode, arming, climb, release and landing are all confirmed from the vehicle's state.
 */
import crypto from 'crypto';
import type { FleetHandle, VehicleState, CommandResult } from '../fleet/types';
import type { Store } from '../store';
import type { AuthUser } from '../auth';
import { DEFAULT_POLICY, readPolicy, type Policy } from './policy';
import { runPreflight, type PlanForFlight } from './preflight';
import { Airspace } from './airspace';
import { SeparationMonitor } from './separation';
import { TrafficMonitor } from './traffic';
import { TrafficPicture } from '../fleet/traffic';
import { recommendations } from './recommend';
import { AutoDispatcher } from './auto-dispatch';
import { takenUpBy, type LinkGap } from './link-gap';
import type { RecordedFrames } from './recorded-gap';
import { continueOnGround } from './takeover';
import { abortJob, approveJob, createJob, type JobsHost } from './jobs';
import { watchFlights } from './watch';
import { balanceLeases, leasesLost, resume, type ContinuityHost } from './continuity';
import { follow, progressOf, type Tracker, type TrackerHost } from './tracker';
import { ackSummary, dispatchJob, fly, type DispatchHost } from './dispatcher';
import { isRider, riderIds } from './sortie';
export { findReleaseSeqs, planForAutopilot } from './mission-items';
import {
  canTransition,
  TERMINAL,
  VEHICLE_STATES,
  PRIORITY_RANK,
  type Delivery,
  type DeliveryState,
  type Priority,
  type TimelineEntry,
  type LonLat,
  type Alert,
} from './types';

export * from './types';
export { DEFAULT_POLICY, PolicySchema, readPolicy, type Policy } from './policy';
export { runPreflight, warmingUp, WARMUP_CHECKS } from './preflight';

/**
 * Plans a delivery: planner.planDelivery (planner/index.ts), which the service runs in a worker
 * thread (src/planner-pool). A rejection with a string `code` and a numeric `status` (PLANNER_BUSY,
 * PLANNER_TIMEOUT, ...) is a refusal to plan now: it is answered as such and nothing is recorded.
 */
export type PlanDeliveryFn = (zones: unknown, request: unknown) => Promise<any>;

export interface FlightRecorderApi {
  start(vehicleId: string, flightId: string): unknown;
  stop(vehicleId: string): unknown;
}

export interface DeliveryLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface DeliveryManagerOptions {
  store: Store;
  fleet: FleetHandle;
  planDelivery: PlanDeliveryFn;
  log: DeliveryLogger;
  /** Told of every change of a delivery (after it is stored). */
  onDelivery?: (d: Delivery) => void;
  onAlert?: (a: Alert) => void;
  recorder?: FlightRecorderApi | null;
  /** The link agents' recorded stream (NATS bus with JetStream): what a vehicle reported while nobody followed it (src/delivery/recorded-gap.ts). */
  recorded?: RecordedFrames | null;
  /** Time to wait for a mode or arm state to show in telemetry. Default 5000 ms. */
  confirmTimeoutMs?: number;
  /** Tracker tick (lost-link, lateness, stall checks). Default 500 ms. */
  tickMs?: number;
  /** How often a dispatch waiting for a warming-up vehicle looks at it again. Default 250 ms. */
  readyPollMs?: number;
  /**
   * The vehicles fly on a clock this many times faster than the wall clock (simulators at a
   * speed-up): airspace slots are kept on that clock. Default 1.
   */
  vehicleClockRate?: number;
  /**
   * This node's name (its name in the link agents' leases, src/bus/attach.ts): written on the entry a
   * node adds when it takes up a job nobody ran (`tracking-resumed`, `dispatch-resumed`), so the
   * record says which node took it. Undefined: not written (a service without a bus).
   */
  node?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; code: string; message: string; details?: unknown; status?: number; retryAfterS?: number };

export interface CreateInput {
  drop: LonLat;
  launch?: string | LonLat;
  priority?: Priority;
  payload?: { description: string; massKg?: number };
  requester?: { name: string; contact?: string };
  note?: string;
  profile?: unknown;
  wind?: unknown;
  /** A training job: never in the operational queue, flown on simulated vehicles only. */
  training?: boolean;
}

const nowIso = () => new Date().toISOString();
/** States a sortie's riders take with their lead while their parcel is aboard. */
const RIDERS_FOLLOW: ReadonlySet<DeliveryState> = new Set(['ready', 'in-flight', 'failed', 'aborted']);
/** Modes a vehicle enters by itself when a failsafe acts (ArduCopter, PX4). */

export class DeliveryManager {
  private readonly store: Store;
  private readonly fleet: FleetHandle;
  private readonly planDelivery: PlanDeliveryFn;
  private readonly log: DeliveryLogger;
  private readonly trackers = new Map<string, Tracker>(); // by vehicleId
  private readonly progress = new Map<string, Delivery['progress']>();
  private readonly running = new Set<string>(); // delivery ids whose launch sequence is running
  private readonly reserved = new Set<string>(); // vehicle ids between dispatch request and the job holding them
  private readonly waitingFor = new Map<string, string>(); // vehicle id → the job waiting for it to warm up
  private readonly held = new Map<string, string>(); // vehicle ids taken for other work (commissioning), with what
  private timer: NodeJS.Timeout | null = null;
  private readonly onState = (s: VehicleState) => this.onVehicleState(s);
  private closed = false;
  private ticking = false;
  private leasesBalancedMs = 0;
  private readonly confirmTimeoutMs: number;
  /** Slots of the flights planned or airborne (strategic deconfliction). */
  readonly airspace = new Airspace(() => this.store.deliveriesInStates([...VEHICLE_STATES]), (id) => this.running.has(id));
  /** The policy and the jobs on vehicles as last read (each tick): for the monitors that run on telemetry. */
  private policyNow: Policy = DEFAULT_POLICY;
  private activeJobs: Delivery[] = [];
  /** Now on the vehicles' clock, s; and a time on it as a wall-clock ISO string. */
  private readonly airNowS = () => (Date.now() / 1000) * (this.opts.vehicleClockRate ?? 1);
  private readonly airIso = (s: number) => new Date((s * 1000) / (this.opts.vehicleClockRate ?? 1)).toISOString();

  constructor(private readonly opts: DeliveryManagerOptions) {
    this.store = opts.store;
    this.fleet = opts.fleet;
    this.planDelivery = opts.planDelivery;
    this.log = opts.log;
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 5000;
    this.fleet.on('state', this.onState);
    this.store.leases.onLost((ids) => leasesLost(this.continuityHost, ids));
    this.timer = setInterval(() => {
      if (this.ticking) return; // the previous tick still waits for the store
      this.ticking = true;
      this.tick()
        .catch((e) => this.log.error({ err: e }, 'delivery tick failed'))
        .finally(() => (this.ticking = false));
    }, opts.tickMs ?? 500);
    this.timer.unref();
    this.separation = new SeparationMonitor({
      fleet: this.fleet,
      policy: () => this.policyNow.airspace.separation,
      ceilingRelM: () => this.policyNow.airspace.ceilingM ?? this.policyNow.vehicle.fenceAltMaxM - 10,
      jobFor: (vehicleId) => this.flightJobOf(vehicleId),
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail) => void this.event(id, event, detail),
      audit: (a) => this.store.audit({ username: 'separation', role: 'system', ...a }),
      completeAudit: (auditId, outcome) => this.store.completeAudit(auditId, outcome),
      clockRate: opts.vehicleClockRate,
      log: this.log,
    });
    this.trafficPicture = new TrafficPicture(this.fleet);
    this.traffic = new TrafficMonitor({
      fleet: this.fleet,
      aircraft: () => this.trafficPicture.list(),
      policy: () => this.policyNow.airspace.traffic,
      lowestLayerRelM: () => Math.min(...this.policyNow.airspace.layersM),
      jobFor: (vehicleId) => this.flightJobOf(vehicleId),
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail) => void this.event(id, event, detail),
      audit: (a) => this.store.audit({ username: 'traffic', role: 'system', ...a }),
      completeAudit: (auditId, outcome) => this.store.completeAudit(auditId, outcome),
      commanding: (vehicleId, action) => this.operatorCommandSending(vehicleId, action, 'traffic'),
      clockRate: opts.vehicleClockRate,
      log: this.log,
    });
    this.autoDispatch = new AutoDispatcher({
      priorities: () => this.policyNow.autoDispatch.priorities,
      recommendations: () => this.recommendations(false),
      dispatch: (id, vehicleId, user) => this.dispatch(id, vehicleId, user),
      audit: (a) => this.store.audit({ username: 'auto-dispatch', role: 'system', ...a }),
      completeAudit: (auditId, outcome) => this.store.completeAudit(auditId, outcome),
      log: this.log,
    });
  }

  /**
   * The job a vehicle flies, as the monitors judge it (last tick's reading): a sortie's lead, with
   * the most urgent priority of the jobs aboard (a flight carrying urgent medicine is urgent).
   */
  private flightJobOf(vehicleId: string): Delivery | undefined {
    const aboard = this.activeJobs.filter((d) => d.vehicleId === vehicleId);
    const lead = aboard.find((d) => !isRider(d)) ?? aboard[0];
    if (!lead || aboard.length === 1) return lead;
    const priority = aboard.reduce((p, d) => (PRIORITY_RANK[d.priority] < PRIORITY_RANK[p] ? d.priority : p), lead.priority);
    return { ...lead, priority };
  }

  /** Dispatches the jobs of the priorities a supervisor switched to automatic. */
  readonly autoDispatch: AutoDispatcher;

  /** Tactical separation between flying vehicles. */
  readonly separation: SeparationMonitor;

  /** Manned aircraft the vehicles relay (ADS-B), and their threats to flights. */
  readonly trafficPicture: TrafficPicture;
  readonly traffic: TrafficMonitor;

  // ---------------------------------------------------------------- policy and zones

  async currentPolicy(): Promise<{ policy: Policy; version: number }> {
    const z = await this.store.latestPolicy(); // not latestZones(): the tick asks twice a second
    const policy = z ? readPolicy(z.policy) : DEFAULT_POLICY;
    this.policyNow = policy;
    return { policy, version: z?.version ?? 0 };
  }

  // ---------------------------------------------------------------- queries

  async get(id: string): Promise<Delivery | undefined> {
    const d = await this.store.getDelivery(id);
    if (d) await this.withProgress(d);
    return d;
  }

  async list(limit = 500): Promise<Delivery[]> {
    const all = await this.store.listDeliveries(limit);
    for (const d of all) await this.withProgress(d);
    return all;
  }

  /** When each flight began (flight id → ms), read once per flight: progress is derived only from states heard since. */
  private readonly flightStartMs = new Map<string, number>();

  /**
   * Sets the job's progress as this node knows it. The node following the flight has it from every
   * state it follows (tracker.ts). Any other node (the job runs on another node sharing the store,
   * or this node lost the flight's lease) derives the same from its own view of the vehicle (every
   * node hears every vehicle through the bus) and the job's stored plan, but only from a state
   * heard since the flight began: a vehicle this node has not heard since then gets none, rather
   * than a progress made up from an older state. As on the following node, a vehicle gone silent
   * keeps the progress of the last state heard.
   */
  private async withProgress(d: Delivery): Promise<void> {
    if (TERMINAL.has(d.state)) {
      this.progress.delete(d.id);
      if (d.flightId) this.flightStartMs.delete(d.flightId);
      return;
    }
    if (!d.flightId || !d.vehicleId) return;
    const flightId = d.flightId;
    if ([...this.trackers.values()].some((t) => t.flightId === flightId)) {
      const p = this.progress.get(d.id);
      if (p) d.progress = p;
      return;
    }
    this.progress.delete(d.id); // left by a flight this node no longer follows: it would stand still
    const s = this.fleet.get(d.vehicleId)?.state;
    if (!s?.position) return;
    let startMs = this.flightStartMs.get(flightId);
    if (startMs === undefined) {
      const f = await this.store.getFlight(flightId);
      if (!f) return;
      startMs = Date.parse(f.startedAt);
      if (this.flightStartMs.size >= 1000) this.flightStartMs.clear();
      this.flightStartMs.set(flightId, startMs);
    }
    if (!(s.lastSeenMs >= startMs)) return;
    const p = progressOf(d, s, this);
    if (p) d.progress = p;
  }

  /** Jobs waiting for a vehicle, in dispatch order: urgent first, then oldest first. Operational jobs, or (training) the training ones. */
  async queue(training = false): Promise<Delivery[]> {
    return await this.store.deliveriesInStates(['planned', 'approved'], training);
  }

  /** Assisted dispatch: the vehicles ranked for every queued job (operational, or the training queue), with reasons. */
  async recommendations(training = false) {
    const [queue, { policy }, active] = await Promise.all([this.queue(training), this.currentPolicy(), this.store.deliveriesInStates([...VEHICLE_STATES])]);
    return recommendations({
      vehicles: this.fleet.vehicles(),
      queue,
      policy,
      activeJobFor: (id) => active.find((d) => d.vehicleId === id),
      busy: (id) => this.reserved.has(id) || this.held.has(id) || this.waitingFor.has(id),
      nowMs: Date.now(),
      clockRate: this.opts.vehicleClockRate,
    });
  }

  /**
   * Take a vehicle for work other than a job (commissioning): refused (null) while it is being
   * dispatched, flies a job or is otherwise held; else dispatches to it are refused until `release`.
   */
  async holdVehicle(vehicleId: string, what: string): Promise<{ release(): void } | null> {
    const job = await this.activeJobFor(vehicleId); // read first: the checks and the hold below happen at once
    if (this.reserved.has(vehicleId) || this.held.has(vehicleId) || this.trackers.has(vehicleId) || job) return null;
    this.held.set(vehicleId, what);
    return { release: () => void this.held.delete(vehicleId) };
  }

  /** What holds the vehicle (commissioning), if anything. */
  heldFor(vehicleId: string): string | undefined {
    return this.held.get(vehicleId);
  }

  /** The job a vehicle is committed to, if any. */
  async activeJobFor(vehicleId: string): Promise<Delivery | undefined> {
    const jobs = (await this.store.deliveriesInStates([...VEHICLE_STATES])).filter((d) => d.vehicleId === vehicleId);
    // A sortie's riders carry its vehicle too: the job that holds the flight is the one committed.
    return jobs.find((d) => !isRider(d)) ?? jobs[0];
  }

  /** The id of the job dispatched to this vehicle and waiting for it to warm up, if any. */
  waitingJobFor(vehicleId: string): string | undefined {
    return this.waitingFor.get(vehicleId);
  }

  trackedVehicles(): string[] {
    return [...this.trackers.keys()];
  }

  /** Whether a job is following this vehicle (called for every vehicle state: no allocation). */
  isTracked(vehicleId: string): boolean {
    return this.trackers.has(vehicleId);
  }

  // ---------------------------------------------------------------- state machine

  /** Latest stored document of jobs being tracked (refreshed on every write), so following telemetry does not hit SQLite. */
  private readonly docCache = new Map<string, Delivery>();

  private async tracked(id: string): Promise<Delivery | undefined> {
    let d = this.docCache.get(id);
    if (!d) {
      d = await this.store.getDelivery(id);
      if (d) this.docCache.set(id, d);
    }
    return d;
  }

  private readonly endedListeners = new Set<(d: Delivery) => unknown>();
  /** Calls fn with each job that reaches a terminal state here, once it is stored (src/reports/job-facts.ts). */
  onEnded(fn: (d: Delivery) => unknown): () => void {
    this.endedListeners.add(fn);
    return () => void this.endedListeners.delete(fn);
  }

  private publish(d: Delivery) {
    if (this.docCache.has(d.id) || [...this.trackers.values()].some((t) => t.deliveryId === d.id)) this.docCache.set(d.id, d);
    try {
      this.opts.onDelivery?.(d);
    } catch (e) {
      this.log.warn({ err: e }, 'delivery listener failed');
    }
  }

  alert(level: Alert['level'], text: string, ids: { vehicleId?: string; deliveryId?: string } = {}) {
    const a: Alert = { id: crypto.randomUUID(), at: nowIso(), level, text, ...ids };
    this.log[level === 'critical' ? 'error' : level === 'warning' ? 'warn' : 'info']({ alert: a }, text);
    try {
      this.opts.onAlert?.(a);
    } catch (e) {
      this.log.warn({ err: e }, 'alert listener failed');
    }
  }

  /**
   * Move a job to `to` if the state machine allows it from its current (stored) state.
   * Returns the stored job, or null when the transition is not allowed (e.g. it was aborted meanwhile).
   */
  private async transition(id: string, to: DeliveryState, detail?: unknown, patch: Partial<Delivery> = {}, extra: TimelineEntry[] = []): Promise<Delivery | null> {
    // Read, check and write in one transaction holding the job: no other request or node moves it in between.
    const moved = await this.store.tx(async (t) => {
      await t.lockDelivery(id);
      const d = await t.getDelivery(id);
      if (!d || !canTransition(d.state, to)) return false;
      Object.assign(d, patch, { state: to, updatedAt: nowIso() });
      const entry: TimelineEntry = { at: d.updatedAt, state: to };
      if (detail !== undefined) entry.detail = detail;
      await t.updateDelivery(d, [...extra, entry]);
      return true;
    });
    if (!moved) return null;
    const fresh = (await this.get(id))!;
    this.log.info({ deliveryId: id, state: to }, `delivery ${id} → ${to}`);
    this.publish(fresh);
    if (TERMINAL.has(to)) this.progress.delete(id);
    if (TERMINAL.has(to)) for (const fn of this.endedListeners) Promise.resolve().then(() => fn(fresh)).catch((e) => this.log.warn({ err: e, deliveryId: id }, 'ended-job listener failed'));
    if (RIDERS_FOLLOW.has(to)) await this.ridersFollow(fresh, to, detail);
    return fresh;
  }

  /**
   * A sortie's lead moved: its riders whose parcel is still aboard move with it (ready, in-flight;
   * failed or aborted with the flight). Each rider's own drop, return and landing are its own.
   */
  private async ridersFollow(lead: Delivery, to: DeliveryState, detail: unknown): Promise<void> {
    for (const rid of riderIds(lead)) {
      const r = await this.store.getDelivery(rid);
      if (!r || TERMINAL.has(r.state) || r.proofOfDrop || !canTransition(r.state, to)) continue;
      const why = { sortie: lead.id, ...(detail && typeof detail === 'object' ? detail : {}) };
      const patch: Partial<Delivery> =
        to === 'failed' && lead.failure ? { failure: { ...lead.failure, message: `${lead.failure.message} (flown with ${lead.id})` } } : to === 'aborted' ? { abortReason: `${lead.abortReason ?? 'aborted'} (flown with ${lead.id})` } : {};
      const moved = await this.transition(rid, to, why, patch);
      if (moved && to === 'failed') this.alert('critical', `Delivery ${rid} failed: ${moved.failure?.code ?? 'FAILED'}: ${moved.failure?.message ?? ''}`, { deliveryId: rid, vehicleId: lead.vehicleId });
    }
  }

  private async event(id: string, event: string, detail?: unknown, patch: Partial<Delivery> = {}): Promise<Delivery | null> {
    const found = await this.store.tx(async (t) => {
      await t.lockDelivery(id);
      const d = await t.getDelivery(id);
      if (!d) return false;
      Object.assign(d, patch, { updatedAt: nowIso() });
      await t.updateDelivery(d, [{ at: d.updatedAt, event, detail }]);
      return true;
    });
    if (!found) return null;
    const fresh = (await this.get(id))!;
    this.publish(fresh);
    return fresh;
  }

  private async fail(id: string, code: string, message: string, details?: unknown): Promise<Delivery | null> {
    const failure = details === undefined ? { code, message } : { code, message, details };
    const r = await this.transition(id, 'failed', failure, { failure });
    if (r) this.alert('critical', `Delivery ${id} failed: ${code}: ${message}`, { deliveryId: id, vehicleId: r.vehicleId });
    return r;
  }

  // ---------------------------------------------------------------- create, approve (jobs.ts)

  /**
   * Plan a request and record it. A plan failure leaves the job `failed` with PLAN_FAILED; a planner
   * that refuses to plan now (busy, timed out) records nothing and its refusal is the answer.
   */
  create(input: CreateInput, user: AuthUser | null): Promise<Result<Delivery>> {
    return createJob(this.jobsHost, input, user);
  }

  approve(id: string, user: AuthUser): Promise<Result<Delivery>> {
    return approveJob(this.jobsHost, id, user);
  }

  // ---------------------------------------------------------------- preflight and dispatch

  async preflight(id: string, vehicleId: string) {
    const d = await this.store.getDelivery(id);
    if (!d) return { ok: false as const, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
    if (!d.plan || !(d.plan as any).ok) return { ok: false as const, code: 'INVALID_STATE', message: `delivery ${id} has no plan`, status: 409 };
    const v = this.fleet.get(vehicleId);
    if (!v) return { ok: false as const, code: 'VEHICLE_NOT_FOUND', message: `no vehicle ${vehicleId}`, status: 404 };
    const { policy, version } = await this.currentPolicy();
    const report = await runPreflight({ vehicle: v, plan: d.plan as PlanForFlight, policy, policyVersion: version });
    return { ok: true as const, value: report };
  }

  /**
   * Run the preflight policy and, if it passes, start the launch sequence in the background
   * (dispatcher.ts). Resolves once the job is `uploading` (or refused: PREFLIGHT_FAILED leaves the
   * job dispatchable).
   */
  dispatch(id: string, vehicleId: string, user: AuthUser | null, timing?: (phase: string) => void, withIds?: string[]): Promise<Result<Delivery>> {
    return dispatchJob(this.dispatchHost, id, vehicleId, user, timing, withIds);
  }

  private async stillActive(id: string): Promise<boolean> {
    if (this.closed) return false;
    const d = await this.store.getDelivery(id);
    return !!d && !TERMINAL.has(d.state);
  }
  // ---------------------------------------------------------------- abort (jobs.ts)

  /** Abort a job. A vehicle committed to it is sent home (RTL) or, with `land`, lands where it is. */
  abort(id: string, reason: string, opts: { land?: boolean; user?: AuthUser | null } = {}): Promise<Result<{ delivery: Delivery; ack?: CommandResult }>> {
    return abortJob(this.jobsHost, id, reason, opts);
  }

  private get jobsHost(): JobsHost {
    return {
      store: this.store,
      fleet: this.fleet,
      planDelivery: this.planDelivery,
      isClosed: () => this.closed,
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail, patch) => this.event(id, event, detail, patch),
      transition: (id, to, detail, patch) => this.transition(id, to, detail, patch),
      fail: (id, code, message, details) => this.fail(id, code, message, details),
      get: (id) => this.get(id),
    };
  }

  // ---------------------------------------------------------------- tracking

  private startTracker(deliveryId: string, flightId: string, vehicleId: string, resumed: boolean): Tracker {
    const t: Tracker = {
      deliveryId,
      flightId,
      vehicleId,
      // A resumed flight must be seen armed again (or seen standing disarmed on the ground for a while)
      // before it counts as landed: the first states after a reconnect can be incomplete.
      wasArmed: false,
      wasAirborne: resumed,
      groundedSinceMs: null,
      firstSeenCurrent: null,
      lostSinceMs: resumed ? Date.now() : null,
      lostAlerted: false,
      lastMissionCurrent: -1,
      lastProgressMs: Date.now(),
      stallAlerted: false,
      lateAlerted: false,
      fenceAlerted: false,
      lastMode: null,
      releasing: false,
      lastPublishMs: 0,
      resumed,
      following: false,
      nextState: null,
      gap: null,
    };
    this.trackers.set(vehicleId, t);
    return t;
  }

  /** Resume following every flight recorded as active (after a restart). Returns their ids. */
  resume(): Promise<string[]> {
    return resume(this.continuityHost);
  }

  private get continuityHost(): ContinuityHost {
    return {
      store: this.store,
      log: this.log,
      opts: this.opts,
      trackers: this.trackers,
      docCache: this.docCache,
      running: this.running,
      endingFlights: this.endingFlights,
      leaseLostAtMs: this.leaseLostAtMs,
      takeoverHost: this.takeoverHost,
      isClosed: () => this.closed,
      startTracker: (deliveryId, flightId, vehicleId, resumed) => this.startTracker(deliveryId, flightId, vehicleId, resumed),
      openGap: (t, deliveryId, gap) => this.openGap(t, deliveryId, gap),
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail, patch) => this.event(id, event, detail, patch),
      fail: (id, code, message, details) => this.fail(id, code, message, details),
    };
  }

  /** What the dispatcher (dispatcher.ts) may use of this manager (made once: every reference in it is stable). */
  private dispatchHostMade: DispatchHost | null = null;
  private get dispatchHost(): DispatchHost {
    return (this.dispatchHostMade ??= {
      store: this.store,
      fleet: this.fleet,
      log: this.log,
      opts: this.opts,
      airspace: this.airspace,
      planDelivery: this.planDelivery,
      confirmTimeoutMs: this.confirmTimeoutMs,
      running: this.running,
      reserved: this.reserved,
      waitingFor: this.waitingFor,
      held: this.held,
      trackers: this.trackers,
      isClosed: () => this.closed,
      airNowS: () => this.airNowS(),
      airIso: (s) => this.airIso(s),
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail, patch) => this.event(id, event, detail, patch),
      transition: (id, to, detail, patch) => this.transition(id, to, detail, patch),
      fail: (id, code, message, details) => this.fail(id, code, message, details),
      currentPolicy: () => this.currentPolicy(),
      activeJobFor: (vehicleId) => this.activeJobFor(vehicleId),
      stillActive: (id) => this.stillActive(id),
      startTracker: (deliveryId, flightId, vehicleId, resumed) => this.startTracker(deliveryId, flightId, vehicleId, resumed),
    });
  }

  /** What the tracker (tracker.ts) may use of this manager (made once: it is asked for every vehicle state followed). */
  private trackerHostMade: TrackerHost | null = null;
  private get trackerHost(): TrackerHost {
    return (this.trackerHostMade ??= {
      store: this.store,
      fleet: this.fleet,
      log: this.log,
      opts: this.opts,
      separation: this.separation,
      traffic: this.traffic,
      trackers: this.trackers,
      progress: this.progress,
      docCache: this.docCache,
      endingFlights: this.endingFlights,
      running: this.running,
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail, patch) => this.event(id, event, detail, patch),
      transition: (id, to, detail, patch) => this.transition(id, to, detail, patch),
      fail: (id, code, message, details) => this.fail(id, code, message, details),
      tracked: (id) => this.tracked(id),
      get: (id) => this.get(id),
      publish: (d) => this.publish(d),
      currentPolicy: () => this.currentPolicy(),
      recentOperatorCommand: (vehicleId) => this.recentOperatorCommand(vehicleId),
    });
  }

  private get takeoverHost(): Parameters<typeof continueOnGround>[0] {
    return {
      store: this.store,
      fleet: this.fleet,
      node: this.opts.node,
      confirmTimeoutMs: this.confirmTimeoutMs,
      currentPolicy: () => this.currentPolicy(),
      event: (id, event, detail, patch) => this.event(id, event, detail, patch),
      transition: (id, to, detail, patch) => this.transition(id, to, detail, patch),
      fail: (id, code, message, details) => this.fail(id, code, message, details),
      stillActive: (id) => this.stillActive(id),
      fly: (id, v, plan, exec, policy) => fly(this.dispatchHost, id, v, plan, exec, policy),
      follow: async (deliveryId, flightId, vehicleId) => {
        if (this.trackers.has(vehicleId)) return;
        this.startTracker(deliveryId, flightId, vehicleId, true);
        await this.event(deliveryId, 'tracking-resumed', { flightId, vehicleId, ...takenUpBy(this.opts.node) });
        try {
          await this.opts.recorder?.start(vehicleId, flightId);
        } catch (e) {
          this.log.warn({ err: e, flightId }, 'flight recorder did not start');
        }
      },
    };
  }

  /** One state at a time per flight (following writes to the store); of those arriving meanwhile the latest is followed next. */
  private onVehicleState(s: VehicleState): void {
    const t = this.trackers.get(s.id);
    if (!t) return;
    if (t.following) {
      t.nextState = s;
      return;
    }
    t.following = true;
    void (async () => {
      for (let next: VehicleState | null = s; next && this.trackers.get(t.vehicleId) === t; next = t.nextState, t.nextState = null) {
        try {
          await follow(this.trackerHost, t, next);
        } catch (e) {
          this.log.error({ err: e, vehicleId: s.id }, 'tracker failed');
        }
      }
      t.following = false;
    })();
  }

  private tick(): Promise<void> {
    return watchFlights({
      store: this.store,
      fleet: this.fleet,
      trackers: this.trackers,
      lateQueued: this.lateQueued,
      currentPolicy: () => this.currentPolicy(),
      setActiveJobs: (jobs) => (this.activeJobs = jobs),
      balanceLeasesDue: async (now) => {
        if (now - this.leasesBalancedMs < 1000) return;
        this.leasesBalancedMs = now;
        await balanceLeases(this.continuityHost);
      },
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail, patch) => this.event(id, event, detail, patch),
      fail: (id, code, message, details) => this.fail(id, code, message, details),
      openGap: (t, deliveryId, gap) => this.openGap(t, deliveryId, gap),
      onVehicleState: (st) => this.onVehicleState(st),
      queue: (training) => this.queue(training),
    });
  }
  private async openGap(t: Tracker, deliveryId: string, gap: LinkGap): Promise<void> {
    t.gap = gap;
    await this.event(deliveryId, 'link-lost', { vehicleId: t.vehicleId, ...gap });
  }
  private readonly lateQueued = new Set<string>();
  /** Flights whose tracker ended and whose row is being written as ended: flight id → lease id. */
  private readonly endingFlights = new Map<string, string>();
  /** Leases this node lost with its database connection: lease id → when (read when it takes one back). */
  private readonly leaseLostAtMs = new Map<string, number>();
  private readonly operatorCmds = new Map<string, { action: string; username: string; atMs: number }>();

  /**
   * A person is about to command a vehicle directly (the command route calls this before the command
   * leaves): the vehicle may report the mode it was told to take before its acknowledgement arrives
   * (ArduCopter SITL does), and a tracker must not read that change as a failsafe.
   */
  operatorCommandSending(vehicleId: string, action: string, username: string): void {
    this.operatorCmds.set(vehicleId, { action, username, atMs: Date.now() });
  }

  /**
   * A person commanded a vehicle directly (through the one audited command route). Recorded on the
   * job it flies; an RTL or LAND before the drop aborts the job (the vehicle is already told).
   */
  async noteOperatorCommand(vehicleId: string, action: string, username: string, ack: CommandResult): Promise<void> {
    this.operatorCmds.set(vehicleId, { action, username, atMs: Date.now() });
    const d = await this.activeJobFor(vehicleId);
    if (!d) return;
    await this.event(d.id, 'operator-command', { action, by: username, ack: ackSummary(ack) });
    if (ack.ok && (action === 'rtl' || action === 'land') && ['uploading', 'ready', 'in-flight'].includes(d.state)) {
      await this.transition(d.id, 'aborted', { reason: `${action.toUpperCase()} commanded by ${username}`, by: username, action: action.toUpperCase() }, { abortReason: `${action.toUpperCase()} commanded by ${username}` });
      this.alert('warning', `Delivery ${d.id} aborted: ${action.toUpperCase()} commanded by ${username}`, { deliveryId: d.id, vehicleId });
    }
  }

  private recentOperatorCommand(vehicleId: string, withinMs = 15000) {
    const c = this.operatorCmds.get(vehicleId);
    return c && Date.now() - c.atMs <= withinMs ? c : null;
  }

  close(): void {
    this.closed = true;
    this.fleet.off('state', this.onState);
    this.separation.close();
    this.traffic.close();
    this.trafficPicture.close();
    this.autoDispatch.close();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

export { PRIORITY_RANK };
