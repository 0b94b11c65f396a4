/**
 * Taking over a job that was still on the ground (`uploading` or `ready`) when the node running it
 * died or restarted. Nothing the dead node believed is assumed:
 *
 * - the vehicle must be heard first (connected, mode known); the gap since the job's last committed
 *   entry is recorded (`link-lost` … `link-regained`, src/delivery/link-gap.ts);
 * - a vehicle found flying (armed and off the ground) is followed from its actual state: its flight
 *   row is the job's (written now if the dead node had not written it yet), and its tracker confirms
 *   the climb and the release from telemetry;
 * - a vehicle found armed on the ground (the dead node armed it and stopped before MISSION_START) is
 *   disarmed; a flight row written for that arming is ended as not flown;
 * - on the ground and disarmed, preflight runs again on the stored plan; then fence, rally and
 *   mission are each downloaded from the vehicle and compared with the plan: what matches is
 *   recorded as verified by download, what does not (an interrupted transfer leaves a mixed
 *   mission) is uploaded again and read back. Then the launch carries on from `ready`.
 *
 * Every command this sends leaves through `auditedVehicle`: its audit row is written before it goes.
 */
import type { Store } from '../store';
import type { FleetHandle, VehicleHandle, VehicleState, CommandResult } from '../fleet/types';
import { MissionType, type MissionItem, type MissionTypeValue } from '../mavlink/mission-item';
import { compareItems } from '../vehicle/mission-transfer';
import { runPreflight, type PlanForFlight } from './preflight';
import type { Policy } from './policy';
import { openGap, closeGap, takeOverReason, takenUpBy } from './link-gap';
import type { Delivery, DeliveryState } from './types';

/** What the take-over needs of the dispatcher (src/delivery/index.ts). */
export interface GroundTakeoverHost {
  store: Store;
  fleet: FleetHandle;
  /** This node's name, written on `dispatch-resumed` (src/delivery/link-gap.ts takenUpBy). */
  node?: string;
  confirmTimeoutMs: number;
  currentPolicy(): Promise<{ policy: Policy; version: number }>;
  event(id: string, event: string, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  transition(id: string, to: DeliveryState, detail?: unknown, patch?: Partial<Delivery>): Promise<Delivery | null>;
  fail(id: string, code: string, message: string, details?: unknown): Promise<Delivery | null>;
  stillActive(id: string): Promise<boolean>;
  /** The launch from `ready` on: airspace slot, ground mode, arm, flight row, MISSION_START, climb. */
  fly(id: string, v: VehicleHandle, plan: PlanForFlight, exec: TakeoverExecution, policy: Policy): Promise<void>;
  /** Follow a flight found in the air (a resumed tracker) and start its recorder. */
  follow(deliveryId: string, flightId: string, vehicleId: string): Promise<void>;
}

export interface TakeoverExecution {
  releaseSeq: number | null;
  dropSeq: number | null;
  gripperServo: number | null;
  launchAltRelM?: number;
}

/** How long a take-over waits to hear the vehicle before it gives the job up. */
export const HEAR_VEHICLE_MS = 10_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const heard = (v: VehicleHandle | undefined): v is VehicleHandle => !!v && v.state.connected && v.state.mode !== 'UNKNOWN' && Date.now() - v.state.lastSeenMs < 3000;
/** Off the ground as the vehicle reports it. */
export const airborne = (s: VehicleState) => s.armed && (s.landedState === 2 || s.landedState === 3 || (s.position?.altRelM ?? 0) >= 1);

/**
 * A vehicle whose commands are audited before they leave (`takeover.<method>`, user `takeover`),
 * each audit row completed with the vehicle's answer.
 */
export function auditedVehicle(v: VehicleHandle, store: Store, deliveryId: string): VehicleHandle {
  const audited = <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>, params: (...a: A) => unknown) =>
    async (...a: A): Promise<R> => {
      const auditId = await store.audit({ username: 'takeover', role: 'system', action: `takeover.${name}`, vehicleId: v.id, deliveryId, params: params(...a), outcome: { pending: true } });
      let r: R;
      try {
        r = await fn(...a);
      } catch (e) {
        await store.completeAudit(auditId, { ok: false, error: String((e as Error)?.message ?? e) }, deliveryId);
        throw e;
      }
      const x = r as unknown as Partial<CommandResult> & { code?: string };
      await store.completeAudit(auditId, { ok: !!x?.ok, ...(x?.result !== undefined ? { result: x.result } : {}), ...(x?.code !== undefined ? { code: x.code } : {}) }, deliveryId);
      return r;
    };
  const wrapped: Partial<Record<keyof VehicleHandle, unknown>> = {
    setMode: audited('mode', (m: string) => v.setMode(m), (m) => ({ mode: m })),
    arm: audited('arm', (f?: boolean) => v.arm(f), (f) => ({ force: !!f })),
    disarm: audited('disarm', (f?: boolean) => v.disarm(f), (f) => ({ force: !!f })),
    missionStart: audited('mission-start', () => v.missionStart(), () => ({})),
    uploadItems: audited('upload', (t: MissionTypeValue, items: MissionItem[], o?: Parameters<VehicleHandle['uploadItems']>[2]) => v.uploadItems(t, items, o), (t, items) => ({ missionType: t, items: items.length })),
    clearItems: audited('clear', (t: MissionTypeValue) => v.clearItems(t), (t) => ({ missionType: t })),
    rtl: audited('rtl', () => v.rtl(), () => ({})),
    land: audited('land', () => v.land(), () => ({})),
    gripper: audited('gripper', (a: 'release' | 'grab') => v.gripper(a), (a) => ({ action: a })),
    command: audited('command', (c: Parameters<VehicleHandle['command']>[0]) => v.command(c), (c) => ({ command: c.command, params: c.params ?? [] })),
  };
  return new Proxy(v, {
    get(target, prop) {
      if (typeof prop === 'string' && prop in wrapped) return wrapped[prop as keyof VehicleHandle];
      const val = Reflect.get(target, prop, target);
      return typeof val === 'function' ? val.bind(target) : val;
    },
  });
}

