/**
 * The Dropline service: SQLite store, fleet (links to real vehicles, SITL or the built-in
 * simulators), delivery manager, REST API, live telemetry over WebSocket and flight recording,
 * in one process. `startService` is what the CLI calls.
 */
import { BatterySwapWatcher } from './fleet/battery-swaps';
import { randomBytes, randomUUID } from 'crypto';
import fs from 'fs';
import http from 'http';
import https from 'https';
import net from 'net';
import path from 'path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { createFleet, parseLinkSpec, type Fleet } from './fleet';
import { parseLinkUri } from './link';
import type { FleetHandle, VehicleHandle, VehicleState } from './fleet/types';
import { Store, openStore, storeReachable } from './store';
import { Auth } from './auth';
import { DeliveryManager, DEFAULT_POLICY } from './delivery';
import { createApi, tokenOf, type SimControl, type ReplayControl, type SigningControl } from './server/app';
import * as plannerModule from '../planner';
import { createPlannerPool, type PlannerPool, type PlannerPoolOptions } from './planner-pool';
import { createTelemetryHub, type TelemetryHub } from '../telemetry/hub';
import { FlightRecorder } from '../telemetry/tlog';
import { startReplay, type Replay } from '../telemetry/replay';
import { LinkHealth, prometheusText } from '../telemetry/link-health';
import { type SimFleet, type SimInstance, type SimFault } from '../sims';
import { PROJECT_PARAMS } from '../sims/sitl';
import { availableKinds, kindUnavailable, MAX_SITL_INSTANCES, startOne, type SimKind, type SitlBinaries } from './sim-kinds';
import * as scenarios from '../sims/scenarios';
import { openTileSource } from './server/tiles';
import { repoRoot } from './paths';
import { originPolicy, isLoopbackHost, isWildcardHost } from './server/guards';
import { attachBusVehicles, openBus, Subjects, type Bus, type BusVehicles } from './bus';
import { classifyAlert, statusTextAlert } from './alerts';
import { attachSimProcess, launchSiteName, listSimProcessRecords, startSimProcess, type ProcessSimInstance } from './sim-processes';
import { startAlertRetention } from './alerts-retention';

