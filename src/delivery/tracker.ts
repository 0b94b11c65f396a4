/**
 * Following a flight from its vehicle's telemetry: progress, link loss and regain (the gap recorded
 * on the job), failsafe mode changes, fence breaches, the release (proof of drop from the servo
 * output and the mission), the way back, and the landing that ends the flight. The state machine and
 * the store stay in DeliveryManager (index.ts); it hands each vehicle state to `follow` through a
 * TrackerHost, one state at a time per flight.
 */
import type { FleetHandle, VehicleState } from '../fleet/types';
import { Cmd } from '../mavlink/mission-item';
import { legOf } from './mission-items';
import type { Store } from '../store';
import type { Policy } from './policy';
import type { PlanForFlight } from './preflight';
import type { SeparationMonitor } from './separation';
import type { TrafficMonitor } from './traffic';
import { closeGap, type LinkGap } from './link-gap';
import { gapFacts, gapRecord, type GapFacts, type RecordedFrames } from './recorded-gap';
import { pauseAt } from './pause-point';
import { greatCircleDistanceM } from '../../planner/geo';
import { TERMINAL, type Alert, type Delivery, type DeliveryState, type ProofOfDrop } from './types';
import { riderIds } from './sortie';

export interface Execution {
  releaseSeq: number | null;
  dropSeq: number | null;
  gripperServo: number | null;
  launchAltRelM?: number;
}

export /** A live flight being followed. Survives the job reaching a terminal state until the vehicle is down. */
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
  /** What the vehicle reported during the last gap, read back from its agent's recorded stream (null: nothing recorded). */
  gapFacts?: GapFacts | null;
  /** A sortie's riders already told late against their promise. */
  lateJobs?: Set<string>;
  /** Jobs whose release is being recorded now (a sortie's are recorded one by one). */
  releasingJobs?: Set<string>;
}

