/**
 * Deployment posture and password handling, on real SQLite files and real sockets: demo accounts
 * only in the demo shape, nothing beyond loopback without TLS and real passwords, a generated admin
 * password changed at the first login, HTTPS with Secure cookies, and login back-off measured on a
 * fake clock against a real store.
 */
import { execFileSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService } from '../../src/service';
import { openStore } from '../../src/store';
import { Auth, SCRYPT_N } from '../../src/auth';
import { Client } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';

jest.setTimeout(60_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-posture-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const base = { zonesFile: TEST_ZONES_FILE, port: 0, logLevel: 'silent' };

test('demo accounts only for built-in simulators on loopback: not with vehicle links, not by request beyond it', async () => {
  await expect(startService({ ...base, dataDir: path.join(tmp, 'a'), links: ['tcp:127.0.0.1:9'], demoUsers: true })).rejects.toMatchObject({ code: 'UNSAFE_CONFIG' });
  // Links without the flag: the admin alone, with a generated password.
  const svc = await startService({ ...base, dataDir: path.join(tmp, 'b'), links: ['tcp:127.0.0.1:9'], adminPassword: undefined });
  try {
    expect((await svc.store.listUsers()).map((u) => [u.username, u.passwordState])).toEqual([['admin', 'generated']]);
  } finally {
    await svc.close();
  }
});

test('beyond loopback: refused without TLS, without named origins on a wildcard address, and while any account has a default password', async () => {
  await expect(startService({ ...base, dataDir: path.join(tmp, 'c'), host: '192.0.2.10' })).rejects.toThrow(/needs TLS/);
  await expect(startService({ ...base, dataDir: path.join(tmp, 'c'), host: '0.0.0.0', tlsCert: 'x', tlsKey: 'y' })).rejects.toThrow(/--origin/);
  await expect(startService({ ...base, dataDir: path.join(tmp, 'c'), host: '192.0.2.10', trustProxy: true })).rejects.toThrow(/127\.0\.0\.1/);
  // A data directory whose demo accounts still have their demo passwords: refused before listening, saying how to fix it.
  const demoDir = path.join(tmp, 'demo');
  const demo = await startService({ ...base, dataDir: demoDir, simulators: 0 });
  expect((await demo.store.usersWithDefaultPasswords()).map((u) => u.username).sort()).toEqual(['admin', 'operator', 'supervisor', 'trainer']);
  await demo.close();
  const { cert, key } = selfSigned();
  const refused = startService({ ...base, dataDir: demoDir, host: '192.0.2.10', tlsCert: cert, tlsKey: key });
  await expect(refused).rejects.toMatchObject({ code: 'UNSAFE_CONFIG' });
  await expect(refused).rejects.toThrow(/operator \(demo password\).*dropline users add NAME --role ROLE --replace/);
});

test('HTTPS with --tls-cert/--tls-key: the session cookie is Secure', async () => {
  const { cert, key } = selfSigned();
  const dir = path.join(tmp, 'tls');
  await seedTestUsers(dir);
  const svc = await startService({ ...base, dataDir: dir, tlsCert: cert, tlsKey: key });
  try {
    expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const https = await import('https');
    const setCookie = await new Promise<string[]>((resolve, reject) => {
      const req = https.request(svc.url + '/api/login', { method: 'POST', ca: fs.readFileSync(cert), headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.headers['set-cookie'] ?? []);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ username: 'operator', password: 'operator-pass-2026' }));
    });
    expect(setCookie[0]).toMatch(/dropline_session=.*; .*Secure/);
    expect(setCookie[0]).toMatch(/HttpOnly/);
    expect(setCookie[0]).toMatch(/SameSite=Strict/);
  } finally {
    await svc.close();
  }
});

test('a generated admin password must be changed at the first login: nothing else is allowed until it is', async () => {
  const svc = await startService({ ...base, dataDir: path.join(tmp, 'gen'), links: ['tcp:127.0.0.1:9'] });
  try {
    // The generated password is printed once; read it back the way a test can: set a known one first is not possible, so log in with it from the log line.
    const admin = (await svc.store.getUser('admin'))!;
    expect(admin.passwordState).toBe('generated');
    const pw = 'first-start-password-1';
    // What the operator would type after reading the log: make the test independent of log capture by resetting the hash to a known generated one.
    const { hashPassword } = await import('../../src/auth');
    svc.store.db!.prepare('UPDATE users SET password_hash = ? WHERE username = ?').run(await hashPassword(pw), 'admin');
    const c = await new Client(svc.url).login('admin', pw);
    expect((await c.get('/api/me')).body).toEqual({ username: 'admin', role: 'admin', mustChangePassword: true });
    const blocked = await c.get('/api/vehicles');
    expect([blocked.status, blocked.body.error.code]).toEqual([403, 'PASSWORD_CHANGE_REQUIRED']);
    const changed = await c.post('/api/password', { current: pw, next: 'a-chosen-admin-password' });
    expect(changed.status).toBe(200);
    expect(changed.body.mustChangePassword).toBe(false);
    c.token = changed.body.token;
    expect((await c.get('/api/vehicles')).status).toBe(200);
    expect((await svc.store.getUser('admin'))!.passwordState).toBe('set');
  } finally {
    await svc.close();
  }
});

