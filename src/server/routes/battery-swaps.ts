/**
 * Battery swaps over HTTP: an operator, supervisor or admin records that a vehicle on the ground was
 * given a fresh pack (trainers on simulated vehicles only), audited before effect as
 * `vehicle.batterySwap`; anyone reads a vehicle's swaps, newest first. Swaps the vehicle's own
 * charge shows are recorded by src/fleet/battery-swaps.ts; an operator's record of one seen in the
 * 10 minutes before confirms it (`confirmsId`), so the operations report counts the pack once.
 */
import type { Ctx, RouteDef } from '../api-kit';
import type { VehicleHandle } from '../../fleet/types';
import type { Store } from '../../store';
import { Fail } from '../errors';
import * as S from '../schemas';
import { OPERATOR_WINDOW_MS, confirmedSwap } from '../../fleet/battery-swaps';

export interface BatterySwapRouteDeps {
  route: (r: RouteDef) => void;
  requireVehicle: (id: string) => VehicleHandle;
  store: Store;
}

export function batterySwapRoutes({ route, requireVehicle, store }: BatterySwapRouteDeps): void {
  /** The vehicle, on the ground: a pack is not changed on a vehicle that is armed (or last known armed). */
  const swappable = (c: Ctx): VehicleHandle => {
    const v = requireVehicle(String(c.req.params.id));
    if (v.id.startsWith('replay-')) throw new Fail(409, 'INVALID_STATE', `${v.id} is a replay: it has no battery to swap`);
    if (v.state.armed) throw new Fail(409, 'VEHICLE_ARMED', `${v.id} is armed: land and disarm it before its battery is swapped`);
    return v;
  };
  route({
    method: 'post',
    path: '/api/vehicles/:id/battery-swap',
    summary:
      'Record that the vehicle was given a fresh battery pack ({note?: ≤ 200 characters, packId?: ≤ 40}); refused (409 VEHICLE_ARMED) while it is armed; answers 201 with the swap {id, vehicleId, at, source, username, role, packId, note, toPct, auditId, confirmsId}',
    permission: 'vehicle.battery',
    body: S.BatterySwapBody,
    audit: 'vehicle.batterySwap',
    vehicleOf: (c) => String(c.req.params.id),
    guard: (c) => void swappable(c),
    handler: async (c) => {
      const v = swappable(c);
      const now = Date.now();
      const recent = await store.listBatterySwaps(v.id, { since: new Date(now - OPERATOR_WINDOW_MS).toISOString(), limit: 50 });
      const pct = v.state.battery && v.state.battery.voltageV > 0 ? v.state.battery.remainingPct : null;
      const row = await store.recordBatterySwap({
        vehicleId: v.id,
        source: 'operator',
        at: new Date(now).toISOString(),
        username: c.user.username,
        role: c.user.role,
        packId: c.body.packId?.trim() ?? null,
        note: c.body.note ?? null,
        toPct: pct,
        auditId: c.auditId ?? null,
        confirmsId: confirmedSwap(recent, now),
      });
      return { status: 201, body: row, outcome: { ok: true, swapId: row.id, confirmsId: row.confirmsId } };
    },
  });
  route({
    method: 'get',
    path: '/api/vehicles/:id/battery-swaps',
    summary: "The vehicle's battery swaps, newest first (?limit=, default 20): recorded by a person (source 'operator') or seen in telemetry (source 'telemetry', fromPct → toPct)",
    permission: 'read',
    query: S.BatterySwapsQuery,
    handler: async (c) => {
      const v = requireVehicle(String(c.req.params.id));
      return { body: await store.listBatterySwaps(v.id, { limit: c.query.limit ?? 20 }) };
    },
  });
}