/** Modes a vehicle switches to by itself when a failsafe acts (not counted when a person commanded one just before). */
export const FAILSAFE_MODES: ReadonlySet<string> = new Set(['RTL', 'LAND', 'SMART_RTL', 'BRAKE', 'AUTO.RTL', 'AUTO.LAND']);
const nowIso = () => new Date().toISOString();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the tracker needs of the delivery manager. */
export interface TrackerHost {
  store: Store;
  fleet: FleetHandle;
  log: { warn(obj: unknown, msg?: string): void };
  opts: { recorder?: { stop(vehicleId: string): void } | null; recorded?: RecordedFrames | null };
  separation: SeparationMonitor;
  traffic: TrafficMonitor;
  trackers: Map<string, Tracker>;
  progress: Map<string, Delivery['progress']>;
  docCache: Map<string, Delivery>;
  endingFlights: Map<string, string>;
  running: Set<string>;
  alert(level: Alert['level'], text: string, ids?: { vehicleId?: string; deliveryId?: string }): void;
  event(id: string, event: string, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  transition(id: string, to: DeliveryState, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  fail(id: string, code: string, message: string, details?: unknown): Promise<Delivery | null>;
  tracked(id: string): Promise<Delivery | undefined>;
  get(id: string): Promise<Delivery | undefined>;
  publish(d: Delivery): void;
  currentPolicy(): Promise<{ policy: Policy; version: number }>;
  recentOperatorCommand(vehicleId: string): unknown;
}

/**
 * How far along its flight a job is, from one state of its vehicle and the job's stored plan: the
 * node following the flight computes it from every state it follows; any other node from its own
 * view of the vehicle (DeliveryManager.get). Undefined without a plan or a position, or once the job ended.
 */
export function progressOf(j: Delivery, s: VehicleState, monitors: { separation: Pick<SeparationMonitor, 'holdOf'>; traffic: Pick<TrafficMonitor, 'threatOf'> }): Delivery['progress'] | undefined {
  const plan = j.plan as PlanForFlight | undefined;
  if (!plan || !s.position || TERMINAL.has(j.state)) return undefined;
  const distanceToDropM = greatCircleDistanceM([s.position.lon, s.position.lat], j.drop);
  const etaS = s.groundSpeedMps > 0.5 ? distanceToDropM / s.groundSpeedMps : null;
  // The vehicle's count (MISSION_CURRENT.total, or the upload on the node that made it), else the mission uploaded: the plan's.
  const missionTotal = s.mission.total > 0 ? s.mission.total : (plan.mission?.length ?? 0);
  return {
    leg: legOf(plan.mission, s.mission.current),
    missionCurrent: s.mission.current,
    missionTotal,
    distanceToDropM,
    etaS,
    separation: monitors.separation.holdOf(s.id),
    traffic: monitors.traffic.threatOf(s.id),
  };
}

export async function follow(h: TrackerHost, t: Tracker, s: VehicleState): Promise<void> {
  const now = Date.now();
  if (t.lostSinceMs !== null && s.connected) {
    if (t.lostAlerted) h.alert('info', `Link to ${s.id} regained`, { vehicleId: s.id, deliveryId: t.deliveryId || undefined });
    t.lostSinceMs = null;
    t.lostAlerted = false;
  }
  // The gap closes with the vehicle's actual state: once a heartbeat has told its mode and arming.
  if (t.gap && s.connected && s.mode !== 'UNKNOWN') {
    if (t.deliveryId) {
      const ex = ((await h.tracked(t.deliveryId)) as any)?.execution as Execution | undefined;
      const recorded = await readGap(h, t, t.gap, s, ex);
      await h.event(t.deliveryId, 'link-regained', { ...closeGap(t.gap, s, ex?.releaseSeq ?? null), recorded });
    }
    t.gap = null;
  }
  if (s.armed) t.wasArmed = true;
  if (s.landedState === 2 || s.landedState === 3 || (s.position && s.position.altRelM > 1)) t.wasAirborne = true;
  const d = t.deliveryId ? await h.tracked(t.deliveryId) : undefined;
  // The jobs this flight carries: the job, and a sortie's riders (src/delivery/sortie.ts).
  const jobs = d ? [d, ...((await Promise.all(riderIds(d).map((r) => h.tracked(r)))).filter(Boolean) as Delivery[])] : [];
  const publishNow = now - t.lastPublishMs > 1000;

  // Progress (kept in memory, published at most 1 Hz).
  for (const j of jobs) {
    const p = progressOf(j, s, h);
    if (!p) continue;
    h.progress.set(j.id, p);
    if (publishNow) {
      t.lastPublishMs = now;
      h.publish((await h.get(j.id))!);
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
    const failsafe = FAILSAFE_MODES.has(s.mode) && !h.recentOperatorCommand(s.id);
    // Every job whose parcel is still aboard fails (a sortie's rider fails with its lead, or alone when the lead's parcel is down).
    const before = failsafe ? jobs.filter((j) => j.state === 'in-flight' || j.state === 'ready') : [];
    for (const j of before) {
      if ((await h.tracked(j.id))?.state !== j.state) continue; // moved with its lead meanwhile
      h.alert('critical', `${s.id} switched to ${s.mode} before the drop`, { vehicleId: s.id, deliveryId: j.id });
      await h.fail(j.id, 'FAILSAFE', `vehicle switched to ${s.mode} before the drop`, { mode: s.mode, statusText: s.statusText.slice(-5).map((x) => x.text) });
    }
    if (failsafe && before.length === 0) h.alert('warning', `${s.id} mode ${t.lastMode} → ${s.mode}`, { vehicleId: s.id, deliveryId: d?.id });
  }
  t.lastMode = s.mode;
  if (s.fence?.breached && !t.fenceAlerted) {
    t.fenceAlerted = true;
    h.alert('critical', `${s.id} breached the fence (type ${s.fence.breachType})`, { vehicleId: s.id, deliveryId: d?.id });
    for (const j of jobs) await h.event(j.id, 'fence-breach', { breachType: s.fence.breachType, position: s.position });
  }

  // Restarted between MISSION_START and the climb confirmation: confirm it now, from telemetry.
  if (d && d.state === 'ready' && t.resumed && s.armed && s.position && s.position.altRelM >= (await h.currentPolicy()).policy.climbConfirmM)
    await h.transition(d.id, 'in-flight', { altRelM: s.position.altRelM, climbMps: s.climbMps, mode: s.mode, resumed: true });

  // Release → proof of drop (each job of a sortie at its own release item).
  for (const j of jobs) {
    const exec = (j as any).execution as Execution | undefined;
    const releasing = t.releasingJobs ??= new Set();
    if (j.state === 'in-flight' && exec && !releasing.has(j.id)) {
      const passedRelease = exec.releaseSeq !== null && s.mission.current > exec.releaseSeq && s.armed;
      const atDrop = exec.releaseSeq === null && exec.dropSeq !== null && s.mission.reached.includes(exec.dropSeq);
      if (passedRelease || atDrop) {
        releasing.add(j.id);
        t.releasing = true;
        const late = t.resumed && exec.releaseSeq !== null && (t.firstSeenCurrent ?? 0) > exec.releaseSeq;
        void recordRelease(h, t, j, exec, s, atDrop, late).finally(() => {
          releasing.delete(j.id);
          t.releasing = releasing.size > 0;
        });
      }
    }
    if (j.state === 'delivered' && s.armed) {
      const away = s.position ? greatCircleDistanceM([s.position.lon, s.position.lat], j.drop) > 15 : false;
      if (away || s.mode === 'RTL' || s.mode === 'AUTO.RTL' || (exec?.releaseSeq != null && s.mission.current > exec.releaseSeq + 1))
        await h.transition(j.id, 'returning', { mode: s.mode, missionCurrent: s.mission.current });
    }
  }

  // Landed and disarmed after having been armed: the flight is over.
  if (t.wasArmed && !s.armed && s.connected && (t.wasAirborne || s.landedState === 1)) {
    await endTracker(h, t, s);
    return;
  }
  // Resumed after a restart and the vehicle already stands disarmed on the ground: it landed while we were down.
  if (t.resumed && !t.wasArmed && s.connected && !s.armed && s.mode !== 'UNKNOWN' && s.landedState === 1) {
    t.groundedSinceMs ??= now;
    // Only the vehicle that flew the job can have landed it: one that holds no mission (rebooted,
    // replaced, another airframe on the link) says nothing about where the flight ended.
    if (now - t.groundedSinceMs > 3000 && s.mission.total > 0) await endTracker(h, t, s);
    else if (now - t.groundedSinceMs > 3000 && !t.unconfirmedNoted && d) {
      t.unconfirmedNoted = true;
      await h.event(d.id, 'landing-unconfirmed', { vehicleId: s.id, reason: 'the vehicle heard after the restart stands disarmed without the mission it flew: it is not recorded as landed; resolve the job by hand' });
      h.alert('critical', `${s.id} stands on the ground without the mission of delivery ${d.id}: where the flight ended is unknown`, { vehicleId: s.id, deliveryId: d.id });
    }
  } else t.groundedSinceMs = null;
}

/**
 * The vehicle's own account of the gap, from its agent's recorded stream (a second before the gap
 * opened on), kept on the tracker for the proof of drop; its summary for the `link-regained` entry.
 */
async function readGap(h: TrackerHost, t: Tracker, gap: LinkGap, s: VehicleState, ex: Execution | undefined): Promise<ReturnType<typeof gapRecord>> {
  t.gapFacts = null;
  const src = h.opts.recorded;
  if (!src) return gapRecord(null, 'this service reads no recorded stream (no NATS bus with JetStream)');
  try {
    const chunks = await src.read(t.vehicleId, Date.parse(gap.from) - 1000);
    if (!chunks) return gapRecord(null);
    t.gapFacts = gapFacts(chunks, s.sysid, s.compid, ex?.releaseSeq ?? null, ex?.gripperServo ?? null);
    return gapRecord(t.gapFacts);
  } catch (e) {
    h.log.warn({ err: e, vehicleId: t.vehicleId }, 'recorded stream could not be read');
    return gapRecord(null, `the recorded stream could not be read: ${String((e as Error)?.message ?? e).slice(0, 200)}`);
  }
}

export async function recordRelease(h: TrackerHost, t: Tracker, d: Delivery, exec: Execution, s: VehicleState, commandIt: boolean, late = false): Promise<void> {
  const v = h.fleet.get(t.vehicleId);
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
  // The recorded stream was read for the flight's own release item (a sortie's rider falls back to the resumed position).
  const rec = late && d.id === t.deliveryId ? t.gapFacts?.release : null;
  if (late && rec) {
    // the vehicle's own report at the time, from the agent's recorded stream
    proof.at = new Date(rec.atMs).toISOString();
    proof.lat = rec.lat;
    proof.lon = rec.lon;
    proof.altRelM = rec.altRelM;
    proof.distanceToDropM = greatCircleDistanceM([rec.lon, rec.lat], d.drop);
    if (t.gapFacts?.servoPwm) proof.servoPwm = t.gapFacts.servoPwm;
    proof.note = `the release happened while the service was down: time, position and servo output as the vehicle reported them then (${rec.how === 'item-reached' ? 'release item reached' : 'mission past the release item'}), read from the agent's recorded stream`;
  } else if (late) proof.note = 'the release happened while the service was down: position and time are those at which tracking resumed (nothing recorded for the gap)';
  pauseAt('released', { deliveryId: d.id });
  await h.transition(d.id, 'delivered', proof, { proofOfDrop: proof });
}

export async function endTracker(h: TrackerHost, t: Tracker, s: VehicleState): Promise<void> {
  h.trackers.delete(t.vehicleId);
  h.docCache.delete(t.deliveryId);
  // Until its row says ended, the flight is not one to resume (nor its lease one to give back).
  h.endingFlights.set(t.flightId, t.deliveryId || `flight:${t.flightId}`);
  const d = t.deliveryId ? await h.store.getDelivery(t.deliveryId) : undefined;
  const summary = { landedAt: s.position, endedMode: s.mode, resumed: t.resumed };
  await h.store.endFlight(t.flightId, summary).finally(() => h.endingFlights.delete(t.flightId));
  try {
    h.opts.recorder?.stop(t.vehicleId);
  } catch (e) {
    h.log.warn({ err: e }, 'flight recorder stop failed');
  }
  if (!d) return;
  const riders = riderIds(d);
  for (const r of riders) h.docCache.delete(r);
  for (const id of [d.id, ...riders]) {
    const j = id === d.id ? d : await h.store.getDelivery(id);
    if (!j) continue;
    await h.event(j.id, 'landed', { position: s.position, mode: s.mode, flightId: t.flightId });
    if (j.state === 'delivered' || j.state === 'returning') {
      if (j.state === 'delivered') await h.transition(j.id, 'returning', { note: 'landed straight after the drop' });
      await h.transition(j.id, 'completed', { position: s.position });
      h.alert('info', `Delivery ${j.id} completed`, { deliveryId: j.id, vehicleId: t.vehicleId });
    } else if (j.state === 'in-flight' || (j.state === 'ready' && !h.running.has(d.id))) {
      if ((await h.store.getDelivery(j.id))?.state !== j.state) continue; // failed with its lead meanwhile
      await h.fail(j.id, 'LANDED_BEFORE_DROP', `vehicle disarmed before the release (mode ${s.mode})`, { position: s.position, statusText: s.statusText.slice(-5).map((x) => x.text) });
    }
  }
}

