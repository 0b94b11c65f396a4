/**
 * How the service raises alerts: each one stored first (GET /api/alerts; a critical one stays on
 * consoles until acknowledged), then pushed to the consoles with its code and parameters for their
 * language; and the fleet-level alerts it raises itself (link lost and up, low battery, failsafe mode
 * changes and fence breaches of vehicles not on a job, the vehicles' STATUSTEXT worth an alert).
 * With several nodes on a bus, every node watches every vehicle but only the vehicle's alert owner
 * raises its fleet alerts (src/service/alert-owner.ts), so each is stored once.
 */
import { randomUUID } from 'crypto';
import type { Logger } from 'pino';
import type { Fleet } from '../fleet';
import type { VehicleHandle, VehicleState } from '../fleet/types';
import type { AlertRow, Store } from '../store';
import type { DeliveryManager } from '../delivery';
import type { TelemetryHub } from '../../telemetry/hub';
import { statusTextAlert } from '../alerts';
import type { AlertOwner } from './alert-owner';

export interface AlertInput {
  level: 'info' | 'warning' | 'critical';
  text: string;
  code?: string;
  params?: Record<string, unknown>;
  vehicleId?: string;
  deliveryId?: string;
  id?: string;
  at?: string;
}
export type PublishAlert = (a: AlertInput) => Promise<void>;

/**
 * Stores an alert, then pushes it to the consoles while the hub is open; `announce` then tells the
 * other nodes' consoles (src/service/cross-node.ts).
 */
export function alertPublisher(store: Store, hub: TelemetryHub, log: Logger, hubOpen: () => boolean, announce?: (row: AlertRow) => void): PublishAlert {
  return async (a) => {
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
    if (!hubOpen()) return;
    try {
      hub.publishAlert(row);
    } catch (e) {
      log.warn({ err: e }, 'alert not published');
    }
    try {
      announce?.(row);
    } catch (e) {
      log.warn({ err: e }, 'alert not announced to other nodes');
    }
  };
}

/**
 * A fleet alert about a vehicle goes out only when this node owns the vehicle's alerts: decided once
 * the owner is ready (a node just started waits until it has heard the others), stamped when it
 * happened. Without an owner (no bus), every alert goes out.
 */
export function ownedAlerts(owner: AlertOwner | undefined, publishAlert: PublishAlert): PublishAlert {
  if (!owner) return publishAlert;
  return (a) => {
    const at = a.at ?? new Date().toISOString();
    return owner.ready.then(() => (a.vehicleId === undefined || owner.owns(a.vehicleId) ? publishAlert({ ...a, at }) : undefined));
  };
}

/**
 * Fleet-level alerts: link lost and regained; low battery, fence breach and failsafe mode changes
 * (jobs in flight get their own, richer alerts). Every vehicle is watched; with `owner`, only the
 * alerts of the vehicles this node owns are raised. A job is followed by the node running it only:
 * an owner that is another node raises the mode changes and fence breaches of that vehicle too.
 */
export function watchFleetForAlerts(fleet: Fleet, deliveries: DeliveryManager, publishAll: PublishAlert, lowBatteryAlertPct?: number, owner?: AlertOwner): void {
  const publishAlert = ownedAlerts(owner, publishAll);
  fleet.on('lost', (id: string) => {
    // A replay that ends, or a link that is removed on purpose, is not a lost vehicle.
    if (id.startsWith('replay-') || !fleet.get(id)) return;
    publishAlert({ level: 'warning', code: 'link.lost', params: { vehicle: id }, text: `Lost link to ${id}`, vehicleId: id });
  });
  fleet.on('found', (id: string) => {
    if (id.startsWith('replay-')) return;
    publishAlert({ level: 'info', code: 'link.up', params: { vehicle: id }, text: `Link to ${id} up`, vehicleId: id });
  });
  const lowPct = lowBatteryAlertPct ?? 30;
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
}

/** A vehicle's STATUSTEXT worth an alert (src/alerts.ts) becomes one (with `owner`, of the vehicles this node owns). */
export function alertOnStatusTexts(fleet: Fleet, publishAll: PublishAlert, owner?: AlertOwner): void {
  const publishAlert = ownedAlerts(owner, publishAll);
  fleet.on('vehicle', (v: VehicleHandle) => {
    v.on('statustext', (t: { severity: number; text: string }) => {
      // Replays re-send what the vehicle said then: not news now.
      if (v.id.startsWith('replay-')) return;
      const a = statusTextAlert(v.id, t.severity, t.text);
      if (a) publishAlert({ ...a, vehicleId: v.id });
    });
  });
}