export interface ServiceOptions {
  /** Listen address. Default '127.0.0.1'. */
  host?: string;
  /** Listen port; 0 = any free port. Default 8080. */
  port?: number;
  /** Where the SQLite file and the tlogs live (created if missing). Default './data'. */
  dataDir?: string;
  /** `postgres://HOST:5432/DB[?schema=NAME]`: the PostgreSQL store (shared by nodes) instead of SQLite in dataDir. */
  store?: string;
  /**
   * Vehicle links (tcp:, udpin:, udpout:, serial:), each optionally with `?signing=off|sign|require`,
   * `signingKeyFile=PATH` and `id=NAME` (src/fleet/link-spec.ts). Link ids are the `id=` given, else
   * `link0`, `link1`, … in this order. A link's signing key comes from signingKeyFile=, else from the
   * store (keys are stored per link id when a vehicle is provisioned).
   */
  links?: string[];
  /** Built-in simulated vehicles started in this process (links `sim0`, `sim1`, …). Default 0. */
  simulators?: number;
  /** Simulator speed-up. Default 1. */
  simSpeedup?: number;
  /** The vehicles fly on a clock this many times faster than the wall clock (airspace slots): default simSpeedup, else 1. */
  vehicleClockRate?: number;
  /**
   * Run each built-in simulator in a detached process of its own (src/sim-processes.ts), recorded in
   * the data dir: it outlives a crash of the service and a restart re-attaches to it. Default false
   * (in this process); `npm start` sets it.
   */
  simProcesses?: boolean;
  /** Parameters applied to every built-in simulator (on top of the delivery-ready defaults below). */
  simParams?: Record<string, number>;
  /** SITL binaries trainers may start beside the built-in simulators (POST /api/sim/vehicles {kind}). Default none. */
  sitl?: SitlBinaries;
  /** First TCP port for the built-in simulators. Default: free ports found at start. */
  simBasePort?: number;
  /** Zones seeded on first start (no zones stored yet). Default: the demo scenario's zones (sims/scenarios). */
  zonesFile?: string;
  /**
   * Seed demo users on first start (admin/admin, operator/operator, supervisor/supervisor,
   * trainer/trainer). Default: true only for the demo shape (built-in simulators, no vehicle links,
   * a loopback address); asking for them with vehicle links or another address is refused.
   */
  demoUsers?: boolean;
  /** TLS certificate and key files (PEM): the console and API over HTTPS, session cookies `Secure`. */
  tlsCert?: string;
  tlsKey?: string;
  /**
   * Behind a TLS-terminating reverse proxy on this machine: trust X-Forwarded-For from loopback and
   * mark session cookies `Secure`. The service itself must then listen on loopback.
   */
  trustProxy?: boolean;
  /** Origins the console is reached at besides loopback (e.g. https://dropline.example.org). */
  allowedOrigins?: string[];
  /** Bearer token for /metrics and the detailed /api/health (monitoring without a user session). */
  metricsToken?: string;
  /** Password of the first admin (else DROPLINE_ADMIN_PASSWORD; else 'admin' with demo users, or generated and logged once). */
  adminPassword?: string;
  /** pino level. Default 'info' (DROPLINE_LOG_LEVEL overrides). */
  logLevel?: string;
  /** Where log lines go. Default stdout. */
  logStream?: DestinationStream;
  /** Built console. Default <repo>/web/dist. */
  webDir?: string;
  /** Offline base-map tiles for the console: an .mbtiles file or a folder of {z}/{x}/{y}.png. Default none. */
  tiles?: string;
  /** Session lifetime. Default 12 h. */
  sessionTtlMs?: number;
  /** Acknowledged (and non-critical unacknowledged) alerts older than this are pruned, audited (src/alerts-retention.ts). Default 30 days. */
  alertRetentionMs?: number;
  /** Alert when a vehicle's battery falls below this percentage. Default 30. */
  lowBatteryAlertPct?: number;
  /** Fleet heartbeat rate (Hz). Default 2, or twice the built-in simulators' speed-up when that is more. */
  heartbeatHz?: number;
  /**
   * The planner's worker threads (zone validation, planning, KML import run there, never on the
   * event loop that sends the GCS heartbeats). Defaults: 1 thread on 2 cores (at most 2), 32 tasks
   * waiting (then PLANNER_BUSY), 10000 ms per task (then PLANNER_TIMEOUT).
   */
  planner?: PlannerPoolOptions;
  /**
   * Take vehicles from link agents (`dropline agent`) over this bus: a NATS URL
   * (`nats://127.0.0.1:4222`) or a Bus (e.g. an in-process MemoryBus shared with an agent). Each
   * vehicle an agent announces joins the fleet as link `<site>.<link>-<sysid>`; this node renews its
   * lease every second and sends no GCS heartbeat on it (the agent does). Default none: no bus.
   */
  bus?: string | Bus;
  /** Only vehicles from these agent sites. Default every site. */
  busSites?: string[];
  /** Subject root on the bus. Default 'dropline'. */
  busPrefix?: string;
  /** This node's name in its leases. Default `<host>-<pid>-<random>`. */
  busNode?: string;
}

export interface Service {
  url: string;
  port: number;
  close(): Promise<void>;
  fleet: FleetHandle;
  store: Store;
  hub: TelemetryHub;
  deliveries: DeliveryManager;
  auth: Auth;
  log: Logger;
  /** Built-in simulators (null without simulators). Instance i is vehicle `sim<i>/<sysid>`. */
  sims: SimFleet | null;
  /** The planner's worker threads. */
  planner: PlannerPool;
  /** Vehicles taken from link agents over the bus (null without a bus). */
  busVehicles: BusVehicles | null;
}

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

const REPO = repoRoot();

function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
}

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

/** A configuration the service refuses to run with, and what to do instead. */
export class UnsafeConfigError extends Error {
  readonly code = 'UNSAFE_CONFIG';
}

/**
 * Deployment posture, checked before anything listens: demo accounts only in the demo shape; beyond
 * loopback only with TLS (or behind a proxy on loopback), named origins, and no default passwords.
 */
