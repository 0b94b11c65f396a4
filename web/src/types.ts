/** Shapes of the HTTP/WS contract (API.md) as the console reads them. Fields the console does not use are left out. */
import type { FeatureCollection, LineString } from 'geojson';
import type { TelemetryFrame } from '../../telemetry/frame';

export type Role = 'admin' | 'operator' | 'supervisor' | 'trainer';
export interface Me {
  username: string;
  role: Role;
}

/** The live frame, exactly as telemetry/ defines it (type only: nothing of telemetry/ is bundled). */
export type { TelemetryFrame } from '../../telemetry/frame';

export type DeliveryState =
  | 'requested' | 'planned' | 'approved' | 'uploading' | 'ready' | 'in-flight' | 'delivered' | 'returning'
  | 'completed' | 'failed' | 'aborted';

export const TERMINAL_STATES: DeliveryState[] = ['completed', 'failed', 'aborted'];
export type Priority = 'urgent' | 'high' | 'normal';

export interface MissionItemJson {
  seq: number;
  frame: number;
  command: number;
  param1: number;
  param2: number;
  param3: number;
  param4: number;
  x: number;
  y: number;
  z: number;
}

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
  failure?: { code: string; message: string } | null;
  progress?: { leg?: number | string; distanceToDropM?: number; etaS?: number } | null;
}

export interface Alert {
  id: string;
  at: string;
  level: 'info' | 'warning' | 'critical';
  text: string;
  vehicleId?: string;
  deliveryId?: string;
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
  | { type: 'error'; code: string; message: string };

export interface SubscribeMessage {
  type: 'subscribe';
  vehicles: 'all' | string[];
  deliveries?: boolean;
  alerts?: boolean;
  rateHz?: number;
}
