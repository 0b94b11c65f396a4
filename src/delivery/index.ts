/**
 * Delivery jobs: the state machine, the priority queue and the dispatcher that flies them.
 *
 * requested → planned → (approved) → uploading → ready → in-flight → delivered → returning → completed,
 * or failed / aborted with a named reason. Every transition and event is written to SQLite (with its
 * timeline entry, in one transaction) before anyone is told about it. Nothing is believed from an
 * ACK alone: mode, arming, climb, release and landing are all confirmed from the vehicle's state.
 */
import crypto from 'crypto';
import type { FleetHandle, VehicleHandle, VehicleState, CommandResult } from '../fleet/types';
import { MissionType, Cmd, type MissionItem, type MissionTypeValue } from '../mavlink/mission-item';
import type { Store } from '../store';
import type { AuthUser } from '../auth';
import { DEFAULT_POLICY, readPolicy, needsApproval, type Policy } from './policy';
import { runPreflight, warmingUp, WARMUP_CHECKS, type PlanForFlight } from './preflight';
import { knownFenceCapacity, type FenceCapacity } from './commissioning';
import { fenceCapacityRefusal, fenceStorageOf, unknownVehicleFenceCapacity } from './fence-fit';
import { Airspace, planInSlot, waitForSlot } from './airspace';
import { SeparationMonitor } from './separation';
import { TrafficMonitor } from './traffic';
import { TrafficPicture } from '../fleet/traffic';
import { recommendations } from './recommend';
import { AutoDispatcher } from './auto-dispatch';
import { openGap, closeGap, type LinkGap } from './link-gap';
import { continueOnGround } from './takeover';
import { pauseAt } from './pause-point';
import { greatCircleDistanceM } from '../../planner/geo';
import {
  canTransition,
  TERMINAL,
  VEHICLE_STATES,
  PRIORITY_RANK,
  type Delivery,
  type DeliveryState,
  type Priority,
  type ProofOfDrop,
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
interface Execution {
  releaseSeq: number | null;
  dropSeq: number | null;
  gripperServo: number | null;
  launchAltRelM?: number;
}

/** A live flight being followed. Survives the job reaching a terminal state until the vehicle is down. */
interface Tracker {
  deliveryId: string;
  flightId: string;
  vehicleId: string;
  wasArmed: boolean;
  wasAirborne: boolean;
  lostSinceMs: number | null;
  lostAlerted: boolean;
  lastMissionCurrent: number;
  lastProgressMs: number;
  stallAlerted: boolean;
  lateAlerted: boolean;
  fenceAlerted: boolean;
  lastMode: string | null;
  releasing: boolean;
  lastPublishMs: number;
  resumed: boolean;
  groundedSinceMs: number | null;
  /** First MISSION_CURRENT seen by this tracker (after a resume: where the vehicle was when we came back). */
  firstSeenCurrent: number | null;
  /** A state is being followed; `nextState` is the latest that arrived meanwhile (followed next). */
  following: boolean;
  nextState: VehicleState | null;
  /** A `link-lost` gap recorded on the job and not closed yet (closed by `link-regained` when the vehicle is heard). */
  gap: LinkGap | null;
  /** A resumed job's vehicle was heard on the ground without its mission (noted once). */
  unconfirmedNoted?: boolean;
}

const nowIso = () => new Date().toISOString();
const RELEASE_COMMANDS: ReadonlySet<number> = new Set([Cmd.DO_GRIPPER, Cmd.DO_WINCH, Cmd.NAV_PAYLOAD_PLACE, Cmd.DO_SET_SERVO]);
const NAV_COMMANDS: ReadonlySet<number> = new Set([Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_SPLINE_WAYPOINT, Cmd.NAV_DELAY]);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Modes a vehicle enters by itself when a failsafe acts (ArduCopter, PX4). */
const FAILSAFE_MODES: ReadonlySet<string> = new Set(['RTL', 'LAND', 'SMART_RTL', 'BRAKE', 'AUTO.RTL', 'AUTO.LAND']);

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
      jobFor: (vehicleId) => this.activeJobs.find((d) => d.vehicleId === vehicleId),
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
      jobFor: (vehicleId) => this.activeJobs.find((d) => d.vehicleId === vehicleId),
      alert: (level, text, ids) => this.alert(level, text, ids),
      event: (id, event, detail) => void this.event(id, event, detail),
      audit: (a) => this.store.audit({ username: 'traffic', role: 'system', ...a }),
      completeAudit: (auditId, outcome) => this.store.completeAudit(auditId, outcome),
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
    return (await this.store.deliveriesInStates([...VEHICLE_STATES])).find((d) => d.vehicleId === vehicleId);
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
    return fresh;
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
   * Run the preflight policy and, if it passes, start the launch sequence in the background.
   * Resolves once the job is `uploading` (or refused: PREFLIGHT_FAILED leaves the job dispatchable).
   */
  async dispatch(id: string, vehicleId: string, user: AuthUser | null, timing?: (phase: string) => void): Promise<Result<Delivery>> {
    // Every read first: the checks and the marks below then happen without a pause another request could use.
    const d = await this.store.getDelivery(id);
    if (!d) return { ok: false, code: 'NOT_FOUND', message: `no delivery ${id}`, status: 404 };
    const { policy, version } = await this.currentPolicy();
    const busy = await this.activeJobFor(vehicleId);
    const leased = this.running.has(id) || (await this.store.leases.tryTake(id)); // given back by balanceLeases unless it runs
    if (d.state !== 'planned' && d.state !== 'approved')
      return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} is ${d.state}; only planned or approved jobs can be dispatched`, status: 409 };
    if (d.state === 'planned' && needsApproval(policy, d.priority))
      return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} needs a supervisor's approval (policy version ${version})`, status: 409 };
    if (this.running.has(id) || !leased) return { ok: false, code: 'CONFLICT', message: `delivery ${id} is already being dispatched${leased ? '' : ' (by another node)'}`, status: 409 };
    const v = this.fleet.get(vehicleId);
    if (!v) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `no vehicle ${vehicleId}`, status: 404 };
    if (vehicleId.startsWith('replay-')) return { ok: false, code: 'INVALID_STATE', message: `${vehicleId} is a replay and cannot fly`, status: 409 };
    if (this.reserved.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is being dispatched for another job`, status: 409 };
    if (this.held.has(vehicleId)) return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is busy: ${this.held.get(vehicleId)}`, status: 409 };
    if (busy || this.trackers.has(vehicleId))
      return { ok: false, code: 'CONFLICT', message: `vehicle ${vehicleId} is busy${busy ? ` with ${busy.id}` : ' (a flight is still being tracked)'}`, status: 409 };
    this.running.add(id);
    this.reserved.add(vehicleId);
    let waiting = false;
    try {
      const p = await this.planFor(d, v, policy);
      if (!p.ok) {
        this.running.delete(id);
        return p;
      }
      const { plan, flown } = p.value;
      timing?.('plan');
      const report = await runPreflight({ vehicle: v, plan, policy, policyVersion: version });
      timing?.('preflight');
      if (!report.ok) {
        const failed = report.checks.filter((c) => !c.ok);
        // Only warm-up checks failing (EKF, GPS fix, home, pre-arm): wait for the vehicle, as a crew would.
        if (policy.readyWaitMs > 0 && failed.every((c) => WARMUP_CHECKS.has(c.name))) {
          const { params: _p, gripperServo: _g, ...stored } = report;
          const w = await this.startWaiting(id, v, failed, policy.readyWaitMs, stored);
          if (!w) {
            this.running.delete(id);
            return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} changed during preflight`, status: 409 };
          }
          waiting = true;
          // The job stays `running` (no second dispatch) until it launches, which then owns that mark.
          void this.waitThenLaunch(id, v, user, Date.parse(w.waiting!.until), timing)
            .then((launched) => {
              if (!launched) this.running.delete(id);
            })
            .catch((e) => {
              this.running.delete(id);
              this.log.error({ err: e, deliveryId: id }, 'waiting for the vehicle crashed');
            })
            .finally(() => {
              this.waitingFor.delete(vehicleId);
              this.reserved.delete(vehicleId);
            });
          return { ok: true, value: w };
        }
        this.running.delete(id);
        return await this.refuse(id, vehicleId, report);
      }
      return await this.begin(id, v, plan, flown, report, policy, user, timing);
    } catch (e) {
      this.running.delete(id);
      throw e;
    } finally {
      if (!waiting) this.reserved.delete(vehicleId);
    }
  }

  /** PREFLIGHT_FAILED: the job stays dispatchable, with the report and a timeline entry naming the failed checks. */
  private async refuse(id: string, vehicleId: string, report: Awaited<ReturnType<typeof runPreflight>>, extra: Record<string, unknown> = {}): Promise<Result<Delivery>> {
    const { params: _p, gripperServo: _g, ...stored } = report;
    const failed = report.checks.filter((c) => !c.ok);
    await this.event(id, 'preflight-refused', { vehicleId, failed: failed.map((c) => c.name), ...extra }, { preflight: stored });
    return {
      ok: false,
      code: 'PREFLIGHT_FAILED',
      message: `preflight refused: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`,
      details: { checks: report.checks, failed: failed.map((c) => c.name), ...extra },
      status: 409,
    };
  }

  /** Preflight passed: the job goes `uploading` and the launch sequence runs in the background (it clears `running`). */
  private async begin(id: string, v: VehicleHandle, plan: PlanForFlight, flown: Partial<Delivery>, report: Awaited<ReturnType<typeof runPreflight>>, policy: Policy, user: AuthUser | null, timing?: (phase: string) => void): Promise<Result<Delivery>> {
    const { params: _p, gripperServo, ...stored } = report;
    const d = (await this.store.getDelivery(id))!;
    const exec: Execution = { ...findReleaseSeqs(plan.mission, d.drop), gripperServo };
    const r = await this.transition(id, 'uploading', { vehicleId: v.id, by: user?.username ?? null }, { vehicleId: v.id, preflight: stored, execution: exec, waiting: undefined, ...flown } as Partial<Delivery>);
    if (!r) {
      this.running.delete(id);
      return { ok: false, code: 'INVALID_STATE', message: `delivery ${id} changed during preflight`, status: 409 };
    }
    this.airspace.release(id); // stored with the job now
    if (r.airspace) await this.event(id, 'airspace-slot', { method: r.airspace.method, layerM: r.airspace.layerM, holdS: r.airspace.holdS, launchAt: this.airIso(r.airspace.launchAtS), avoided: r.airspace.avoided, reason: r.airspace.reason });
    void this.launch(id, v, plan, exec, policy, timing)
      .catch(async (e) => {
        if (this.closed) return; // the service stopped under it
        this.log.error({ err: e, deliveryId: id }, 'launch sequence crashed');
        await this.fail(id, 'INTERNAL', (e as Error).message);
      })
      .finally(() => this.running.delete(id));
    return { ok: true, value: r };
  }

  /** Record that the job waits for the vehicle to warm up ("waiting for vehicle: ekf"). Null when the job moved on meanwhile. */
  private async startWaiting(id: string, v: VehicleHandle, failed: Array<{ name: string; detail: string }>, waitMs: number, preflight: unknown): Promise<Delivery | null> {
    const d = await this.store.getDelivery(id);
    if (!d || (d.state !== 'planned' && d.state !== 'approved')) return null;
    const since = nowIso();
    const waiting = { vehicleId: v.id, checks: failed.map((c) => c.name), message: `waiting for vehicle: ${failed.map((c) => c.name).join(', ')}`, since, until: new Date(Date.parse(since) + waitMs).toISOString() };
    this.waitingFor.set(v.id, id);
    this.alert('info', `Delivery ${id} waiting for vehicle: ${waiting.checks.join(', ')} (${v.id}, up to ${Math.round(waitMs / 1000)} s)`, { deliveryId: id, vehicleId: v.id });
    return await this.event(id, 'waiting-for-vehicle', { ...waiting, checks: failed.map((c) => ({ name: c.name, detail: c.detail })) }, { waiting, preflight } as Partial<Delivery>);
  }

  /** The job still waits for this vehicle: planned or approved, not aborted, the service running. */
  private async stillWaiting(id: string, vehicleId: string): Promise<boolean> {
    if (this.closed) return false;
    const d = await this.store.getDelivery(id);
    return !!d && (d.state === 'planned' || d.state === 'approved') && d.waiting?.vehicleId === vehicleId;
  }

  /** End a wait: clear the job's `waiting` with a timeline entry saying why. */
  private async endWaiting(id: string, reason: string, extra: Record<string, unknown> = {}): Promise<void> {
    const d = await this.store.getDelivery(id);
    if (!d?.waiting || this.closed) return;
    await this.event(id, 'waiting-ended', { vehicleId: d.waiting.vehicleId, reason, ...extra }, { waiting: undefined });
  }

  /**
   * Wait until the vehicle passes the warm-up checks (or the deadline), then plan from where it
   * stands, run the whole preflight again with fresh parameters and launch, or refuse with reasons.
   */
  private async waitThenLaunch(id: string, v: VehicleHandle, user: AuthUser | null, deadlineMs: number, timing?: (phase: string) => void): Promise<boolean> {
    const pollMs = this.opts.readyPollMs ?? 250;
    let last = (await this.store.getDelivery(id))?.waiting?.checks.join(',') ?? '';
    for (;;) {
      if (!await this.stillWaiting(id, v.id)) {
        if (this.closed) return false;
        const d = await this.store.getDelivery(id);
        if (d && TERMINAL.has(d.state)) await this.endWaiting(id, `job ${d.state}`);
        return false;
      }
      const { policy } = await this.currentPolicy();
      const pending = warmingUp(v.state, policy);
      if (pending.length === 0) break;
      if (Date.now() >= deadlineMs) {
        const d = (await this.store.getDelivery(id))!;
        const waitedS = Math.round((Date.now() - Date.parse(d.waiting!.since)) / 1000);
        const message = `vehicle ${v.id} not ready after ${waitedS} s: ${pending.map((c) => `${c.name} (${c.detail})`).join('; ')}`;
        await this.event(id, 'preflight-refused', { vehicleId: v.id, failed: pending.map((c) => c.name), reason: message }, { waiting: undefined });
        this.alert('warning', `Delivery ${id} not dispatched: ${message}`, { deliveryId: id, vehicleId: v.id });
        return false;
      }
      const now = pending.map((c) => c.name).join(',');
      if (now !== last) {
        last = now;
        const d = (await this.store.getDelivery(id))!;
        const waiting = { ...d.waiting!, checks: pending.map((c) => c.name), message: `waiting for vehicle: ${pending.map((c) => c.name).join(', ')}` };
        await this.event(id, 'waiting-for-vehicle', { ...waiting, checks: pending.map((c) => ({ name: c.name, detail: c.detail })) }, { waiting });
      }
      await sleep(pollMs);
    }
    const d = (await this.store.getDelivery(id))!;
    const waitedMs = Date.now() - Date.parse(d.waiting!.since);
    await this.event(id, 'vehicle-ready', { vehicleId: v.id, waitedMs });
    const { policy, version } = await this.currentPolicy();
    const re = await this.planFor((await this.store.getDelivery(id))!, v, policy);
    if (!re.ok) {
      await this.endWaiting(id, 'no plan for the vehicle', { code: re.code, message: re.message });
      this.alert('warning', `Delivery ${id} not dispatched: ${re.message}`, { deliveryId: id, vehicleId: v.id });
      return false;
    }
    const report = await runPreflight({ vehicle: v, plan: re.value.plan, policy, policyVersion: version });
    if (!await this.stillWaiting(id, v.id)) return false;
    if (!report.ok) {
      const r = await this.refuse(id, v.id, report);
      await this.endWaiting(id, 'preflight refused');
      if (!r.ok) this.alert('warning', `Delivery ${id} not dispatched: ${r.message}`, { deliveryId: id, vehicleId: v.id });
      return false;
    }
    return (await this.begin(id, v, re.value.plan, re.value.flown, report, policy, user, timing)).ok;
  }

  /**
   * The plan to fly on this vehicle: re-planned from where it stands, in its autopilot's form (`flown`:
   * the job keeps that form when it differs), or a refusal: FENCE_CAPACITY when the plan's fence is
   * larger than the vehicle stores.
   */
  private async planFor(d: Delivery, v: VehicleHandle, policy: Policy): Promise<Result<{ plan: PlanForFlight; flown: Partial<Delivery> }>> {
    const cap = await knownFenceCapacity(this.store, v, policy.vehicle);
    const re = await this.replanFromVehicle(d, v, cap);
    if (!re.ok) return re;
    const zv = await this.store.latestZones();
    const slotted = await planInSlot(this.airspace, (await this.store.getDelivery(d.id)) ?? d, re.value, policy, (req) => this.planDelivery(zv && { version: zv.version, json: zv.zonesJson }, req), this.airNowS);
    if (!slotted.ok) {
      await this.event(d.id, 'airspace-refused', { vehicleId: v.id, code: slotted.code, message: slotted.message });
      return slotted;
    }
    const air: Partial<Delivery> = slotted.slot ? { airspace: slotted.slot, ...(slotted.request ? { planRequest: slotted.request } : {}) } : {};
    const plan = planForAutopilot(slotted.plan as PlanForFlight, v.state.autopilot);
    if ((plan.fence ?? []).length > cap.items) {
      const details = { vehicleId: v.id, capacity: cap.items, count: plan.fence.length, source: cap.source };
      await this.event(d.id, 'fence-capacity-refused', details);
      return {
        ok: false,
        code: 'FENCE_CAPACITY',
        message: `the plan's fence has ${plan.fence.length} items but ${v.id} stores ${cap.items} (${cap.source === 'measured' ? `measured ${cap.measuredAt}` : 'airframe profile'})`,
        details,
        status: 409,
      };
    }
    // The job keeps the mission as flown (PX4: without ArduPilot's home placeholder), which the tracker reads.
    return { ok: true, value: { plan, flown: plan !== re.value ? { plan, ...air } : air } };
  }

  /**
   * The plan to fly with this vehicle: the stored one when the vehicle stands at its launch point
   * and stores its fence, otherwise a new plan from the vehicle's home and within the fence items
   * it stores (the stored job is updated, with a timeline entry). FENCE_CAPACITY when no fence for
   * the route fits the vehicle.
   */
  private async replanFromVehicle(d: Delivery, v: VehicleHandle, cap: FenceCapacity): Promise<Result<PlanForFlight>> {
    const plan = d.plan as PlanForFlight & { launch?: { lon: number; lat: number } };
    const at = v.state.home ?? v.state.position;
    const offM = at && plan?.launch ? greatCircleDistanceM([at.lon, at.lat], [plan.launch.lon, plan.launch.lat]) : 0;
    const fenceNeeds = fenceStorageOf(plan);
    const move = !!at && offM > 30, refit = fenceNeeds > cap.items;
    if (!move && !refit) return { ok: true, value: plan };
    const zv = await this.store.latestZones();
    const request = { ...(d.planRequest ?? { drop: d.drop }), fenceCapacity: cap.items, ...(move ? { launch: [at!.lon, at!.lat] } : {}) };
    let p: any;
    try {
      p = await this.planDelivery(zv && { version: zv.version, json: zv.zonesJson }, request);
    } catch (e) {
      const refused = plannerRefusal(e);
      if (refused) return refused;
      p = { ok: false, error: { code: 'PLANNER_ERROR', message: (e as Error).message } };
    }
    if (!p?.ok) {
      await this.event(d.id, 'replan-failed', { vehicleId: v.id, error: p?.error });
      if (p?.error?.code === 'FENCE_CAPACITY') {
        const { details, message } = fenceCapacityRefusal(v.id, cap, p.error);
        await this.event(d.id, 'fence-capacity-refused', details);
        return { ok: false, code: 'FENCE_CAPACITY', message, details, status: 409 };
      }
      return { ok: false, code: 'PLAN_FAILED', message: `cannot plan from ${v.id}'s position: ${p?.error?.message ?? 'planner failed'}`, details: p?.error, status: 422 };
    }
    const reason = [move ? `vehicle stands ${offM.toFixed(0)} m from the planned launch` : '', refit ? `the plan's fence takes ${fenceNeeds} items but ${v.id} stores ${cap.items}` : ''].filter(Boolean).join('; ');
    await this.event(d.id, 'replanned', { vehicleId: v.id, reason, distanceM: p.distanceM, fenceCapacity: cap.items, fenceItems: fenceStorageOf(p), zonesVersion: zv?.version }, { plan: p, planRequest: request, launch: p.launch, zonesVersion: zv?.version });
    return { ok: true, value: p as PlanForFlight };
  }

  private async stillActive(id: string): Promise<boolean> {
    if (this.closed) return false;
    const d = await this.store.getDelivery(id);
    return !!d && !TERMINAL.has(d.state);
  }

  private vehicleLost(v: VehicleHandle): boolean {
    const s = v.state;
    return !s.connected || Date.now() - s.lastSeenMs > 3000;
  }

  private async waitFor(v: VehicleHandle, pred: (s: VehicleState) => boolean, timeoutMs: number, id?: string): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (pred(v.state)) return true;
      if (id && !await this.stillActive(id)) return false;
      await sleep(50);
    }
    return pred(v.state);
  }

  private lastTexts(v: VehicleHandle, n = 5) {
    return v.state.statusText.slice(-n).map((t) => `${t.severity}: ${t.text}`);
  }

  /** Upload fence → rally → mission (verified), GUIDED (PX4: AUTO.LOITER), arm, MISSION_START, confirm the climb. */
  private async launch(id: string, v: VehicleHandle, plan: PlanForFlight, exec: Execution, policy: Policy, timing?: (phase: string) => void): Promise<void> {
    const uploads: Array<[string, MissionTypeValue, MissionItem[]]> = [
      ['fence', MissionType.FENCE, plan.fence ?? []],
      ['rally', MissionType.RALLY, plan.rally ?? []],
      ['mission', MissionType.MISSION, plan.mission],
    ];
    for (const [name, type, items] of uploads) {
      if (!await this.stillActive(id)) return;
      const t0 = Date.now();
      const onProgress = type === MissionType.MISSION ? (p: { direction: string; done: number; total: number }) => p.direction === 'upload' && p.done >= p.total / 2 && p.done < p.total && pauseAt('upload-mission', { deliveryId: id, done: p.done, total: p.total }) : undefined;
      const r = items.length > 0 ? await v.uploadItems(type, items, { verify: true, onProgress }) : await v.clearItems(type);
      if (!r.ok) {
        const details = { missionType: name, transferCode: r.code, message: r.message, details: r.details, statusText: this.lastTexts(v) };
        if (r.code === 'VERIFY_MISMATCH') {
          await this.event(id, 'upload-verification-failed', details);
          await this.fail(id, 'UPLOAD_VERIFY_FAILED', `${name} read back differs from what was uploaded: ${r.message}`, details);
        } else if (this.vehicleLost(v)) await this.fail(id, 'VEHICLE_LOST', `vehicle ${v.id} stopped answering during the ${name} upload (${r.code})`, details);
        else await this.fail(id, 'UPLOAD_FAILED', `${name} upload failed: ${r.code}: ${r.message}`, details);
        return;
      }
      await this.event(id, `${name}-uploaded`, { items: items.length, verified: items.length > 0, ms: Date.now() - t0 });
    }
    timing?.('upload');
    const d0 = await this.store.getDelivery(id);
    if (!d0 || d0.state !== 'uploading') return;
    const preflight = d0.preflight ? { ...d0.preflight, checks: [...d0.preflight.checks, { name: 'upload_verification', ok: true, detail: 'fence, rally and mission read back identical' }] } : undefined;
    if (!await this.transition(id, 'ready', { verified: true }, { preflight })) return;
    await this.fly(id, v, plan, exec, policy, timing);
  }

  /** From `ready`: the airspace slot, GUIDED (PX4: AUTO.LOITER), arm, the flight row, MISSION_START, the climb confirmed. */
  private async fly(id: string, v: VehicleHandle, plan: PlanForFlight, exec: Execution, policy: Policy, timing?: (phase: string) => void): Promise<void> {
    // The airspace slot: a timed hold at launch, and lift-off within the slot (decided again when late).
    const slot = (await this.store.getDelivery(id))?.airspace;
    if (slot) {
      const w = await waitForSlot(this.airspace, id, slot, plan, {
        stillActive: () => this.stillActive(id),
        nowS: this.airNowS,
        sleep: (ms) => sleep(ms / (this.opts.vehicleClockRate ?? 1)),
        onHold: (s, waitS) => this.event(id, 'airspace-hold', { holdS: Math.ceil(waitS), layerM: s.layerM, until: this.airIso(s.launchAtS), reason: s.reason }),
        onMoved: (s, prev) => this.event(id, 'airspace-slot-moved', { layerM: s.layerM, from: this.airIso(prev.launchAtS), to: this.airIso(s.launchAtS), reason: s.reason }, { airspace: s }),
      });
      if (!w) return;
      if (!w.ok) {
        await this.fail(id, w.code === 'AIRSPACE_NO_LAYER' ? 'AIRSPACE_NO_LAYER' : 'AIRSPACE_FULL', w.message, w.details);
        return;
      }
    }

    // GUIDED, then arm (arming in AUTO is refused by ArduPilot), then MISSION_START within DISARM_DELAY.
    // PX4 has no GUIDED: it arms in Hold (AUTO.LOITER) and MISSION_START switches it to AUTO.MISSION.
    const groundMode = v.state.autopilot === 'px4' ? 'AUTO.LOITER' : 'GUIDED';
    const mode = await v.setMode(groundMode);
    if (!mode.ok || !(await this.waitFor(v, (s) => s.mode === groundMode, this.confirmTimeoutMs, id))) {
      if (!await this.stillActive(id)) return;
      await this.fail(id, this.vehicleLost(v) ? 'VEHICLE_LOST' : 'MODE_CHANGE_FAILED', `${groundMode} not confirmed (ack ${mode.result}, mode ${v.state.mode})`, { ack: mode, statusText: this.lastTexts(v) });
      return;
    }
    if (!await this.stillActive(id)) return;
    const arm = await v.arm(false);
    if (!arm.ok || !(await this.waitFor(v, (s) => s.armed, this.confirmTimeoutMs, id))) {
      if (!await this.stillActive(id)) return;
      await this.fail(id, this.vehicleLost(v) ? 'VEHICLE_LOST' : 'ARM_FAILED', `arming not confirmed (ack ${arm.result})`, { ack: arm, statusText: this.lastTexts(v) });
      return;
    }
    timing?.('arm');
    pauseAt('armed', { deliveryId: id });
    exec.launchAltRelM = v.state.position?.altRelM ?? 0;
    const flightId = `F${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
    await this.store.insertFlight({ id: flightId, deliveryId: id, vehicleId: v.id, summary: { launch: v.state.position } });
    await this.event(id, 'armed', { ack: ackSummary(arm), flightId }, { flightId, execution: exec } as Partial<Delivery>);
    this.startTracker(id, flightId, v.id, false);
    try {
      await this.opts.recorder?.start(v.id, flightId);
    } catch (e) {
      this.log.warn({ err: e, flightId }, 'flight recorder did not start');
    }
    if (!await this.stillActive(id)) return;
    let start = await v.missionStart();
    // PX4 validates an uploaded mission in the background; until then MISSION_START is DENIED ("Mission
    // start denied! No valid mission"). Ask again for a few seconds (well within its COM_DISARM_PRFLT).
    for (const until = Date.now() + 5000; v.state.autopilot === 'px4' && !start.ok && start.result === 'DENIED' && Date.now() < until && await this.stillActive(id); ) {
      await sleep(250);
      start = await v.missionStart();
    }
    await this.event(id, 'mission-start', { ack: ackSummary(start) });
    if (!start.ok) {
      // Name the failure first: the disarm that follows ends the flight record.
      await this.fail(id, this.vehicleLost(v) ? 'VEHICLE_LOST' : 'MISSION_START_FAILED', `MISSION_START ${start.result}`, { ack: start, statusText: this.lastTexts(v) });
      await v.disarm(false).catch(() => undefined);
      return;
    }
    const base = exec.launchAltRelM;
    const climbed = await this.waitFor(v, (s) => s.armed && !!s.position && s.position.altRelM - base >= policy.climbConfirmM, policy.climbTimeoutMs, id);
    if (!await this.stillActive(id)) return;
    if (!climbed) {
      const s = v.state;
      await this.fail(id, this.vehicleLost(v) ? 'VEHICLE_LOST' : 'CLIMB_NOT_CONFIRMED', `no climb of ${policy.climbConfirmM} m seen within ${policy.climbTimeoutMs} ms of MISSION_START (armed ${s.armed}, mode ${s.mode}, altRelM ${s.position?.altRelM?.toFixed(1)})`, {
        statusText: this.lastTexts(v),
      });
      if (s.armed && (s.position?.altRelM ?? 0) - base < 0.5) await v.disarm(false).catch(() => undefined);
      return;
    }
    timing?.('takeoff');
    const s = v.state;
    await this.transition(id, 'in-flight', { altRelM: s.position?.altRelM, climbMps: s.climbMps, mode: s.mode });
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
      if (!(await this.adopt(f.deliveryId || `flight:${f.id}`))) continue; // another node follows it
      const t = this.startTracker(f.deliveryId ?? '', f.id, f.vehicleId, true);
      // Nothing was heard from the vehicle while the service was down: a gap from the job's last
      // committed entry (read before this resume adds its own) until the vehicle is heard again.
      const d = f.deliveryId ? await this.store.getDelivery(f.deliveryId) : undefined;
      const gap = d ? openGap(d.timeline, 'service-restarted') : null;
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
      if (!(await this.adopt(d.id))) continue;
      this.running.add(d.id);
      void continueOnGround(this.takeoverHost, d)
        .catch(async (e) => {
          if (this.closed) return;
          this.log.error({ err: e, deliveryId: d.id }, 'take-over of a job on the ground crashed');
          await this.fail(d.id, 'INTERNAL', (e as Error).message);
        })
        .finally(() => this.running.delete(d.id));
    }
    return out;
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
      fly: (id, v, plan, exec, policy) => this.fly(id, v, plan, exec, policy),
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

  /** Nodes sharing a store: give back the leases of jobs this node no longer runs, take over those nobody runs. */
  private async balanceLeases(): Promise<void> {
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
          await this.follow(t, next);
        } catch (e) {
          this.log.error({ err: e, vehicleId: s.id }, 'tracker failed');
        }
      }
      t.following = false;
    })();
  }

  private async follow(t: Tracker, s: VehicleState): Promise<void> {
    const now = Date.now();
    if (t.lostSinceMs !== null && s.connected) {
      if (t.lostAlerted) this.alert('info', `Link to ${s.id} regained`, { vehicleId: s.id, deliveryId: t.deliveryId || undefined });
      t.lostSinceMs = null;
      t.lostAlerted = false;
    }
    // The gap closes with the vehicle's actual state: once a heartbeat has told its mode and arming.
    if (t.gap && s.connected && s.mode !== 'UNKNOWN') {
      if (t.deliveryId) await this.event(t.deliveryId, 'link-regained', closeGap(t.gap, s, (((await this.tracked(t.deliveryId)) as any)?.execution as Execution | undefined)?.releaseSeq ?? null));
      t.gap = null;
    }
    if (s.armed) t.wasArmed = true;
    if (s.landedState === 2 || s.landedState === 3 || (s.position && s.position.altRelM > 1)) t.wasAirborne = true;
    const d = t.deliveryId ? await this.tracked(t.deliveryId) : undefined;
    const plan = d?.plan as PlanForFlight | undefined;
    const exec = (d as any)?.execution as Execution | undefined;

    // Progress (kept in memory, published at most 1 Hz).
    if (d && plan && s.position && !TERMINAL.has(d.state)) {
      const distanceToDropM = greatCircleDistanceM([s.position.lon, s.position.lat], d.drop);
      const etaS = s.groundSpeedMps > 0.5 ? distanceToDropM / s.groundSpeedMps : null;
      this.progress.set(d.id, { leg: legOf(plan.mission, s.mission.current), missionCurrent: s.mission.current, missionTotal: s.mission.total, distanceToDropM, etaS, separation: this.separation.holdOf(s.id), traffic: this.traffic.threatOf(s.id) });
      if (now - t.lastPublishMs > 1000) {
        t.lastPublishMs = now;
        this.publish((await this.get(d.id))!);
      }
    }
    if (t.firstSeenCurrent === null && s.mission.current > 0) t.firstSeenCurrent = s.mission.current;
    if (s.mission.current !== t.lastMissionCurrent) {
      t.lastMissionCurrent = s.mission.current;
      t.lastProgressMs = now;
      t.stallAlerted = false;
    }
    if (s.groundSpeedMps > 0.5 || Math.abs(s.climbMps) > 0.3) t.lastProgressMs = now;

    // Mode changes in flight that we did not ask for (failsafes).
    if (t.lastMode !== null && s.mode !== t.lastMode && s.armed) {
      const failsafe = FAILSAFE_MODES.has(s.mode) && !this.recentOperatorCommand(s.id);
      if (failsafe && d && (d.state === 'in-flight' || d.state === 'ready')) {
        this.alert('critical', `${s.id} switched to ${s.mode} before the drop`, { vehicleId: s.id, deliveryId: d.id });
        await this.fail(d.id, 'FAILSAFE', `vehicle switched to ${s.mode} before the drop`, { mode: s.mode, statusText: s.statusText.slice(-5).map((x) => x.text) });
      } else if (failsafe) this.alert('warning', `${s.id} mode ${t.lastMode} → ${s.mode}`, { vehicleId: s.id, deliveryId: d?.id });
    }
    t.lastMode = s.mode;
    if (s.fence?.breached && !t.fenceAlerted) {
      t.fenceAlerted = true;
      this.alert('critical', `${s.id} breached the fence (type ${s.fence.breachType})`, { vehicleId: s.id, deliveryId: d?.id });
      if (d) await this.event(d.id, 'fence-breach', { breachType: s.fence.breachType, position: s.position });
    }

    // Restarted between MISSION_START and the climb confirmation: confirm it now, from telemetry.
    if (d && d.state === 'ready' && t.resumed && s.armed && s.position && s.position.altRelM >= (await this.currentPolicy()).policy.climbConfirmM)
      await this.transition(d.id, 'in-flight', { altRelM: s.position.altRelM, climbMps: s.climbMps, mode: s.mode, resumed: true });

    // Release → proof of drop.
    if (d && d.state === 'in-flight' && exec && !t.releasing) {
      const passedRelease = exec.releaseSeq !== null && s.mission.current > exec.releaseSeq && s.armed;
      const atDrop = exec.releaseSeq === null && exec.dropSeq !== null && s.mission.reached.includes(exec.dropSeq);
      if (passedRelease || atDrop) {
        t.releasing = true;
        const late = t.resumed && exec.releaseSeq !== null && (t.firstSeenCurrent ?? 0) > exec.releaseSeq;
        void this.recordRelease(t, d, exec, s, atDrop, late).finally(() => (t.releasing = false));
      }
    }
    if (d && d.state === 'delivered' && s.armed) {
      const away = s.position ? greatCircleDistanceM([s.position.lon, s.position.lat], d.drop) > 15 : false;
      if (away || s.mode === 'RTL' || s.mode === 'AUTO.RTL' || (exec?.releaseSeq != null && s.mission.current > exec.releaseSeq + 1))
        await this.transition(d.id, 'returning', { mode: s.mode, missionCurrent: s.mission.current });
    }

    // Landed and disarmed after having been armed: the flight is over.
    if (t.wasArmed && !s.armed && s.connected && (t.wasAirborne || s.landedState === 1)) {
      await this.endTracker(t, s);
      return;
    }
    // Resumed after a restart and the vehicle already stands disarmed on the ground: it landed while we were down.
    if (t.resumed && !t.wasArmed && s.connected && !s.armed && s.mode !== 'UNKNOWN' && s.landedState === 1) {
      t.groundedSinceMs ??= now;
      // Only the vehicle that flew the job can have landed it: one that holds no mission (rebooted,
      // replaced, another airframe on the link) says nothing about where the flight ended.
      if (now - t.groundedSinceMs > 3000 && s.mission.total > 0) await this.endTracker(t, s);
      else if (now - t.groundedSinceMs > 3000 && !t.unconfirmedNoted && d) {
        t.unconfirmedNoted = true;
        await this.event(d.id, 'landing-unconfirmed', { vehicleId: s.id, reason: 'the vehicle heard after the restart stands disarmed without the mission it flew: it is not recorded as landed; resolve the job by hand' });
        this.alert('critical', `${s.id} stands on the ground without the mission of delivery ${d.id}: where the flight ended is unknown`, { vehicleId: s.id, deliveryId: d.id });
      }
    } else t.groundedSinceMs = null;
  }

  private async recordRelease(t: Tracker, d: Delivery, exec: Execution, s: VehicleState, commandIt: boolean, late = false): Promise<void> {
    const v = this.fleet.get(t.vehicleId);
    const pos = s.position;
    const at = nowIso();
    const servo = exec.gripperServo;
    const before = servo ? s.servos[servo - 1] ?? 0 : 0;
    let ack: ProofOfDrop['ack'];
    if (commandIt && v) {
      const r = await v.gripper('release');
      ack = { source: 'command', command: Cmd.DO_GRIPPER, result: r.result, attempts: r.attempts };
    } else {
      const item = (d.plan as PlanForFlight).mission.find((m) => m.seq === exec.releaseSeq);
      ack = { source: 'mission-item', seq: exec.releaseSeq ?? undefined, command: item?.command ?? Cmd.DO_GRIPPER, result: 'EXECUTED' };
    }
    // The servo output proves the mechanism moved: wait (briefly) for it to leave its pre-release value.
    let servoPwm: number | null = null;
    if (servo && v) {
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        const now = v.state.servos[servo - 1] ?? 0;
        if (now !== 0 && now !== before) break;
        await sleep(50);
      }
      servoPwm = v.state.servos[servo - 1] || null;
    }
    const proof: ProofOfDrop = {
      at,
      lat: pos?.lat ?? NaN,
      lon: pos?.lon ?? NaN,
      altRelM: pos?.altRelM ?? NaN,
      servoPwm,
      servo,
      distanceToDropM: pos ? greatCircleDistanceM([pos.lon, pos.lat], d.drop) : NaN,
      ack,
    };
    if (late) proof.note = 'the release happened while the service was down: position and time are those at which tracking resumed';
    pauseAt('released', { deliveryId: d.id });
    await this.transition(d.id, 'delivered', proof, { proofOfDrop: proof });
  }

  private async endTracker(t: Tracker, s: VehicleState): Promise<void> {
    this.trackers.delete(t.vehicleId);
    this.docCache.delete(t.deliveryId);
    // Until its row says ended, the flight is not one to resume (nor its lease one to give back).
    this.endingFlights.set(t.flightId, t.deliveryId || `flight:${t.flightId}`);
    const d = t.deliveryId ? await this.store.getDelivery(t.deliveryId) : undefined;
    const summary = { landedAt: s.position, endedMode: s.mode, resumed: t.resumed };
    await this.store.endFlight(t.flightId, summary).finally(() => this.endingFlights.delete(t.flightId));
    try {
      this.opts.recorder?.stop(t.vehicleId);
    } catch (e) {
      this.log.warn({ err: e }, 'flight recorder stop failed');
    }
    if (!d) return;
    await this.event(d.id, 'landed', { position: s.position, mode: s.mode, flightId: t.flightId });
    if (d.state === 'delivered' || d.state === 'returning') {
      if (d.state === 'delivered') await this.transition(d.id, 'returning', { note: 'landed straight after the drop' });
      await this.transition(d.id, 'completed', { position: s.position });
      this.alert('info', `Delivery ${d.id} completed`, { deliveryId: d.id, vehicleId: t.vehicleId });
    } else if (d.state === 'in-flight' || (d.state === 'ready' && !this.running.has(d.id))) {
      await this.fail(d.id, 'LANDED_BEFORE_DROP', `vehicle disarmed before the release (mode ${s.mode})`, { position: s.position, statusText: s.statusText.slice(-5).map((x) => x.text) });
    }
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
  private readonly operatorCmds = new Map<string, { action: string; username: string; atMs: number }>();

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

function ackSummary(r: CommandResult) {
  return { result: r.result, command: r.command, attempts: r.attempts, elapsedMs: r.elapsedMs };
}

/** A planner's refusal to plan now (an error with a string code and an HTTP status) as a Result, or null. */
function plannerRefusal(e: unknown): Extract<Result<never>, { ok: false }> | null {
  const x = e as { code?: unknown; status?: unknown; message?: unknown; retryAfterS?: unknown; details?: unknown } | null;
  if (!x || typeof x.code !== 'string' || typeof x.status !== 'number') return null;
  return {
    ok: false,
    code: x.code,
    message: String(x.message ?? x.code),
    status: x.status,
    ...(typeof x.retryAfterS === 'number' ? { retryAfterS: x.retryAfterS } : {}),
    ...(x.details !== undefined ? { details: x.details } : {}),
  };
}

/** The sealed zone the planner placed the drop in, if it says. */
function extractSealedZone(plan: any): Delivery['sealedZone'] {
  const cand = plan?.drop?.sealedZone ?? plan?.drop?.zone ?? plan?.sealedZone ?? null;
  if (!cand) return null;
  if (typeof cand === 'string') return { name: cand };
  return { id: cand.id ?? cand.index, name: cand.name };
}

/** Mission seq of the release item, and of the nav item at the drop point (for command-released plans). */
export function findReleaseSeqs(mission: MissionItem[], drop: LonLat): { releaseSeq: number | null; dropSeq: number | null } {
  const rel = mission.find((m) => RELEASE_COMMANDS.has(m.command) && m.seq > 0);
  // The nav item over the drop point at the lowest altitude (the hold before the release).
  let dropSeq: number | null = null;
  let best: { d: number; z: number } | null = null;
  for (const m of mission) {
    if (!NAV_COMMANDS.has(m.command) || m.seq === 0) continue;
    const d = greatCircleDistanceM([m.y / 1e7, m.x / 1e7], drop);
    if (!best || d < best.d - 2 || (Math.abs(d - best.d) <= 2 && m.z < best.z)) {
      best = { d, z: m.z };
      dropSeq = m.seq;
    }
  }
  return { releaseSeq: rel ? rel.seq : null, dropSeq };
}

/**
 * The plan as this autopilot flies it. The planner writes ArduPilot's mission, whose item 0 is a home
 * placeholder the vehicle replaces; PX4 has no home item and would fly item 0 as a waypoint (and
 * rejects a mission whose takeoff is not its first positional item), so PX4 gets the mission without
 * it, renumbered. Other autopilots get the plan unchanged (the same object).
 */
export function planForAutopilot<P extends { mission: MissionItem[] }>(plan: P, autopilot: string): P {
  if (autopilot !== 'px4') return plan;
  const m = plan.mission;
  if (m.length < 2 || m[0].seq !== 0 || m[0].command !== Cmd.NAV_WAYPOINT || m[1].command !== Cmd.NAV_TAKEOFF) return plan;
  return { ...plan, mission: m.slice(1).map((it, i) => ({ ...it, seq: i })) };
}

/** Leg number: how many nav items precede the current one. */
function legOf(mission: MissionItem[], current: number): number {
  return mission.filter((m) => m.seq > 0 && m.seq <= current && (NAV_COMMANDS.has(m.command) || m.command === Cmd.NAV_TAKEOFF)).length;
}

export { PRIORITY_RANK };
