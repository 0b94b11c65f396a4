/**
 * Wires request intake, the places catalogue, the resident's status page and the operations
 * reports into the API (called once by createApi, before its 404 for unknown API routes).
 */
import fs from 'fs';
import path from 'path';
import type express from 'express';
import type { Request } from 'express';
import type { Logger } from 'pino';
import type { Store } from '../../store';
import type { AuthUser } from '../../auth';
import type { DeliveryManager } from '../../delivery';
import { createIntake, type IntakeService } from '../../intake';
import type { PlanFn } from '../../intake/place-check';
import { requestRoutes } from './requests';
import { placeRoutes } from './places';
import { reportPage, reportRoutes } from './reports';
import { recordJobFacts } from '../../reports/job-facts';

export interface MountIntakeDeps {
  store: Store;
  deliveries: DeliveryManager;
  plan: PlanFn;
  log: Logger;
  webDir: string;
  authenticate(req: Request): Promise<AuthUser | null>;
  /** How often personal data past its retention is purged. Default hourly. */
  purgeEveryMs?: number;
}

export function mountIntake(app: express.Express, d: MountIntakeDeps): IntakeService {
  const intake = createIntake({ store: d.store, deliveries: d.deliveries, plan: d.plan });
  const common = { intake, log: d.log, authenticate: d.authenticate, db: intake.db };
  app.use(requestRoutes(common));
  app.use(placeRoutes(common));
  app.use(reportRoutes({ ...common, store: d.store }));
  app.get('/reports', reportPage(d.webDir));
  // The resident's status page: a static page that reads its token from the address (no token in HTML).
  app.get('/s/:token', (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    const file = path.join(d.webDir, 'status.html');
    if (!fs.existsSync(file)) return res.status(503).type('text/plain').send('status page not built (npm run build:web)');
    res.sendFile(file);
  });
  // New zones: the drop points are checked again (planner threads) and the catalogue versioned with them.
  d.store.onZonesSaved((version) => {
    intake.recheck(version).catch((e) => d.log.warn({ err: e, version }, 'drop points not checked against the new zones'));
  });
  // An ended job's report facts are written as it ends (the report backfills any that are missing).
  d.deliveries.onEnded((job) => recordJobFacts(intake.db.sql, job));
  // Personal data past its retention period is purged (and audited) in the background.
  const timer = setInterval(() => {
    if (d.store.db && !d.store.db.open) return clearInterval(timer);
    intake.purge({ username: 'system', role: 'system' }).catch((e) => d.log.warn({ err: e }, 'intake purge failed'));
  }, d.purgeEveryMs ?? 3_600_000);
  timer.unref();
  return intake;
}
