/**
 * What the service is started with (ServiceOptions: listen address, store, vehicle links, built-in
 * simulators, TLS and origins, bus, planner threads …) and what a started service is (Service).
 */
import type { DestinationStream, Logger } from 'pino';
import type { FleetHandle } from '../fleet/types';
import type { Store } from '../store';
import type { Auth } from '../auth';
import type { DeliveryManager } from '../delivery';
import type { PlannerPool, PlannerPoolOptions } from '../planner-pool';
import type { TelemetryHub } from '../../telemetry/hub';
import type { SimFleet } from '../../sims';
import type { SitlBinaries } from '../sim-kinds';
import type { Bus, BusVehicles } from '../bus';

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
