/**
 * Operations reports over HTTP (supervisors and admins): the JSON report, one of its tables as CSV,
 * and the console's report page (charts, printable) at /reports.
 */
import fs from 'fs';
import path from 'path';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import { sendError } from '../errors';
import type { IntakeService } from '../../intake/service';
import { DIMENSIONS, operationsReport, type OperationsReport } from '../../reports/operations';
import { toCsv } from '../../reports/csv';
import { callerFor, safe, type CallerDeps } from './intake-http';

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)), 'not a date');
export const ReportQuerySchema = z
  .object({
    from: Day,
    to: Day.optional(),
    tzOffsetMin: z.coerce.number().int().min(-840).max(840).optional(),
  })
  .strict();
const CsvQuerySchema = ReportQuerySchema.extend({ table: z.enum([...DIMENSIONS, 'requests', 'failures', 'vehicles']) }).strict();
const MAX_DAYS = 366;

export interface ReportRoutesDeps extends CallerDeps {
  intake: IntakeService;
  log: Logger;
  store: unknown;
}

export function reportRoutes(deps: ReportRoutesDeps): express.Router {
  const router = express.Router();
  const onError = (e: unknown, req: Request) => deps.log.error({ err: e, url: req.originalUrl }, 'report route failed');
  const query = async <T extends z.ZodType>(req: Request, res: Response, schema: T): Promise<z.infer<T> | null> => {
    if (!(await callerFor(req, res, deps, { permission: 'audit.read' }))) return null;
    const p = schema.safeParse(req.query ?? {});
    if (!p.success) {
      sendError(res, 400, 'INVALID_QUERY', 'query does not match the schema', p.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })));
      return null;
    }
    const q = p.data as { from: string; to?: string };
    const to = q.to ?? q.from;
    const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${q.from}T00:00:00Z`)) / 86_400_000;
    if (days < 0 || days >= MAX_DAYS) {
      sendError(res, 400, 'INVALID_PERIOD', `a period runs forward and spans at most ${MAX_DAYS} days`);
      return null;
    }
    return { ...(p.data as object), to } as z.infer<T>;
  };
  const run = (q: { from: string; to: string; tzOffsetMin?: number }): Promise<OperationsReport> => operationsReport(deps.intake.db.sql, q);

  router.get(
    '/api/reports/operations',
    safe(async (req, res) => {
      const q = await query(req, res, ReportQuerySchema);
      if (!q) return;
      res.json(await run(q as any));
    }, onError),
  );
  router.get(
    '/api/reports/operations.csv',
    safe(async (req, res) => {
      const q = await query(req, res, CsvQuerySchema);
      if (!q) return;
      const r = await run(q as any);
      const t = (q as any).table as string;
      let cols: string[];
      let rows: Array<Record<string, unknown>>;
      if (t === 'requests') (cols = ['day', 'requests', 'merged', 'triaged', 'rejected']), (rows = r.requests as any);
      else if (t === 'failures') (cols = ['id', 'state', 'priority', 'vehicleId', 'createdAt', 'code', 'reason']), (rows = r.failures as any);
      else if (t === 'vehicles') (cols = ['vehicleId', 'flights', 'flightHours', 'endedFlights', 'batteryCycles']), (rows = r.vehicles as any);
      else (cols = ['key', 'jobs', 'delivered', 'withinPromise', 'withinPromiseShare', 'medianS', 'p90S', 'failed', 'aborted']), (rows = r.by[t as keyof OperationsReport['by']] as any);
      res.setHeader('Content-Disposition', `attachment; filename="operations-${t}-${r.from}-${r.to}.csv"`);
      res.type('text/csv; charset=utf-8').send(toCsv(cols, rows));
    }, onError),
  );
  return router;
}

/** Serve the built report page at /reports (the page asks the API itself, with the session). */
export function reportPage(webDir: string): express.RequestHandler {
  return (_req, res) => {
    const file = path.join(webDir, 'reports.html');
    if (!fs.existsSync(file)) return res.status(503).type('text/plain').send('report page not built (npm run build:web)');
    res.sendFile(file);
  };
}
