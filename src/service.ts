/**
 * The Dropline service: SQLite store, fleet (links to real vehicles, SITL or the built-in
 * simulators), delivery manager, REST API, live telemetry over WebSocket and flight recording,
 * in one process. `startService` is what the CLI calls.
 *
 * This file composes the service and fixes its start-up and shutdown order; the parts are in
 * src/service/: options (what it is started with), posture and first-start (what it refuses, what it
 * seeds), simulators, vehicle-links (configured links, the bus), fleet-alerts, flight-recording,
 * replays, signing, http (hub admission, the server), cross-node (several nodes on one bus show each
 * other's job changes and alerts to their consoles).
 */
import { BatterySwapWatcher } from './fleet/battery-swaps';
import fs from 'fs';
import path from 'path';
import pino from 'pino';
import { createFleet, type Fleet } from './fleet';
import { openStore, storeReachable } from './store';
import { Auth } from './auth';
import { DeliveryManager, type Delivery } from './delivery';
import { createApi } from './server/app';
import { createPlannerPool } from './planner-pool';
import { FlightRecorder } from '../telemetry/tlog';
import { LinkHealth, prometheusText } from '../telemetry/link-health';
import { openTileSource } from './server/tiles';
import { originPolicy } from './server/guards';
import { recordedFrames, Subjects, type Bus, type BusVehicles } from './bus';
import { classifyAlert } from './alerts';
import { startAlertRetention } from './alerts-retention';
import type { Service, ServiceOptions } from './service/options';
import { checkPosture } from './service/posture';
import { seedFirstStart } from './service/first-start';
import { loadSigningKeys, createSigningControl } from './service/signing';
import { createSimulators } from './service/simulators';
import { addConfiguredLinks, connectBus } from './service/vehicle-links';
import { alertPublisher, watchFleetForAlerts, alertOnStatusTexts } from './service/fleet-alerts';
import { recorderForDeliveries, recordResumedFlights } from './service/flight-recording';
import { createReplays } from './service/replays';
import { startCrossNode, type CrossNode } from './service/cross-node';
import { startAlertOwner, type AlertOwner } from './service/alert-owner';
import { REPO, version, createConsoleHub, listen, closeServer } from './service/http';

