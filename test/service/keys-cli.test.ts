/**
 * `dropline keys create|list|revoke` run as the real command (node bin/dropline.js keys …, the
 * built bundle), on a SQLite data directory and on PostgreSQL (--store URL): the key is printed
 * once and only its sha256 is stored; a key made by the command is accepted by a running service
 * and refused once revoked by the command; creating and revoking are audited; bad arguments exit 2
 * and write nothing.
 */
import { execFile } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { Client } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { freshSchema, pgSuite, type TestSchema } from '../support/postgres';
import { openStore } from '../../src/store';

jest.setTimeout(120_000);

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'dropline.js');
const KEY = /^dlk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

interface Run { code: number; stdout: string; stderr: string }

function dropline(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'keys', ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, DROPLINE_DATA_DIR: '/nonexistent-dropline-data' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const noTrace = (r: Run) => expect(r.stderr + r.stdout).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('dropline keys on a SQLite data directory', () => {
  let dir: string;
  let svc: Service | undefined;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-keys-cli-'));
  });
  afterAll(async () => {
    await svc?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('bad arguments exit 2 with the usage, write nothing', async () => {
    for (const args of [[], ['make', 'x'], ['create'], ['create', 'bot'], ['create', 'bot', '--scope', 'users.manage'], ['create', '', '--scope', 'requests.create'], ['create', 'x'.repeat(101), '--scope', 'requests.create'], ['revoke'], ['list', 'extra'], ['list', '--scope', 'requests.read'], ['list', '--nonsense']]) {
      const r = await dropline([...args, '--data', dir]);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^dropline: /);
      noTrace(r);
    }
    expect(fs.existsSync(path.join(dir, 'dropline.sqlite'))).toBe(false);
  });

  test('create prints the key once; list shows it without any secret; a running service accepts it; revoke ends it; both audited', async () => {
    const made = await dropline(['create', 'community chat-bot', '--scope', 'requests.create', '--scope', 'requests.read', '--data', dir]);
    expect(made.code).toBe(0);
    noTrace(made);
    const key = made.stdout.trim();
    const m = KEY.exec(key);
    expect(m).not.toBeNull();
    const [, id, secret] = m!;
    expect(made.stderr).toContain(`created partner key ${id} "community chat-bot" (requests.create, requests.read)`);

    const list = await dropline(['list', '--data', dir]);
    expect(list.code).toBe(0);
    const [line, ...more] = list.stdout.trim().split('\n');
    expect(more).toEqual([]);
    expect(line.split('\t').slice(0, 4)).toEqual([id, 'community chat-bot', 'requests.create,requests.read', 'active']);
    expect(line).toContain(`by cli:${os.userInfo().username}`);
    expect(list.stdout).not.toContain(secret);
    expect(list.stdout).not.toContain(sha256(secret));

    // What is stored: the hash of the secret, never the secret.
    const store = await openStore({ dataDir: dir });
    try {
      const raw = JSON.stringify(store.db!.prepare('SELECT * FROM intake_keys').all());
      expect(raw).toContain(sha256(secret));
      expect(raw).not.toContain(secret);
    } finally {
      await store.close();
    }

    // The service on the same data directory takes requests with the key …
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 0, logLevel: 'silent' });
    const withKey = (method: string, p: string, body?: unknown) => new Client(svc!.url).req(method, p, body, { token: key });
    const created = await withKey('POST', '/api/requests', { text: 'Riverside Estate building 1: insulin' });
    expect(created.status).toBe(201);
    expect((await withKey('GET', `/api/requests/${created.body.id}/status`)).status).toBe(200);

    // … until the command revokes it (the service reads the key's row at every request).
    const revoked = await dropline(['revoke', id, '--data', dir]);
    expect([revoked.code, revoked.stdout]).toEqual([0, `revoked ${id}\n`]);
    const refused = await withKey('POST', '/api/requests', { text: 'Riverside Estate building 1: insulin' });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('UNAUTHENTICATED');
    expect((await dropline(['list', '--data', dir])).stdout.split('\t')[3]).toMatch(/^revoked \d{4}-\d\d-\d\dT/);
    const again = await dropline(['revoke', id, '--data', dir]);
    expect([again.code, again.stderr]).toEqual([2, `dropline: no active key ${id}\n`]);

    const audit = svc.store.db!.prepare("SELECT username, role, action, params, outcome FROM audit WHERE action LIKE 'intake.key.%' ORDER BY id").all() as any[];
    expect(audit.map((a) => [a.username, a.role, a.action, JSON.parse(a.params), JSON.parse(a.outcome)])).toEqual([
      [`cli:${os.userInfo().username}`, 'cli', 'intake.key.create', { keyId: id, name: 'community chat-bot', scopes: ['requests.create', 'requests.read'] }, { ok: true }],
      [`cli:${os.userInfo().username}`, 'cli', 'intake.key.revoke', { keyId: id }, { ok: true }],
      [`cli:${os.userInfo().username}`, 'cli', 'intake.key.revoke', { keyId: id }, { ok: false, code: 'NOT_FOUND' }],
    ]);
    expect(JSON.stringify(audit)).not.toContain(secret);
  });
});

pgSuite('dropline keys on PostgreSQL (--store URL)', () => {
  let schema: TestSchema;
  beforeAll(() => {
    schema = freshSchema();
  });
  afterAll(async () => {
    await schema?.drop();
  });

  test('create, list and revoke in the schema named by the URL; only the hash stored; audited', async () => {
    const made = await dropline(['create', 'hotline', '--scope', 'requests.create', '--store', schema.url]);
    expect(made.code).toBe(0);
    noTrace(made);
    const [, id, secret] = KEY.exec(made.stdout.trim())!;
    const row = (await schema.sql('SELECT id, name, key_hash, scopes, created_by, revoked_at FROM intake_keys')).rows;
    expect(row).toEqual([{ id, name: 'hotline', key_hash: sha256(secret), scopes: '["requests.create"]', created_by: `cli:${os.userInfo().username}`, revoked_at: null }]);
    const list = await dropline(['list', '--store', schema.url]);
    expect(list.stdout.split('\t').slice(0, 4)).toEqual([id, 'hotline', 'requests.create', 'active']);
    expect((await dropline(['revoke', id, '--store', schema.url])).code).toBe(0);
    expect((await schema.sql('SELECT revoked_at FROM intake_keys WHERE id = $1', [id])).rows[0].revoked_at).toMatch(/^\d{4}-/);
    const audit = (await schema.sql("SELECT username, role, action FROM audit WHERE action LIKE 'intake.key.%' ORDER BY id")).rows;
    expect(audit).toEqual([
      { username: `cli:${os.userInfo().username}`, role: 'cli', action: 'intake.key.create' },
      { username: `cli:${os.userInfo().username}`, role: 'cli', action: 'intake.key.revoke' },
    ]);
  });
});