/**
 * Continue (or follow) a job found `uploading` or `ready` with no node running it. `leaseLostAtMs`:
 * when this node lost the job's lease with its database connection (undefined: it did not).
 */
export async function continueOnGround(h: GroundTakeoverHost, job: Delivery, leaseLostAtMs?: number): Promise<void> {
  const id = job.id;
  const d = await h.store.getDelivery(id); // with its timeline (lists of jobs come without)
  if (!d || (d.state !== 'uploading' && d.state !== 'ready')) return;
  const vehicleId = d.vehicleId!;
  const exec = ((d as any).execution ?? null) as TakeoverExecution | null;
  const plan = d.plan as PlanForFlight | undefined;
  const gap = openGap(d.timeline, takeOverReason(d.timeline, leaseLostAtMs));
  await h.event(id, 'dispatch-resumed', { vehicleId, state: d.state, flightId: d.flightId ?? null, ...takenUpBy(h.node) });
  await h.event(id, 'link-lost', { vehicleId, ...gap });

  // 1. Hear the vehicle.
  let v = h.fleet.get(vehicleId);
  for (const until = Date.now() + HEAR_VEHICLE_MS; !heard(v) && Date.now() < until; v = h.fleet.get(vehicleId)) await sleep(100);
  if (!heard(v)) {
    if (d.flightId) return h.follow(id, d.flightId, vehicleId); // it may fly: its tracker waits for it, then fails it as lost
    await h.fail(id, 'VEHICLE_LOST', `${vehicleId} was not heard within ${HEAR_VEHICLE_MS / 1000} s of taking the job over`);
    return;
  }
  const s0 = v.state;
  await h.event(id, 'link-regained', closeGap(gap, s0, exec?.releaseSeq ?? null));
  if (!plan || !exec) {
    await h.fail(id, 'SERVICE_RESTARTED', `the job was ${d.state} without a stored execution; dispatch a new job`);
    return;
  }
  const av = auditedVehicle(v, h.store, id);

  // 2. Already flying: follow it from its actual state.
  if (airborne(s0)) {
    let flightId = d.flightId;
    if (!flightId) {
      const open = (await h.store.activeFlights()).find((f) => f.deliveryId === id);
      flightId = open?.id ?? `F${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 8)}`;
      if (!open) await h.store.insertFlight({ id: flightId, deliveryId: id, vehicleId, summary: { launch: null, resumed: true } });
      await h.event(id, 'armed', { flightId, resumed: true, note: 'armed by the node that ran the job before; found flying at the take-over' }, { flightId } as Partial<Delivery>);
    }
    if (d.state === 'uploading') {
      await h.fail(id, 'SERVICE_RESTARTED', `${vehicleId} was found flying while the job was still uploading`, { mode: s0.mode, altRelM: s0.position?.altRelM });
    }
    await h.follow(id, flightId, vehicleId);
    return;
  }

  // 3. Armed on the ground: disarm before anything else.
  if (s0.armed) {
    const r = await av.disarm(false);
    const down = await waitState(v, (s) => !s.armed, h.confirmTimeoutMs);
    await h.event(id, 'disarm-commanded', { ack: { result: r.result, attempts: r.attempts }, reason: 'found armed on the ground at the take-over', confirmed: down });
    if (!down) {
      if (airborne(v.state) && d.state === 'ready') {
        const flightId = d.flightId ?? (await h.store.activeFlights()).find((f) => f.deliveryId === id)?.id;
        if (flightId) return h.follow(id, flightId, vehicleId);
      }
      await h.fail(id, 'SERVICE_RESTARTED', `${vehicleId} was found armed on the ground and did not disarm`, { ack: r.result, mode: v.state.mode });
      return;
    }
  }
  // A flight row for an arming that never flew.
  for (const f of await h.store.activeFlights()) {
    if (f.deliveryId !== id) continue;
    await h.store.endFlight(f.id, { notFlown: true, reason: 'the job was taken over on the ground; the vehicle never took off', endedMode: v.state.mode });
    await h.event(id, 'flight-not-flown', { flightId: f.id });
  }

  // 4. Preflight again, on the stored plan.
  const { policy, version } = await h.currentPolicy();
  const report = await runPreflight({ vehicle: v, plan, policy, policyVersion: version });
  const { params: _p, gripperServo, ...stored } = report;
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok);
    await h.fail(id, 'PREFLIGHT_FAILED', `preflight refused at the take-over: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`, { checks: report.checks, failed: failed.map((c) => c.name) });
    return;
  }
  await h.event(id, 'preflight-passed', { vehicleId, takeover: true, checks: report.checks.length }, { preflight: stored } as Partial<Delivery>);
  if (gripperServo !== undefined && gripperServo !== exec.gripperServo) exec.gripperServo = gripperServo;

  // 5. What the vehicle holds, read back; uploaded again where it differs.
  const uploads: Array<[string, MissionTypeValue, MissionItem[]]> = [
    ['fence', MissionType.FENCE, plan.fence ?? []],
    ['rally', MissionType.RALLY, plan.rally ?? []],
    ['mission', MissionType.MISSION, plan.mission],
  ];
  for (const [name, type, items] of uploads) {
    if (!(await h.stillActive(id))) return;
    const t0 = Date.now();
    const held = await v.downloadItems(type);
    const diff = held.ok ? compareItems(items, held.items, { autopilot: v.state.autopilot, type }) : { message: `download failed: ${held.code}: ${held.message}` };
    if (held.ok && !diff) {
      await h.event(id, `${name}-verified`, { items: items.length, by: 'download', ms: Date.now() - t0 });
      continue;
    }
    const r = items.length > 0 ? await av.uploadItems(type, items, { verify: true }) : await av.clearItems(type);
    if (!r.ok) {
      await h.fail(id, r.code === 'VERIFY_MISMATCH' ? 'UPLOAD_VERIFY_FAILED' : 'UPLOAD_FAILED', `${name} upload at the take-over failed: ${r.code}: ${r.message}`, { missionType: name, transferCode: r.code });
      return;
    }
    await h.event(id, `${name}-uploaded`, { items: items.length, verified: items.length > 0, ms: Date.now() - t0, takeover: true, held: diff?.message });
  }
  const now = await h.store.getDelivery(id);
  if (!now || (now.state !== 'uploading' && now.state !== 'ready')) return;
  if (now.state === 'uploading') {
    const preflight = { ...stored, checks: [...stored.checks, { name: 'upload_verification', ok: true, detail: 'fence, rally and mission read back identical' }] };
    if (!(await h.transition(id, 'ready', { verified: true, takeover: true }, { preflight } as Partial<Delivery>))) return;
  }
  await h.fly(id, av, plan, exec, policy);
}

async function waitState(v: VehicleHandle, pred: (s: VehicleState) => boolean, timeoutMs: number): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) if (pred(v.state)) return true;
  return pred(v.state);
}
