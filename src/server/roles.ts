/**
 * The role matrix: the one table that says who may do what. Every route names a permission;
 * `authorize` is the only function that decides.
 *
 * - admin: everything, and alone maintains vehicles (vehicle.maintain: MAVLink signing keys).
 * - operator: flies through jobs (creates, dispatches, aborts them; commands the job's vehicle);
 *   outside a job only stops, returns, lands or disarms a real vehicle on the ground (guards.ts).
 * - supervisor: reads everything, approves jobs, edits zones and policy, reads the audit, commissions
 *   vehicles on the ground (sets their failsafe, fence and release parameters to the policy's vehicle
 *   profile, reboots them for it); never flies one.
 * - every role acknowledges alerts (audited as alert.ack).
 * - operators, supervisors and admins record battery swaps (trainers on simulated vehicles).
 * - trainer: simulator control, faults and replays; flies simulated vehicles and training jobs only
 *   (training jobs never enter the operational queue).
 */
import type { Role } from '../store';

export type Permission =
  | 'read'
  | 'plan'
  | 'vehicle.command'
  | 'vehicle.maintain'
  | 'vehicle.commission'
  | 'vehicle.battery'
  | 'delivery.create'
  | 'delivery.approve'
  | 'delivery.dispatch'
  | 'delivery.abort'
  | 'zones.edit'
  | 'policy.edit'
  | 'audit.read'
  | 'alerts.ack'
  | 'sim.control'
  | 'replay.control'
  | 'users.manage';

/** `'sim'` = only when the vehicle concerned is simulated (or there is none yet). */
type Grant = true | 'sim';

export const ROLE_MATRIX: Record<Permission, Partial<Record<Role, Grant>>> = {
  read: { admin: true, operator: true, supervisor: true, trainer: true },
  plan: { admin: true, operator: true, supervisor: true, trainer: true },
  'vehicle.command': { admin: true, operator: true, trainer: 'sim' },
  'vehicle.maintain': { admin: true },
  'vehicle.commission': { admin: true, supervisor: true },
  // Recording a battery swap (a fresh pack put in on the ground): whoever turns the vehicle round.
  'vehicle.battery': { admin: true, operator: true, supervisor: true, trainer: 'sim' },
  'delivery.create': { admin: true, operator: true, trainer: true },
  'delivery.approve': { admin: true, supervisor: true },
  'delivery.dispatch': { admin: true, operator: true, trainer: 'sim' },
  'delivery.abort': { admin: true, operator: true, trainer: 'sim' },
  'zones.edit': { admin: true, supervisor: true },
  'policy.edit': { admin: true, supervisor: true },
  'audit.read': { admin: true, supervisor: true },
  // Whoever watches the fleet acknowledges an alert (who and when are audited).
  'alerts.ack': { admin: true, operator: true, supervisor: true, trainer: true },
  'sim.control': { admin: true, trainer: true },
  'replay.control': { admin: true, trainer: true },
  'users.manage': { admin: true },
};

export type AuthzResult = { ok: true } | { ok: false; code: 'FORBIDDEN'; message: string };

export function authorize(role: Role, permission: Permission, ctx: { vehicleSimulated?: boolean | null } = {}): AuthzResult {
  const g = ROLE_MATRIX[permission][role];
  if (g === true) return { ok: true };
  if (g === 'sim') {
    if (ctx.vehicleSimulated === false) return { ok: false, code: 'FORBIDDEN', message: `role ${role} may ${permission} on simulated vehicles only` };
    return { ok: true };
  }
  return { ok: false, code: 'FORBIDDEN', message: `role ${role} may not ${permission}` };
}
