/**
 * Delivery jobs: the state machine, the priority queue and the dispatcher that flies them (following
 * a flight from its telemetry is tracker.ts; continuing a job another node or process left on the
 * ground is takeover.ts).
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
import { DEFAULT_POLICY, readPolicy, needsApproval, type Policy } from './policy';
import { runPreflight, type PlanForFlight } from './preflight';
import { unknownVehicleFenceCapacity } from './fence-fit';
import { Airspace } from './airspace';
import { SeparationMonitor } from './separation';
import { TrafficMonitor } from './traffic';
import { TrafficPicture } from '../fleet/traffic';
import { recommendations } from './recommend';
import { AutoDispatcher } from './auto-dispatch';
import { openGap, takeOverReason, type LinkGap } from './link-gap';
import type { RecordedFrames } from './recorded-gap';
import { continueOnGround } from './takeover';
import { follow, type Tracker, type TrackerHost } from './tracker';
import { ackSummary, dispatchJob, fly, plannerRefusal, type DispatchHost } from './dispatcher';
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

/** Per-flight execution details kept in the job document so a restarted service can resume. */
const nowIso = () => new Date().toISOString();
/** How long a lost lease is remembered for telling a job taken back from one taken over (src/delivery/link-gap.ts takeOverReason). */
const LEASE_LOSS_MEMORY_MS = 3_600_000;
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
    this.store.leases.onLost((ids) => this.leasesLost(ids));
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
    if (d && this.progress.has(id) && !TERMINAL.has(d.state)) d.progress = this.progress.get(id);
    return d;
  }

  async list(limit = 500): Promise<Delivery[]> {
    return (await this.store.listDeliveries(limit)).map((d) => {
      if (this.progress.has(d.id) && !TERMINAL.has(d.state)) d.progress = this.progress.get(d.id);
      return d;
    });
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
      if (moved && to === 'failed') this.alert('critical', `Delivery ${rid} failed with its sortie's flight (${lead.id}): ${lead.failure?.code ?? ''}`, { deliveryId: rid, vehicleId: lead.vehicleId });
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

  // ---------------------------------------------------------------- create, approve

  /**
   * Plan a request and record it. A plan failure leaves the job `failed` with PLAN_FAILED; a planner
   * that refuses to plan now (busy, timed out) records nothing and its refusal is the answer.
   */
  async create(input: CreateInput, user: AuthUser | null): Promise<Result<Delivery>> {
    const zv = await this.store.latestZones();
    if (!zv) return { ok: false, code: 'INVALID_STATE', message: 'no zones configured', status: 409 };
    const policy = readPolicy(zv.policy);
    const createdAt = nowIso();
    // no vehicle chosen yet: plan the fence for what the airframe profile says a vehicle stores
    const request: Record<string, unknown> = { drop: input.drop, fenceCapacity: unknownVehicleFenceCapacity(policy.vehicle) };
    if (input.launch !== undefined) request.launch = input.launch;
    if (input.payload?.massKg !== undefined) request.payload = { massKg: input.payload.massKg };
    if (input.profile !== undefined) request.profile = input.profile;
    if (input.wind !== undefined) request.wind = input.wind;
    let plan: any;
    try {
      // The stored text, not parsed zones: a planner thread parses (and keeps) them.
      plan = await this.planDelivery({ version: zv.version, json: zv.zonesJson }, request);
    } catch (e) {
      const refused = plannerRefusal(e);
      if (refused) return refused;
      plan = { ok: false, error: { code: 'PLANNER_ERROR', message: (e as Error).message } };
    }
    if (this.closed) return { ok: false, code: 'INVALID_STATE', message: 'the service is stopping', status: 503 };
    const priority = input.priority ?? 'normal';
    // The number is drawn and the job inserted in one transaction: concurrent requests never share one.
    const d = await this.store.tx(async (t) => {
      const seq = await t.nextDeliverySeq();
      const id = `D${String(seq).padStart(5, '0')}`;
      const d: Delivery = {
        id,
        state: 'requested',
        priority,
        drop: input.drop,
        launch: input.launch ?? null,
        payload: input.payload ?? { description: 'unspecified' },
        requester: input.requester ?? { name: user?.username ?? 'unknown' },
        note: input.note,
        createdAt,
        updatedAt: createdAt,
        promiseBy: new Date(Date.parse(createdAt) + policy.promiseMin * 60_000).toISOString(),
        createdBy: user?.username,
        ...(input.training ? { training: true } : {}),
        zonesVersion: zv.version,
        timeline: [],
      };
      await t.insertDelivery(d, seq, [{ at: createdAt, state: 'requested', detail: { by: user?.username ?? null, priority } }]);
      return d;
    });
    const id = d.id;
    if (!plan || !plan.ok) {
      const err = plan?.error ?? { code: 'PLANNER_ERROR', message: 'planner returned nothing' };
      const failed = await this.fail(id, 'PLAN_FAILED', err.message ?? 'planning failed', err);
      return { ok: false, code: 'PLAN_FAILED', message: err.message ?? 'planning failed', details: { planner: err, delivery: failed }, status: 422 };
    }
    const sealedZone = extractSealedZone(plan);
    const summary = { distanceM: plan.distanceM, durationS: plan.durationS, energyWh: plan.energyWh, reserveWh: plan.reserveWh, warnings: plan.warnings?.length ?? 0 };
    const planned = await this.transition(id, 'planned', summary, { plan, planRequest: request, sealedZone, launch: plan.launch ?? d.launch });
    if (!planned) return { ok: false, code: 'INVALID_STATE', message: 'job changed while planning', status: 409 };
    if (needsApproval(policy, priority)) await this.event(id, 'awaiting-approval', { policyVersion: zv.version });
    return { ok: true, value: (await this.get(id))! };
  }

  async approve(id: string, user: AuthUser): Promise<Result<Delivery>> {
    const d = await this.store.getDelivery(id);
    if (!d) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
    if (d.state !== 'planned') return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} is ${d.state}; only planned jobs can be approved`, status: 409 };
    const r = await this.transition(id, 'approved', { by: user.username }, { approvedBy: user.username });
    return r ? { ok: true, value: r } : { ok: false, code: 'INVALID_STATE', message: 'not approvable', status: 409 };
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
  // ---------------------------------------------------------------- abort

  /** Abort a job. A vehicle committed to it is sent home (RTL) or, with `land`, lands where it is. */
  async abort(id: string, reason: string, opts: { land?: boolean; user?: AuthUser | null } = {}): Promise<Result<{ delivery: Delivery; ack?: CommandResult }>> {
    const d = await this.store.getDelivery(id);
    if (!d) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
    if (TERMINAL.has(d.state)) return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} is already ${d.state}`, status: 409 };
    const vehicleCommitted = VEHICLE_STATES.has(d.state) && d.vehicleId;
    const r = await this.transition(id, 'aborted', { reason, by: opts.user?.username ?? null, action: vehicleCommitted ? (opts.land ? 'LAND' : 'RTL') : 'none' }, { abortReason: reason });
    if (!r) return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} cannot be aborted from ${d.state}`, status: 409 };
    // A sortie's flight comes home as a whole: every job of it whose parcel is still aboard is aborted with it.
    if (vehicleCommitted && d.sortie) {
      for (const other of d.sortie.jobs) {
        if (other === id) continue;
        const o = await this.store.getDelivery(other);
        if (!o || TERMINAL.has(o.state) || o.proofOfDrop) continue;
        const why = `${reason} (flown with ${id}: the flight returns)`;
        await this.transition(other, 'aborted', { reason: why, by: opts.user?.username ?? null, sortie: id }, { abortReason: why });
      }
    }
    let ack: CommandResult | undefined;
    if (vehicleCommitted) {
      const v = this.fleet.get(d.vehicleId!);
      const onGround = v && (v.state.landedState === 1 || (v.state.landedState === 0 && (v.state.position?.altRelM ?? 0) < 1));
      if (v && v.state.armed && onGround) {
        ack = await v.disarm(false);
        await this.event(id, 'disarm-commanded', { ack: ackSummary(ack), reason: 'aborted before take-off' });
      } else if (v && v.state.armed) {
        ack = opts.land ? await v.land() : await v.rtl();
        await this.event(id, opts.land ? 'land-commanded' : 'rtl-commanded', { ack: ackSummary(ack) });
      } else if (v && !v.state.armed) {
        ack = undefined;
        await this.event(id, 'abort-on-ground', { armed: false });
      }
    }
    this.alert('warning', `Delivery ${id} aborted: ${reason}`, { deliveryId: id, vehicleId: d.vehicleId });
    return { ok: true, value: { delivery: (await this.get(id))!, ack } };
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
  async resume(): Promise<string[]> {
    const out: string[] = [];
    for (const f of await this.store.activeFlights()) {
      if (this.trackers.has(f.vehicleId) || this.endingFlights.has(f.id)) continue;
      // A job still on the ground (its flight row written at the arming): taken over below.
      const job = f.deliveryId ? await this.store.getDelivery(f.deliveryId) : undefined;
      if (job && (job.state === 'uploading' || job.state === 'ready') && !this.running.has(job.id)) continue;
      const leaseId = f.deliveryId || `flight:${f.id}`;
      if (!(await this.adopt(leaseId))) continue; // another node follows it
      const lostAtMs = this.leaseRegained(leaseId);
      const t = this.startTracker(f.deliveryId ?? '', f.id, f.vehicleId, true);
      // Nothing was heard from the vehicle while nobody followed it (the service was down, or this
      // node had lost its lease): a gap from the job's last committed entry (read before this resume
      // adds its own) until the vehicle is heard again.
      const d = f.deliveryId ? await this.store.getDelivery(f.deliveryId) : undefined;
      const gap = d ? openGap(d.timeline, takeOverReason(d.timeline, lostAtMs)) : null;
      if (f.deliveryId) await this.event(f.deliveryId, 'tracking-resumed', { flightId: f.id, vehicleId: f.vehicleId });
      if (d && gap) await this.openGap(t, d.id, gap); // a finished job's flight too: its vehicle is still followed
      this.alert('info', `Resumed tracking flight ${f.id} on ${f.vehicleId}`, { vehicleId: f.vehicleId, deliveryId: f.deliveryId ?? undefined });
      out.push(f.id);
    }
    // A wait for a warming-up vehicle ended with the process: the job stays dispatchable.
    for (const d of await this.store.deliveriesInStates(['planned', 'approved'])) {
      if (d.waiting && (await this.adopt(d.id))) await this.event(d.id, 'waiting-ended', { vehicleId: d.waiting.vehicleId, reason: 'the service restarted; dispatch again' }, { waiting: undefined });
    }
    // Jobs interrupted on the ground between preflight and launch: continued from what the vehicle holds (src/delivery/takeover.ts).
    for (const d of await this.store.deliveriesInStates(['uploading', 'ready'])) {
      if (this.trackers.has(d.vehicleId ?? '') || this.running.has(d.id)) continue;
      if (isRider(d)) continue; // moved with its lead's take-over
      if (!(await this.adopt(d.id))) continue;
      const lostAtMs = this.leaseRegained(d.id);
      this.running.add(d.id);
      void continueOnGround(this.takeoverHost, d, lostAtMs)
        .catch(async (e) => {
          if (this.closed) return;
          this.log.error({ err: e, deliveryId: d.id }, 'take-over of a job on the ground crashed');
          await this.fail(d.id, 'INTERNAL', (e as Error).message);
        })
        .finally(() => this.running.delete(d.id));
    }
    return out;
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
        await this.event(deliveryId, 'tracking-resumed', { flightId, vehicleId });
        try {
          await this.opts.recorder?.start(vehicleId, flightId);
        } catch (e) {
          this.log.warn({ err: e, flightId }, 'flight recorder did not start');
        }
      },
    };
  }

  /**
   * Take the lease of a job this node does not run yet (its node died, or this one restarted). False
   * when it runs here already or another node holds it.
   */
  private async adopt(leaseId: string): Promise<boolean> {
    if (this.running.has(leaseId) || this.store.leases.holds(leaseId)) return false;
    return this.store.leases.tryTake(leaseId);
  }

  /**
   * A lease just taken: when this node had lost it with the database connection (then forgotten),
   * or undefined when it had not. Says whether the job is taken back rather than taken over.
   */
  private leaseRegained(leaseId: string): number | undefined {
    const at = this.leaseLostAtMs.get(leaseId);
    this.leaseLostAtMs.delete(leaseId);
    return at;
  }

  /** Nodes sharing a store: give back the leases of jobs this node no longer runs, take over those nobody runs. */
  private async balanceLeases(): Promise<void> {
    // Leases lost long ago that this node never took back (another node runs those jobs): forgotten.
    for (const [id, at] of this.leaseLostAtMs) if (Date.now() - at > LEASE_LOSS_MEMORY_MS) this.leaseLostAtMs.delete(id);
    const following = new Set([...this.trackers.values()].map((t) => t.deliveryId || `flight:${t.flightId}`).concat([...this.endingFlights.values()]));
    for (const id of this.store.leases.held()) if (!this.running.has(id) && !following.has(id)) await this.store.leases.release(id);
    if (this.store.kind !== 'postgres' || this.closed) return;
    for (const flightId of await this.resume()) {
      const f = await this.store.getFlight(flightId);
      try {
        if (f) await this.opts.recorder?.start(f.vehicleId, f.id);
      } catch (e) {
        this.log.warn({ err: e, flightId }, 'flight recorder did not start');
      }
    }
  }

  /** The leases' database connection broke: this node may no longer follow those jobs (another node may already). */
  private leasesLost(ids: string[]): void {
    const now = Date.now();
    for (const id of ids) this.leaseLostAtMs.set(id, now);
    for (const t of [...this.trackers.values()]) {
      if (!ids.includes(t.deliveryId || `flight:${t.flightId}`)) continue;
      this.trackers.delete(t.vehicleId);
      this.docCache.delete(t.deliveryId);
      this.alert('critical', `Stopped following flight ${t.flightId} on ${t.vehicleId}: this node lost its lease (database connection)`, { vehicleId: t.vehicleId, deliveryId: t.deliveryId || undefined });
    }
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

  private async tick(): Promise<void> {
    const now = Date.now();
    const { policy } = await this.currentPolicy();
    this.activeJobs = await this.store.deliveriesInStates([...VEHICLE_STATES]);
    if (now - this.leasesBalancedMs >= 1000) {
      this.leasesBalancedMs = now;
      await this.balanceLeases();
    }
    for (const t of [...this.trackers.values()]) {
      const v = this.fleet.get(t.vehicleId);
      const connected = !!v && v.state.connected && now - v.state.lastSeenMs < 5000;
      const d = t.deliveryId ? await this.store.getDelivery(t.deliveryId) : undefined;
      if (!connected) {
        t.lostSinceMs ??= now;
        if (!t.lostAlerted && now - t.lostSinceMs > 3000) {
          t.lostAlerted = true;
          this.alert('critical', `Link to ${t.vehicleId} lost in flight`, { vehicleId: t.vehicleId, deliveryId: d?.id });
          if (d && !t.gap) await this.openGap(t, d.id, { from: new Date(t.lostSinceMs).toISOString(), reason: 'link-lost' });
        }
        if (d && !TERMINAL.has(d.state) && now - t.lostSinceMs > policy.lostTimeoutMs)
          await this.fail(d.id, 'VEHICLE_LOST', `no message from ${t.vehicleId} for ${Math.round((now - t.lostSinceMs) / 1000)} s`);
        continue;
      }
      if (d && !TERMINAL.has(d.state) && !t.lateAlerted && !d.proofOfDrop && now > Date.parse(d.promiseBy)) {
        t.lateAlerted = true;
        this.alert('warning', `Delivery ${d.id} is late against its promise (${d.promiseBy})`, { deliveryId: d.id, vehicleId: t.vehicleId });
        await this.event(d.id, 'late', { promiseBy: d.promiseBy });
      }
      if (d && d.state === 'in-flight' && !t.stallAlerted && now - t.lastProgressMs > 30000) {
        t.stallAlerted = true;
        this.alert('warning', `Mission on ${t.vehicleId} seems stalled at item ${t.lastMissionCurrent}`, { deliveryId: d.id, vehicleId: t.vehicleId });
      }
      // Catch the end of a flight even when no state event arrives after the disarm.
      if (v) this.onVehicleState(v.state);
    }
    // Jobs waiting in the queue past their promise.
    for (const d of [...(await this.queue()), ...(await this.queue(true))]) {
      if (now > Date.parse(d.promiseBy) && !this.lateQueued.has(d.id)) {
        this.lateQueued.add(d.id);
        this.alert('warning', `Delivery ${d.id} (${d.priority}) is still waiting and late against its promise`, { deliveryId: d.id });
      }
    }
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

/** The sealed zone the planner placed the drop in, if it says. */
function extractSealedZone(plan: any): Delivery['sealedZone'] {
  const cand = plan?.drop?.sealedZone ?? plan?.drop?.zone ?? plan?.sealedZone ?? null;
  if (!cand) return null;
  if (typeof cand === 'string') return { name: cand };
  return { id: cand.id ?? cand.index, name: cand.name };
}

export { PRIORITY_RANK };
