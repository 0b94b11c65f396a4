/**
 * The built-in simulators and SITL instances trainers run: vehicles, faults and training
 * scenarios.
 */
import { type RouteKit } from '../api-kit';
import { Fail } from '../errors';
import * as S from '../schemas';

export function simRoutes(k: RouteKit): void {
  const { route, intParam } = k;
  const deps = k.deps;
  const needSim = () => {
    if (!deps.sim) throw new Fail(501, 'NOT_AVAILABLE', 'no built-in simulator in this service');
    return deps.sim;
  };
  const simResult = (r: { ok: boolean; code?: string; message?: string }, status = 400) => {
    if (!r.ok) throw new Fail(r.code === 'VEHICLE_NOT_FOUND' || r.code === 'NOT_FOUND' ? 404 : status, r.code ?? 'SIM_FAILED', r.message ?? 'simulator refused');
    return { body: r };
  };
  route({ method: 'get', path: '/api/sim', summary: 'Simulated instances: ground truth, faults in force and the scenario each runs (its steps on the simulator clock)', permission: 'read', handler: () => ({ body: needSim().list() }) });
  route({
    method: 'post',
    path: '/api/sim/vehicles',
    summary: "Start simulated vehicles beside the others: {kind: 'builtin' | 'arducopter-sitl' | 'px4-sitl' (default builtin; SITL kinds when the service has their binaries, at most 4 at once), count 1–10}",
    permission: 'sim.control',
    body: S.SimVehiclesBody,
    audit: 'sim.add',
    handler: async (c) => {
      const r = await needSim().add(c.body.count ?? 1, c.body.kind ?? 'builtin');
      if (!r.ok) throw new Fail(r.status ?? 409, r.code, r.message);
      return { status: 201, body: r };
    },
  });
  route({
    method: 'delete',
    path: '/api/sim/vehicles/:index',
    summary: 'Stop a simulated vehicle',
    permission: 'sim.control',
    audit: 'sim.remove',
    handler: async (c) => simResult(await needSim().remove(intParam(c, 'index')), 404),
  });
  route({
    method: 'post',
    path: '/api/sim/faults',
    summary: 'Inject a fault into a simulated vehicle',
    permission: 'sim.control',
    body: S.SimFaultBody,
    audit: 'sim.fault',
    vehicleOf: (c) => c.body?.vehicleId,
    handler: async (c) => simResult(await needSim().inject(c.body.vehicleId, c.body.fault)),
  });
  route({
    method: 'delete',
    path: '/api/sim/faults',
    summary: 'Clear a fault',
    permission: 'sim.control',
    body: S.SimClearFaultBody,
    audit: 'sim.clear-fault',
    vehicleOf: (c) => c.body?.vehicleId,
    handler: async (c) => simResult(await needSim().clear(c.body.vehicleId, c.body.kind)),
  });
  route({
    method: 'post',
    path: '/api/sim/parcels',
    summary: 'Load a parcel into each bay (release output) of a built-in simulated vehicle, as the crew does before a sortie: {vehicleId, outputs: [10, 11]}',
    permission: 'sim.control',
    body: S.SimParcelsBody,
    audit: 'sim.parcels',
    vehicleOf: (c) => c.body?.vehicleId,
    handler: async (c) => simResult(await needSim().loadParcels(c.body.vehicleId, c.body.outputs)),
  });
  route({ method: 'get', path: '/api/sim/scenarios', summary: 'Training scenarios and their scripted faults', permission: 'read', handler: () => ({ body: needSim().scenarios() }) });
  route({
    method: 'post',
    path: '/api/sim/scenarios',
    summary: 'Run a named scenario',
    permission: 'sim.control',
    body: S.SimScenarioBody,
    audit: 'sim.scenario',
    handler: async (c) => simResult(await needSim().scenario(c.body.name)),
  });
}