function checkPosture(opts: ServiceOptions, host: string): void {
  const loopback = isLoopbackHost(host);
  const demoShape = (opts.links ?? []).length === 0 && !opts.bus && loopback;
  if (opts.demoUsers === true && !demoShape)
    throw new UnsafeConfigError('demo accounts (password = user name) are only for built-in simulators on a loopback address: drop --demo-users, or the vehicle links and --host');
  if (opts.trustProxy && !loopback) throw new UnsafeConfigError('--trust-proxy means a reverse proxy on this machine forwards to Dropline: listen on 127.0.0.1 (--host 127.0.0.1)');
  if (!loopback) {
    if (!(opts.tlsCert && opts.tlsKey)) throw new UnsafeConfigError(`listening on ${host} needs TLS: give --tls-cert and --tls-key, or listen on 127.0.0.1 behind a TLS reverse proxy with --trust-proxy`);
    if (isWildcardHost(host) && !(opts.allowedOrigins ?? []).length) throw new UnsafeConfigError(`listening on ${host || 'every address'} needs --origin https://NAME:PORT for each name the console is reached at`);
  }
  if ((opts.tlsCert && !opts.tlsKey) || (!opts.tlsCert && opts.tlsKey)) throw new UnsafeConfigError('--tls-cert and --tls-key go together');
}

