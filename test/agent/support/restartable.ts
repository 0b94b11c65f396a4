/**
 * A NATS server and a PostgreSQL cluster of a test's own, to crash and start again mid-test without
 * touching the machine's shared ones (NATS on 4222, PostgreSQL on 5432, which other suites and CI use):
 *
 * - NATS: `nats-server -js` on a free loopback port with a store directory of its own; `crash()` is
 *   SIGKILL, `start()` again takes the same port and store (the JetStream streams survive).
 * - PostgreSQL: `initdb` in a temporary directory owned by the `postgres` OS user (the server refuses
 *   to run as root), trust auth, listening on 127.0.0.1:<free port> and a unix socket in that directory
 *   only; `crash()` is `pg_ctl stop -m immediate`, `start()` brings it back on the same data.
 *
 * `missingBinaries()` says what is absent (the suite then skips, or fails under CI=true).
 */
import { execFileSync, spawn, type ChildProcess } from 'child_process';
import fs from 'fs';
import net from 'net';
import os from 'os';
import path from 'path';

/** nats-server: NATS_SERVER_BIN, or the Debian package's binary, or the first on PATH. */
export const NATS_SERVER =
  process.env.NATS_SERVER_BIN ??
  ['/usr/sbin/nats-server', '/usr/bin/nats-server', ...(process.env.PATH ?? '').split(':').map((d) => path.join(d, 'nats-server'))].find((f) => fs.existsSync(f)) ??
  '/usr/sbin/nats-server';

/** PostgreSQL's programs: PG_BIN_DIR, or the newest /usr/lib/postgresql/N/bin (as .ci/run picks it). */
export const PG_BIN =
  process.env.PG_BIN_DIR ??
  (() => {
    try {
      const versions = fs.readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join('/usr/lib/postgresql', v, 'bin', 'initdb')));
      versions.sort((a, b) => Number(a) - Number(b));
      if (versions.length) return path.join('/usr/lib/postgresql', versions[versions.length - 1], 'bin');
    } catch {
      /* none installed */
    }
    return '/usr/lib/postgresql/15/bin';
  })();

/** What this machine lacks to run these servers, or null. */
export function missingBinaries(): string | null {
  const missing: string[] = [];
  if (!fs.existsSync(NATS_SERVER)) missing.push(`${NATS_SERVER} (apt-get install -y nats-server)`);
  for (const b of ['initdb', 'pg_ctl', 'postgres']) if (!fs.existsSync(path.join(PG_BIN, b))) missing.push(`${path.join(PG_BIN, b)} (apt-get install -y postgresql)`);
  if (missing.length) return missing.join(', ');
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'pipe' });
    } catch {
      return 'no "postgres" OS user to run PostgreSQL as';
    }
  }
  return null;
}

/** A free TCP port on loopback (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function listening(port: number, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`${what} does not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class OwnNats {
  private child: ChildProcess | null = null;
  private log = '';
  private constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async create(): Promise<OwnNats> {
    const n = new OwnNats(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-nats-')));
    await n.start();
    return n;
  }

  async start(): Promise<void> {
    const c = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(this.port), '--store_dir', this.storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = c;
    c.stdout!.on('data', (b) => (this.log += String(b)));
    c.stderr!.on('data', (b) => (this.log += String(b)));
    const died = new Promise<never>((_r, reject) => c.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${this.log.slice(-2000)}`))));
    died.catch(() => undefined);
    await Promise.race([listening(this.port, 30_000, 'nats-server'), died]);
  }

  /** SIGKILL: no goodbye to its clients. */
  async crash(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.crash();
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}

export class OwnPostgres {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** The store URL of database `postgres` as user `postgres` (trust auth). */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /** Run a PostgreSQL program as the `postgres` OS user (when this process is root). */
  private run(bin: string, args: string[], timeoutMs = 120_000): string {
    const file = path.join(PG_BIN, bin);
    const asRoot = process.getuid?.() === 0;
    return execFileSync(asRoot ? 'runuser' : file, asRoot ? ['-u', 'postgres', '--', file, ...args] : args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
  }

  static async create(): Promise<OwnPostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-pg-'));
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      fs.chownSync(dir, uid, gid);
    }
    const pg = new OwnPostgres(await freePort(), dir);
    pg.run('initdb', ['-D', pg.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    await pg.start();
    return pg;
  }

  async start(): Promise<void> {
    // Loopback TCP and a socket in its own directory only; fsync off: a throwaway cluster (an immediate stop still recovers from its WAL).
    const opts = `-c listen_addresses=127.0.0.1 -p ${this.port} -k ${this.dir} -c fsync=off -c max_connections=60`;
    this.run('pg_ctl', ['-D', this.dataDir, '-l', path.join(this.dir, 'log'), '-o', opts, '-w', '-t', '120', 'start']);
    await listening(this.port, 30_000, 'postgres');
  }

  /** `pg_ctl stop -m immediate`: a crash, every connection cut, recovery at the next start. */
  async crash(): Promise<void> {
    this.run('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  async stop(): Promise<void> {
    try {
      this.run('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
    } catch {
      /* not running */
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server's log (for a failure's message). */
  logTail(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'log'), 'utf8').slice(-3000);
    } catch {
      return '';
    }
  }
}
