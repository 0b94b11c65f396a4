/**
 * Request guards the gateway applies before a handler runs: which origins and Host names the
 * service answers, how deep a JSON body may nest, what a numeric id looks like, how much of a body
 * an audit row keeps, and which vehicle commands a role may send to a real vehicle.
 */
import crypto from 'crypto';
import type { Role } from '../store';

// ------------------------------------------------------------------ origins and hosts

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

export interface OriginPolicy {
  /** An `Origin` header a browser sent: is it the console's own (or a configured) origin? */
  originAllowed(origin: string): boolean;
  /**
   * The `Host` header: only names this service is known by, so a page on another name that
   * resolves to this machine (DNS rebinding) gets nothing from the API.
   */
  hostAllowed(host: string | undefined): boolean;
  /** What is allowed, for error messages and logs. */
  origins(): string[];
}

export interface OriginPolicyOptions {
  /** Origins the console is served from besides loopback (e.g. 'https://dropline.county.example'). */
  allowedOrigins?: string[];
  /** The listen address. */
  bindHost: string;
  /** The listening port (known once the server listens). */
  port(): number;
}

/** Normalise an origin (scheme://host[:port], lower case, default port dropped); null when it is not one. */
export function normaliseOrigin(o: string): string | null {
  try {
    const u = new URL(o);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    if (u.pathname !== '/' || u.search || u.hash || u.username || u.password) return null;
    return u.origin.toLowerCase();
  } catch {
    return null;
  }
}

export function originPolicy(opts: OriginPolicyOptions): OriginPolicy {
  const configured = (opts.allowedOrigins ?? []).map((o) => {
    const n = normaliseOrigin(o);
    if (!n) throw Object.assign(new Error(`not an origin: ${o} (want scheme://host[:port])`), { code: 'INVALID_ORIGIN' });
    return n;
  });
  const ownNames = (): string[] => {
    const names = [...LOOPBACK_NAMES];
    if (!isWildcardHost(opts.bindHost) && !isLoopbackHost(opts.bindHost)) names.push(opts.bindHost.includes(':') ? `[${opts.bindHost}]` : opts.bindHost);
    return names;
  };
  const origins = (): string[] => {
    const port = opts.port();
    const own = ownNames().flatMap((n) => [`http://${n}:${port}`, `https://${n}:${port}`]);
    return [...new Set([...own.map((o) => normaliseOrigin(o)!), ...configured])];
  };
  const hostNames = (): Set<string> => new Set([...ownNames(), ...configured.map((o) => new URL(o).hostname)].map((h) => h.toLowerCase().replace(/^\[|\]$/g, '')));
  return {
    originAllowed(origin) {
      const n = normaliseOrigin(origin);
      return !!n && origins().includes(n);
    },
    hostAllowed(host) {
      if (!host) return false;
      let name: string;
      try {
        name = new URL(`http://${host}`).hostname;
      } catch {
        return false;
      }
      name = name.toLowerCase().replace(/^\[|\]$/g, '');
      return isLoopbackHost(name) || hostNames().has(name);
    },
    origins,
  };
}

// ------------------------------------------------------------------ bodies

/** Deepest nesting a JSON body may have (GeoJSON needs 5: collection → feature → polygon → ring → point). */
export const MAX_JSON_DEPTH = 32;

/** Whether raw JSON nests deeper than `max`, found in one pass over the bytes (strings skipped), before anything parses it. */
export function jsonDepthExceeds(buf: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** A decimal id as a route parameter: digits only, no sign, no leading zeros, no spaces, at most 9 digits. */
export function parseIntId(s: string): number | null {
  return /^(0|[1-9][0-9]{0,8})$/.test(s) ? Number(s) : null;
}

/** Largest request body kept whole in an audit row; beyond it the row keeps a hash and a summary. */
export const AUDIT_PARAMS_MAX_BYTES = 4096;

/** Parameters as an audit row keeps them: whole when small, else {truncated, bytes, sha256, summary}. */
export function boundedParams(params: unknown, maxBytes = AUDIT_PARAMS_MAX_BYTES): unknown {
  const text = JSON.stringify(params ?? {});
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return params ?? {};
  const summary: Record<string, unknown> = {};
  if (params && typeof params === 'object' && !Array.isArray(params)) {
    for (const [k, v] of Object.entries(params as Record<string, unknown>).slice(0, 20)) {
      if (v === null || typeof v === 'number' || typeof v === 'boolean') summary[k] = v;
      else if (typeof v === 'string') summary[k] = v.length <= 80 ? v : `${v.slice(0, 80)}… (${v.length} characters)`;
      else if (Array.isArray(v)) summary[k] = `array of ${v.length}`;
      else summary[k] = 'object';
    }
    const features = (params as { features?: unknown }).features;
    if (Array.isArray(features)) summary.featureCount = features.length;
  }
  return { truncated: true, bytes, sha256: crypto.createHash('sha256').update(text).digest('hex'), summary };
}

// ------------------------------------------------------------------ vehicle commands by role

export type CommandAction = 'arm' | 'disarm' | 'mode' | 'takeoff' | 'hold' | 'continue' | 'rtl' | 'land' | 'release';

/**
 * Modes that only make a vehicle stop, come home or land by itself: an operator may choose them on
 * any vehicle. Not LOITER or POSHOLD: they fly the pilot's sticks, and with nobody at them ArduCopter
 * descends and lands where it is (test/sims/firmware-facts.test.ts); choosing them is an admin's
 * maintenance action.
 */
export const SAFE_MODES: ReadonlySet<string> = new Set(['BRAKE', 'RTL', 'SMART_RTL', 'LAND', 'HOLD', 'AUTO.LOITER', 'AUTO.RTL', 'AUTO.LAND']);

export interface CommandContext {
  simulated: boolean;
  /** The vehicle flies a dispatched job. */
  hasJob: boolean;
  airborne: boolean;
  mode?: string;
  confirm?: boolean;
}

export type CommandVerdict = { ok: true; maintenance?: boolean } | { ok: false; status: number; code: string; message: string };

/**
 * What a role may command beyond what the role matrix grants. Operators fly through jobs: on a
 * real vehicle outside a job they may only stop it (HOLD, a safe mode), bring it home (RTL), land
 * it, or disarm it on the ground; continuing a mission and releasing the payload need the job.
 * Raw arm, takeoff and other modes on a real vehicle are an admin's maintenance action, confirmed.
 * Simulated vehicles are for practice: the matrix alone decides.
 */
export function commandVerdict(role: Role, action: CommandAction, ctx: CommandContext): CommandVerdict {
  if (ctx.simulated) return { ok: true };
  const mode = ctx.mode?.toUpperCase();
  const stopping = action === 'hold' || action === 'rtl' || action === 'land' || (action === 'mode' && !!mode && SAFE_MODES.has(mode));
  const inJob = action === 'continue' || action === 'release' || (action === 'disarm' && ctx.airborne);
  if (stopping || (action === 'disarm' && !ctx.airborne)) return { ok: true };
  if (inJob && ctx.hasJob) return { ok: true };
  const what = action === 'mode' ? `mode ${mode}` : action;
  if (role !== 'admin') {
    const why = inJob ? `${what} needs a dispatched job on this vehicle` : `${what} on a real vehicle is an admin's maintenance action; operators fly through jobs`;
    return { ok: false, status: 403, code: 'FORBIDDEN', message: why };
  }
  if (!ctx.confirm) return { ok: false, status: 400, code: 'CONFIRMATION_REQUIRED', message: `${what} outside a job is a maintenance action: it needs confirm: true` };
  return { ok: true, maintenance: true };
}
