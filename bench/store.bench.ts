/**
 * The store's latency on PostgreSQL against SQLite (the embedded default), in the same run, one
 * operation after another (what one request waits for):
 *  - a job transition: one transaction holding the job (lock, read with timeline, write with a
 *    timeline entry), as DeliveryManager.transition does;
 *  - an audit row (what a command waits for before it leaves for a vehicle);
 *  - a session check (session and user by token hash: every API request and WebSocket).
 * PostgreSQL at PG_URL (default postgres://postgres@127.0.0.1:5432/test), in a schema of its own,
 * dropped afterwards; the figures are skipped with a message when it does not answer.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { randomBytes } from 'crypto';
import { performance } from 'perf_hooks';
import pg from 'pg';
import { openStore, type Store } from '../src/store';
import type { Delivery } from '../src/delivery/types';
import type { BenchRecord } from './types';

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_STORE_OPS ?? 300);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

async function measure(store: Store): Promise<{ transition: number; audit: number; session: number }> {
  const at = new Date().toISOString();
  const d: Delivery = { id: 'B1', state: 'planned', priority: 'normal', drop: [114.39, 34.05], launch: null, payload: { description: 'x' }, requester: { name: 'r' }, createdAt: at, updatedAt: at, promiseBy: at, timeline: [] };
  await store.insertDelivery(d, 1, []);
  const transition = await time(N, (i) =>
    store.tx(async (t) => {
      await t.lockDelivery('B1');
      const cur = (await t.getDelivery('B1'))!;
      await t.updateDelivery({ ...cur, updatedAt: new Date().toISOString() }, [{ at: cur.updatedAt, event: 'bench', detail: { i } }]);
    }),
  );
  const audit = await time(N, (i) => store.audit({ username: 'op', role: 'operator', action: 'vehicle.command', vehicleId: 'sim0/1', params: { i }, outcome: { pending: true } }));
  const u = await store.addUser('op', 'operator', 'scrypt$x');
  await store.addSession('h'.repeat(64), u.id, Date.now() + 3600_000, null);
  const session = await time(N, async () => {
    const s = await store.getSession('h'.repeat(64));
    return store.getUserById(s!.userId);
  });
  return { transition, audit, session };
}

async function pgAnswers(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function run(): Promise<BenchRecord[]> {
  const problem = await pgAnswers();
  if (problem) {
    process.stderr.write(`bench store: skipped, no PostgreSQL at ${PG_URL} (${problem})\n`);
    return [];
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-store-'));
  const schema = `dlbench_${randomBytes(4).toString('hex')}`;
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  const sqlite = await openStore({ dataDir: dir });
  const postgres = await openStore({ dataDir: dir, url: url.toString() });
  try {
    const base = await measure(sqlite);
    const got = await measure(postgres);
    const rec = (name: keyof typeof got, what: string): BenchRecord => ({
      name: `store.${name}.postgres`,
      value: got[name],
      unit: 'ms',
      baseline: base[name],
      ratio: got[name] / base[name],
      baselineName: `SQLite (WAL, synchronous FULL), ${what}`,
      note: `median of ${N}, one at a time, PostgreSQL on loopback`,
    });
    return [rec('transition', 'job transition in one transaction'), rec('audit', 'audit row before a command'), rec('session', 'session check per request')];
  } finally {
    await sqlite.close();
    await postgres.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
