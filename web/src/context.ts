/** Shared console state and what every panel is given. */
import type { ApiClient } from './api';
import type { MapView } from './map-view';
import type { Alert, Delivery, Me, PlanOk, Role, ZonesDoc } from './types';
import type { LinkStatus } from './live-link';
import { t } from './i18n';

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

export class Store {
  me: Me | null = null;
  deliveries = new Map<string, Delivery>();
  alerts: Alert[] = [];
  unreadAlerts = 0;
  zones: ZonesDoc | null = null;
  selectedVehicle: string | null = null;
  selectedDelivery: string | null = null;
  draft: Draft = { drop: null, plan: null, planError: null };
  link: LinkStatus = { state: 'offline', attempt: 0, lastMessageAtMs: 0, connections: 0 };
  /** Simulated vehicle ids (trainers may fly only these). */
  simVehicleIds = new Set<string>();
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

  addAlert(a: Alert): void {
    if (this.alerts.some((x) => x.id === a.id)) return;
    this.alerts.unshift(a);
    if (this.alerts.length > 300) this.alerts.length = 300;
    this.unreadAlerts++;
    this.emit('alerts');
  }
}

export interface Ctx {
  api: ApiClient;
  store: Store;
  map: MapView;
  caps: Capabilities;
}

/** A readable line for any error thrown by the API client. */
export function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (err && err.code) {
    const known = t(`error.${err.code}`);
    return `${known !== `error.${err.code}` ? known : err.code}: ${err.message ?? ''}`.trim();
  }
  return String((e as Error)?.message ?? e);
}