export async function startService(opts: ServiceOptions = {}): Promise<Service> {
  const logOpts = { level: process.env.DROPLINE_LOG_LEVEL ?? opts.logLevel ?? 'info', base: { svc: 'dropline' } };
  const log = opts.logStream ? pino(logOpts, opts.logStream) : pino(logOpts);
  const dataDir = path.resolve(opts.dataDir ?? './data');
  const startedMs = Date.now();
  const host = opts.host ?? '127.0.0.1';
  checkPosture(opts, host);
  const tls = opts.tlsCert && opts.tlsKey ? { cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) } : null;
  const store = await openStore({ dataDir, url: opts.store });
  let onRevoked = () => {};
  const auth = new Auth(store, {
    sessionTtlMs: opts.sessionTtlMs,
    onSessionsRevoked: () => onRevoked(),
    onLockout: (e) =>
      store.audit({ username: e.username, action: 'login.lockout', params: { key: e.key.startsWith('user:') ? 'account' : 'address' }, outcome: { failures: e.failures, lockedForMs: e.lockedForMs }, address: e.address }),
  });
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn({ err: e }, 'close step failed');
      }
    }
  };
  closers.push(() => store.close());
  const retention = startAlertRetention(store, { maxAgeMs: opts.alertRetentionMs }, (e) => log.warn({ err: e }, 'alerts not pruned'));
  closers.push(() => retention.stop());
  try {
    // ---- first start: users, zones, policy
    const demoShape = (opts.links ?? []).length === 0 && !opts.bus && isLoopbackHost(host);
    const seeded = await auth.seed({ demoUsers: opts.demoUsers ?? demoShape, adminPassword: opts.adminPassword ?? process.env.DROPLINE_ADMIN_PASSWORD });
    if (seeded.created.length) log.info({ users: seeded.created }, 'users created on first start');
    if (seeded.generatedAdminPassword) log.warn(`first admin created: username admin, password ${seeded.generatedAdminPassword} (shown once; it must be changed at the first login)`);
    if (!isLoopbackHost(host)) {
      const weak = await store.usersWithDefaultPasswords();
      if (weak.length)
        throw new UnsafeConfigError(
          `refusing to listen on ${host}: ${weak.map((u) => `${u.username} (${u.passwordState} password)`).join(', ')} ` +
            'still have default passwords. Set real ones (dropline users add NAME --role ROLE --replace, password on stdin) or disable them (dropline users disable NAME), then start again',
        );
    }
    if (!(await store.latestZones())) {
      const file = opts.zonesFile ?? scenarios.ZONES_FILE;
      const zones = JSON.parse(fs.readFileSync(file, 'utf8'));
      const v = plannerModule.validateZones(zones); // on start, before any vehicle link is up
      if (!v.ok) throw Object.assign(new Error(`seed zones ${file} invalid: ${v.error.message}`), { code: 'INVALID_ZONES' });
      await store.saveZones({ zones, policy: DEFAULT_POLICY as unknown as Record<string, unknown>, by: 'system', change: `seeded from ${path.basename(file)}` });
      log.info({ file }, 'zones seeded');
    }

    // Signing keys by link id, read once: links are added synchronously (kept current by provisioning here).
    const signingKeys = new Map<string, Buffer>();
    for (const k of await store.listSigningKeys()) {
      const key = await store.getSigningKey(k.linkId);
      if (key) signingKeys.set(k.linkId, key);
    }

    // ---- the planner's worker threads (closed after everything that uses them)
    const planner = createPlannerPool(opts.planner);
    closers.push(() => planner.close());

    // ---- fleet and links
    const speedup = opts.simSpeedup ?? 1;
    // Twice the simulator speedup: the vehicle's GCS failsafe counts sim seconds (DESIGN.md, sim time).
    // Signing keys are stored per link id (provisioned through the API); a link without its own
    // signing options uses its stored key and then requires signed frames (src/fleet/link-spec.ts).
    const fleet: Fleet = createFleet({ heartbeatHz: opts.heartbeatHz ?? Math.max(2, 2 * speedup), signingKeyFor: (linkId) => signingKeys.get(linkId) });
    closers.push(() => fleet.close());
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
    if (sims) {
      closers.push(() => sims.stop());
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
    }
    (opts.links ?? []).forEach((uri, i) => fleet.addLink(uri, { id: parseLinkSpec(uri).id ?? `link${i}` }));
    for (const l of fleet.links()) {
      if (l.signing !== 'require' && reachableFromNetwork(l.uri))
        log.warn({ link: l.id, uri: l.uri, signing: l.signing }, 'link reaches beyond this machine without signing=require: anyone on that network can inject telemetry or commands');
    }
    // Vehicles behind link agents, over the bus (src/bus/attach.ts): the agents send their GCS heartbeats.
    let busVehicles: BusVehicles | null = null;
    let busUsed: Bus | null = null;
    if (opts.bus) {
      const bus = typeof opts.bus === 'string' ? await openBus(opts.bus) : opts.bus;
      busUsed = bus;
      if (typeof opts.bus === 'string') closers.push(() => bus.close());
      bus.on('disconnected', () => log.warn({ bus: bus.url }, 'bus connection lost: vehicles behind agents are unreachable until it is back'));
      bus.on('connected', () => log.info({ bus: bus.url }, 'bus connection back'));
      const attached = attachBusVehicles({ bus, fleet, subjects: new Subjects(opts.busPrefix), sites: opts.busSites, node: opts.busNode, log: log.child({ mod: 'bus' }) });
      busVehicles = attached;
      closers.push(() => attached.close());
      log.info({ bus: bus.url, node: attached.node, sites: opts.busSites ?? 'all' }, 'taking vehicles from link agents over the bus');
    }
    const simOf = (vehicleId: string) => simsByLink.get(vehicleId.split('/')[0]);
    const isSimulated = (vehicleId: string) => simOf(vehicleId) !== undefined || vehicleId.startsWith('replay-');

    // ---- telemetry
    let listeningPort = 0;
    const origins = originPolicy({ allowedOrigins: opts.allowedOrigins, bindHost: host, port: () => listeningPort });
    const hub = createTelemetryHub({
      authenticate: async (req) => {
        const token = tokenOf(req as any, true);
        const u = await auth.authenticate(token);
        if (!u || u.mustChangePassword) return null;
        return { username: u.username, role: u.role, stillValid: async () => (await auth.authenticate(token)) !== null };
      },
      // Browsers always send Origin on a WebSocket upgrade: only the console's own may stream the fleet.
      allowOrigin: (origin, req) => origins.hostAllowed(req.headers.host) && (origin === undefined || origins.originAllowed(origin)),
    });
    onRevoked = () => hub.revalidate();
    hub.addFleet(fleet);
    let hubOpen = true;
    closers.push(() => {
      hubOpen = false;
      return hub.close();
    });
    /**
     * Every alert is stored first (GET /api/alerts; a critical one stays on consoles until acknowledged),
     * then pushed to the consoles, with its code and parameters for their language.
     */
    const publishAlert = async (a: { level: 'info' | 'warning' | 'critical'; text: string; code?: string; params?: Record<string, unknown>; vehicleId?: string; deliveryId?: string; id?: string; at?: string }) => {
      const row = {
        id: a.id ?? randomUUID(),
        at: a.at ?? new Date().toISOString(),
        level: a.level,
        code: a.code ?? 'text',
        params: a.params ?? {},
        text: a.text,
        ...(a.vehicleId !== undefined ? { vehicleId: a.vehicleId } : {}),
        ...(a.deliveryId !== undefined ? { deliveryId: a.deliveryId } : {}),
      };
      try {
        await store.insertAlert(row);
      } catch (e) {
        log.warn({ err: e }, 'alert not stored');
      }
      if (!hubOpen) return;
      try {
        hub.publishAlert(row);
      } catch (e) {
        log.warn({ err: e }, 'alert not published');
      }
    };
    // Zones edited (a supervisor's save, an import, a policy change): every open console redraws.
    const offZones = store.onZonesSaved((version) => {
      if (!hubOpen) return;
      try {
        hub.publishZones(version);
      } catch (e) {
        log.warn({ err: e }, 'zones version not published');
      }
    });
    closers.push(() => offZones());
    const publishDelivery = (d: object) => {
      if (!hubOpen) return;
      try {
        hub.publishDelivery(d);
      } catch (e) {
        log.warn({ err: e }, 'delivery update not published');
      }
    };
    const health = new LinkHealth({ fleet });
    closers.push(() => health.close());
    const tlogDir = path.join(dataDir, 'tlogs');
    const recorder = new FlightRecorder({ fleet, dir: tlogDir });
    closers.push(() => recorder.close());

    // ---- deliveries
    const deliveries = new DeliveryManager({
      store,
      fleet,
      planDelivery: (zones, request) => planner.planDelivery(zones, request),
      log: log.child({ mod: 'delivery' }),
      vehicleClockRate: opts.vehicleClockRate ?? opts.simSpeedup ?? 1,
      onDelivery: (d) => publishDelivery(d),
      onAlert: (a) => publishAlert({ ...classifyAlert(a.level, a.text, { vehicleCommitted: !!a.vehicleId }), id: a.id, at: a.at, text: a.text, vehicleId: a.vehicleId, deliveryId: a.deliveryId }),
      recorder: {
        start: async (vehicleId, flightId) => {
          const existing = await store.getFlight(flightId);
          const name = existing?.tlogPath ? `${flightId}.resumed-${Date.now().toString(36)}` : flightId;
          const p = recorder.start(vehicleId, name);
          if (!existing?.tlogPath) await store.updateFlight(flightId, existing?.summary ?? {}, p);
          return p;
        },
        stop: (vehicleId) => recorder.stop(vehicleId),
      },
    });
    closers.push(() => deliveries.close());
    // Manned aircraft to the consoles, once a second while any are heard (and once more when the last is dropped).
    let trafficShown = 0;
    const trafficTimer = setInterval(() => {
      const aircraft = deliveries.trafficPicture.list();
      if (!hubOpen || (aircraft.length === 0 && trafficShown === 0)) return;
      trafficShown = aircraft.length;
      hub.publishTraffic(aircraft.map(({ relays: _r, ...a }) => a));
    }, 1000);
    trafficTimer.unref();
    closers.push(() => clearInterval(trafficTimer));
    const resumed = await deliveries.resume();
    for (const fid of resumed) {
      const f = await store.getFlight(fid);
      if (f) {
        try {
          const p = recorder.start(f.vehicleId, `${f.id}.resumed-${Date.now().toString(36)}`);
          await store.updateFlight(f.id, { ...f.summary, resumedTlog: p });
        } catch (e) {
          log.warn({ err: e }, 'could not restart the recorder for a resumed flight');
        }
      }
    }
    if (resumed.length) log.warn({ flights: resumed }, 'resumed tracking of flights in the air');

    // Fleet-level alerts: link lost and regained.
    fleet.on('lost', (id: string) => {
      // A replay that ends, or a link that is removed on purpose, is not a lost vehicle.
      if (id.startsWith('replay-') || !fleet.get(id)) return;
      publishAlert({ level: 'warning', code: 'link.lost', params: { vehicle: id }, text: `Lost link to ${id}`, vehicleId: id });
    });
    fleet.on('found', (id: string) => {
      if (id.startsWith('replay-')) return;
      publishAlert({ level: 'info', code: 'link.up', params: { vehicle: id }, text: `Link to ${id} up`, vehicleId: id });
    });
    // Fleet-wide watch: low battery, fence breach and failsafe mode changes (jobs in flight get their own, richer alerts).
    const lowPct = opts.lowBatteryAlertPct ?? 30;
    const watch = new Map<string, { low: boolean; mode: string; breached: boolean }>();
    fleet.on('state', (st: VehicleState) => {
      const w = watch.get(st.id) ?? { low: false, mode: st.mode, breached: false };
      watch.set(st.id, w);
      const pct = st.battery?.remainingPct;
      if (pct !== undefined && pct >= 0) {
        if (!w.low && pct < lowPct) {
          w.low = true;
          publishAlert({ level: 'warning', code: 'vehicle.batteryLow', params: { vehicle: st.id, pct }, text: `${st.id}: battery low (${pct}%)`, vehicleId: st.id });
        } else if (w.low && pct > lowPct + 5) w.low = false;
      }
      const tracked = deliveries.isTracked(st.id);
      if (st.mode !== w.mode) {
        if (st.armed && !tracked && ['RTL', 'LAND', 'SMART_RTL', 'BRAKE'].includes(st.mode))
          publishAlert({ level: 'warning', code: 'vehicle.modeChange', params: { vehicle: st.id, from: w.mode, to: st.mode }, text: `${st.id}: mode ${w.mode} → ${st.mode}`, vehicleId: st.id });
        w.mode = st.mode;
      }
      const breached = !!st.fence?.breached;
      if (breached && !w.breached && !tracked) publishAlert({ level: 'critical', code: 'fence.breached', params: { vehicle: st.id, type: st.fence?.breachType ?? '—' }, text: `${st.id}: fence breached`, vehicleId: st.id });
      w.breached = breached;
    });
    // Battery swaps the vehicles' own charge shows (src/fleet/battery-swaps.ts).
    const batterySwaps = new BatterySwapWatcher({ fleet, store, launchPct: async () => (await deliveries.currentPolicy()).policy.minBatteryPct, log: log.child({ mod: 'battery-swaps' }) });
    closers.push(() => batterySwaps.close());
    fleet.on('vehicle', (v: VehicleHandle) => {
      v.on('statustext', (t: { severity: number; text: string }) => {
        // Replays re-send what the vehicle said then: not news now.
        if (v.id.startsWith('replay-')) return;
        const a = statusTextAlert(v.id, t.severity, t.text);
        if (a) publishAlert({ ...a, vehicleId: v.id });
      });
    });

    // ---- simulator and replay control for the API
    const simControl: SimControl | null = sims
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

    const replays = new Map<string, Replay>();
    closers.push(async () => {
      for (const r of replays.values()) await r.stop().catch(() => undefined);
    });
    const replayControl: ReplayControl = {
      start: async (flightId, speed) => {
        const f = await store.getFlight(flightId);
        if (!f) return { ok: false, code: 'NOT_FOUND', message: `no flight ${flightId}`, status: 404 };
        if (!f.tlogPath || !fs.existsSync(f.tlogPath)) return { ok: false, code: 'NOT_FOUND', message: `no tlog for flight ${flightId}`, status: 404 };
        try {
          const r = await startReplay({ tlog: f.tlogPath, fleet, speed });
          replays.set(r.id, r);
          r.on('end', () => undefined);
          const vid = r.vehicleIds()[0] ?? `${r.linkId}/1`;
          return { ok: true, id: r.id, vehicleId: vid };
        } catch (e: any) {
          return { ok: false, code: e?.code ?? 'REPLAY_FAILED', message: e?.message ?? String(e), status: 422 };
        }
      },
      control: async (id, action, speed, seek) => {
        const r = replays.get(id);
        if (!r) return { ok: false, code: 'NOT_FOUND', message: `no replay ${id}`, status: 404 };
        try {
          if (action === 'pause') r.pause();
          else if (action === 'resume') r.resume();
          else if (action === 'step') r.step();
          else if (action === 'speed') {
            if (speed === undefined) return { ok: false, code: 'INVALID_BODY', message: "action 'speed' needs speed", status: 400 };
            r.setSpeed(speed);
          } else if (action === 'seek') {
            const atUs = seek?.atS !== undefined ? r.progress().startUs + BigInt(Math.round(seek.atS * 1e6)) : undefined;
            const index = seek?.index ?? (seek?.fraction !== undefined ? Math.round(seek.fraction * r.total) : atUs !== undefined ? r.indexAtUs(atUs) : undefined);
            if (index === undefined) return { ok: false, code: 'INVALID_BODY', message: "action 'seek' needs index or fraction", status: 400 };
            if (index > r.total) return { ok: false, code: 'REPLAY_INVALID_INDEX', message: `index must be 0..${r.total} (got ${index})`, status: 400 };
            r.seek(index);
          } else if (action === 'stop') {
            await r.stop();
            replays.delete(id);
          }
          return { ok: true, state: replayState(r) };
        } catch (e: any) {
          return { ok: false, code: e?.code ?? 'REPLAY_FAILED', message: e?.message ?? String(e), status: 409 };
        }
      },
      status: (id) => {
        const r = replays.get(id);
        if (!r) return { ok: false, code: 'NOT_FOUND', message: `no replay ${id}`, status: 404 };
        return { ok: true, state: replayState(r) };
      },
    };

    // ---- MAVLink signing (keys per link id; never logged, never answered)
    const signingControl: SigningControl = {
      status: (vehicleId) => {
        const s = fleet.signingStatus(vehicleId);
        return s ? { enabled: s.enabled, mode: s.mode, keyId: s.keyId, counters: s.counters } : null;
      },
      provision: async (vehicleId, by) => {
        if (!fleet.get(vehicleId)) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `no vehicle ${vehicleId}`, status: 404 };
        const key = randomBytes(32);
        const r = await fleet.provisionSigning(vehicleId, key);
        if (!r.ok) {
          log.warn({ vehicleId, code: r.code, message: r.message }, 'signing key not provisioned');
          // Not confirmed: the link went back to its previous signing and the key was not kept.
          if (r.code === 'TIMEOUT') return { ok: false, code: 'SIGNING_NOT_CONFIRMED', message: r.message, status: 504 };
          return { ok: false, code: r.code, message: r.message, status: 409 };
        }
        const linkId = fleet.get(vehicleId)?.state.linkId ?? vehicleId.slice(0, vehicleId.lastIndexOf('/'));
        const info = await store.setSigningKey(linkId, key, { vehicleId, createdBy: by });
        signingKeys.set(linkId, Buffer.from(key));
        log.info({ vehicleId, linkId, keyId: info.keyId, mode: r.mode }, 'signing key provisioned');
        return { ok: true, keyId: info.keyId };
      },
    };

    // ---- HTTP
    const tiles = opts.tiles ? openTileSource(opts.tiles) : null;
    if (tiles) closers.push(() => tiles.close());
    const api = createApi({
      store,
      auth,
      deliveries,
      fleet,
      planner,
      log: log.child({ mod: 'http' }),
      version: version(),
      startedMs,
      dataDir,
      webDir: opts.webDir ?? path.join(REPO, 'web', 'dist'),
      tiles,
      isSimulated,
      sim: simControl,
      replays: replayControl,
      signing: signingControl,
      metricsText: () => prometheusText({ vehicles: fleet.vehicles().map((v) => v.state), health, hub: hub.stats(), links: fleet.links() }) + planner.metricsText(),
      origins,
      trustProxy: !!opts.trustProxy,
      secureCookie: !!tls || !!opts.trustProxy,
      metricsToken: opts.metricsToken ?? process.env.DROPLINE_METRICS_TOKEN ?? null,
      connections: async () => ({ store: { kind: store.kind, reachable: await storeReachable(store) }, ...(busUsed ? { bus: { url: busUsed.url, connected: busUsed.connected } } : {}) }),
      // An acknowledgement reaches every console: the banner goes away everywhere, with who and when.
      onAlertAcked: (a) => {
        if (hubOpen) hub.publishAlert(a);
      },
    });
    const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, api.app) : http.createServer(api.app);
    server.headersTimeout = 20_000;
    server.requestTimeout = 120_000;
    hub.attach(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 8080, host, () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    listeningPort = port;
    closers.push(async () => {
      // WebSocket viewers hold upgraded sockets that server.close() would wait for: close them first.
      hubOpen = false;
      await hub.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    });
    const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    log.info({ url, dataDir, links: fleet.links().map((l) => ({ id: l.id, uri: l.uri, signing: l.signing, keyId: l.signingKeyId })), simulators: simCount }, 'dropline listening');
    // Every caller of close() waits for the same shutdown: a second signal (a process group's SIGTERM
    // reaches a wrapper and the service alike) must not let one caller exit while the vehicles stop.
    let closing: Promise<void> | null = null;
    return {
      url,
      port,
      fleet,
      store,
      hub,
      deliveries,
      auth,
      log,
      sims,
      planner,
      busVehicles,
      close: () => (closing ??= closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** Whether a link's traffic crosses a network others may be on (serial and loopback do not). */
function reachableFromNetwork(uri: string): boolean {
  try {
    const p = parseLinkUri(parseLinkSpec(uri).transport);
    if (p.kind === 'serial') return false;
    return !/^(127\.|::1$|localhost$)/.test(p.host);
  } catch {
    return false;
  }
}

function safe<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

/** A replay's state as the API answers it (timeUs as a decimal string). */
function replayState(r: Replay): unknown {
  return { paused: r.paused, progress: jsonSafe(r.progress()) };
}

function jsonSafe(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}


