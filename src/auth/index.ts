/**
 * Users, passwords and sessions. Passwords are hashed with scrypt (node:crypto; memory-hard,
 * salted, parameters stored with the hash); sessions are random 256-bit tokens of which only the
 * SHA-256 is stored, so a copy of the database does not hand out live sessions.
 */
import crypto from 'crypto';
import { promisify } from 'util';
import type { Role, Store, UserRow } from '../store';
import { ROLES } from '../store';

const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;

/** scrypt cost parameters (N = 2^14, r = 8, p = 1: ~16 MiB, tens of ms). */
const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  const key = await scrypt(password, salt, expected.length, { N: n, r, p, maxmem: 64 * 1024 * 1024 });
  return crypto.timingSafeEqual(key, expected);
}

export const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export interface AuthUser {
  id: number;
  username: string;
  role: Role;
}

export interface AuthOptions {
  /** Session lifetime. Default 12 h. */
  sessionTtlMs?: number;
}

export type LoginResult = { ok: true; token: string; user: AuthUser; expiresMs: number } | { ok: false; code: 'UNAUTHENTICATED'; message: string };

export class Auth {
  private readonly ttlMs: number;
  // A hash to verify against when the user does not exist, so timing does not reveal usernames.
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly store: Store,
    opts: AuthOptions = {},
  ) {
    this.ttlMs = opts.sessionTtlMs ?? 12 * 3600_000;
  }

  async login(username: string, password: string, address?: string | null): Promise<LoginResult> {
    const u = this.store.getUser(username);
    if (!u || u.disabled) {
      this.dummyHash ??= hashPassword('not-a-user');
      await verifyPassword(password, await this.dummyHash);
      return { ok: false, code: 'UNAUTHENTICATED', message: 'unknown user or wrong password' };
    }
    if (!(await verifyPassword(password, u.passwordHash))) return { ok: false, code: 'UNAUTHENTICATED', message: 'unknown user or wrong password' };
    const token = crypto.randomBytes(32).toString('base64url');
    const expiresMs = Date.now() + this.ttlMs;
    this.store.addSession(sha256(token), u.id, expiresMs, address);
    return { ok: true, token, user: { id: u.id, username: u.username, role: u.role }, expiresMs };
  }

  /** The user of a live session token, or null (unknown, revoked or expired). */
  authenticate(token: string | null | undefined): AuthUser | null {
    if (!token || token.length > 200) return null;
    const s = this.store.getSession(sha256(token));
    if (!s || s.revoked || s.expiresMs <= Date.now()) return null;
    const u = this.store.getUserById(s.userId);
    if (!u || u.disabled) return null;
    return { id: u.id, username: u.username, role: u.role };
  }

  logout(token: string): void {
    this.store.revokeSession(sha256(token));
  }

  async addUser(username: string, role: Role, password: string): Promise<UserRow> {
    if (!ROLES.includes(role)) throw Object.assign(new Error(`unknown role ${role}`), { code: 'INVALID_INPUT' });
    return this.store.addUser(username, role, await hashPassword(password));
  }

  /**
   * First start only (no users yet): create `admin` with DROPLINE_ADMIN_PASSWORD (or a generated
   * password returned once), and, when `demoUsers`, the demo users operator/operator,
   * supervisor/supervisor, trainer/trainer (and admin/admin when no admin password is set).
   */
  async seed(opts: { demoUsers: boolean; adminPassword?: string }): Promise<{ created: string[]; generatedAdminPassword?: string }> {
    if (this.store.userCount() > 0) return { created: [] };
    const created: string[] = [];
    let generated: string | undefined;
    let adminPw = opts.adminPassword;
    if (!adminPw) {
      if (opts.demoUsers) adminPw = 'admin';
      else adminPw = generated = crypto.randomBytes(12).toString('base64url');
    }
    await this.addUser('admin', 'admin', adminPw);
    created.push('admin');
    if (opts.demoUsers) {
      for (const r of ['operator', 'supervisor', 'trainer'] as const) {
        await this.addUser(r, r, r);
        created.push(r);
      }
    }
    return { created, generatedAdminPassword: generated };
  }
}

export type AddUserResult = { ok: true; username: string; role: Role } | { ok: false; code: 'INVALID_INPUT' | 'CONFLICT'; message: string };

/**
 * Add a user (or, with `replace`, reset an existing user's password) in a store: what
 * `dropline users add NAME --role ROLE` calls. Names: 1–64 of [A-Za-z0-9._-]; passwords ≥ 8 characters.
 */
export async function addUser(store: Store, username: string, role: string, password: string, opts: { replace?: boolean } = {}): Promise<AddUserResult> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(username)) return { ok: false, code: 'INVALID_INPUT', message: 'username must be 1–64 of A-Z a-z 0-9 . _ -' };
  if (!ROLES.includes(role as Role)) return { ok: false, code: 'INVALID_INPUT', message: `role must be one of ${ROLES.join(', ')}` };
  if (password.length < 8) return { ok: false, code: 'INVALID_INPUT', message: 'password must be at least 8 characters' };
  const existing = store.getUser(username);
  if (existing && !opts.replace) return { ok: false, code: 'CONFLICT', message: `user ${username} exists` };
  if (existing) {
    if (existing.role !== role) return { ok: false, code: 'CONFLICT', message: `user ${username} exists with role ${existing.role}` };
    store.setPasswordHash(username, await hashPassword(password));
  } else store.addUser(username, role as Role, await hashPassword(password));
  return { ok: true, username, role: role as Role };
}
