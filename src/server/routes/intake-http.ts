/**
 * Plumbing shared by the intake and report routes: who is asking (a console session or a partner
 * key), a small fixed-window rate limiter, and turning outcomes into replies.
 */
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { AuthUser } from '../../auth';
import type { Role } from '../../store';
import { authorize, type Permission } from '../roles';
import { sendError } from '../errors';
import { isPartnerKeyText, verifyPartnerKey, type IntakeScope } from '../../intake/keys';
import type { IntakeDb, PartnerKeyRow } from '../../intake/db';

/** Roles that see a request's free text and contact (the others see them masked). */
export const PERSONAL_DATA_ROLES: ReadonlySet<Role> = new Set(['admin', 'operator', 'supervisor']);

export type Caller = { kind: 'user'; user: AuthUser; address: string | null } | { kind: 'key'; key: PartnerKeyRow; address: string | null };

export interface CallerDeps {
  authenticate(req: Request): Promise<AuthUser | null>;
  db: IntakeDb;
}

export function bearer(req: Request): string | null {
  const h = req.headers.authorization;
  return typeof h === 'string' && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : null;
}

export const addressOf = (req: Request): string | null => req.ip ?? req.socket.remoteAddress ?? null;

/** A route handler whose thrown errors and rejected promises become 500 INTERNAL (logged by the caller). */
export function safe(fn: (req: Request, res: Response) => Promise<void> | void, onError: (e: unknown, req: Request) => void): RequestHandler {
  return (req: Request, res: Response, _next: NextFunction) => {
    Promise.resolve()
      .then(() => fn(req, res))
      .catch((e) => {
        onError(e, req);
        if (!res.headersSent) sendError(res, 500, 'INTERNAL', 'internal error (logged)');
      });
  };
}

/**
 * The caller, if allowed: a partner key with the scope (when `scope` is given), or a session whose
 * role has the permission (when `permission` is given). Otherwise the reply is sent (401 / 403) and
 * null returned.
 */
export async function callerFor(req: Request, res: Response, deps: CallerDeps, need: { scope?: IntakeScope; permission?: Permission }): Promise<Caller | null> {
  const address = addressOf(req);
  const tok = bearer(req);
  if (tok && isPartnerKeyText(tok)) {
    const k = await verifyPartnerKey(deps.db, tok);
    if (!k.ok) {
      sendError(res, 401, 'UNAUTHENTICATED', k.message);
      return null;
    }
    if (!need.scope || !k.key.scopes.includes(need.scope)) {
      sendError(res, 403, 'FORBIDDEN', need.scope ? `this API key lacks the scope ${need.scope}` : 'API keys may only create requests and read their status');
      return null;
    }
    await deps.db.touchKey(k.key.id, new Date().toISOString());
    return { kind: 'key', key: k.key, address };
  }
  const user = await deps.authenticate(req);
  if (!user) {
    sendError(res, 401, 'UNAUTHENTICATED', 'log in first, or present a partner API key (Authorization: Bearer dlk_…)');
    return null;
  }
  if (user.mustChangePassword) {
    sendError(res, 403, 'PASSWORD_CHANGE_REQUIRED', 'this account still has its generated password: change it first (POST /api/password)');
    return null;
  }
  if (!need.permission) {
    sendError(res, 403, 'FORBIDDEN', 'this route is for partner API keys');
    return null;
  }
  const a = authorize(user.role, need.permission);
  if (!a.ok) {
    sendError(res, 403, a.code, a.message);
    return null;
  }
  return { kind: 'user', user, address };
}

export function actorOf(c: Caller) {
  return c.kind === 'user' ? { username: c.user.username, role: c.user.role, address: c.address } : { username: `key:${c.key.id}`, role: 'intake', address: c.address };
}

/** Fixed one-minute windows per key; forgets everything when it holds too many keys. */
export class RateLimiter {
  private readonly windows = new Map<string, { n: number; resetMs: number }>();
  constructor(private readonly maxKeys = 50_000) {}
  /** null when allowed; else seconds until the window resets. */
  hit(key: string, perMinute: number, now = Date.now()): number | null {
    let w = this.windows.get(key);
    if (!w || now >= w.resetMs) {
      if (this.windows.size >= this.maxKeys) this.windows.clear();
      w = { n: 0, resetMs: now + 60_000 };
      this.windows.set(key, w);
    }
    w.n++;
    return w.n > perMinute ? Math.max(1, Math.ceil((w.resetMs - now) / 1000)) : null;
  }
}

export function reply(res: Response, r: { ok: true; value: unknown } | { ok: false; status: number; code: string; message: string; details?: unknown }, status = 200): void {
  if (!r.ok) return sendError(res, r.status, r.code, r.message, r.details);
  res.status(status).json(r.value);
}