test('password hashes: scrypt N = 2^17; older, weaker hashes are upgraded at the next login', async () => {
  const store = await openStore({ dataDir: path.join(tmp, 'hash') });
  try {
    const auth = new Auth(store);
    await auth.addUser('nurse.li', 'operator', 'correct horse battery');
    expect((await store.getUser('nurse.li'))!.passwordHash.split('$')[1]).toBe(String(SCRYPT_N));
    expect(SCRYPT_N).toBeGreaterThanOrEqual(2 ** 17);
    // A hash made at 2^14 (this service's earlier cost) still verifies, and is replaced by a 2^17 one.
    const crypto = await import('crypto');
    const salt = crypto.randomBytes(16);
    const old = crypto.scryptSync('old password here', salt, 32, { N: 16384, r: 8, p: 1 });
    store.db!.prepare('UPDATE users SET password_hash = ? WHERE username = ?').run(`scrypt$16384$8$1$${salt.toString('base64')}$${old.toString('base64')}`, 'nurse.li');
    expect((await auth.login('nurse.li', 'old password here')).ok).toBe(true);
    expect((await store.getUser('nurse.li'))!.passwordHash.split('$')[1]).toBe(String(SCRYPT_N));
    expect((await auth.login('nurse.li', 'old password here')).ok).toBe(true);
  } finally {
    await store.close();
  }
});

test('login back-off: per account after 5 failures, doubling, capped; per address after 20; forgotten after an hour of quiet', async () => {
  const store = await openStore({ dataDir: path.join(tmp, 'throttle') });
  let now = 1_000_000;
  const lockouts: Array<{ key: string; lockedForMs: number }> = [];
  const auth = new Auth(store, { now: () => now, onLockout: (e) => lockouts.push({ key: e.key, lockedForMs: e.lockedForMs }) });
  try {
    await auth.addUser('op', 'operator', 'the right password');
    const attempt = (pw: string, addr = '10.0.0.1') => auth.login('op', pw, addr);
    for (let i = 0; i < 4; i++) expect((await attempt('wrong')).ok).toBe(false);
    expect(lockouts).toEqual([]);
    expect(await attempt('wrong')).toMatchObject({ ok: false, code: 'UNAUTHENTICATED' });
    expect(lockouts).toEqual([{ key: 'user:op', lockedForMs: 1000 }]);
    expect(await attempt('the right password')).toMatchObject({ ok: false, code: 'TOO_MANY_ATTEMPTS', retryAfterMs: 1000 });
    now += 1000;
    expect(await attempt('wrong')).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(lockouts.at(-1)).toEqual({ key: 'user:op', lockedForMs: 2000 });
    now += 2000;
    expect(await attempt('wrong')).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(lockouts.at(-1)).toEqual({ key: 'user:op', lockedForMs: 4000 });
    // Capped at 15 minutes however long the guessing goes on.
    for (let i = 0; i < 12; i++) {
      now += 16 * 60_000;
      await attempt('wrong', `10.1.0.${i}`);
    }
    expect(lockouts.at(-1)!.lockedForMs).toBe(15 * 60_000);
    // An hour of quiet: the count starts again; success clears it.
    now += 61 * 60_000;
    expect((await attempt('the right password')).ok).toBe(true);
    for (let i = 0; i < 4; i++) await attempt('wrong');
    expect((await attempt('the right password')).ok).toBe(true);
    // One address guessing many names (unknown ones too) is locked after 20 failures.
    now += 61 * 60_000;
    lockouts.length = 0;
    for (let i = 0; i < 20; i++) await auth.login(`ghost${i}`, 'x', '10.9.9.9');
    expect(lockouts).toEqual([{ key: 'addr:10.9.9.9', lockedForMs: 1000 }]);
    expect(await auth.login('op', 'the right password', '10.9.9.9')).toMatchObject({ code: 'TOO_MANY_ATTEMPTS' });
    expect((await auth.login('op', 'the right password', '10.0.0.2')).ok).toBe(true);
    // Unknown names do not grow the table: only the address is counted.
    expect(store.db!.prepare("SELECT COUNT(*) AS n FROM login_failures WHERE key LIKE 'user:ghost%'").get()).toEqual({ n: 0 });
  } finally {
    await store.close();
  }
  // Some fifty scrypt checks, each memory-hard on purpose: minutes on a loaded 2-core machine.
}, 240_000);

function selfSigned(): { cert: string; key: string } {
  const d = fs.mkdtempSync(path.join(tmp, 'tls-'));
  const cert = path.join(d, 'cert.pem');
  const key = path.join(d, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}
