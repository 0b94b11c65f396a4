/** Delivery jobs as stored, served over the API and pushed to the console. */
import type { AirspaceSlot } from './airspace';

export const DELIVERY_STATES = [
  'requested',
  'planned',
  'approved',
  'uploading',
  'ready',
  'in-flight',
  'delivered',
  'returning',
  'completed',
  'failed',
  'aborted',
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export const PRIORITIES = ['urgent', 'high', 'normal'] as const;
export type Priority = (typeof PRIORITIES)[number];
/** Lower ranks are served first. */
export const PRIORITY_RANK: Record<Priority, number> = { urgent: 0, high: 1, normal: 2 };

export type LonLat = [number, number];

export interface TimelineEntry {
  at: string;
  state?: DeliveryState;
  event?: string;
  detail?: unknown;
}

export interface PreflightCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** Skipped by policy (counted as passing). */
  skipped?: boolean;
}

export interface PreflightReport {
  ok: boolean;
  at: string;
  vehicleId: string;
  policyVersion: number;
  checks: PreflightCheck[];
}

export interface ProofOfDrop {
  at: string;
  lat: number;
  lon: number;
  altRelM: number;
  /** Output of the release servo in µs after the release (null when no servo is configured or reported). */
  servoPwm: number | null;
  servo: number | null;
  /** Distance from the release position to the planned drop point. */
  distanceToDropM: number;
  /** How the release was commanded and acknowledged. */
  ack: { source: 'mission-item' | 'command'; seq?: number; command: number; result: string; attempts?: number };
  note?: string;
}

export interface DeliveryFailure {
  code: string;
  message: string;
  details?: unknown;
}

export interface Delivery {
  id: string;
  state: DeliveryState;
  priority: Priority;
  drop: LonLat;
  sealedZone?: { id?: string | number; name?: string } | null;
  launch: unknown;
  payload: { description: string; massKg?: number };
  requester: { name: string; contact?: string };
  note?: string;
  createdAt: string;
  updatedAt: string;
  promiseBy: string;
  /** A training job (created by a trainer): flown on simulated vehicles only, never in the operational queue. */
  training?: boolean;
  createdBy?: string;
  approvedBy?: string;
  vehicleId?: string;
  flightId?: string;
  plan?: unknown;
  /** The request given to the planner (re-planned from the vehicle's home at dispatch when it stands elsewhere). */
  planRequest?: Record<string, unknown>;
  zonesVersion?: number;
  preflight?: PreflightReport;
  timeline: TimelineEntry[];
  proofOfDrop?: ProofOfDrop;
  failure?: DeliveryFailure;
  abortReason?: string;
  /**
   * Dispatched to a vehicle that is still warming up: the dispatcher waits (up to the policy's
   * readyWaitMs) for the named checks, then runs the preflight again and launches. Absent otherwise.
   */
  waiting?: { vehicleId: string; checks: string[]; message: string; since: string; until: string };
  /** Dispatcher bookkeeping (release item, gripper servo) kept so a restarted service can resume. */
  execution?: unknown;
  /**
   * Flown in one flight with other jobs (a sortie, from its dispatch on): `lead` holds the flight,
   * `jobs` are all of them (the lead first), each parcel in its own bay (src/delivery/sortie.ts).
   */
  sortie?: Sortie;
  /** The airspace slot the flight was given (cruise layer, hold at launch, lift-off time): src/delivery/airspace.ts. */
  airspace?: AirspaceSlot;
  progress?: {
    leg: number;
    missionCurrent: number;
    missionTotal: number;
    distanceToDropM: number;
    etaS: number | null;
    /** Its vehicle gives way for separation now (src/delivery/separation.ts). */
    separation?: { givesWayTo: string; how: 'hold' | 'climb'; since: string; toAltRelM?: number };
    /** A manned aircraft threatens it now (src/delivery/traffic.ts): which, how near, what to do and what was done. */
    traffic?: { icao: string; callsign: string; distanceM: number; minM: number; tcaS: number; action: 'hold' | 'descend' | 'land'; taken: 'suggested' | 'hold' | 'descend' | 'land'; since: string };
  };
}

/** Jobs flown together: each parcel in its own bay, dropped at its own point. */
export interface Sortie {
  lead: string;
  /** Every job of the flight, the lead first. */
  jobs: string[];
  /** Where each parcel rides (load it there) and the order the drops are flown in (1 = first). */
  bays: Array<{ deliveryId: string; output: number; bay: number; dropOrder: number }>;
}

/** An operator alert, stored and pushed to the console. */
export interface Alert {
  id: string;
  at: string;
  level: 'info' | 'warning' | 'critical';
  text: string;
  vehicleId?: string;
  deliveryId?: string;
}

/** Allowed transitions of the job state machine. */
export const TRANSITIONS: Record<DeliveryState, DeliveryState[]> = {
  requested: ['planned', 'failed', 'aborted'],
  planned: ['approved', 'uploading', 'failed', 'aborted'],
  approved: ['uploading', 'failed', 'aborted'],
  uploading: ['ready', 'failed', 'aborted'],
  ready: ['in-flight', 'failed', 'aborted'],
  'in-flight': ['delivered', 'failed', 'aborted'],
  delivered: ['returning', 'completed', 'failed', 'aborted'],
  returning: ['completed', 'failed', 'aborted'],
  completed: [],
  failed: [],
  aborted: [],
};

export const TERMINAL: ReadonlySet<DeliveryState> = new Set(['completed', 'failed', 'aborted']);
/** States in which a vehicle is committed to the job. */
export const VEHICLE_STATES: ReadonlySet<DeliveryState> = new Set(['uploading', 'ready', 'in-flight', 'delivered', 'returning']);

export function canTransition(from: DeliveryState, to: DeliveryState): boolean {
  return TRANSITIONS[from].includes(to);
}