export type { Service, ServiceOptions } from './service/options';
export { DELIVERY_READY_SIM_PARAMS } from './service/simulators';
export { UnsafeConfigError } from './service/posture';

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
  // Shutdown runs these in reverse: whatever started last stops first.
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
    await seedFirstStart(opts, host, store, auth, log);

    // Signing keys by link id, read once: links are added synchronously (kept current by provisioning here).
    const signingKeys = await loadSigningKeys(store);

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
    const simulators = createSimulators(opts, { store, fleet, dataDir, speedup, signingKeys, log });
    const sims = simulators.sims;
    if (sims) {
      closers.push(() => sims.stop());
      await simulators.start();
    }
    addConfiguredLinks(fleet, opts.links ?? [], log);
    let busVehicles: BusVehicles | null = null;
    let busUsed: Bus | null = null;
    if (opts.bus) ({ bus: busUsed, busVehicles } = await connectBus(opts.bus, fleet, opts, log, (c) => closers.push(c)));

    // ---- telemetry
    let listeningPort = 0;
    const origins = originPolicy({ allowedOrigins: opts.allowedOrigins, bindHost: host, port: () => listeningPort });
    const hub = createConsoleHub(auth, origins);
    onRevoked = () => hub.revalidate();
    hub.addFleet(fleet);
    let hubOpen = true;
    closers.push(() => {
      hubOpen = false;
      return hub.close();
    });
    // With a bus, every job change and alert shown here is shown on the other nodes' consoles too (once the deliveries exist).
    let crossNode: CrossNode | null = null;
    const publishAlert = alertPublisher(store, hub, log, () => hubOpen, (a) => crossNode?.alert(a, 'job'));
    const publishFleetAlert = alertPublisher(store, hub, log, () => hubOpen, (a) => crossNode?.alert(a, 'fleet'));
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
    const publishDelivery = (d: Delivery) => {
      if (!hubOpen) return;
      try {
        hub.publishDelivery(d);
      } catch (e) {
        log.warn({ err: e }, 'delivery update not published');
      }
      crossNode?.delivery(d);
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
      recorder: recorderForDeliveries(store, recorder),
      // what a vehicle behind an agent reported while no node followed it (the agents' recorded stream)
      recorded: busUsed ? recordedFrames(busUsed, new Subjects(opts.busPrefix)) : null,
      // named on the entries of jobs this node takes up (its name in the agents' leases)
      node: busVehicles?.node,
    });
    closers.push(() => deliveries.close());
    if (busUsed && busVehicles) {
      const cn = startCrossNode({
        bus: busUsed,
        subjects: new Subjects(opts.busPrefix),
        node: busVehicles.node,
        hub,
        hubOpen: () => hubOpen,
        getDelivery: (id) => deliveries.get(id),
        listDeliveries: () => deliveries.list(),
        log: log.child({ mod: 'cross-node' }),
      });
      crossNode = cn;
      closers.push(() => cn.close());
    }
    // With a bus, one node raises (and stores) the fleet alerts of each vehicle: its alert owner.
    let alertOwner: AlertOwner | undefined;
    if (busUsed && busVehicles) {
      const owner = startAlertOwner({ bus: busUsed, subjects: new Subjects(opts.busPrefix), node: busVehicles.node });
      alertOwner = owner;
      closers.push(() => owner.close());
    }
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
    await recordResumedFlights(store, recorder, resumed, log);
    if (resumed.length) log.warn({ flights: resumed }, 'resumed tracking of flights in the air');

    // Fleet-level alerts: link lost and regained; low battery, fence breach and failsafe mode changes.
    watchFleetForAlerts(fleet, deliveries, publishFleetAlert, opts.lowBatteryAlertPct, alertOwner);
    // Battery swaps the vehicles' own charge shows (src/fleet/battery-swaps.ts).
    const batterySwaps = new BatterySwapWatcher({ fleet, store, launchPct: async () => (await deliveries.currentPolicy()).policy.minBatteryPct, log: log.child({ mod: 'battery-swaps' }) });
    closers.push(() => batterySwaps.close());
    alertOnStatusTexts(fleet, publishFleetAlert, alertOwner);

    // ---- simulator and replay control for the API, MAVLink signing (keys per link id; never logged, never answered)
    const replays = createReplays(store, fleet);
    closers.push(() => replays.stopAll());
    const signingControl = createSigningControl(fleet, store, signingKeys, log);

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
      isSimulated: (vehicleId) => simulators.isSimulated(vehicleId),
      sim: simulators.control,
      replays: replays.control,
      signing: signingControl,
      metricsText: () => prometheusText({ vehicles: fleet.vehicles().map((v) => v.state), health, hub: hub.stats(), links: fleet.links() }) + planner.metricsText(),
      origins,
      trustProxy: !!opts.trustProxy,
      secureCookie: !!tls || !!opts.trustProxy,
      metricsToken: opts.metricsToken ?? process.env.DROPLINE_METRICS_TOKEN ?? null,
      connections: async () => ({ store: { kind: store.kind, reachable: await storeReachable(store) }, ...(busUsed ? { bus: { url: busUsed.url, connected: busUsed.connected } } : {}) }),
      // An acknowledgement reaches every console: the banner goes away everywhere, with who and when.
      onAlertAcked: (a) => {
        if (!hubOpen) return;
        hub.publishAlert(a);
        crossNode?.alert(a, 'ack');
      },
    });
    const { server, port, url } = await listen(api.app, hub, { host, port: opts.port ?? 8080, tls });
    listeningPort = port;
    closers.push(async () => {
      hubOpen = false;
      await closeServer(server, hub);
    });
    log.info({ url, dataDir, links: fleet.links().map((l) => ({ id: l.id, uri: l.uri, signing: l.signing, keyId: l.signingKeyId })), simulators: simulators.count }, 'dropline listening');
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
