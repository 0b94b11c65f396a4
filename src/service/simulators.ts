/**
 * The simulated vehicles a service runs: built-in simulators (in this process, or each in a detached
 * process of its own that a restart re-attaches), ArduCopter/PX4 SITL a trainer adds, their homes at
 * the zones' launch sites, and the simulator control the API offers (list, add, remove, faults,
 * scenarios).
 */
import type { Logger } from 'pino';
import type { Fleet } from '../fleet';
import type { Store } from '../store';
import type { SimControl } from '../server/app';
import type { SimFleet, SimInstance, SimFault } from '../../sims';
import { PROJECT_PARAMS } from '../../sims/sitl';
import * as scenarios from '../../sims/scenarios';
import { availableKinds, kindUnavailable, MAX_SITL_INSTANCES, startOne, type SimKind } from '../sim-kinds';
import { attachSimProcess, launchSiteName, listSimProcessRecords, startSimProcess, type ProcessSimInstance } from '../sim-processes';
import type { ServiceOptions } from './options';

/**
 * Parameters that make a built-in simulator delivery-ready (the SITL defaults leave failsafes off,
 * a 150 m circle fence and no gripper): GCS and battery failsafes on, fence on with polygon + max
 * altitude (no circle), gripper on SERVO9, the demo airframe's 6S 20 Ah pack (PROJECT_PARAMS).
 */
export const DELIVERY_READY_SIM_PARAMS: Record<string, number> = {
  ...PROJECT_PARAMS,
  FS_GCS_ENABLE: 1,
  BATT_FS_LOW_ACT: 2,
  FENCE_ENABLE: 1,
  FENCE_TYPE: 5,
  FENCE_ACTION: 1,
  GRIP_ENABLE: 1,
  GRIP_TYPE: 1,
  SERVO9_FUNCTION: 28,
};

/** Launch sites of a zones FeatureCollection as simulator homes. */
function homesFrom(zones: GeoJSON.FeatureCollection, n: number): Array<{ lat: number; lon: number; altAmslM?: number }> {
  const sites = zones.features
    .filter((f) => f.properties?.kind === 'launch-site' && f.geometry?.type === 'Point')
    .map((f) => (f.geometry as GeoJSON.Point).coordinates);
  if (sites.length === 0) return [];
  const homes = [];
  for (let i = 0; i < n; i++) {
    const [lon, lat] = sites[i % sites.length];
    const k = Math.floor(i / sites.length); // several vehicles at one site stand 8 m apart
    homes.push({ lat: lat + (k * 8) / 111_320, lon, altAmslM: 100 });
  }
  return homes;
}

export interface Simulators {
  /** The SimFleet view the service returns: every running simulated vehicle (null without simulators). */
  readonly sims: SimFleet | null;
  /** How many built-in simulators start with the service. */
  readonly count: number;
  /** Start them, and re-attach the simulator processes a trainer added before a crash. */
  start(): Promise<void>;
  /** A simulated vehicle or a replay (not a real aircraft). */
  isSimulated(vehicleId: string): boolean;
  /** Simulator control for the API (null without simulators). */
  readonly control: SimControl | null;
}

