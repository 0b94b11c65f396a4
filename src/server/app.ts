/**
 * The REST API (express 5). Every route is declared once in `routes` with its permission, body
 * schema and audit action; `gateway` is the one place that authenticates, validates, checks the
 * role against the matrix, runs the handler and writes the audit record. The OpenAPI document is
 * generated from the same declarations.
 */
import { mountIntake } from './routes/mount-intake';
import { intakeOpenApiPaths } from './routes/intake-openapi';
import express, { type Request, type Response, type NextFunction } from 'express';
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { FleetHandle, VehicleHandle, CommandResult } from '../fleet/types';
import type { Store } from '../store';
import type { Auth, AuthUser } from '../auth';
import type { DeliveryManager } from '../delivery';
import { warmingUp } from '../delivery/preflight';
import { PolicySchema, readPolicy } from '../delivery/policy';
import { applySetup, knownFenceCapacity, readSetup } from '../delivery/commissioning';
import { authorize, type Permission } from './roles';
import { Fail, errorBody, sendError } from './errors';
import { passwordProblem } from '../auth';
import { modeNames } from '../vehicle/command';
import {
  originPolicy,
  jsonDepthExceeds,
  MAX_JSON_DEPTH,
  parseIntId,
  boundedParams,
  commandVerdict,
  type OriginPolicy,
  type CommandAction,
} from './guards';
import * as S from './schemas';
import { tilesRouter, type TileSource } from './tiles';
import type { ZonesTextResult } from '../planner-pool/task';
import type { ZoneVersion, AlertRow } from '../store';
import { securityHeaders } from './security-headers';
import { flightCatalogue } from './flight-catalogue';

export const SESSION_COOKIE = 'dropline_session';

export type Reply = {
  status?: number;
  body?: unknown;
  /** Write the response yourself (files, text). */
  send?: (res: Response) => void;
  /** Audit outcome override (default: ok + status, or the error). */
  outcome?: unknown;
  /** Delivery concerned when only the handler knows it (e.g. a created job). */
  deliveryId?: string;
};

export interface SimControl {
  list(): unknown;
  /** Start `count` simulated vehicles of a kind (default 'builtin'; src/sim-kinds.ts). */
  add(count: number, kind?: 'builtin' | 'arducopter-sitl' | 'px4-sitl'): Promise<{ ok: true; instances: unknown[] } | { ok: false; code: string; message: string; status?: number }>;
  remove(index: number): Promise<{ ok: boolean; message?: string }>;
  inject(vehicleId: string, fault: { kind: string; [k: string]: unknown }): Promise<{ ok: boolean; code?: string; message?: string }>;
  clear(vehicleId: string, kind: string): Promise<{ ok: boolean; code?: string; message?: string }>;
  scenario(name: string): Promise<{ ok: boolean; code?: string; message?: string; result?: unknown }>;
  /** Training scenarios that can be run, with what each does. */
  scenarios(): Array<{ name: string; description: string; steps: Array<{ atS: number; note: string }> }>;
}

export interface ReplayControl {
  start(flightId: string, speed: number): Promise<{ ok: true; id: string; vehicleId: string } | { ok: false; code: string; message: string; status?: number }>;
  /**
   * `speed` for action 'speed'; `seek` ({index} or {fraction} 0..1) for action 'seek'. `state` is
   * {paused, progress: {index, total, timeUs (decimal string, µs since the epoch)}}.
   */
  control(
    id: string,
    action: string,
    speed?: number,
    seek?: { index?: number; fraction?: number; atS?: number },
  ): Promise<{ ok: true; state?: unknown } | { ok: false; code: string; message: string; status?: number }>;
  /** The same `state` as `control` answers, without changing anything. */
  status?(id: string): { ok: true; state: unknown } | { ok: false; code: string; message: string; status?: number };
}

/** MAVLink signing of the vehicles' links, for the signing routes. Never hands out key material. */
export interface SigningControl {
  /** The signing of the vehicle's link; null when the vehicle is unknown. */
  status(vehicleId: string): {
    enabled: boolean;
    mode: 'off' | 'sign' | 'require';
    keyId: string | null;
    counters: { accepted: number; rejectedUnsigned: number; rejectedBadSignature: number; rejectedReplay: number };
  } | null;
  /** Generate a key, give it to the vehicle (SETUP_SIGNING), confirm it answers signed, store it. */
  provision(vehicleId: string, by: string): Promise<{ ok: true; keyId: string } | { ok: false; code: string; message: string; status?: number }>;
}

/**
 * The planner as the API uses it: asynchronous, so the service runs it in worker threads
 * (src/planner-pool). A call may reject with an error carrying a string `code`, a numeric HTTP
 * `status` and optionally `retryAfterS` (PLANNER_BUSY, PLANNER_TIMEOUT): that is the answer sent.
 */
export interface PlannerModule {
  planDelivery(zones: unknown, request: unknown): Promise<any>;
  /** KML → zones with kinds from ExtendedData or folder names (planner/kml.ts); else a plain KML → GeoJSON conversion. */
  kmlToZones?(text: string): Promise<{ ok: true; zones: unknown; warnings?: unknown[] } | { ok: false; error: { code: string; message: string; details?: unknown } }>;
  validateZones(zones: unknown): Promise<{ ok: true; zones?: unknown } | { ok: false; error: { code: string; message: string; details?: unknown } }>;
  /** JSON text of zones parsed, shape-checked and validated off the event loop: canonical text to store, or the refusal. */
  validateZonesText(text: string): Promise<ZonesTextResult>;
  /** KML or GeoJSON text converted, checked and validated off the event loop. */
  importZones(format: 'kml' | 'geojson', text: string): Promise<ZonesTextResult>;
}

