/** Request intake on the store's database (see service.ts). */
import type { Store } from '../store';
import type { DeliveryManager } from '../delivery';
import { IntakeDb } from './db';
import { SqliteExecutor } from './sql';
import { PgExecutor } from './pg-executor';
import { IntakeService } from './service';
import type { PlanFn } from './place-check';

export { IntakeService } from './service';
export { IntakeDb } from './db';

export function createIntake(o: { store: Store; deliveries: Pick<DeliveryManager, 'create' | 'get'>; plan: PlanFn }): IntakeService {
  const { store, deliveries } = o;
  return new IntakeService({
    db: new IntakeDb(store.db ? new SqliteExecutor(store.db) : new PgExecutor(store.pgPool!)),
    audit: (a) => store.audit(a),
    completeAudit: (id, outcome, deliveryId) => store.completeAudit(id, outcome, deliveryId),
    zones: async () => {
      const z = await store.latestZones();
      return z ? { version: z.version, json: z.zonesJson } : undefined;
    },
    plan: o.plan,
    createJob: (input, user) => deliveries.create(input, user),
    getJob: (id) => deliveries.get(id),
  });
}
