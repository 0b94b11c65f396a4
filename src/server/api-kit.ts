/**
 * What every routes module of the REST API shares: the route declaration (permission, body schema,
 * audit action; `createApi`'s gateway runs them), the handler's context, the services the API is
 * built on (ApiDeps), and small helpers that turn a missing record, a refusal or a busy planner
 * into the error answer.
 */
import type { Request, Response } from 'express';
import crypto from 'crypto';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { FleetHandle, VehicleHandle } from '../fleet/types';
import type { Store, AlertRow } from '../store';
import type { Auth, AuthUser } from '../auth';
import type { DeliveryManager } from '../delivery';
import type { Permission } from './roles';
import { Fail } from './errors';
import { parseIntId, type OriginPolicy } from './guards';
import type { TileSource } from './tiles';
import type { ZonesTextResult } from '../planner-pool/task';

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
  /** Load a parcel into each bay (release output) of a built-in simulated vehicle, as a crew does before a sortie. */
  loadParcels(vehicleId: string, outputs: number[]): Promise<{ ok: boolean; code?: string; message?: string }>;
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
  /** The shared services this node depends on, as /api/health reports them: `{store: {kind, reachable}, bus?: {url, connected}}`. */
  connections?: () => Promise<Record<string, unknown>>;
  /** Told of an acknowledged alert (the service pushes it to every console). */
  onAlertAcked?: (alert: AlertRow) => void;
}

export interface Ctx {
  req: Request;
  res: Response;
  user: AuthUser;
  body: any;
  query: any;
  address: string | null;
  /** Whether the request carries a live session (routes open to everyone answer more to one). */
  authenticated: boolean;
  /** The audit row of an audited route, once written (before the handler runs). */
  auditId?: number;
}

export interface RouteDef {
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

export function parseCookies(header: string | undefined): Record<string, string> {
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

export function bearerOf(req: { headers: Record<string, string | string[] | undefined> }): string | null {
  const h = req.headers.authorization;
  return typeof h === 'string' && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : null;
}

export function safeOrigin(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

export function isAirborne(v: VehicleHandle): boolean {
  return v.state.armed && (v.state.landedState === 2 || v.state.landedState === 3 || (v.state.position?.altRelM ?? 0) > 1);
}

/** The helpers a routes module declares its routes with (`route` adds one to the API). */
export function makeKit(deps: ApiDeps, routes: RouteDef[]) {
  const { fleet } = deps;
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
  return { deps, route, metricsTokenOk, intParam, trainingGuard, requireVehicle, found, resultOf, planning, retryAfter };
}

export type RouteKit = ReturnType<typeof makeKit>;