export interface ApiDeps {
  store: Store;
  auth: Auth;
  deliveries: DeliveryManager;
  fleet: FleetHandle;
  planner: PlannerModule;
  log: Logger;
  version: string;
  startedMs: number;
  dataDir: string;
  /** Directory of the built console (index.html). */
  webDir: string;
  /** Offline base-map tiles served at /tiles/{z}/{x}/{y}.png (the console's `offline` provider). */
  tiles?: TileSource | null;
  isSimulated(vehicleId: string): boolean;
  sim?: SimControl | null;
  replays?: ReplayControl | null;
  /** MAVLink signing (GET/POST /api/vehicles/:id/signing); routes answer 501 without it. */
  signing?: SigningControl | null;
  /** Extra Prometheus text (link health, hub counters). */
  metricsText?: () => string;
  /** Where the tlog of a flight lives, if it was recorded. */
  tlogPath?: (flightId: string) => string | null;
  /** Session cookie `Secure` flag. Default false (the service listens on plain HTTP on localhost). */
  secureCookie?: boolean;
  /** Origins and Host names the API answers (default: loopback names at the request's port). */
  origins?: OriginPolicy;
  /** Behind a reverse proxy on loopback: client address from X-Forwarded-For. Default false. */
  trustProxy?: boolean;
  /** Bearer token that may read /metrics and the detailed /api/health without a session. */
  metricsToken?: string | null;
  /** Told of an acknowledged alert (the service pushes it to every console). */
  onAlertAcked?: (alert: AlertRow) => void;
}

interface Ctx {
  req: Request;
  res: Response;
  user: AuthUser;
  body: any;
  query: any;
  address: string | null;
  /** Whether the request carries a live session (routes open to everyone answer more to one). */
  authenticated: boolean;
}

interface RouteDef {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  summary: string;
  /** null = public (no session needed). */
  permission: Permission | null;
  /** The body is taken as raw bytes (req.body a Buffer) for the handler to pass on unparsed; no `body` schema. */
  rawBody?: boolean;
  /** Allowed while the user must still change a generated password. */
  beforePasswordChange?: boolean;
  /**
   * Further checks once the role matrix allowed the request, before the audit row and the handler
   * (e.g. what an operator may command outside a job). Throw a Fail to refuse.
   */
  guard?: (c: Ctx) => void | Promise<void>;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Audit action name; routes without one are reads and are not audited. */
  audit?: string;
  /** Vehicle concerned (for sim-only grants and the audit record). */
  vehicleOf?: (c: Ctx) => string | undefined | null | Promise<string | undefined | null>;
  deliveryOf?: (c: Ctx) => string | undefined | null | Promise<string | undefined | null>;
  handler(c: Ctx): Promise<Reply> | Reply;
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}

/** Token of a request: `Authorization: Bearer`, then the session cookie, then (WebSocket) `?token=`. */
export function tokenOf(req: { headers: Record<string, string | string[] | undefined>; url?: string }, allowQuery = false): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string' && /^Bearer\s+/i.test(h)) return h.replace(/^Bearer\s+/i, '').trim();
  const c = parseCookies(typeof req.headers.cookie === 'string' ? req.headers.cookie : undefined)[SESSION_COOKIE];
  if (c) return c;
  if (allowQuery && req.url) {
    const q = new URL(req.url, 'http://x').searchParams.get('token');
    if (q) return q;
  }
  return null;
}

function bearerOf(req: { headers: Record<string, string | string[] | undefined> }): string | null {
  const h = req.headers.authorization;
  return typeof h === 'string' && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : null;
}

