/**
 * The event loop under planner load: the interval between GCS heartbeats as a vehicle receives them
 * (test/support/heartbeat-recorder.ts: a TCP vehicle in a thread of its own) on a live link to the
 * service, p99 and max, while
 *   (a) hostile 40,000-position no-fly rings are uploaded (PUT /api/zones, a valid zigzag and the
 *       same ring crossing itself, alternately), and
 *   (b) 20 plans are requested at once (POST /api/plans on the demo zones), several rounds.
 * Baseline: the same link with the service idle, measured in the same run. The service beats at
 * 10 Hz here (100 ms nominal) for more samples than the default 2 Hz gives.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { BenchRecord } from './types';
import { startService } from '../src/service';
import { intervalsBetween, nowMs, percentile, startHeartbeatRecorder } from '../test/support/heartbeat-recorder';
import { TEST_ZONES_FILE, zonesWithZigzag } from '../test/support/zones';

const HZ = 10;
const IDLE_MS = Number(process.env.EVENT_LOOP_BENCH_IDLE_MS ?? 8000);
const UPLOAD_ROUNDS = Number(process.env.EVENT_LOOP_BENCH_UPLOADS ?? 20);
const PLAN_ROUNDS = Number(process.env.EVENT_LOOP_BENCH_PLAN_ROUNDS ?? 20);
const DROP: [number, number] = [114.3935, 34.0515];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<BenchRecord[]> {
  const log = (s: string) => process.stderr.write(`  event-loop: ${s}\n`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-bench-loop-'));
  const rec = await startHeartbeatRecorder();
  const svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, links: [rec.uri], logLevel: 'silent', adminPassword: 'bench-admin-password', heartbeatHz: HZ });
  try {
    const login = await (await fetch(`${svc.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })).json();
    const H = { 'content-type': 'application/json', authorization: `Bearer ${login.token}` };
    const call = async (method: string, p: string, body?: unknown) => (await fetch(svc.url + p, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body) })).status;
    await svc.planner.ready();
    const demo = JSON.parse(fs.readFileSync(TEST_ZONES_FILE, 'utf8'));
    const valid = zonesWithZigzag(40_000).zones;
    const crossing = zonesWithZigzag(40_000, { selfIntersecting: true }).zones;
    // Warm up both paths once (JIT, worker), outside any window.
    await call('PUT', '/api/zones', valid);
    await call('PUT', '/api/zones', demo);
    await call('POST', '/api/plans', { drop: DROP });
    await sleep(500);

    const windowed = async (f: () => Promise<string>) => {
      const t0 = nowMs();
      const note = await f();
      const t1 = nowMs();
      return { gaps: intervalsBetween(await rec.arrivals(), t0, t1), ms: t1 - t0, note };
    };

    // Baseline: idle.
    const idle = await windowed(async () => {
      await sleep(IDLE_MS);
      return '';
    });
    log(`idle: ${idle.gaps.length} intervals`);

    // (a) hostile uploads, one after the other.
    const uploads = await windowed(async () => {
      const statuses: number[] = [];
      for (let i = 0; i < UPLOAD_ROUNDS; i++) statuses.push(await call('PUT', '/api/zones', i % 2 ? crossing : valid));
      const n = (st: number) => statuses.filter((x) => x === st).length;
      return `${n(200)}×200, ${n(422)}×422${n(200) + n(422) < statuses.length ? `, others: ${statuses.filter((x) => x !== 200 && x !== 422).join(',')}` : ''}`;
    });
    log(`uploads: ${uploads.note} in ${uploads.ms.toFixed(0)} ms, ${uploads.gaps.length} intervals`);
    await call('PUT', '/api/zones', demo);
    await sleep(300);

    // (b) 20 plans at once, several rounds.
    const plans = await windowed(async () => {
      const ok: number[] = [];
      for (let i = 0; i < PLAN_ROUNDS; i++) {
        const s = await Promise.all(Array.from({ length: 20 }, () => call('POST', '/api/plans', { drop: DROP })));
        ok.push(s.filter((x) => x === 200).length);
      }
      return `${ok.reduce((a, b) => a + b, 0)} of ${20 * PLAN_ROUNDS} answered 200`;
    });
    log(`plans: ${plans.note}, in ${plans.ms.toFixed(0)} ms, ${plans.gaps.length} intervals`);

    const baseP99 = percentile(idle.gaps, 99);
    const baseMax = Math.max(...idle.gaps);
    const r = (name: string, value: number, baseline: number, baselineName: string, note: string): BenchRecord => ({
      name,
      value,
      unit: 'ms',
      baseline,
      ratio: value / baseline,
      baselineName,
      note,
    });
    const idleP = `same link, service idle (${idle.gaps.length} intervals)`;
    const upNote = `${UPLOAD_ROUNDS} PUT /api/zones of a 40,000-position ring, valid and crossing itself alternately (answers ${uploads.note}), ${uploads.ms.toFixed(0)} ms, ${uploads.gaps.length} intervals; GCS heartbeat at ${HZ} Hz`;
    const planNote = `${PLAN_ROUNDS} rounds of 20 concurrent POST /api/plans on the demo zones (${plans.note}), ${plans.ms.toFixed(0)} ms, ${plans.gaps.length} intervals; GCS heartbeat at ${HZ} Hz`;
    return [
      r('event-loop.gcs-heartbeat-interval.upload-40k.p99', percentile(uploads.gaps, 99), baseP99, idleP, upNote),
      r('event-loop.gcs-heartbeat-interval.upload-40k.max', Math.max(...uploads.gaps), baseMax, idleP, upNote),
      r('event-loop.gcs-heartbeat-interval.plans-20.p99', percentile(plans.gaps, 99), baseP99, idleP, planNote),
      r('event-loop.gcs-heartbeat-interval.plans-20.max', Math.max(...plans.gaps), baseMax, idleP, planNote),
    ];
  } finally {
    await svc.close();
    await rec.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
