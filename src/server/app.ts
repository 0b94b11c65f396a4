/**
 * The REST API (express 5). Every route is declared once, in its resource's module under routes/
 * (auth, vehicles, zones, deliveries, flights, sim, alerts; intake and reports through
 * mount-intake), with its permission, body schema and audit action (api-kit.ts: the declaration
 * and what the modules share). `gateway` here is the one place that authenticates, validates,
 * checks the role against the matrix, runs the handler and writes the audit record; the OpenAPI
 * document is generated from the same declarations.
 */
import { mountIntake } from './routes/mount-intake';
import { authRoutes } from './routes/auth';
import { vehicleRoutes } from './routes/vehicles';
import { zoneRoutes } from './routes/zones';
import { deliveryRoutes } from './routes/deliveries';
import { flightRoutes } from './routes/flights';
import { simRoutes } from './routes/sim';
import { alertRoutes } from './routes/alerts';
import { makeKit, tokenOf, bearerOf, parseCookies, safeOrigin, SESSION_COOKIE, type ApiDeps, type Ctx, type RouteDef } from './api-kit';
import { intakeOpenApiPaths } from './routes/intake-openapi';
import express, { type Request, type Response, type NextFunction } from 'express';
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { z } from 'zod';
import type { AuthUser } from '../auth';
import { authorize } from './roles';
import { Fail, errorBody, sendError, sendStoreUnavailable, storeUnavailable } from './errors';
import { originPolicy, jsonDepthExceeds, MAX_JSON_DEPTH, boundedParams } from './guards';
import * as S from './schemas';
import { tilesRouter } from './tiles';
import { securityHeaders } from './security-headers';

export { SESSION_COOKIE, tokenOf, type ApiDeps, type Reply, type SimControl, type ReplayControl, type SigningControl, type PlannerModule } from './api-kit';

export interface ApiApp {
  app: express.Express;
  openapi: () => object;
  counters: { requests: Map<string, number> };
}