function safeOrigin(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function isAirborne(v: VehicleHandle): boolean {
  return v.state.armed && (v.state.landedState === 2 || v.state.landedState === 3 || (v.state.position?.altRelM ?? 0) > 1);
}

async function vehicleSummary(v: VehicleHandle, deps: ApiDeps) {
  const { statusText, ...s } = v.state;
  const job = await deps.deliveries.activeJobFor(v.id);
  // Ready to fly as the preflight policy sees it from the vehicle's own state: the warm-up checks
  // (GPS fix, EKF, home, pre-arm) it still fails after a boot, by name.
  const waitingFor = warmingUp(v.state, (await deps.deliveries.currentPolicy()).policy).map((c) => c.name);
  return {
    ...s,
    statusText: statusText.slice(-10),
    simulated: deps.isSimulated(v.id),
    deliveryId: job?.id ?? deps.deliveries.waitingJobFor(v.id) ?? null,
    readiness: { ready: waitingFor.length === 0, waitingFor },
  };
}

const COMMANDS: Record<string, (v: VehicleHandle, b: z.infer<typeof S.VehicleCommandBody>) => Promise<CommandResult>> = {
  arm: (v) => v.arm(false),
  disarm: (v) => v.disarm(false),
  mode: (v, b) => v.setMode(b.mode!.toUpperCase()),
  takeoff: (v, b) => v.takeoff(b.altM ?? 10),
  hold: (v) => v.hold(),
  continue: (v) => v.pauseContinue(false),
  rtl: (v) => v.rtl(),
  land: (v) => v.land(),
  release: (v) => v.gripper('release'),
};

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
  const route = (r: RouteDef) => routes.push(r);
  const metricsTokenOk = (req: Request): boolean => {
    const t = bearerOf(req);
    if (!deps.metricsToken || !t) return false;
    const a = Buffer.from(t);
    const b = Buffer.from(deps.metricsToken);
    return a.length === b.length && crypto.timingSafeEqual(a, b);
  };
  /** A strict decimal route parameter, or 400 INVALID_ID (no '%201', '0x1', '1e3' or '01'). */
  const intParam = (c: Ctx, name: string): number => {
    const n = parseIntId(String(c.req.params[name]));
    if (n === null) throw new Fail(400, 'INVALID_ID', `${name} must be a decimal number (got '${String(c.req.params[name]).slice(0, 40)}')`);
    return n;
  };
  /** Trainers act on training jobs only. */
  const trainingGuard = (c: Ctx, d: { id: string; training?: boolean }) => {
    if (c.user.role === 'trainer' && !d.training) throw new Fail(403, 'FORBIDDEN', `${d.id} is an operational job: trainers act on training jobs only`);
  };
  const sessionReply = (c: Ctx, r: { token: string; user: AuthUser; expiresMs: number }) => {
    c.res.cookie(SESSION_COOKIE, r.token, { httpOnly: true, sameSite: 'strict', secure: !!deps.secureCookie, path: '/', expires: new Date(r.expiresMs) });
    return { token: r.token, role: r.user.role, username: r.user.username, expiresAt: new Date(r.expiresMs).toISOString(), mustChangePassword: !!r.user.mustChangePassword };
  };
  const requireVehicle = (id: string): VehicleHandle => {
    const v = fleet.get(id);
    if (!v) throw new Fail(404, 'VEHICLE_NOT_FOUND', `no vehicle ${id}`);
    return v;
  };
  /** The record, or a 404 NOT_FOUND naming what is missing ("no <what>"). */
  const found = <T>(v: T | null | undefined, what: string): T => {
    if (!v) throw new Fail(404, 'NOT_FOUND', `no ${what}`);
    return v;
  };
  const resultOf = <T>(r: { ok: true; value: T } | { ok: false; code: string; message: string; details?: unknown; status?: number }): T => {
    if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message, r.details);
    return r.value;
  };

  // ------------------------------------------------------------------ auth
  route({
    method: 'post',
    path: '/api/login',
    summary: 'Log in: returns a bearer token and sets the session cookie',
    permission: null,
    body: S.LoginBody,
    handler: async (c) => {
      const r = await auth.login(c.body.username, c.body.password, c.address);
      await store.audit({ username: c.body.username, role: r.ok ? r.user.role : null, action: 'login', params: {}, outcome: r.ok ? { ok: true } : { ok: false, code: r.code }, address: c.address });
      if (!r.ok) {
        if (r.code === 'TOO_MANY_ATTEMPTS') {
          c.res.setHeader('Retry-After', String(Math.ceil(r.retryAfterMs / 1000)));
          throw new Fail(429, r.code, r.message, { retryAfterS: Math.ceil(r.retryAfterMs / 1000) });
        }
        throw new Fail(401, 'UNAUTHENTICATED', r.message);
      }
      return { body: sessionReply(c, r) };
    },
  });
  route({
    method: 'post',
    path: '/api/logout',
    summary: 'End the session',
    permission: 'read',
    audit: 'logout',
    beforePasswordChange: true,
    handler: async (c) => {
      const t = tokenOf(c.req as any);
      if (t) await auth.logout(t);
      c.res.clearCookie(SESSION_COOKIE, { path: '/' });
      return { body: { ok: true } };
    },
  });
  route({
    method: 'get',
    path: '/api/me',
    summary: 'Who am I (mustChangePassword: nothing else is allowed until the generated password is changed)',
    permission: 'read',
    beforePasswordChange: true,
    handler: (c) => ({ body: { username: c.user.username, role: c.user.role, mustChangePassword: !!c.user.mustChangePassword } }),
  });
  route({
    method: 'post',
    path: '/api/password',
    summary: "Change one's own password; every other session of the user ends (answers a new session)",
    permission: 'read',
    beforePasswordChange: true,
    body: S.PasswordChangeBody,
    audit: 'password.change',
    handler: async (c) => {
      const r = await auth.changePassword(c.user.username, c.body.current, c.body.next, c.address);
      if (!r.ok) {
        if (r.code === 'TOO_MANY_ATTEMPTS') {
          c.res.setHeader('Retry-After', String(Math.ceil((r.retryAfterMs ?? 1000) / 1000)));
          throw new Fail(429, r.code, r.message);
        }
        throw new Fail(r.code === 'INVALID_INPUT' ? 400 : 403, r.code === 'UNAUTHENTICATED' ? 'WRONG_PASSWORD' : r.code, r.code === 'UNAUTHENTICATED' ? 'the current password is wrong' : r.message);
      }
      return { body: sessionReply(c, r), outcome: { ok: true } };
    },
  });

  // ------------------------------------------------------------------ users (admin)
  const userView = (u: Awaited<ReturnType<Store['listUsers']>>[number]) => ({ username: u.username, role: u.role, disabled: u.disabled, createdAt: u.createdAt, passwordState: u.passwordState });
  route({ method: 'get', path: '/api/users', summary: 'Users (no password material)', permission: 'users.manage', handler: async () => ({ body: (await store.listUsers()).map(userView) }) });
  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    route({
      method: 'post',
      path: `/api/users/:username/${verb}`,
      summary: disabled ? 'Disable a user: every session of theirs ends at once (live consoles are disconnected)' : 'Enable a disabled user',
      permission: 'users.manage',
      body: S.EmptyBody.optional(),
      audit: `user.${verb}`,
      handler: async (c) => {
        const name = String(c.req.params.username);
        if (disabled && name === c.user.username) throw new Fail(409, 'INVALID_STATE', 'you cannot disable yourself');
        if (!await auth.setDisabled(name, disabled)) throw new Fail(404, 'NOT_FOUND', `no user ${name}`);
        return { body: userView((await store.getUser(name))!) };
      },
    });
  }

  // ------------------------------------------------------------------ vehicles
  route({
    method: 'get',
    path: '/api/vehicles',
    summary: 'All vehicles with their latest state',
    permission: 'read',
    handler: async () => ({ body: await Promise.all(fleet.vehicles().map((v) => vehicleSummary(v, deps))) }),
  });
  route({
    method: 'get',
    path: '/api/traffic',
    summary: 'Manned aircraft the vehicles relay over ADS-B (callsign, position, altitude AMSL, track, speed; dropped 20 s after the last report) and the flights they threaten now, with the suggested action and what was done',
    permission: 'read',
    handler: () => ({ body: { aircraft: deliveries.trafficPicture.list(), threats: deliveries.traffic.threats() } }),
  });
  route({
    method: 'get',
    path: '/api/vehicles/:id',
    summary: 'One vehicle',
    permission: 'read',
    handler: async (c) => ({ body: await vehicleSummary(requireVehicle(String(c.req.params.id)), deps) }),
  });
  route({
    method: 'post',
    path: '/api/vehicles/:id/commands',
    summary: 'Command a vehicle (arm, disarm, mode, takeoff, hold, continue, rtl, land, release)',
    permission: 'vehicle.command',
    body: S.VehicleCommandBody,
    audit: 'vehicle.command',
    vehicleOf: (c) => String(c.req.params.id),
    // Checked before the audit row and before anything is sent: replay, confirmation, mode name, role.
    guard: async (c) => {
      const v = requireVehicle(String(c.req.params.id));
      if (v.id.startsWith('replay-')) throw new Fail(409, 'INVALID_STATE', `${v.id} is a replay: it cannot be commanded`);
      const b = c.body as z.infer<typeof S.VehicleCommandBody>;
      const airborne = isAirborne(v);
      if ((b.action === 'release' || (b.action === 'disarm' && airborne)) && b.confirm !== true)
        throw new Fail(400, 'CONFIRMATION_REQUIRED', `${b.action}${airborne ? ' in the air' : ''} needs confirm: true`);
      if (b.action === 'mode') {
        const known = modeNames(v.state.autopilot);
        if (!known.includes(b.mode!.toUpperCase())) throw new Fail(400, 'UNKNOWN_MODE', `${v.id} (${v.state.autopilot}) has no mode ${b.mode}`, { valid: known });
      }
      const verdict = commandVerdict(c.user.role, b.action as CommandAction, { simulated: deps.isSimulated(v.id), hasJob: !!await deliveries.activeJobFor(v.id), airborne, mode: b.mode, confirm: b.confirm });
      if (!verdict.ok) throw new Fail(verdict.status, verdict.code, verdict.message);
    },
    handler: async (c) => {
      const v = requireVehicle(String(c.req.params.id));
      const b = c.body as z.infer<typeof S.VehicleCommandBody>;
      // During a delivery in AUTO, hold pauses the mission (and continue resumes it) instead of leaving AUTO.
      const job = await deliveries.activeJobFor(v.id);
      let result: CommandResult;
      if (b.action === 'hold' && job && v.state.mode === 'AUTO') result = await v.pauseContinue(true);
      else if (b.action === 'continue' && job && (v.state.mode === 'BRAKE' || v.state.mode === 'LOITER')) result = await v.setMode('AUTO');
      else result = await COMMANDS[b.action](v, b);
      await deliveries.noteOperatorCommand(v.id, b.action, c.user.username, result);
      const body = { ok: result.ok, result };
      if (!result.ok) {
        // The vehicle said no (409, with its reason), or never answered (504): neither is the caller's input.
        if (result.result === 'TIMEOUT' || result.result === 'NOT_CONNECTED') throw new Fail(504, 'VEHICLE_NOT_ANSWERING', `${b.action}: ${result.result}`, { result });
        throw new Fail(409, 'VEHICLE_REFUSED', `${b.action}: the vehicle answered ${result.result}`, { result });
      }
      return { body, outcome: { ok: true, ack: result } };
    },
  });

  const needSigning = () => {
    if (!deps.signing) throw new Fail(501, 'NOT_AVAILABLE', 'MAVLink signing is not available in this service');
    return deps.signing;
  };
  route({
    method: 'get',
    path: '/api/vehicles/:id/signing',
    summary: "MAVLink signing of the vehicle's link: {enabled, mode, keyId, counters} (never the key)",
    permission: 'read',
    handler: (c) => {
      const v = requireVehicle(String(c.req.params.id));
      return { body: found(needSigning().status(v.id), `signing for ${v.id}`) };
    },
  });
  route({
    method: 'post',
    path: '/api/vehicles/:id/signing',
    summary: 'Give the vehicle a new random signing key (SETUP_SIGNING), confirm it answers signed, store the key; answers {ok, keyId}',
    permission: 'vehicle.maintain',
    body: S.EmptyBody,
    audit: 'vehicle.signing',
    vehicleOf: (c) => String(c.req.params.id),
    handler: async (c) => {
      const v = requireVehicle(String(c.req.params.id));
      if (v.id.startsWith('replay-')) throw new Fail(409, 'INVALID_STATE', `${v.id} is a replay: it has no link to sign`);
      const r = await needSigning().provision(v.id, c.user.username);
      if (!r.ok) throw new Fail(r.status ?? 409, r.code, r.message);
      return { body: { ok: true, keyId: r.keyId }, outcome: { ok: true, keyId: r.keyId } };
    },
  });

  // Commissioning: the vehicle against the policy's vehicle profile, in its autopilot's names.
  const commissionable = async (id: string, forApply: boolean): Promise<VehicleHandle> => {
    const v = requireVehicle(id);
    if (v.id.startsWith('replay-')) throw new Fail(409, 'INVALID_STATE', `${v.id} is a replay: it has no parameters to set`);
    if (!v.state.connected) throw new Fail(409, 'VEHICLE_NOT_CONNECTED', `${v.id} is not connected`);
    if (forApply) {
      if (v.state.armed) throw new Fail(409, 'INVALID_STATE', `${v.id} is armed: commissioning sets parameters and may reboot the vehicle; land and disarm first`);
      const job = await deliveries.activeJobFor(v.id);
      if (job) throw new Fail(409, 'CONFLICT', `${v.id} is committed to ${job.id}`);
    }
    return v;
  };
  const setupOptions = async (v: VehicleHandle) => {
    const { policy } = await deliveries.currentPolicy();
    return { profile: policy.vehicle, fenceMarginM: policy.fenceMarginM, capacity: await knownFenceCapacity(store, v, policy.vehicle) };
  };
  route({
    method: 'get',
    path: '/api/vehicles/:id/setup',
    summary: "The vehicle against the policy's vehicle profile, in its autopilot's parameter names: {profile, params: [{name, want, have, ok, needsReboot, check, rule}], fenceCapacity, ready}",
    permission: 'read',
    handler: async (c) => {
      const v = await commissionable(String(c.req.params.id), false);
      return { body: await readSetup(v, await setupOptions(v)) };
    },
  });
  route({
    method: 'post',
    path: '/api/vehicles/:id/setup',
    summary:
      'Commission the vehicle ({apply: true}): set every parameter that differs from the profile (each read back), reboot it when one is read only at boot and wait for it, measure its fence capacity (restoring its fence; measureFence: false skips it); answers the setup report with applied, rebooted and fenceMeasurement',
    permission: 'vehicle.commission',
    body: S.VehicleSetupBody,
    audit: 'vehicle.setup',
    vehicleOf: (c) => String(c.req.params.id),
    guard: async (c) => void (await commissionable(String(c.req.params.id), true)),
    handler: async (c) => {
      const v = await commissionable(String(c.req.params.id), true);
      const hold = await deliveries.holdVehicle(v.id, 'being commissioned');
      if (!hold) throw new Fail(409, 'CONFLICT', `${v.id} is being dispatched, flies a job or is being commissioned (${deliveries.heldFor(v.id) ?? 'busy'})`);
      try {
        const r = await applySetup(v, { ...(await setupOptions(v)), measureFence: c.body.measureFence ?? true });
        const m = r.fenceMeasurement;
        if (m?.ok) {
          await store.setFenceCapacity(v.id, { autopilot: v.state.autopilot, items: m.items, atLeast: m.atLeast, measuredBy: c.user.username, detail: { probes: m.probes, restored: m.restored } });
          r.fenceCapacity = await knownFenceCapacity(store, v, r.profile);
        }
        const outcome = {
          ok: r.ready && !r.rebootFailure && (m === undefined || m.ok),
          ready: r.ready,
          applied: r.applied.map((a) => ({ name: a.name, from: a.from, to: a.to, ok: a.ok, ...(a.error ? { error: a.error } : {}) })),
          rebooted: r.rebooted,
          fenceCapacity: r.fenceCapacity,
          ...(m && !m.ok ? { fenceMeasurement: { code: m.code, message: m.message } } : {}),
          ...(r.rebootFailure ? { rebootFailure: r.rebootFailure } : {}),
        };
        if (r.rebootFailure) throw new Fail(r.rebootFailure.code === 'TIMEOUT' ? 504 : 409, r.rebootFailure.code === 'TIMEOUT' ? 'VEHICLE_NOT_ANSWERING' : 'REBOOT_FAILED', r.rebootFailure.message, { report: r });
        if (m && !m.ok && m.code === 'FENCE_RESTORE_FAILED') throw new Fail(409, m.code, m.message, { report: r });
        return { body: r, outcome };
      } finally {
        hold.release();
      }
    },
  });

  // ------------------------------------------------------------------ zones and policy
  /**
   * A zone version as JSON, the stored zones text spliced in as it is (a city's zones are megabytes:
   * parsing and re-serialising them on the event loop would delay the GCS heartbeats).
   */
  const zonesReply = (v: ZoneVersion, extra: Record<string, unknown> = {}): Reply['send'] => {
    const head = JSON.stringify({ ...extra, version: v.version, updatedAt: v.updatedAt, updatedBy: v.updatedBy, change: v.change, policy: readPolicy(v.policy) });
    const text = `${head.slice(0, -1)},"zones":${v.zonesJson}}`;
    return (res) => res.status(200).type('application/json').send(text);
  };
  const latestOrFail = async () => {
    const z0 = await store.latestZones();
    if (!z0) throw new Fail(404, 'NOT_FOUND', 'no zones stored yet');
    return z0;
  };
  /** Zones text checked in a planner thread, or the refusal as an error answer. */
  const zonesTextOrFail = (r: ZonesTextResult): { json: string; featureCount: number } => {
    if (!r.ok) throw new Fail(r.status, r.code, r.message, r.details);
    return r;
  };
  /** A planner call: a refusal with a code and a status (PLANNER_BUSY, PLANNER_TIMEOUT) is the answer, busy with Retry-After. */
  const planning = async <T>(c: Ctx, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e: any) {
      if (typeof e?.code !== 'string' || typeof e?.status !== 'number') throw e;
      if (e.retryAfterS) c.res.setHeader('Retry-After', String(Math.ceil(e.retryAfterS)));
      throw new Fail(e.status, e.code, e.message, e.details);
    }
  };
  /** Retry-After on a refused result that suggests one (a planner that was busy). */
  const retryAfter = <R extends { ok: boolean; retryAfterS?: number }>(c: Ctx, r: R): R => {
    if (!r.ok && r.retryAfterS) c.res.setHeader('Retry-After', String(Math.ceil(r.retryAfterS)));
    return r;
  };
  const expectVersion = (c: Ctx): number | undefined => {
    const h = c.req.headers['if-match'];
    if (typeof h !== 'string') return undefined;
    const n = Number(h.replace(/"/g, ''));
    if (!Number.isInteger(n) || n < 0) throw new Fail(400, 'INVALID_HEADER', 'If-Match must be a zones version number');
    return n;
  };
  route({ method: 'get', path: '/api/zones', summary: 'Current zones (and the policy versioned with them)', permission: 'read', handler: async () => ({ send: zonesReply(await latestOrFail()) }) });
  route({
    method: 'put',
    path: '/api/zones',
    summary: 'Replace the zones (a new version; the previous one is kept). Optional If-Match: <version>. Body: a GeoJSON FeatureCollection (checked in a planner thread)',
    permission: 'zones.edit',
    rawBody: true,
    audit: 'zones.update',
    handler: async (c) => {
      const text = Buffer.isBuffer(c.req.body) ? c.req.body.toString('utf8') : '';
      if (!text) throw new Fail(400, 'INVALID_BODY', 'a GeoJSON FeatureCollection is required');
      const checked = zonesTextOrFail(await planning(c, () => planner.validateZonesText(text)));
      const r = await store.saveZones({ zonesJson: { text: checked.json, featureCount: checked.featureCount }, by: c.user.username, change: 'zones', expectVersion: expectVersion(c) });
      if (!r.ok) throw new Fail(409, r.code, r.message);
      return { send: zonesReply(r.version), outcome: { ok: true, version: r.version.version, featureCount: r.version.featureCount } };
    },
  });
  route({ method: 'get', path: '/api/zones/history', summary: 'Zone versions, newest first', permission: 'read', handler: async () => ({ body: await store.zoneHistory() }) });
  route({
    method: 'get',
    path: '/api/zones/history/:version',
    summary: 'One zone version',
    permission: 'read',
    handler: async (c) => {
      return { send: zonesReply(found(await store.zoneVersion(intParam(c, 'version')), `zones version ${c.req.params.version}`)) };
    },
  });
  route({
    method: 'post',
    path: '/api/zones/import',
    summary: 'Convert KML or GeoJSON text to zones and validate them (save: true stores them as a new version)',
    permission: 'zones.edit',
    body: S.ZonesImportBody,
    audit: 'zones.import',
    handler: async (c) => {
      const b = c.body as z.infer<typeof S.ZonesImportBody>;
      // Conversion, the shape check and validation all run in a planner thread.
      const checked = zonesTextOrFail(await planning(c, () => planner.importZones(b.format, b.text)));
      let version: number | undefined;
      if (b.save) {
        const s = await store.saveZones({ zonesJson: { text: checked.json, featureCount: checked.featureCount }, by: c.user.username, change: `import ${b.format}` });
        if (!s.ok) throw new Fail(409, s.code, s.message);
        version = s.version.version;
      }
      const head = JSON.stringify(version === undefined ? { ok: true } : { ok: true, version });
      const text = `${head.slice(0, -1)},"zones":${checked.json}}`;
      return { send: (res) => res.status(200).type('application/json').send(text), outcome: version === undefined ? { ok: true, featureCount: checked.featureCount } : { ok: true, version, featureCount: checked.featureCount } };
    },
  });
  route({
    method: 'get',
    path: '/api/policy',
    summary: 'Preflight/dispatch policy in force',
    permission: 'read',
    handler: async () => {
      const z0 = await store.latestZones();
      return { body: { version: z0?.version ?? 0, policy: readPolicy(z0?.policy) } };
    },
  });
  route({
    method: 'put',
    path: '/api/policy',
    summary: 'Replace the policy (a new zones version carrying the same zones)',
    permission: 'policy.edit',
    body: PolicySchema,
    audit: 'policy.update',
    handler: async (c) => {
      const r = await store.saveZones({ policy: c.body, by: c.user.username, change: 'policy', expectVersion: expectVersion(c) });
      if (!r.ok) throw new Fail(409, r.code, r.message);
      return { body: { version: r.version.version, policy: readPolicy(r.version.policy) }, outcome: { ok: true, version: r.version.version } };
    },
  });

  // ------------------------------------------------------------------ plans
  route({
    method: 'post',
    path: '/api/plans',
    summary: "Plan a delivery against the current zones (the planner's output)",
    permission: 'plan',
    body: S.PlanBody,
    handler: async (c) => {
      const z0 = await store.latestZones();
      if (!z0) throw new Fail(409, 'INVALID_STATE', 'no zones stored');
      const p = await planning(c, () => planner.planDelivery({ version: z0.version, json: z0.zonesJson }, c.body));
      if (!p?.ok) throw new Fail(422, 'PLAN_FAILED', p?.error?.message ?? 'planning failed', p?.error);
      return { body: p };
    },
  });

  // ------------------------------------------------------------------ deliveries
  const deliveryVehicle = async (c: Ctx) => (c.body?.vehicleId as string | undefined) ?? (await store.getDelivery(String(c.req.params.id)))?.vehicleId ?? null;
  route({
    method: 'post',
    path: '/api/deliveries',
    summary: 'Request a delivery (planned at once)',
    permission: 'delivery.create',
    body: S.DeliveryBody,
    audit: 'delivery.create',
    guard: (c) => {
      if (c.body.training === false && c.user.role === 'trainer') throw new Fail(403, 'FORBIDDEN', 'trainers create training jobs only');
    },
    handler: async (c) => {
      // A trainer's jobs are training jobs: they never enter the operational queue.
      const training = c.user.role === 'trainer' || c.body.training === true;
      const d = resultOf(retryAfter(c, await deliveries.create({ ...c.body, training }, c.user)));
      return { status: 201, body: d, deliveryId: d.id, outcome: { ok: true, state: d.state, training } };
    },
  });
  route({ method: 'get', path: '/api/deliveries', summary: 'Deliveries, newest first', permission: 'read', handler: async () => ({ body: await deliveries.list() }) });
  route({
    method: 'get',
    path: '/api/deliveries/queue',
    summary: 'Operational jobs waiting for a vehicle, in dispatch order (urgent first); ?training=true: the training queue',
    permission: 'read',
    query: S.QueueQuerySchema,
    handler: async (c) => ({ body: await deliveries.queue(c.query.training === 'true') }),
  });
  route({
    method: 'get',
    path: '/api/deliveries/:id',
    summary: 'One delivery with timeline, plan and proof of drop',
    permission: 'read',
    handler: async (c) => {
      return { body: found(await deliveries.get(String(c.req.params.id)), `delivery ${c.req.params.id}`) };
    },
  });
  route({
    method: 'post',
    path: '/api/deliveries/:id/approve',
    summary: 'Approve a planned job',
    permission: 'delivery.approve',
    body: S.EmptyBody.optional(),
    audit: 'delivery.approve',
    deliveryOf: (c) => String(c.req.params.id),
    handler: async (c) => ({ body: resultOf(await deliveries.approve(String(c.req.params.id), c.user)) }),
  });
  route({
    method: 'post',
    path: '/api/deliveries/:id/dispatch',
    summary:
      'Run the preflight policy and launch the job on a vehicle (202: uploading, or job.waiting "waiting for vehicle: ekf" while a warming-up vehicle gets its GPS fix, EKF, home and pre-arm, up to the policy\'s readyWaitMs; 409 PREFLIGHT_FAILED names the failed checks)',
    permission: 'delivery.dispatch',
    body: S.DispatchBody,
    audit: 'delivery.dispatch',
    vehicleOf: (c) => c.body?.vehicleId,
    deliveryOf: (c) => String(c.req.params.id),
    guard: async (c) => {
      if (!fleet.get(c.body.vehicleId)) throw new Fail(404, 'VEHICLE_NOT_FOUND', `no vehicle ${c.body.vehicleId}`);
      const d = found(await store.getDelivery(String(c.req.params.id)), `delivery ${c.req.params.id}`);
      trainingGuard(c, d);
      if (d.training && !deps.isSimulated(c.body.vehicleId)) throw new Fail(409, 'TRAINING_NEEDS_SIMULATOR', `${d.id} is a training job: it flies on simulated vehicles only`);
    },
    handler: async (c) => {
      const d = resultOf(retryAfter(c, await deliveries.dispatch(String(c.req.params.id), c.body.vehicleId, c.user)));
      return { status: 202, body: d, outcome: { ok: true, state: d.state, preflight: d.preflight?.checks.map((x) => `${x.name}:${x.ok ? 'ok' : 'fail'}`), ...(d.waiting ? { waiting: d.waiting.checks } : {}) } };
    },
  });
  route({
    method: 'post',
    path: '/api/deliveries/:id/abort',
    summary: 'Abort a job; a vehicle committed to it flies home (RTL) or lands (land: true)',
    permission: 'delivery.abort',
    body: S.AbortBody.optional(),
    audit: 'delivery.abort',
    vehicleOf: deliveryVehicle,
    deliveryOf: (c) => String(c.req.params.id),
    guard: async (c) => trainingGuard(c, found(await store.getDelivery(String(c.req.params.id)), `delivery ${c.req.params.id}`)),
    handler: async (c) => {
      const r = resultOf(await deliveries.abort(String(c.req.params.id), c.body?.reason ?? 'aborted by ' + c.user.username, { land: !!c.body?.land, user: c.user }));
      return { body: r.delivery, outcome: { ok: true, ack: r.ack ?? null } };
    },
  });
  route({
    method: 'get',
    path: '/api/deliveries/:id/preflight',
    summary: 'Run the preflight policy without launching (?vehicleId=)',
    permission: 'read',
    query: z.object({ vehicleId: z.string().min(1).max(200) }).strict(),
    handler: async (c) => {
      const r = await deliveries.preflight(String(c.req.params.id), c.query.vehicleId);
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      const { params: _p, gripperServo: _g, ...report } = r.value;
      return { body: report };
    },
  });

  route({
    method: 'get',
    path: '/api/queue/recommendations',
    summary: 'Assisted dispatch: for every queued job (dispatch order), the vehicles ranked by predicted drop time against the promise, with reasons and the one recommended (?training=true: the training queue)',
    permission: 'read',
    query: z.object({ training: z.enum(['true', 'false']).optional() }).strict(),
    handler: async (c) => ({ body: await deliveries.recommendations(c.query.training === 'true') }),
  });

  // ------------------------------------------------------------------ flights
  route({ method: 'get', path: '/api/flights', summary: 'Flights, newest first, each with its job (id, sealed zone, state), duration and outcome', permission: 'read', handler: async () => ({ body: await flightCatalogue(store) }) });
  route({
    method: 'get',
    path: '/api/flights/:id',
    summary: 'One flight',
    permission: 'read',
    handler: async (c) => {
      return { body: found(await store.getFlight(String(c.req.params.id)), `flight ${c.req.params.id}`) };
    },
  });
  route({
    method: 'get',
    path: '/api/flights/:id/tlog',
    summary: 'The flight telemetry log (application/octet-stream)',
    permission: 'read',
    handler: async (c) => {
      const f = found(await store.getFlight(String(c.req.params.id)), `flight ${c.req.params.id}`);
      const p = f.tlogPath ?? deps.tlogPath?.(f.id) ?? null;
      if (!p || !fs.existsSync(p)) throw new Fail(404, 'NOT_FOUND', `no telemetry log recorded for flight ${f.id}`);
      return {
        send: (res) => {
          res.setHeader('Content-Type', 'application/octet-stream');
          res.setHeader('Content-Disposition', `attachment; filename="${f.id}.tlog"`);
          fs.createReadStream(p).pipe(res);
        },
      };
    },
  });

  // ------------------------------------------------------------------ replays and simulator
  const needReplays = () => {
    if (!deps.replays) throw new Fail(501, 'NOT_AVAILABLE', 'replay is not available in this service');
    return deps.replays;
  };
  route({
    method: 'post',
    path: '/api/replays',
    summary: 'Replay a recorded flight as a read-only vehicle',
    permission: 'replay.control',
    body: S.ReplayBody,
    audit: 'replay.start',
    handler: async (c) => {
      const r = await needReplays().start(c.body.flightId, c.body.speed ?? 1);
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      return { status: 201, body: { id: r.id, vehicleId: r.vehicleId } };
    },
  });
  route({
    method: 'get',
    path: '/api/replays/:id',
    summary: 'A replay\'s state: {paused, progress: {index, total, timeUs}}',
    permission: 'replay.control',
    handler: (c) => {
      const rc = needReplays();
      if (!rc.status) throw new Fail(501, 'NOT_AVAILABLE', 'replay state is not available in this service');
      const r = rc.status(String(c.req.params.id));
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      return { body: r };
    },
  });
  route({
    method: 'post',
    path: '/api/replays/:id/control',
    summary: 'Pause, resume, step, change speed, seek (to a record index or a fraction of the recording) or stop a replay; answers the replay state with its progress',
    permission: 'replay.control',
    body: S.ReplayControlBody,
    audit: 'replay.control',
    handler: async (c) => {
      const r = await needReplays().control(
        String(c.req.params.id),
        c.body.action,
        c.body.speed,
        c.body.action === 'seek' ? { index: c.body.index, fraction: c.body.fraction, atS: c.body.atS } : undefined,
      );
      if (!r.ok) throw new Fail(r.status ?? 400, r.code, r.message);
      return { body: r };
    },
  });
  const needSim = () => {
    if (!deps.sim) throw new Fail(501, 'NOT_AVAILABLE', 'no built-in simulator in this service');
    return deps.sim;
  };
  const simResult = (r: { ok: boolean; code?: string; message?: string }, status = 400) => {
    if (!r.ok) throw new Fail(r.code === 'VEHICLE_NOT_FOUND' || r.code === 'NOT_FOUND' ? 404 : status, r.code ?? 'SIM_FAILED', r.message ?? 'simulator refused');
    return { body: r };
  };
  route({ method: 'get', path: '/api/sim', summary: 'Simulated instances: ground truth, faults in force and the scenario each runs (its steps on the simulator clock)', permission: 'read', handler: () => ({ body: needSim().list() }) });
  route({
    method: 'post',
    path: '/api/sim/vehicles',
    summary: "Start simulated vehicles beside the others: {kind: 'builtin' | 'arducopter-sitl' | 'px4-sitl' (default builtin; SITL kinds when the service has their binaries, at most 4 at once), count 1–10}",
    permission: 'sim.control',
    body: S.SimVehiclesBody,
    audit: 'sim.add',
    handler: async (c) => {
      const r = await needSim().add(c.body.count ?? 1, c.body.kind ?? 'builtin');
      if (!r.ok) throw new Fail(r.status ?? 409, r.code, r.message);
      return { status: 201, body: r };
    },
  });
  route({
    method: 'delete',
    path: '/api/sim/vehicles/:index',
    summary: 'Stop a simulated vehicle',
    permission: 'sim.control',
    audit: 'sim.remove',
    handler: async (c) => simResult(await needSim().remove(intParam(c, 'index')), 404),
  });
  route({
    method: 'post',
    path: '/api/sim/faults',
    summary: 'Inject a fault into a simulated vehicle',
    permission: 'sim.control',
    body: S.SimFaultBody,
    audit: 'sim.fault',
    vehicleOf: (c) => c.body?.vehicleId,
    handler: async (c) => simResult(await needSim().inject(c.body.vehicleId, c.body.fault)),
  });
  route({
    method: 'delete',
    path: '/api/sim/faults',
    summary: 'Clear a fault',
    permission: 'sim.control',
    body: S.SimClearFaultBody,
    audit: 'sim.clear-fault',
    vehicleOf: (c) => c.body?.vehicleId,
    handler: async (c) => simResult(await needSim().clear(c.body.vehicleId, c.body.kind)),
  });
  route({ method: 'get', path: '/api/sim/scenarios', summary: 'Training scenarios and their scripted faults', permission: 'read', handler: () => ({ body: needSim().scenarios() }) });
  route({
    method: 'post',
    path: '/api/sim/scenarios',
    summary: 'Run a named scenario',
    permission: 'sim.control',
    body: S.SimScenarioBody,
    audit: 'sim.scenario',
    handler: async (c) => simResult(await needSim().scenario(c.body.name)),
  });

  // ------------------------------------------------------------------ alerts
  route({
    method: 'get',
    path: '/api/alerts',
    summary: 'Alerts, newest first: {code, params, text, level, ackedAt, ackedBy}; ?unacked=true only those not acknowledged (?level=critical)',
    permission: 'read',
    query: S.AlertsQuerySchema,
    handler: async (c) => {
      const q = c.query as z.infer<typeof S.AlertsQuerySchema>;
      return { body: await store.listAlerts({ limit: q.limit, unacked: q.unacked === 'true', levels: q.level ? [q.level] : undefined }) };
    },
  });
  route({
    method: 'post',
    path: '/api/alerts/:id/ack',
    summary: 'Acknowledge an alert (once: who and when); a critical alert stays on every console until then',
    permission: 'alerts.ack',
    body: S.EmptyBody.optional(),
    audit: 'alert.ack',
    handler: async (c) => {
      const r = await store.ackAlert(String(c.req.params.id), c.user.username);
      if (!r.ok) throw new Fail(r.code === 'NOT_FOUND' ? 404 : 409, r.code, r.message, r.alert ? { ackedBy: r.alert.ackedBy, ackedAt: r.alert.ackedAt } : undefined);
      try {
        deps.onAlertAcked?.(r.alert);
      } catch (e) {
        log.warn({ err: e }, 'alert acknowledgement not published');
      }
      return { body: r.alert, outcome: { ok: true, level: r.alert.level, code: r.alert.code } };
    },
  });

  // ------------------------------------------------------------------ audit, health
  route({
    method: 'get',
    path: '/api/audit',
    summary: 'Audit records, newest first (filters: limit, action, username, vehicleId, deliveryId, since, until)',
    permission: 'audit.read',
    query: S.AuditQuerySchema,
    handler: async (c) => ({ body: await store.queryAudit(c.query) }),
  });
  route({
    method: 'get',
    path: '/api/health',
    summary: 'Service health: {ok, version} for anyone; the detail (vehicles, links, flights) with a session or the metrics token',
    permission: null,
    handler: (c) => {
      if (!c.authenticated && !metricsTokenOk(c.req)) return { body: { ok: true, version: deps.version } };
      return { body: healthDetail() };
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
    const sessionUser = await auth.authenticate(tokenOf(req as any));
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
    if (r.audit && user) auditId = await store.audit({ username: user.username, role: user.role, action: r.audit, vehicleId, deliveryId, params: params(), outcome: { pending: true }, address });
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
  for (const r of routes) app[r.method](r.path, gateway(r));
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
          '409': { description: 'INVALID_STATE / CONFLICT / VEHICLE_REFUSED (the vehicle said no, with its answer) / TRAINING_NEEDS_SIMULATOR' },
          '413': { description: 'PAYLOAD_TOO_LARGE / ZONES_TOO_LARGE (the limit named)' },
          '415': { description: 'UNSUPPORTED_MEDIA_TYPE: state changes take application/json only' },
          '421': { description: 'HOST_NOT_ALLOWED: a Host name this service is not known by' },
          '429': { description: 'TOO_MANY_ATTEMPTS (login back-off, with Retry-After)' },
          '503': { description: 'PLANNER_BUSY / PLANNER_TIMEOUT (with Retry-After)' },
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