export function createSimulators(opts: ServiceOptions, deps: { store: Store; fleet: Fleet; dataDir: string; speedup: number; signingKeys: Map<string, Buffer>; log: Logger }): Simulators {
  const { store, fleet, dataDir, speedup, signingKeys, log } = deps;
  // Built-in simulators: one SimFleet per vehicle, so a trainer can stop any one of them. Vehicle
  // i is link `sim<i>`, sysid i+1, at the i-th launch site.
  const simsByLink = new Map<string, { index: number; group: SimFleet; inst: SimInstance; kind: SimKind }>();
  /** Scenarios run in this process (simulators that are not processes of their own), by link id. */
  const scenarioRuns = new Map<string, scenarios.ScenarioRun>();
  let nextSimIndex = 0;
  // Vehicle i (any kind: built-in, ArduCopter SITL, PX4 SITL; src/sim-kinds.ts) is link `sim<i>`, sysid i+1.
  const startSims = async (count: number, fixedPorts: boolean, kind: SimKind = 'builtin') => {
    const zonesNow = (await store.latestZones())!.zones;
    const homes = homesFrom(zonesNow, nextSimIndex + count).slice(nextSimIndex);
    const started: Array<{ linkId: string; inst: SimInstance; kind: SimKind }> = [];
    for (let k = 0; k < count; k++) {
      const index = nextSimIndex++;
      const linkId = `sim${index}`;
      const simParams = { ...DELIVERY_READY_SIM_PARAMS, ...(opts.simParams ?? {}) };
      const site = launchSiteName(zonesNow, index);
      const group =
        kind === 'builtin' && opts.simProcesses
          ? (await attachSimProcess(dataDir, linkId, index, { sysid: index + 1 }, (why) => log.warn({ linkId }, why))) ??
            (await startSimProcess(dataDir, { linkId, index, sysid: index + 1, speedup, home: homes[k], params: simParams, site, basePort: fixedPorts && opts.simBasePort ? opts.simBasePort + 10 * k : 0, signingKey: signingKeys.get(linkId) }))
          : await startOne(kind, {
        sysid: index + 1,
        speedup,
        home: homes[k],
        basePort: fixedPorts && opts.simBasePort ? opts.simBasePort + 10 * k : 0,
        // SITL kinds take the project's parameters from their launchers; these are ArduPilot names.
        params: kind === 'builtin' ? simParams : kind === 'arducopter-sitl' ? { ...(opts.simParams ?? {}) } : {},
        // A simulated vehicle provisioned before holds its key, as an autopilot keeps it in storage.
        signingKey: signingKeys.get(linkId),
        bins: opts.sitl ?? {},
      });
      const inst = group.instances[0];
      if ('reattached' in group) log.info({ linkId, pid: (inst as ProcessSimInstance).pid, site, reattached: group.reattached }, group.reattached ? 'simulator process re-attached' : 'simulator process started');
      simsByLink.set(linkId, { index, group, inst, kind });
      fleet.addLink(inst.uri, { id: linkId });
      started.push({ linkId, inst, kind });
    }
    return started;
  };
  const addSims = async (count: number, kind: SimKind) => {
    const why = kindUnavailable(kind, opts.sitl ?? {});
    if (why) return { ok: false as const, code: 'SITL_NOT_AVAILABLE', message: why, status: 409 };
    const running = [...simsByLink.values()].filter((e) => e.kind !== 'builtin').length;
    if (kind !== 'builtin' && running + count > MAX_SITL_INSTANCES)
      return { ok: false as const, code: 'SIM_LIMIT', message: `${running} SITL instances run already; at most ${MAX_SITL_INSTANCES} at once`, status: 409 };
    try {
      const started = await startSims(count, false, kind);
      return { ok: true as const, instances: started.map(({ linkId, inst }) => ({ id: linkId, kind, vehicleId: `${linkId}/${inst.sysid}`, uri: inst.uri })) };
    } catch (e: any) {
      log.warn({ err: e, kind }, 'simulated vehicle did not start');
      return { ok: false as const, code: e?.code === 'SIM_PORT_IN_USE' ? 'SIM_PORT_IN_USE' : 'SITL_START_FAILED', message: e?.message ?? String(e), status: 503 };
    }
  };
  const simCount = opts.simulators ?? 0;
  // The SimFleet view the service returns: every running built-in vehicle.
  const sims: SimFleet | null =
    simCount > 0 || availableKinds(opts.sitl ?? {}).length > 1
      ? {
          get instances() {
            return [...simsByLink.values()].map((e) => e.inst);
          },
          stop: async () => {
            for (const e of simsByLink.values()) await e.group.stop();
            simsByLink.clear();
          },
        }
      : null;
  const simOf = (vehicleId: string) => simsByLink.get(vehicleId.split('/')[0]);
  const isSimulated = (vehicleId: string) => simOf(vehicleId) !== undefined || vehicleId.startsWith('replay-');

  const control: SimControl | null = sims
    ? {
        list: () => ({
          instances: [...simsByLink].map(([linkId, { index, inst, kind }]) => ({
            id: linkId, index, kind, vehicleId: `${linkId}/${inst.sysid}`, sysid: inst.sysid, uri: inst.uri, truth: safe(() => inst.truth()), faults: safe(() => inst.activeFaults?.() ?? []) ?? [],
            // The scenario this vehicle runs, on its simulator's own clock.
            scenario: safe(() => (inst as Partial<ProcessSimInstance>).scenarioProgress?.() ?? scenarioRuns.get(linkId)?.progress() ?? null) ?? null,
          })),
          kinds: availableKinds(opts.sitl ?? {}),
        }),
        add: (count, kind = 'builtin') => addSims(count, kind),
        remove: async (index) => {
          const linkId = `sim${index}`;
          const e = simsByLink.get(linkId);
          if (!e) return { ok: false, code: 'NOT_FOUND', message: `no simulator ${index}` };
          simsByLink.delete(linkId);
          scenarioRuns.get(linkId)?.cancel();
          scenarioRuns.delete(linkId);
          await fleet.removeLink(linkId);
          await e.group.stop();
          return { ok: true };
        },
        inject: async (vehicleId, fault) => {
          const inst = simOf(vehicleId)?.inst;
          if (!inst) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `${vehicleId} is not a built-in simulator` };
          try {
            await inst.inject(fault as SimFault); // a simulator process answers asynchronously
            return { ok: true };
          } catch (e: any) {
            return { ok: false, code: e?.code ?? 'SIM_FAILED', message: e?.message ?? String(e) };
          }
        },
        loadParcels: async (vehicleId, outputs) => {
          const e = simOf(vehicleId);
          if (!e) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `${vehicleId} is not a simulated vehicle` };
          const inst = e.inst as Partial<ProcessSimInstance> & { vehicle?: { loadParcels(o: number[]): void } };
          if (e.kind !== 'builtin' || (!inst.loadParcels && !inst.vehicle)) return { ok: false, code: 'NOT_AVAILABLE', message: `${vehicleId} is ${e.kind}: only the built-in simulator carries parcels (SITL moves its outputs, nothing hangs on them)` };
          try {
            if (inst.loadParcels) await inst.loadParcels(outputs);
            else inst.vehicle!.loadParcels(outputs);
            return { ok: true };
          } catch (err: any) {
            return { ok: false, code: err?.code ?? 'SIM_INVALID_OPTION', message: err?.message ?? String(err) };
          }
        },
        clear: async (vehicleId, kind) => {
          const inst = simOf(vehicleId)?.inst;
          if (!inst) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `${vehicleId} is not a built-in simulator` };
          try {
            await inst.clearFault(kind as SimFault['kind']);
            return { ok: true };
          } catch (e: any) {
            return { ok: false, code: e?.code ?? 'SIM_FAILED', message: e?.message ?? String(e) };
          }
        },
        scenarios: () =>
          scenarios.scenarioNames().map((name) => {
            const sc = scenarios.getScenario(name);
            return { name, description: sc.description, steps: sc.steps.map((st) => ({ atS: st.atS, note: st.note })) };
          }),
        scenario: async (name) => {
          const mod = scenarios;
          if (!mod.scenarioNames().includes(name)) return { ok: false, code: 'NOT_FOUND', message: `unknown scenario '${name}'; known: ${mod.scenarioNames().join(', ')}` };
          try {
            // Each vehicle runs on its own sim clock: give it the steps meant for all vehicles and for its index.
            const sc = mod.getScenario(name);
            for (const [linkId, { index, group }] of simsByLink) {
              const steps = sc.steps.map((st, n) => ({ ...st, n })).filter((st) => st.instance === undefined || st.instance === 'all' || st.instance === index).map((st) => ({ ...st, instance: 'all' as const }));
              const inst = group.instances[0] as Partial<ProcessSimInstance>;
              // A new scenario replaces the one a vehicle ran.
              scenarioRuns.get(linkId)?.cancel();
              scenarioRuns.delete(linkId);
              if (inst.runScenario) await inst.runScenario({ ...sc, steps });
              else scenarioRuns.set(linkId, mod.runScenario(group, { ...sc, steps }));
            }
            return { ok: true, result: { name, steps: sc.steps.length, vehicles: simsByLink.size } };
          } catch (e: any) {
            return { ok: false, code: e?.code ?? 'SCENARIO_FAILED', message: e?.message ?? String(e) };
          }
        },
      }
    : null;

  return {
    sims,
    count: simCount,
    isSimulated,
    control,
    start: async () => {
      await startSims(simCount, true);
      // Vehicles a trainer added before a crash still fly in their processes: re-attach them too.
      for (const r of opts.simProcesses ? listSimProcessRecords(dataDir) : []) {
        if (simsByLink.has(r.linkId)) continue;
        const g = await attachSimProcess(dataDir, r.linkId, r.index, { sysid: r.index + 1 }, (why) => log.warn({ linkId: r.linkId }, why));
        if (!g) continue;
        simsByLink.set(r.linkId, { index: r.index, group: g, inst: g.instances[0], kind: 'builtin' });
        fleet.addLink(g.instances[0].uri, { id: r.linkId });
        nextSimIndex = Math.max(nextSimIndex, r.index + 1);
        log.info({ linkId: r.linkId, pid: r.pid }, 'simulator process re-attached');
      }
    },
  };
}

function safe<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}