export function createApi(deps: ApiDeps): ApiApp {
  const { store, auth, deliveries, fleet, planner, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders({ webDir: deps.webDir }));
  app.set('trust proxy', deps.trustProxy ? 'loopback' : false);
  // Default origin policy: loopback names at the port the request arrived on.
  let requestPort = 0;
  const origins = deps.origins ?? originPolicy({ bindHost: '127.0.0.1', port: () => requestPort });
  const requests = new Map<string, number>();
  app.use((req, res, next) => {
    const t0 = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? (req.path.startsWith('/api') ? 'unmatched' : 'static');
      const key = `${req.method} ${route} ${res.statusCode}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      log.debug({ method: req.method, url: req.originalUrl, status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }, 'http');
    });
    next();
  });
  // The API answers only names this service is known by (a rebound DNS name gets nothing), and a
  // state change only from the console's own origin, with a JSON body: a page elsewhere can neither
  // send a form nor a text/plain "simple request" with the operator's cookie.
  app.use('/api', (req, res, next) => {
    requestPort = req.socket.localPort ?? 0;
    if (!origins.hostAllowed(req.headers.host)) return sendError(res, 421, 'HOST_NOT_ALLOWED', `this service does not answer to the name ${String(req.headers.host ?? '(none)').slice(0, 100)}`);
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    const origin = req.headers.origin;
    if (typeof origin === 'string' && !origins.originAllowed(origin))
      return sendError(res, 403, 'ORIGIN_NOT_ALLOWED', `requests from ${origin.slice(0, 200)} are not allowed; allowed origins: ${origins.origins().join(', ')}`);
    if (origin === undefined && !bearerOf(req) && parseCookies(req.headers.cookie)[SESSION_COOKIE]) {
      // A cookie without an Origin: only a same-origin Referer vouches for it (old browsers).
      const ref = typeof req.headers.referer === 'string' ? safeOrigin(req.headers.referer) : null;
      if (!ref || !origins.originAllowed(ref)) return sendError(res, 403, 'ORIGIN_REQUIRED', 'a state change with the session cookie needs the Origin header of the console (or use a bearer token)');
    }
    const ct = req.headers['content-type'];
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if ((ct !== undefined || hasBody) && !/^application\/json\s*(;|$)/i.test(String(ct ?? '')))
      return sendError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'state changes take application/json bodies only');
    next();
  });
  const jsonBody = express.json({
    limit: '6mb',
    strict: true,
    verify: (_req, _res, buf) => {
      if (jsonDepthExceeds(buf, MAX_JSON_DEPTH)) throw Object.assign(new Error(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`), { status: 400, type: 'json.too.deep' });
    },
  });
  // A zone collection (megabytes for a city) is not parsed here: its text goes to a planner thread,
  // which parses, checks and validates it; the event loop only copies bytes.
  const rawZonesBody = express.raw({ type: () => true, limit: '6mb' });
  app.use('/api', (req, res, next) => (req.method === 'PUT' && req.path === '/zones' ? rawZonesBody : jsonBody)(req, res, next));
  const routes: RouteDef[] = [];
  const kit = makeKit(deps, routes);
  const { route, metricsTokenOk } = kit;
  for (const declare of [authRoutes, vehicleRoutes, zoneRoutes, deliveryRoutes, flightRoutes, simRoutes, alertRoutes]) declare(kit);

  // ------------------------------------------------------------------ health, this document
  route({
    method: 'get',
    path: '/api/health',
    summary: 'Service health: {ok, version} for anyone; the detail (vehicles, links, flights) with a session or the metrics token',
    permission: null,
    handler: async (c) => {
      if (!c.authenticated && !metricsTokenOk(c.req)) return { body: { ok: true, version: deps.version } };
      return { body: { ...healthDetail(), ...(await deps.connections?.()) } };
    },
  });
  const healthDetail = () => ({
        ok: true,
        version: deps.version,
        uptimeS: Math.round((Date.now() - deps.startedMs) / 1000),
        vehicles: fleet.vehicles().map((v) => ({ id: v.id, connected: v.state.connected, armed: v.state.armed, mode: v.state.mode })),
        links: fleet.links().map((l) => ({ id: l.id, uri: l.uri, up: l.up, signing: linkSigningHealth(l) })),
        trackedFlights: deliveries.trackedVehicles(),
        schemaVersion: store.schemaVersion,
  });
  route({ method: 'get', path: '/api/openapi.json', summary: 'This document', permission: 'read', beforePasswordChange: true, handler: () => ({ body: openapi() }) });

  // ------------------------------------------------------------------ the gateway
  /**
   * Authenticate, validate, authorise, audit, run. For an audited route the audit row is committed
   * (outcome pending) before the handler runs, so a command that reaches a vehicle is on record even
   * if what follows throws or the process dies; the outcome is added once it is known.
   */
  const gateway = (r: RouteDef) => async (req: Request, res: Response) => {
    const address = req.ip ?? req.socket.remoteAddress ?? null;
    // The metrics token is no session: health answers with it while the store is unreachable.
    const sessionUser = r.permission === null && metricsTokenOk(req) ? null : await auth.authenticate(tokenOf(req as any));
    let user: AuthUser | null = null;
    if (r.permission !== null) {
      user = sessionUser;
      if (!user) return sendError(res, 401, 'UNAUTHENTICATED', 'log in first (Bearer token or session cookie; it may have expired)');
      if (user.mustChangePassword && !r.beforePasswordChange)
        return sendError(res, 403, 'PASSWORD_CHANGE_REQUIRED', 'this account still has its generated password: change it first (POST /api/password)');
    }
    const c: Ctx = { req, res, user: user ?? { id: 0, username: 'anonymous', role: 'operator' }, body: undefined, query: {}, address, authenticated: !!sessionUser };
    if (r.body) {
      const p = r.body.safeParse(req.body);
      if (!p.success) return sendError(res, 400, 'INVALID_BODY', 'request body does not match the schema', S.issues(p.error));
      c.body = p.data;
    }
    if (r.query) {
      const p = r.query.safeParse(req.query ?? {});
      if (!p.success) return sendError(res, 400, 'INVALID_QUERY', 'query does not match the schema', S.issues(p.error));
      c.query = p.data;
    }
    let vehicleId: string | null = null;
    let deliveryId: string | null = null;
    let auditId: number | null = null;
    const params = () =>
      r.rawBody && Buffer.isBuffer(req.body)
        ? { ...(req.params ?? {}), body: { bytes: req.body.length, sha256: crypto.createHash('sha256').update(req.body).digest('hex') } }
        : boundedParams({ ...(c.body ?? {}), ...(req.params ?? {}) });
    const auditIt = async (outcome: unknown, createdId?: string) => {
      if (!r.audit || !user) return;
      if (auditId !== null) await store.completeAudit(auditId, outcome, createdId);
      else await store.audit({ username: user.username, role: user.role, action: r.audit, vehicleId, deliveryId: createdId ?? deliveryId, params: params(), outcome, address });
    };
    const fail = async (e: unknown) => {
      if (e instanceof Fail) {
        const created = (e.details as any)?.delivery?.id as string | undefined; // a request recorded as failed
        await auditIt({ ok: false, code: e.code, message: e.message, details: boundedParams(created ? (e.details as any).planner : e.details) }, created);
        return sendError(res, e.status, e.code, e.message, e.details);
      }
      if (storeUnavailable(e)) {
        log.warn({ err: e, route: r.path }, 'store unreachable');
        await auditIt({ ok: false, code: 'STORE_UNAVAILABLE', message: (e as Error).message }).catch(() => undefined);
        return sendStoreUnavailable(res);
      }
      log.error({ err: e, route: r.path }, 'handler failed');
      await auditIt({ ok: false, code: 'INTERNAL', message: (e as Error).message });
      return sendError(res, 500, 'INTERNAL', 'internal error (logged)');
    };
    try {
      vehicleId = (await r.vehicleOf?.(c)) ?? null;
      deliveryId = (await r.deliveryOf?.(c)) ?? null;
      if (user && r.permission) {
        const simulated = vehicleId ? (fleet.get(vehicleId) ? deps.isSimulated(vehicleId) : null) : null;
        const a = authorize(user.role, r.permission, { vehicleSimulated: simulated });
        if (!a.ok) throw new Fail(403, a.code, a.message);
      }
      await r.guard?.(c);
    } catch (e) {
      return await fail(e);
    }
    // Audit before effect: the row exists before the handler can reach a vehicle.
    if (r.audit && user) c.auditId = auditId = await store.audit({ username: user.username, role: user.role, action: r.audit, vehicleId, deliveryId, params: params(), outcome: { pending: true }, address });
    try {
      const reply = await r.handler(c);
      const status = reply.status ?? 200;
      await auditIt(reply.outcome ?? { ok: true, status }, reply.deliveryId);
      if (reply.send) return reply.send(res);
      res.status(status).json(reply.body ?? {});
    } catch (e) {
      return await fail(e);
    }
  };
  // A store that cannot be reached (an audit row that cannot be written, a session that cannot be
  // read) stops the request before any effect: 503 STORE_UNAVAILABLE, never a bare 500.
  const guarded = (r: RouteDef) => {
    const g = gateway(r);
    return async (req: Request, res: Response) => {
      try {
        await g(req, res);
      } catch (e) {
        if (!storeUnavailable(e)) throw e;
        log.warn({ err: e, route: r.path }, 'store unreachable');
        sendStoreUnavailable(res);
      }
    };
  };
  for (const r of routes) app[r.method](r.path, guarded(r));
  // Request intake, places catalogue, the resident's status page and operations reports (src/server/routes/).
  mountIntake(app, { store, deliveries, plan: (z, r) => planner.planDelivery(z, r), log, webDir: deps.webDir, authenticate: (req) => auth.authenticate(tokenOf(req as any)) });

  // Prometheus: with a session or the metrics token.
  app.get('/metrics', async (req, res) => {
    if (!metricsTokenOk(req) && !await auth.authenticate(tokenOf(req as any))) return sendError(res, 401, 'UNAUTHENTICATED', 'metrics need a session or the metrics token (Authorization: Bearer …)');
    const lines: string[] = [];
    lines.push('# HELP dropline_http_requests_total HTTP requests by method, route and status.', '# TYPE dropline_http_requests_total counter');
    for (const [k, n] of requests) {
      const [m, rt, st] = k.split(' ');
      lines.push(`dropline_http_requests_total{method="${m}",route="${rt.replace(/"/g, '')}",status="${st}"} ${n}`);
    }
    lines.push('# HELP dropline_deliveries Delivery jobs by state.', '# TYPE dropline_deliveries gauge');
    for (const [s, n] of Object.entries(await store.countDeliveriesByState())) lines.push(`dropline_deliveries{state="${s}"} ${n}`);
    lines.push('# HELP dropline_flights_active Flights being tracked.', '# TYPE dropline_flights_active gauge', `dropline_flights_active ${deliveries.trackedVehicles().length}`);
    lines.push('# HELP dropline_uptime_seconds Service uptime.', '# TYPE dropline_uptime_seconds gauge', `dropline_uptime_seconds ${Math.round((Date.now() - deps.startedMs) / 1000)}`);
    let extra = '';
    try {
      extra = deps.metricsText?.() ?? '';
    } catch (e) {
      log.warn({ err: e }, 'metrics provider failed');
    }
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.send(lines.join('\n') + '\n' + (extra ? extra.trimEnd() + '\n' : ''));
  });

  // Unknown API routes.
  app.use('/api', (req, res) => sendError(res, 404, 'NOT_FOUND', `no route ${req.method} ${req.originalUrl}`));

  // Offline base-map tiles, then the console.
  if (deps.tiles) app.use(tilesRouter(deps.tiles));
  const index = path.join(deps.webDir, 'index.html');
  app.use(express.static(deps.webDir, { index: 'index.html', fallthrough: true }));
  app.get('/{*rest}', (req, res) => {
    // A missing file (e.g. a source map that is not published) is a 404, not the console page.
    if (/\.[A-Za-z0-9]{1,8}$/.test(req.path)) return res.status(404).type('text/plain').send('not found');
    if (fs.existsSync(index)) return res.sendFile(index);
    res
      .status(503)
      .type('html')
      .send(
        '<!doctype html><meta charset="utf-8"><title>Dropline</title><h1>Dropline console not built</h1>' +
          `<p>No <code>${escapeHtml(index)}</code>. Run <code>npm run build:web</code> and reload. The API is up at <a href="/api/health">/api/health</a>.</p>`,
      );
  });

  // Body parser and other errors: typed, never a bare 500 for bad input.
  app.use((err: any, req: Request, res: Response, _next: NextFunction) => {
    if (err?.type === 'json.too.deep') return sendError(res, 400, 'JSON_TOO_DEEP', err.message);
    if (err?.type === 'entity.parse.failed') return sendError(res, 400, 'MALFORMED_JSON', `body is not valid JSON: ${err.message}`);
    if (err?.type === 'entity.too.large') return sendError(res, 413, 'PAYLOAD_TOO_LARGE', `body larger than ${err.limit} bytes`);
    if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported') return sendError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', err.message);
    if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) return sendError(res, err.status, 'BAD_REQUEST', String(err.message ?? 'bad request'));
    if (storeUnavailable(err)) return sendStoreUnavailable(res);
    log.error({ err, url: req.originalUrl }, 'unhandled error');
    if (!res.headersSent) res.status(500).json(errorBody('INTERNAL', 'internal error (logged)'));
  });

  let cachedDoc: object | null = null;
  function openapi(): object {
    if (cachedDoc) return cachedDoc;
    const paths: Record<string, Record<string, unknown>> = {};
    const toSchema = (s: z.ZodType) => {
      try {
        return z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
      } catch {
        return {};
      }
    };
    for (const r of routes) {
      const p = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
      const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      if (r.query) {
        const js: any = toSchema(r.query);
        for (const [name, sch] of Object.entries(js.properties ?? {})) params.push({ name, in: 'query', required: (js.required ?? []).includes(name), schema: sch as any });
      }
      const op: Record<string, unknown> = {
        summary: r.summary,
        operationId: `${r.method}${r.path.replace(/[/:{}.]+(\w)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ''))}`,
        parameters: params,
        'x-permission': r.permission,
        'x-audit-action': r.audit,
        security: r.permission === null ? [] : [{ bearer: [] }, { cookie: [] }],
        responses: {
          '200': { description: 'OK' },
          '400': { description: 'INVALID_BODY / MALFORMED_JSON / JSON_TOO_DEEP / INVALID_ID / UNKNOWN_MODE / CONFIRMATION_REQUIRED', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          '401': { description: 'UNAUTHENTICATED' },
          '403': { description: 'FORBIDDEN / ORIGIN_NOT_ALLOWED / ORIGIN_REQUIRED / PASSWORD_CHANGE_REQUIRED' },
          '404': { description: 'NOT_FOUND / VEHICLE_NOT_FOUND' },
          '409': { description: 'INVALID_STATE / CONFLICT / VEHICLE_ARMED / VEHICLE_REFUSED (the vehicle said no, with its answer) / TRAINING_NEEDS_SIMULATOR' },
          '413': { description: 'PAYLOAD_TOO_LARGE / ZONES_TOO_LARGE (the limit named)' },
          '415': { description: 'UNSUPPORTED_MEDIA_TYPE: state changes take application/json only' },
          '421': { description: 'HOST_NOT_ALLOWED: a Host name this service is not known by' },
          '429': { description: 'TOO_MANY_ATTEMPTS (login back-off, with Retry-After)' },
          '503': { description: 'PLANNER_BUSY / PLANNER_TIMEOUT / STORE_UNAVAILABLE (with Retry-After)' },
          '504': { description: 'VEHICLE_NOT_ANSWERING: the command was sent and never acknowledged' },
        },
      };
      if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: toSchema(r.body) } } };
      (paths[p] ??= {})[r.method] = op;
    }
    Object.assign(paths, intakeOpenApiPaths());
    cachedDoc = {
      openapi: '3.1.0',
      info: { title: 'Dropline API', version: deps.version, description: 'Drone deliveries of medicine into sealed zones. Errors: {error:{code,message,details?}}.' },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, cookie: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE } },
        schemas: {
          Error: {
            type: 'object',
            required: ['error'],
            properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } } },
          },
        },
      },
      paths,
    };
    return cachedDoc;
  }

  return { app, openapi, counters: { requests } };
}

