/** Shared console state and what every panel is given. */
import type { ApiClient } from './api';
import type { MapView } from './map-view';
import type { Alert, Delivery, Me, PlanOk, Role, ZonesDoc } from './types';
import type { LinkStatus } from './live-link';
import { serverErrorText } from './messages';
import { activeJobOf, StatusBook } from './vehicle-status';

export type Topic = 'deliveries' | 'alerts' | 'zones' | 'selection' | 'draft' | 'vehicles' | 'link' | 'lang' | 'tick' | 'sim';

/** What each role may do in the console. The server enforces the same matrix; the UI hides what a role cannot do. */
export interface Capabilities {
  fly: boolean;
  createJobs: boolean;
  dispatch: boolean;
  approve: boolean;
  editZones: boolean;
  audit: boolean;
  train: boolean;
}

export function capabilitiesFor(role: Role): Capabilities {
  return {
    fly: role === 'admin' || role === 'operator' || role === 'trainer',
    // Trainers create and dispatch jobs on simulated vehicles only (the server refuses real ones).
    createJobs: role === 'admin' || role === 'operator' || role === 'trainer',
    dispatch: role === 'admin' || role === 'operator' || role === 'trainer',
    approve: role === 'admin' || role === 'supervisor',
    editZones: role === 'admin' || role === 'supervisor',
    audit: role === 'admin' || role === 'supervisor',
    train: role === 'admin' || role === 'trainer',
  };
}

export interface Draft {
  /** [lon, lat] */
  drop: [number, number] | null;
  plan: PlanOk | null;
  planError: string | null;
}

/** A Map that counts its changes (for indexes built over it). */
export class VersionedMap<K, V> extends Map<K, V> {
  version = 0;
  override set(k: K, v: V): this {
    this.version++;
    return super.set(k, v);
  }
  override delete(k: K): boolean {
    this.version++;
    return super.delete(k);
  }
  override clear(): void {
    this.version++;
    super.clear();
  }
}

export class Store {
  me: Me | null = null;
  deliveries = new VersionedMap<string, Delivery>();
  /** Each vehicle's active job, rebuilt when a delivery changes (a map of hundreds of drones asks every second). */
  private jobIndex: { version: number; byVehicle: Map<string, Delivery> } | null = null;
  alerts: Alert[] = [];
  unreadAlerts = 0;
  zones: ZonesDoc | null = null;
  selectedVehicle: string | null = null;
  selectedDelivery: string | null = null;
  draft: Draft = { drop: null, plan: null, planError: null };
  link: LinkStatus = { state: 'offline', attempt: 0, lastMessageAtMs: 0, connections: 0 };
  /** Simulated vehicle ids (trainers may fly only these): from GET /api/vehicles and the trainer's simulator list. */
  simVehicleIds = new Set<string>();
  /** Vehicles the service knows (GET /api/vehicles); null until first read. Others have vanished. */
  fleetIds: Set<string> | null = null;
  /** Since when each vehicle shows its status (HOLDING since 12:03:04). */
  readonly statusBook = new StatusBook();
  private subs = new Map<Topic, Set<() => void>>();

  on(topic: Topic, fn: () => void): () => void {
    let s = this.subs.get(topic);
    if (!s) this.subs.set(topic, (s = new Set()));
    s.add(fn);
    return () => s!.delete(fn);
  }

  emit(topic: Topic): void {
    for (const fn of this.subs.get(topic) ?? []) {
      try {
        fn();
      } catch (e) {
        console.error(`panel update for ${topic} failed`, e);
      }
    }
  }

  /** A new alert, or news of a known one (its acknowledgement): the list keeps one entry per id. */
  addAlert(a: Alert): void {
    const known = this.alerts.find((x) => x.id === a.id);
    if (known) {
      if (a.ackedAt && !known.ackedAt) {
        known.ackedAt = a.ackedAt;
        known.ackedBy = a.ackedBy;
        this.emit('alerts');
      }
      return;
    }
    this.alerts.unshift(a);
    this.alerts.sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0));
    if (this.alerts.length > 300) this.alerts.length = 300;
    if (!a.ackedAt) this.unreadAlerts++;
    this.emit('alerts');
  }

  /** The alerts the service kept (after a login or a reconnect), merged with what is already shown. */
  loadAlerts(list: Alert[]): void {
    for (const a of list) {
      const known = this.alerts.find((x) => x.id === a.id);
      if (known) {
        if (a.ackedAt) (known.ackedAt = a.ackedAt), (known.ackedBy = a.ackedBy);
      } else this.alerts.push(a);
    }
    this.alerts.sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0));
    if (this.alerts.length > 300) this.alerts.length = 300;
    this.emit('alerts');
  }

  /** Critical alerts nobody acknowledged yet, oldest first (the banner). */
  openCritical(): Alert[] {
    return this.alerts.filter((a) => a.level === 'critical' && !a.ackedAt && !a.local).reverse();
  }

  /** The job a vehicle is committed to, if any. */
  activeJob(vehicleId: string | null | undefined): Delivery | undefined {
    if (!vehicleId) return undefined;
    if (this.jobIndex?.version !== this.deliveries.version) {
      const byVehicle = new Map<string, Delivery>();
      for (const d of this.deliveries.values()) if (d.vehicleId && !byVehicle.has(d.vehicleId) && activeJobOf([d], d.vehicleId)) byVehicle.set(d.vehicleId, d);
      this.jobIndex = { version: this.deliveries.version, byVehicle };
    }
    return this.jobIndex.byVehicle.get(vehicleId);
  }

  /**
   * Selects a job and, with it, the vehicle that flies it: whatever is selected, the commands aim at
   * the job's own vehicle.
   */
  selectJob(id: string | null): void {
    this.selectedDelivery = id;
    const d = id ? this.deliveries.get(id) : undefined;
    // The job's vehicle, or the one it waits for (dispatched to a vehicle still warming up).
    const v = d?.vehicleId ?? (d as { waiting?: { vehicleId?: string } | null } | undefined)?.waiting?.vehicleId;
    if (v) this.selectedVehicle = v;
    this.emit('selection');
  }

  /** Selects a vehicle and, when it flies a job, that job. */
  selectVehicle(id: string | null): void {
    this.selectedVehicle = id;
    const job = this.activeJob(id);
    if (job) this.selectedDelivery = job.id;
    this.emit('selection');
  }
}

export interface Ctx {
  api: ApiClient;
  store: Store;
  map: MapView;
  caps: Capabilities;
}

/** A readable line for any error thrown by the API client, in the user's language (messages.ts). */
export function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string; details?: unknown };
  if (err && err.code) return serverErrorText(err.code, err.message, err.details);
  return String((e as Error)?.message ?? e);
}
