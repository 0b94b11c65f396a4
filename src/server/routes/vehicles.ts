/**
 * Vehicles: their state, commands (checked against the role and the job before they leave),
 * MAVLink signing and commissioning against the policy's vehicle profile.
 */
import { z } from 'zod';
import { isAirborne, type RouteKit, type ApiDeps } from '../api-kit';
import { Fail } from '../errors';
import * as S from '../schemas';
import type { VehicleHandle, CommandResult } from '../../fleet/types';
import { warmingUp } from '../../delivery/preflight';
import { applySetup, knownFenceCapacity, readSetup } from '../../delivery/commissioning';
import { modeNames } from '../../vehicle/command';
import { commandVerdict, type CommandAction } from '../guards';
import { batterySwapRoutes } from './battery-swaps';

async function vehicleSummary(v: VehicleHandle, deps: ApiDeps) {
  const { statusText, ...s } = v.state;
  const job = await deps.deliveries.activeJobFor(v.id);
  // Ready to fly as the preflight policy sees it from the vehicle's own state: the warm-up checks
  // (GPS fix, EKF, home, pre-arm) it still fails after a boot, by name.
  const waitingFor = warmingUp(v.state, (await deps.deliveries.currentPolicy()).policy).map((c) => c.name);
  return {
    ...s,
    statusText: statusText.slice(-10),
    simulated: deps.isSimulated(v.id),
    deliveryId: job?.id ?? deps.deliveries.waitingJobFor(v.id) ?? null,
    readiness: { ready: waitingFor.length === 0, waitingFor },
  };
}

const COMMANDS: Record<string, (v: VehicleHandle, b: z.infer<typeof S.VehicleCommandBody>) => Promise<CommandResult>> = {
  arm: (v) => v.arm(false),
  disarm: (v) => v.disarm(false),
  mode: (v, b) => v.setMode(b.mode!.toUpperCase()),
  takeoff: (v, b) => v.takeoff(b.altM ?? 10),
  hold: (v) => v.hold(),
  continue: (v) => v.pauseContinue(false),
  rtl: (v) => v.rtl(),
  land: (v) => v.land(),
  release: (v) => v.gripper('release'),
};

