/** Request intake on the store's database (see service.ts). */
import type { Store } from '../store';
import type { DeliveryManager } from '../delivery';
import { IntakeDb } from './db';
import { SqliteExecutor } from './sql';
import { IntakeService } from './service';
import type { PlanFn } from './place-check';

export { IntakeService } from './service';
export { IntakeDb } from './db';

export function createIntake(o: { store: Store; deliveries: Pick<DeliveryManager, 'create' | 'get'>; plan: PlanFn }): IntakeService {
  const { store, deliveries } = o;
  return new IntakeService({
    db: new IntakeDb(new SqliteExecutor(store.db)),
    audit: (a) => store.audit(a),
    completeAudit: (id, outcome, deliveryId) => store.completeAudit(id, outcome, deliveryId),
    zones: () => {
      const z = store.latestZones();
      return z ? { version: z.version, json: z.zonesJson } : undefined;
    },
    plan: o.plan,
    createJob: (input, user) => deliveries.create(input, user),
    getJob: (id) => deliveries.get(id),
  });
}
