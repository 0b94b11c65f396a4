/**
 * The telemetry hub's public types (telemetry/hub.ts): the viewer, options, alerts, statistics and
 * the hub's interface.
 */
import type * as http from 'http';
import type { FleetHandle, VehicleState } from '../src/fleet/types';
import type { Clock } from '../src/vehicle/clock';
import type { TelemetryFrame } from './frame';
import type { SilenceOptions } from './silence';

export interface Viewer {
  username: string;
  role: string;
  /** Whether the viewer's session is still live; a socket whose session ended is closed with 4401. */
  stillValid?(): boolean | Promise<boolean>;
}

/** Close code for a viewer whose session ended (logout, expiry, password change, user disabled). */
export const CLOSE_SESSION_ENDED = 4401;

export interface TelemetryHubOptions {
  /** Resolve the viewer of an upgrade request (cookie, bearer, ?token=); null → 401. */
  authenticate(req: http.IncomingMessage): Promise<Viewer | null>;
  /** URL path of the WebSocket endpoint. Default '/ws'. */
  path?: string;
  /** Rate for a viewer that does not ask for one, frames/s per vehicle. Default 5. */
  defaultRateHz?: number;
  /** Highest rate a viewer may ask for. Default 20. */
  maxRateHz?: number;
  /** Frames of one vehicle a viewer may receive back to back (token bucket size). Default 2. */
  burstFrames?: number;
  /** Largest incoming WebSocket message, bytes (ws maxPayload; larger → close 1009). Default 4096. */
  maxIncomingBytes?: number;
  /** A viewer whose socket holds more than this many unsent bytes gets nothing new until it drains. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Ping period; a viewer silent for a whole period is terminated. Default 15000 ms. */
  pingIntervalMs?: number;
  /**
   * Frames whose state is older than this are flagged stale (and re-sent once flagged). Default 3000 ms.
   * It is the longest such threshold: each vehicle's is adapted to how often it speaks (telemetry/silence.ts).
   */
  staleAfterMs?: number;
  /** How the per-vehicle threshold adapts (factor, floor); `false` uses staleAfterMs for every vehicle. */
  silence?: Omit<SilenceOptions, 'maxMs'> | false;
  /** A vehicle stale this long is forgotten (no more frames until it speaks again). Default 600000 ms. */
  forgetAfterMs?: number;
  /** Most simultaneous viewers; more are refused with 503 at upgrade. Default 1000. */
  maxViewers?: number;
  /** Pending delivery updates / alerts kept per backpressured viewer before the oldest are dropped. Default 256 / 100. */
  maxPendingDeliveries?: number;
  maxPendingAlerts?: number;
  /** Time source for rates, staleness and pings. Default the wall clock. */
  clock?: Clock;
  /**
   * The upgrade's Origin header (undefined when a non-browser client sent none): false → 403 before
   * any WebSocket exists, so a page on another site cannot stream the fleet with a user's cookie.
   * Default: every origin.
   */
  allowOrigin?(origin: string | undefined, req: http.IncomingMessage): boolean;
  /** How often every viewer's session is checked (Viewer.stillValid). Default 1000 ms. */
  sessionCheckMs?: number;
  /**
   * Frames go out at most this often (ms), to every viewer at the same moments: a frame that finds the
   * last round of sends at least this long ago goes out at the end of the current event-loop turn,
   * otherwise with the next round. Bounds the messages per viewer (1000/N per second, however many
   * vehicles) and lets viewers with the same subscription share one encoded message. 0: every turn.
   * Default 10 ms.
   */
  frameRoundMs?: number;
}

export type AlertLevel = 'info' | 'warning' | 'critical';
export interface AlertInput {
  level: AlertLevel;
  text: string;
  vehicleId?: string;
  deliveryId?: string;
  /** The alert's own id and time when it was recorded elsewhere (the store); default a new id, now. */
  id?: string;
  at?: string;
  /** Stable code and parameters consoles translate (src/alerts.ts). */
  code?: string;
  params?: Record<string, unknown>;
  /** Set when the update tells of an acknowledgement. */
  ackedAt?: string;
  ackedBy?: string;
}
export interface Alert extends AlertInput {
  id: string;
  /** ISO 8601 time the alert was published. */
  at: string;
}

export interface TelemetryHubStats {
  viewers: number;
  /** Frames put on viewers' sockets (a frame counts once per viewer). */
  framesSent: number;
  /** Frames never sent because a newer state of the same vehicle replaced them (coalesced/skipped). */
  framesDropped: number;
  /** WebSocket messages sent (all types). */
  messagesSent: number;
  bytesSent: number;
  /** Times a viewer was skipped because its socket buffer was above maxBufferedBytes. */
  backpressureSkips: number;
  deliveriesSent: number;
  deliveriesDropped: number;
  alertsSent: number;
  alertsDropped: number;
  /** Connections refused at upgrade (401/503/500). */
  refused: number;
  /** Connections closed for malformed (1008) or oversized (1009) messages. */
  closedForBadInput: number;
  /** Connections terminated for not answering a ping. */
  closedDead: number;
  /** Vehicles with a known state. */
  vehicles: number;
}

export interface ViewerInfo {
  id: number;
  username: string;
  role: string;
  vehicles: 'all' | string[];
  deliveries: boolean;
  alerts: boolean;
  rateHz: number;
  framesSent: number;
  framesDropped: number;
  bufferedAmount: number;
}

export interface AddFleetOptions {
  /** Every frame from this fleet is marked replay. Default false. */
  replay?: boolean;
}

export interface TelemetryHub {
  /** Handle 'upgrade' requests for `path` on this server. */
  attach(server: http.Server): void;
  /** Subscribe to the fleet's 'state' / 'lost' / 'found' events. */
  addFleet(fleet: FleetHandle, opts?: AddFleetOptions): void;
  removeFleet(fleet: FleetHandle): void;
  /** Publish a vehicle state (the path fleet states take; replays use it too). */
  publishState(state: VehicleState, opts?: { replay?: boolean }): void;
  /** `{type:'delivery', delivery}` to viewers subscribed to deliveries. */
  publishDelivery(delivery: object): void;
  /** `{type:'alert', alert}` to viewers subscribed to alerts; returns the alert as sent. */
  publishAlert(alert: AlertInput): Alert;
  /** `{type:'zones', version}` to every subscribed viewer: consoles fetch GET /api/zones and redraw. */
  publishZones(version: number): void;
  /**
   * `{type:'traffic', t, aircraft}` to every subscribed viewer: the manned aircraft heard now
   * (src/fleet/traffic.ts). Sent about once a second while there are any; a viewer whose socket is
   * backed up skips one (the next replaces it).
   */
  publishTraffic(aircraft: object[]): void;
  /** The latest frame of every known vehicle, built now. */
  frames(): TelemetryFrame[];
  stats(): TelemetryHubStats;
  viewers(): ViewerInfo[];
  /** Check every viewer's session now and close (4401) those that ended. Returns how many were closed. */
  revalidate(): number;
  close(): Promise<void>;
}

/** Typed error with a stable code (programming errors in calls to the hub). */
export class TelemetryHubError extends Error {
  constructor(readonly code: 'HUB_INVALID_OPTIONS' | 'HUB_INVALID_ALERT' | 'HUB_CLOSED', message: string) {
    super(message);
    this.name = 'TelemetryHubError';
  }
}
