/**
 * Logging in and out, one's own password, and the users an admin manages.
 */
import { tokenOf, SESSION_COOKIE, type RouteKit, type Ctx } from '../api-kit';
import { Fail } from '../errors';
import * as S from '../schemas';
import type { Store } from '../../store';
import type { AuthUser } from '../../auth';

export function authRoutes(k: RouteKit): void {
  const { route } = k;
  const { store, auth } = k.deps;
  const deps = k.deps;
  const sessionReply = (c: Ctx, r: { token: string; user: AuthUser; expiresMs: number }) => {
    c.res.cookie(SESSION_COOKIE, r.token, { httpOnly: true, sameSite: 'strict', secure: !!deps.secureCookie, path: '/', expires: new Date(r.expiresMs) });
    return { token: r.token, role: r.user.role, username: r.user.username, expiresAt: new Date(r.expiresMs).toISOString(), mustChangePassword: !!r.user.mustChangePassword };
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
}
