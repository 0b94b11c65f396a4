/**
 * Users, passwords and sessions. Passwords are hashed with scrypt (node:crypto; memory-hard,
 * salted, parameters stored with the hash); sessions are random 256-bit tokens of which only the
 * SHA-256 is stored, so a copy of the database does not hand out live sessions.
 */
import crypto from 'crypto';
import { promisify } from 'util';
import type { PasswordState, Role, Store, UserRow } from '../store';
import { ROLES } from '../store';

const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;

/**
 * scrypt cost parameters: N = 2^17, r = 8, p = 1 (OWASP's recommendation: 128 MiB per hash, about
 * half a second on one core here). Hashing runs on libuv's thread pool, never on the event loop.
 */
export const SCRYPT_N = 131072;
const R = 8;
const P = 1;
const KEYLEN = 32;
/** Enough for N = 2^17, r = 8 (128·N·r bytes) with headroom; larger stored parameters are refused. */
const MAXMEM = 256 * 1024 * 1024;

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N: SCRYPT_N, r: R, p: P, maxmem: MAXMEM });
  return `scrypt$${SCRYPT_N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function hashParams(stored: string): { n: number; r: number; p: number } | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  return { n, r, p };
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const hp = hashParams(stored);
  if (!hp) return false;
  const parts = stored.split('$');
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  try {
    const key = await scrypt(password, salt, expected.length, { N: hp.n, r: hp.r, p: hp.p, maxmem: MAXMEM });
    return crypto.timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}

/** A stored hash made with weaker parameters than today's (rehashed at the next successful login). */
function weakerThanNow(stored: string): boolean {
  const hp = hashParams(stored);
  return !hp || hp.n < SCRYPT_N || hp.r < R;
}

export const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export interface AuthUser {
  id: number;
  username: string;
  role: Role;
  /** The password was generated at first start: nothing but changing it is allowed until it is. */
  mustChangePassword?: boolean;
}

export interface ThrottleOptions {
  /** Failures of one account allowed before back-off starts. Default 5. */
  userFreeFailures?: number;
  /** Failures from one address allowed before back-off starts (several people share one NAT). Default 20. */
  addressFreeFailures?: number;
  /** First lock-out; doubles with each further failure. Default 1000 ms. */
  baseLockMs?: number;
  /** Longest lock-out. Default 15 min. */
  maxLockMs?: number;
  /** Failures older than this are forgotten. Default 1 h. */
  forgetAfterMs?: number;
}

export interface AuthOptions {
  /** Session lifetime. Default 12 h. */
  sessionTtlMs?: number;
  /** Login throttling (exponential back-off per account and per address). */
  throttle?: ThrottleOptions;
  /** Called when a lock-out starts (the service audits it). */
  onLockout?: (e: { key: string; failures: number; lockedForMs: number; username: string; address: string | null }) => void;
  /** Called when sessions end other than by expiry (logout, password change, disable), so live sockets can be closed. */
  onSessionsRevoked?: () => void;
  /** Time source (ms). Default Date.now. */
  now?: () => number;
}

export type LoginResult =
  | { ok: true; token: string; user: AuthUser; expiresMs: number }
  | { ok: false; code: 'UNAUTHENTICATED'; message: string }
  | { ok: false; code: 'TOO_MANY_ATTEMPTS'; message: string; retryAfterMs: number };

export type ChangePasswordResult = { ok: true; token: string; user: AuthUser; expiresMs: number } | { ok: false; code: 'UNAUTHENTICATED' | 'INVALID_INPUT' | 'TOO_MANY_ATTEMPTS'; message: string; retryAfterMs?: number };

/** Rules for a password a person chooses. Null when it is acceptable, else the reason. */
export function passwordProblem(username: string, password: string): string | null {
  if (password.length < 10) return 'password must be at least 10 characters';
  if (password.length > 200) return 'password must be at most 200 characters';
  if (password.toLowerCase() === username.toLowerCase()) return 'password must not be the user name';
  if (/^(.)\1*$/.test(password)) return 'password must not be one repeated character';
  return null;
}

export class Auth {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly th: Required<ThrottleOptions>;
  // A hash to verify against when the user does not exist, so timing does not reveal usernames.
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly store: Store,
    private readonly opts: AuthOptions = {},
  ) {
    this.ttlMs = opts.sessionTtlMs ?? 12 * 3600_000;
    this.now = opts.now ?? Date.now;
    const t = opts.throttle ?? {};
    this.th = {
      userFreeFailures: t.userFreeFailures ?? 5,
      addressFreeFailures: t.addressFreeFailures ?? 20,
      baseLockMs: t.baseLockMs ?? 1000,
      maxLockMs: t.maxLockMs ?? 15 * 60_000,
      forgetAfterMs: t.forgetAfterMs ?? 3600_000,
    };
  }

  /** Keys a login attempt counts against: the account (only if it exists: unknown names must not grow the table) and the address. */
  private throttleKeys(username: string, exists: boolean, address: string | null | undefined): Array<{ key: string; free: number }> {
    const keys: Array<{ key: string; free: number }> = [];
    if (exists) keys.push({ key: `user:${username}`, free: this.th.userFreeFailures });
    if (address) keys.push({ key: `addr:${address}`, free: this.th.addressFreeFailures });
    return keys;
  }

  /** How long the caller must still wait (0 = may try now). */
  private async lockedForMs(keys: Array<{ key: string }>): Promise<number> {
    let wait = 0;
    const now = this.now();
    for (const { key } of keys) {
      const f = await this.store.loginFailure(key);
      if (f && f.lockedUntilMs > now) wait = Math.max(wait, f.lockedUntilMs - now);
    }
    return wait;
  }

  private async recordFailure(keys: Array<{ key: string; free: number }>, username: string, address: string | null | undefined): Promise<void> {
    const now = this.now();
    // Read and count in one transaction: concurrent failures each count.
    for (const { key, free } of keys) await this.store.tx(async (t) => {
      const prev = await t.loginFailure(key);
      const failures = prev && now - prev.lastMs < this.th.forgetAfterMs ? prev.failures + 1 : 1;
      let lockedUntilMs = 0;
      if (failures >= free) {
        const lockMs = Math.min(this.th.maxLockMs, this.th.baseLockMs * 2 ** (failures - free));
        lockedUntilMs = now + lockMs;
        try {
          this.opts.onLockout?.({ key, failures, lockedForMs: lockMs, username, address: address ?? null });
        } catch {
          /* auditing a lock-out must not stop it */
        }
      }
      await t.setLoginFailure(key, { failures, lastMs: now, lockedUntilMs });
    });
  }

  private async newSession(u: UserRow, address: string | null | undefined): Promise<{ token: string; user: AuthUser; expiresMs: number }> {
    const token = crypto.randomBytes(32).toString('base64url');
    const expiresMs = this.now() + this.ttlMs;
    await this.store.addSession(sha256(token), u.id, expiresMs, address);
    return { token, user: toAuthUser(u), expiresMs };
  }

  /**
   * Check a password, with throttling: after a few failures an account (and, later, an address) is
   * locked for a time that doubles with every further failure; a locked attempt is refused without
   * even checking the password, so guessing gains nothing.
   */
  private async checkPassword(username: string, password: string, address: string | null | undefined): Promise<{ ok: true; user: UserRow } | { ok: false; code: 'UNAUTHENTICATED'; message: string } | { ok: false; code: 'TOO_MANY_ATTEMPTS'; message: string; retryAfterMs: number }> {
    const u = await this.store.getUser(username);
    const keys = this.throttleKeys(username, !!u, address);
    const wait = await this.lockedForMs(keys);
    if (wait > 0) return { ok: false, code: 'TOO_MANY_ATTEMPTS', message: `too many failed logins: try again in ${Math.ceil(wait / 1000)} s`, retryAfterMs: wait };
    let good = false;
    if (!u || u.disabled) {
      this.dummyHash ??= hashPassword('not-a-user');
      await verifyPassword(password, await this.dummyHash);
    } else good = await verifyPassword(password, u.passwordHash);
    if (!good || !u || u.disabled) {
      await this.recordFailure(keys, username, address);
      return { ok: false, code: 'UNAUTHENTICATED', message: 'unknown user or wrong password' };
    }
    for (const { key } of keys) await this.store.clearLoginFailure(key);
    if (weakerThanNow(u.passwordHash)) await this.store.upgradePasswordHash(u.username, await hashPassword(password));
    return { ok: true, user: u };
  }

  async login(username: string, password: string, address?: string | null): Promise<LoginResult> {
    const r = await this.checkPassword(username, password, address);
    if (!r.ok) return r;
    return { ok: true, ...(await this.newSession(r.user, address)) };
  }

  /**
   * Change one's own password (the current one is checked, with the same throttling as a login).
   * Every session of the user ends; a new one is returned so the caller stays logged in.
   */
  async changePassword(username: string, current: string, next: string, address?: string | null): Promise<ChangePasswordResult> {
    const problem = passwordProblem(username, next);
    if (problem) return { ok: false, code: 'INVALID_INPUT', message: problem };
    if (next === current) return { ok: false, code: 'INVALID_INPUT', message: 'the new password must differ from the current one' };
    const r = await this.checkPassword(username, current, address);
    if (!r.ok) return r;
    await this.store.setPasswordHash(username, await hashPassword(next), 'set');
    this.sessionsRevoked();
    return { ok: true, ...(await this.newSession((await this.store.getUser(username))!, address)) };
  }

  /** The user of a live session token, or null (unknown, revoked or expired, or the user is disabled). */
  async authenticate(token: string | null | undefined): Promise<AuthUser | null> {
    return (await this.session(token))?.user ?? null;
  }

  /** A live session's user and when the session expires, or null as for `authenticate`. Throws what the store throws (unreachable). */
  async session(token: string | null | undefined): Promise<{ user: AuthUser; expiresMs: number } | null> {
    if (!token || token.length > 200) return null;
    const s = await this.store.getSession(sha256(token));
    if (!s || s.revoked || this.expired(s.expiresMs)) return null;
    const u = await this.store.getUserById(s.userId);
    if (!u || u.disabled) return null;
    return { user: toAuthUser(u), expiresMs: s.expiresMs };
  }

  /** Whether a session that expires at `expiresMs` has expired by now (sessions are never extended: no store needed). */
  expired(expiresMs: number): boolean {
    return expiresMs <= this.now();
  }

  async logout(token: string): Promise<void> {
    await this.store.revokeSession(sha256(token));
    this.sessionsRevoked();
  }

  /** Disable (every session ends at once) or enable a user. */
  async setDisabled(username: string, disabled: boolean): Promise<boolean> {
    const ok = await this.store.setUserDisabled(username, disabled);
    if (ok && disabled) this.sessionsRevoked();
    return ok;
  }

  /** Sessions may have ended outside this process too (the CLI disables users in the same database). */
  sessionsRevoked(): void {
    try {
      this.opts.onSessionsRevoked?.();
    } catch {
      /* a listener's failure does not undo the revocation */
    }
  }

  async addUser(username: string, role: Role, password: string, passwordState: PasswordState = 'set'): Promise<UserRow> {
    if (!ROLES.includes(role)) throw Object.assign(new Error(`unknown role ${role}`), { code: 'INVALID_INPUT' });
    return this.store.addUser(username, role, await hashPassword(password), passwordState);
  }

  /**
   * First start only (no users yet): create `admin` with DROPLINE_ADMIN_PASSWORD (or a generated
   * password returned once), and, when `demoUsers`, the demo users operator/operator,
   * supervisor/supervisor, trainer/trainer (and admin/admin when no admin password is set).
   */
  async seed(opts: { demoUsers: boolean; adminPassword?: string }): Promise<{ created: string[]; generatedAdminPassword?: string }> {
    if ((await this.store.userCount()) > 0) return { created: [] };
    const created: string[] = [];
    let generated: string | undefined;
    let adminPw = opts.adminPassword;
    if (!adminPw) {
      if (opts.demoUsers) adminPw = 'admin';
      else adminPw = generated = crypto.randomBytes(12).toString('base64url');
    }
    const adminState: PasswordState = generated ? 'generated' : opts.demoUsers && !opts.adminPassword ? 'demo' : 'set';
    // Hashed concurrently (libuv's pool): four scrypt hashes at N = 2^17 one after another take seconds.
    const demo = opts.demoUsers ? (['operator', 'supervisor', 'trainer'] as const) : [];
    const hashes = await Promise.all([hashPassword(adminPw), ...demo.map((r) => hashPassword(r))]);
    // Counted again with the writes: another node sharing the database may have seeded meanwhile.
    const seeded = await this.store.tx(async (t) => {
      if ((await t.userCount()) > 0) return false;
      await t.addUser('admin', 'admin', hashes[0], adminState);
      created.push('admin');
      for (const [i, r] of demo.entries()) {
        await t.addUser(r, r, hashes[i + 1], 'demo');
        created.push(r);
      }
      return true;
    });
    if (!seeded) return { created: [] };
    return { created, generatedAdminPassword: generated };
  }
}

function toAuthUser(u: UserRow): AuthUser {
  const a: AuthUser = { id: u.id, username: u.username, role: u.role };
  if (u.passwordState === 'generated') a.mustChangePassword = true;
  return a;
}

export type AddUserResult = { ok: true; username: string; role: Role } | { ok: false; code: 'INVALID_INPUT' | 'CONFLICT'; message: string };

/**
 * Add a user (or, with `replace`, reset an existing user's password) in a store: what
 * `dropline users add NAME --role ROLE` calls. Names: 1–64 of [A-Za-z0-9._-]; passwords ≥ 8 characters.
 */
export async function addUser(store: Store, username: string, role: string, password: string, opts: { replace?: boolean } = {}): Promise<AddUserResult> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(username)) return { ok: false, code: 'INVALID_INPUT', message: 'username must be 1–64 of A-Z a-z 0-9 . _ -' };
  if (!ROLES.includes(role as Role)) return { ok: false, code: 'INVALID_INPUT', message: `role must be one of ${ROLES.join(', ')}` };
  const problem = passwordProblem(username, password);
  if (problem) return { ok: false, code: 'INVALID_INPUT', message: problem };
  const existing = await store.getUser(username);
  if (existing && !opts.replace) return { ok: false, code: 'CONFLICT', message: `user ${username} exists` };
  if (existing) {
    if (existing.role !== role) return { ok: false, code: 'CONFLICT', message: `user ${username} exists with role ${existing.role}` };
    await store.setPasswordHash(username, await hashPassword(password));
  } else await store.addUser(username, role as Role, await hashPassword(password));
  return { ok: true, username, role: role as Role };
}