/** A link's signing as /api/health shows it: the mode and the counters (no key, no key id). */
function linkSigningHealth(l: { signing?: string; stats: Record<string, number> }) {
  return {
    mode: l.signing ?? 'off',
    accepted: l.stats.signedAccepted ?? 0,
    rejectedUnsigned: l.stats.unsignedRejected ?? 0,
    rejectedBadSignature: l.stats.badSignatureRejected ?? 0,
    rejectedReplay: l.stats.replayRejected ?? 0,
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

/** KML text → GeoJSON FeatureCollection (@tmcw/togeojson on an @xmldom/xmldom document). */
export async function kmlToGeoJson(text: string): Promise<unknown> {
  const { DOMParser } = await import('@xmldom/xmldom');
  const tj: any = await import('@tmcw/togeojson');
  const errors: string[] = [];
  let doc: unknown;
  try {
    doc = new DOMParser({ onError: (level: string, msg: string) => { if (level !== 'warning') errors.push(msg); } } as any).parseFromString(text, 'text/xml');
  } catch (e) {
    errors.push((e as Error).message);
  }
  if (errors.length || !doc) throw new Fail(400, 'INVALID_IMPORT', `KML is not well-formed XML: ${errors[0] ?? 'no document'}`);
  const kml = tj.kml ?? tj.default?.kml;
  try {
    return kml(doc);
  } catch (e) {
    throw new Fail(400, 'INVALID_IMPORT', `KML could not be converted: ${(e as Error).message}`);
  }
}