export function vehicleRoutes(k: RouteKit): void {
  const { route, requireVehicle, found } = k;
  const { store, deliveries, fleet } = k.deps;
  const deps = k.deps;
  // ------------------------------------------------------------------ vehicles
  route({
    method: 'get',
    path: '/api/vehicles',
    summary: 'All vehicles with their latest state',
    permission: 'read',
    handler: async () => ({ body: await Promise.all(fleet.vehicles().map((v) => vehicleSummary(v, deps))) }),
  });
  route({
    method: 'get',
    path: '/api/traffic',
    summary: 'Manned aircraft the vehicles relay over ADS-B (callsign, position, altitude AMSL, track, speed; dropped 20 s after the last report) and the flights they threaten now, with the suggested action and what was done',
    permission: 'read',
    handler: () => ({ body: { aircraft: deliveries.trafficPicture.list(), threats: deliveries.traffic.threats() } }),
  });
  route({
    method: 'get',
    path: '/api/vehicles/:id',
    summary: 'One vehicle',
    permission: 'read',
    handler: async (c) => ({ body: await vehicleSummary(requireVehicle(String(c.req.params.id)), deps) }),
  });
  route({
    method: 'post',
    path: '/api/vehicles/:id/commands',
    summary: 'Command a vehicle (arm, disarm, mode, takeoff, hold, continue, rtl, land, release)',
    permission: 'vehicle.command',
    body: S.VehicleCommandBody,
    audit: 'vehicle.command',
    vehicleOf: (c) => String(c.req.params.id),
    // Checked before the audit row and before anything is sent: replay, confirmation, mode name, role.
    guard: async (c) => {
      const v = requireVehicle(String(c.req.params.id));
      if (v.id.startsWith('replay-')) throw new Fail(409, 'INVALID_STATE', `${v.id} is a replay: it cannot be commanded`);
      const b = c.body as z.infer<typeof S.VehicleCommandBody>;
      const airborne = isAirborne(v);
      if ((b.action === 'release' || (b.action === 'disarm' && airborne)) && b.confirm !== true)
        throw new Fail(400, 'CONFIRMATION_REQUIRED', `${b.action}${airborne ? ' in the air' : ''} needs confirm: true`);
      if (b.action === 'mode') {
        const known = modeNames(v.state.autopilot);
        if (!known.includes(b.mode!.toUpperCase())) throw new Fail(400, 'UNKNOWN_MODE', `${v.id} (${v.state.autopilot}) has no mode ${b.mode}`, { valid: known });
      }
      const verdict = commandVerdict(c.user.role, b.action as CommandAction, { simulated: deps.isSimulated(v.id), hasJob: !!await deliveries.activeJobFor(v.id), airborne, mode: b.mode, confirm: b.confirm });
      if (!verdict.ok) throw new Fail(verdict.status, verdict.code, verdict.message);
    },
    handler: async (c) => {
      const v = requireVehicle(String(c.req.params.id));
      const b = c.body as z.infer<typeof S.VehicleCommandBody>;
      // During a delivery in AUTO, hold pauses the mission (and continue resumes it) instead of leaving AUTO.
      const job = await deliveries.activeJobFor(v.id);
      let result: CommandResult;
      deliveries.operatorCommandSending(v.id, b.action, c.user.username);
      if (b.action === 'hold' && job && v.state.mode === 'AUTO') result = await v.pauseContinue(true);
      else if (b.action === 'continue' && job && (v.state.mode === 'BRAKE' || v.state.mode === 'LOITER')) result = await v.setMode('AUTO');
      else result = await COMMANDS[b.action](v, b);
      await deliveries.noteOperatorCommand(v.id, b.action, c.user.username, result);
      const body = { ok: result.ok, result };
      if (!result.ok) {
        // The vehicle said no (409, with its reason), or never answered (504): neither is the caller's input.
        if (result.result === 'TIMEOUT' || result.result === 'NOT_CONNECTED') throw new Fail(504, 'VEHICLE_NOT_ANSWERING', `${b.action}: ${result.result}`, { result });
        throw new Fail(409, 'VEHICLE_REFUSED', `${b.action}: the vehicle answered ${result.result}`, { result });
      }
      return { body, outcome: { ok: true, ack: result } };
    },
  });

  const needSigning = () => {
    if (!deps.signing) throw new Fail(501, 'NOT_AVAILABLE', 'MAVLink signing is not available in this service');
    return deps.signing;
  };
  route({
    method: 'get',
    path: '/api/vehicles/:id/signing',
    summary: "MAVLink signing of the vehicle's link: {enabled, mode, keyId, counters} (never the key)",
    permission: 'read',
    handler: (c) => {
      const v = requireVehicle(String(c.req.params.id));
      return { body: found(needSigning().status(v.id), `signing for ${v.id}`) };
    },
  });
  route({
    method: 'post',
    path: '/api/vehicles/:id/signing',
    summary: 'Give the vehicle a new random signing key (SETUP_SIGNING), confirm it answers signed, store the key; answers {ok, keyId}',
    permission: 'vehicle.maintain',
    body: S.EmptyBody,
    audit: 'vehicle.signing',
    vehicleOf: (c) => String(c.req.params.id),
    handler: async (c) => {
      const v = requireVehicle(String(c.req.params.id));
      if (v.id.startsWith('replay-')) throw new Fail(409, 'INVALID_STATE', `${v.id} is a replay: it has no link to sign`);
      const r = await needSigning().provision(v.id, c.user.username);
      if (!r.ok) throw new Fail(r.status ?? 409, r.code, r.message);
      return { body: { ok: true, keyId: r.keyId }, outcome: { ok: true, keyId: r.keyId } };
    },
  });

  // Battery swaps recorded by a person, and a vehicle's swaps (routes/battery-swaps.ts).
  batterySwapRoutes({ route, requireVehicle, store });

  // Commissioning: the vehicle against the policy's vehicle profile, in its autopilot's names.
  const commissionable = async (id: string, forApply: boolean): Promise<VehicleHandle> => {
    const v = requireVehicle(id);
    if (v.id.startsWith('replay-')) throw new Fail(409, 'INVALID_STATE', `${v.id} is a replay: it has no parameters to set`);
    if (!v.state.connected) throw new Fail(409, 'VEHICLE_NOT_CONNECTED', `${v.id} is not connected`);
    if (forApply) {
      if (v.state.armed) throw new Fail(409, 'INVALID_STATE', `${v.id} is armed: commissioning sets parameters and may reboot the vehicle; land and disarm first`);
      const job = await deliveries.activeJobFor(v.id);
      if (job) throw new Fail(409, 'CONFLICT', `${v.id} is committed to ${job.id}`);
    }
    return v;
  };
  const setupOptions = async (v: VehicleHandle) => {
    const { policy } = await deliveries.currentPolicy();
    return { profile: policy.vehicle, fenceMarginM: policy.fenceMarginM, capacity: await knownFenceCapacity(store, v, policy.vehicle) };
  };
  route({
    method: 'get',
    path: '/api/vehicles/:id/setup',
    summary: "The vehicle against the policy's vehicle profile, in its autopilot's parameter names: {profile, params: [{name, want, have, ok, needsReboot, check, rule}], fenceCapacity, ready}",
    permission: 'read',
    handler: async (c) => {
      const v = await commissionable(String(c.req.params.id), false);
      return { body: await readSetup(v, await setupOptions(v)) };
    },
  });
  route({
    method: 'post',
    path: '/api/vehicles/:id/setup',
    summary:
      'Commission the vehicle ({apply: true}): set every parameter that differs from the profile (each read back), reboot it when one is read only at boot and wait for it, measure its fence capacity (restoring its fence; measureFence: false skips it); answers the setup report with applied, rebooted and fenceMeasurement',
    permission: 'vehicle.commission',
    body: S.VehicleSetupBody,
    audit: 'vehicle.setup',
    vehicleOf: (c) => String(c.req.params.id),
    guard: async (c) => void (await commissionable(String(c.req.params.id), true)),
    handler: async (c) => {
      const v = await commissionable(String(c.req.params.id), true);
      const hold = await deliveries.holdVehicle(v.id, 'being commissioned');
      if (!hold) throw new Fail(409, 'CONFLICT', `${v.id} is being dispatched, flies a job or is being commissioned (${deliveries.heldFor(v.id) ?? 'busy'})`);
      try {
        const r = await applySetup(v, { ...(await setupOptions(v)), measureFence: c.body.measureFence ?? true });
        const m = r.fenceMeasurement;
        if (m?.ok) {
          await store.setFenceCapacity(v.id, { autopilot: v.state.autopilot, items: m.items, atLeast: m.atLeast, measuredBy: c.user.username, detail: { probes: m.probes, restored: m.restored } });
          r.fenceCapacity = await knownFenceCapacity(store, v, r.profile);
        }
        const outcome = {
          ok: r.ready && !r.rebootFailure && (m === undefined || m.ok),
          ready: r.ready,
          applied: r.applied.map((a) => ({ name: a.name, from: a.from, to: a.to, ok: a.ok, ...(a.error ? { error: a.error } : {}) })),
          rebooted: r.rebooted,
          fenceCapacity: r.fenceCapacity,
          ...(m && !m.ok ? { fenceMeasurement: { code: m.code, message: m.message } } : {}),
          ...(r.rebootFailure ? { rebootFailure: r.rebootFailure } : {}),
        };
        if (r.rebootFailure) throw new Fail(r.rebootFailure.code === 'TIMEOUT' ? 504 : 409, r.rebootFailure.code === 'TIMEOUT' ? 'VEHICLE_NOT_ANSWERING' : 'REBOOT_FAILED', r.rebootFailure.message, { report: r });
        if (m && !m.ok && m.code === 'FENCE_RESTORE_FAILED') throw new Fail(409, m.code, m.message, { report: r });
        return { body: r, outcome };
      } finally {
        hold.release();
      }
    },
  });
}
