/**
 * The places catalogue over HTTP: read it (any console role), replace it or import it from CSV or
 * GeoJSON (supervisors and admins: zones.edit; each drop point is checked against the zones by the
 * planner threads first), its history, and a match preview for the console.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import { sendError } from '../errors';
import type { IntakeService } from '../../intake/service';
import { placesFromCsv, placesFromGeoJson } from '../../intake/places';
import { actorOf, callerFor, reply, safe, type CallerDeps } from './intake-http';

export const SaveBody = z.object({ places: z.array(z.unknown()).max(20_000), change: z.string().min(1).max(500).optional(), expectVersion: z.number().int().min(0).optional() }).strict();
export const ImportBody = z.object({ format: z.enum(['csv', 'geojson']), text: z.string().max(5_000_000), change: z.string().min(1).max(500).optional(), expectVersion: z.number().int().min(0).optional() }).strict();
export const MatchBody = z.object({ text: z.string().min(1).max(2000) }).strict();

export interface PlaceRoutesDeps extends CallerDeps {
  intake: IntakeService;
  log: Logger;
}

export function placeRoutes(deps: PlaceRoutesDeps): express.Router {
  const { intake, log } = deps;
  const router = express.Router();
  const onError = (e: unknown, req: Request) => log.error({ err: e, url: req.originalUrl }, 'places route failed');
  const parse = <T>(res: Response, schema: z.ZodType<T>, v: unknown): T | null => {
    const p = schema.safeParse(v ?? {});
    if (p.success) return p.data;
    sendError(res, 400, 'INVALID_BODY', 'request body does not match the schema', p.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })));
    return null;
  };

  router.get(
    '/api/places',
    safe(async (req, res) => {
      if (!(await callerFor(req, res, deps, { permission: 'read' }))) return;
      const v = await intake.catalogue();
      res.json(v ?? { version: 0, zonesVersion: null, places: [], placeCount: 0, checks: {} });
    }, onError),
  );
  router.get(
    '/api/places/history',
    safe(async (req, res) => {
      if (!(await callerFor(req, res, deps, { permission: 'read' }))) return;
      res.json(await intake.db.placeHistory());
    }, onError),
  );
  router.put(
    '/api/places',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'zones.edit' });
      if (!c) return;
      const body = parse(res, SaveBody, req.body);
      if (!body) return;
      reply(res, await intake.saveCatalogue(body.places, actorOf(c), { change: body.change ?? 'catalogue edited', expectVersion: body.expectVersion, source: 'json' }));
    }, onError),
  );
  router.post(
    '/api/places/import',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'zones.edit' });
      if (!c) return;
      const body = parse(res, ImportBody, req.body);
      if (!body) return;
      let parsed;
      if (body.format === 'csv') parsed = placesFromCsv(body.text);
      else {
        let doc: unknown;
        try {
          doc = JSON.parse(body.text);
        } catch (e) {
          return sendError(res, 400, 'INVALID_GEOJSON', `the GeoJSON is not valid JSON: ${String((e as Error).message).slice(0, 200)}`);
        }
        parsed = placesFromGeoJson(doc);
      }
      if (!parsed.ok) return sendError(res, 400, parsed.code, parsed.message, parsed.details);
      reply(res, await intake.saveCatalogue(parsed.places, actorOf(c), { change: body.change ?? `imported from ${body.format}`, expectVersion: body.expectVersion, source: body.format }));
    }, onError),
  );
  router.post(
    '/api/places/match',
    safe(async (req, res) => {
      if (!(await callerFor(req, res, deps, { permission: 'read' }))) return;
      const body = parse(res, MatchBody, req.body);
      if (!body) return;
      const { matcher, version } = await intake.matcher();
      res.json({ catalogueVersion: version, ...matcher.match(body.text) });
    }, onError),
  );
  return router;
}
