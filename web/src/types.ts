/** Shapes of the HTTP/WS contract (API.md) as the console reads them. Fields the console does not use are left out. */
import type { FeatureCollection, LineString } from 'geojson';
import type { TelemetryFrame } from '../../telemetry/frame';
import type { DeliveryState, Priority } from '../../src/delivery/types';
import type { MissionItem } from '../../src/mavlink/mission-item';

export type Role = 'admin' | 'operator' | 'supervisor' | 'trainer';
export interface Me {
  username: string;
  role: Role;
  /** The account still has its generated first-start password: the console asks for a new one first. */
  mustChangePassword?: boolean;
}

/** The live frame, exactly as telemetry/ defines it (type only: nothing of telemetry/ is bundled). */
export type { TelemetryFrame } from '../../telemetry/frame';

/** Server-side types, imported as types only: nothing of src/ is bundled. */
export type { DeliveryState, Priority } from '../../src/delivery/types';

/** An operator alert as GET /api/alerts and /ws send it (src/store AlertRow). */
export interface Alert {
  id: string;
  at: string;
  level: 'info' | 'warning' | 'critical';
  text: string;
  /** Stable code the console translates (alert.<code>), with its parameters; absent or 'text' for a bare sentence. */
  code?: string;
  params?: Record<string, unknown>;
  vehicleId?: string;
  deliveryId?: string;
  ackedAt?: string;
  ackedBy?: string;
  /** Raised by this console itself (its own link), not by the service: nothing to acknowledge. */
  local?: boolean;
}

export const TERMINAL_STATES: DeliveryState[] = ['completed', 'failed', 'aborted'];

/** A mission, fence or rally item as the plan carries it. */
export type MissionItemJson = MissionItem;

export type PlanWarning = string | { code?: string; message?: string };

export interface PlanOk {
  ok: true;
  route: LineString | { type: 'Feature'; geometry: LineString };
  legs?: unknown[];
  distanceM: number;
  durationS: number;
  energyWh: number;
  reserveWh: number;
  pointOfNoReturn?: unknown;
  mission?: MissionItemJson[];
  fence?: MissionItemJson[];
  rally?: MissionItemJson[];
  warnings?: PlanWarning[];
}

export interface PreflightCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface Delivery {
  id: string;
  state: DeliveryState;
  priority: Priority;
  drop: [number, number];
  sealedZone?: string | { id?: string | number; name?: string } | null;
  launch?: unknown;
  payload?: { description?: string; massKg?: number } | null;
  requester?: { name?: string; contact?: string } | null;
  note?: string | null;
  createdAt: string;
  promiseBy: string;
  vehicleId?: string | null;
  flightId?: string | null;
  plan?: PlanOk | null;
  preflight?: { ok: boolean; checks: PreflightCheck[] } | null;
  timeline?: Array<{ at: string; state?: string; event?: string; detail?: unknown }>;
  proofOfDrop?: { at: string; lat: number; lon: number; altRelM: number; servoPwm?: number; ack?: unknown } | null;
  failure?: { code: string; message: string; details?: unknown } | null;
  /** Dispatched to a vehicle still warming up: what it waits for, and until when. */
  waiting?: { vehicleId: string; checks: string[]; message: string; since: string; until: string } | null;
  abortReason?: string | null;
  training?: boolean;
  /** Flown in one flight with other jobs, each parcel in its own bay. */
  sortie?: { lead: string; jobs: string[]; bays: Array<{ deliveryId: string; output: number; bay: number; dropOrder: number }> } | null;
  progress?: { leg?: number | string; distanceToDropM?: number; etaS?: number; separation?: { givesWayTo: string; how: 'hold' | 'climb'; since: string; toAltRelM?: number } } | null;
}

export interface ZonesDoc {
  version: number;
  zones: FeatureCollection;
  updatedAt?: string;
  updatedBy?: string;
}

export interface AuditRecord {
  id: number | string;
  at: string;
  username: string;
  role: string;
  action: string;
  vehicleId?: string | null;
  deliveryId?: string | null;
  params?: unknown;
  outcome?: unknown;
}

export type ServerMessage =
  | { type: 'hello'; v: number; user: Me; serverTimeMs: number }
  | { type: 'frames'; t: number; frames: TelemetryFrame[] }
  | { type: 'delivery'; delivery: Delivery }
  | { type: 'alert'; alert: Alert }
  | { type: 'zones'; version: number }
  | { type: 'traffic'; t: number; aircraft: unknown[] }
  | { type: 'error'; code: string; message: string };

export interface SubscribeMessage {
  type: 'subscribe';
  vehicles: 'all' | string[];
  deliveries?: boolean;
  alerts?: boolean;
  rateHz?: number;
}
