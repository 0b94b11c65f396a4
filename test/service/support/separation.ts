/**
 * Fleet airspace scenarios over the real API, shared by the built-in simulator test
 * (test/service/fleet-separation.test.ts) and the one flown on ArduCopter SITL
 * (fleet-separation.sitl.test.ts): watching the separation from the telemetry the service decodes,
 * waiting for jobs to finish, and the head-on scenario.
 */
import { monitorEventLoopDelay } from 'perf_hooks';
import type { Service } from '../../../src/service';
import type { VehicleState } from '../../../src/fleet/types';
import { greatCircleDistanceM } from '../../../planner/geo';
import { waitFor, type Client } from './client';

/** Closest horizontal approach between airborne vehicles closer than `verticalM` in altitude, from every decoded state. */
export function watchSeparation(svc: Service, verticalM: number) {
  const last = new Map<string, VehicleState>();
  const min = { horizontalM: Infinity, verticalM: NaN, pair: '', samples: 0, where: '' };
  const on = (s: VehicleState) => {
    if (!s.position) return;
    if (!(s.armed && s.position.altRelM > 1)) return void last.delete(s.id);
    last.set(s.id, s);
    for (const [id, o] of last) {
      if (id === s.id || !o.position || s.lastSeenMs - o.lastSeenMs > 1000) continue;
      min.samples++;
      const v = Math.abs(s.position.altAmslM - o.position.altAmslM);
      if (v >= verticalM) continue;
      const h = greatCircleDistanceM([s.position.lon, s.position.lat], [o.position.lon, o.position.lat]);
      if (h < min.horizontalM)
        Object.assign(min, { horizontalM: h, verticalM: v, pair: `${s.id} ${o.id}`, where: `${s.id} ${s.mode} alt ${s.position.altRelM.toFixed(1)} item ${s.mission.current}, ${o.id} ${o.mode} alt ${o.position.altRelM.toFixed(1)} item ${o.mission.current}, at ${new Date().toISOString()}` });
    }
  };
  svc.fleet.on('state', on);
  return { min, stop: () => svc.fleet.off('state', on) };
}

/** The jobs once every one has finished (their timelines written to stderr when one did not complete). */
export async function finished(op: Client, ids: string[]): Promise<any[]> {
  const ds = await waitFor(async () => {
    const ds = await Promise.all(ids.map(async (id) => (await op.get(`/api/deliveries/${id}`)).body));
    return ds.every((d) => ['completed', 'failed', 'aborted'].includes(d.state)) ? ds : null;
  }, 600_000, `deliveries ${ids.join(', ')} to finish`, 500);
  for (const d of ds) if (d.state !== 'completed') process.stderr.write(`${d.id} ${d.state}: ${JSON.stringify(d.failure ?? d.abortReason)}\n${d.timeline.map((e: any) => `  ${e.at} ${e.state ?? e.event} ${JSON.stringify(e.detail ?? '').slice(0, 160)}`).join('\n')}\n`);
  return ds;
}

export interface HeadOn {
  svc: Service;
  op: Client;
  sup: Client;
  /** The urgent job's vehicle (flies first) and the normal one's (leaves as the first comes back). */
  first: string;
  second: string;
  drop: [number, number];
  /** Horizontal and vertical separation in the policy. */
  sep: { horizontalM: number; verticalM: number };
}

/**
 * Tactical separation alone (no deconfliction), head-on on one corridor: two vehicles from one
 * launch site to one compound, the second leaving as the first comes back along the same corridor
 * at the same altitude. Holding either would leave it in the other's path: the lower-priority one
 * climbs out of it where it stands (audited, alerted, in its job's timeline) and continues once the
 * other has passed; both deliveries complete, the closest approach never falls below the
 * separation, and no critical alert is left open. The policy is set by the caller; the vehicles
 * are on the ground and ready.
 */
export async function headOn(h: HeadOn): Promise<void> {
  const { svc, op, sup, first, second, sep: SEP } = h;
  const sinceIso = new Date().toISOString();
  const w = watchSeparation(svc, SEP.verticalM);
  // the service's event loop (at a speed-up of 10 a stall of 0.5 s is FS_GCS_TIMEOUT's 5 s for the vehicles)
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  let ds: any[];
  let shown: any = null;
  try {
    const jobs: string[] = [];
    for (const priority of ['urgent', 'normal']) {
      const c = await op.post('/api/deliveries', { drop: h.drop, priority, payload: { description: 'insulin', massKg: 0.5 } });
      expect(c.status).toBe(201);
      jobs.push(c.body.id);
    }
    const r1 = await op.post(`/api/deliveries/${jobs[0]}/dispatch`, { vehicleId: first });
    expect([r1.status, JSON.stringify(r1.body).slice(0, 400)]).toEqual([202, expect.stringContaining('"state"')]);
    // the first has released its parcel: the second takes off while the first climbs back to the corridor
    await waitFor(async () => ['delivered', 'returning', 'completed'].includes((await op.get(`/api/deliveries/${jobs[0]}`)).body.state), 600_000, `${jobs[0]} delivered`, 250);
    const r2 = await op.post(`/api/deliveries/${jobs[1]}/dispatch`, { vehicleId: second });
    expect([r2.status, JSON.stringify(r2.body).slice(0, 400)]).toEqual([202, expect.stringContaining('"state"')]);
    // while it gives way, its job says so (what the console shows on the job card and the drone)
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const p = (await op.get(`/api/deliveries/${jobs[1]}`)).body.progress;
        if (p?.separation) shown = p.separation;
        if (shown) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      ds = await finished(op, jobs);
    } finally {
      polling = false;
      await poll;
    }
  } finally {
    w.stop();
    loop.disable();
  }
  process.stderr.write(`head-on: event loop delay max ${(loop.max / 1e6).toFixed(0)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms\n`);
  const sep = (d: any) => d.timeline.filter((e: any) => e.event?.startsWith('separation'));
  process.stderr.write(`head-on: closest ${w.min.horizontalM.toFixed(1)} m: ${w.min.where}\n${ds.map((d) => sep(d).map((e: any) => `  ${d.id} ${e.at} ${e.event} ${JSON.stringify(e.detail)}`).join('\n')).join('\n')}\n`);
  expect(ds.map((d) => d.state)).toEqual(['completed', 'completed']);
  expect(ds[0].plan.cruiseAltM).toBe(ds[1].plan.cruiseAltM);
  const events = (d: any) => sep(d).map((e: any) => e.event);
  // the normal-priority job gave way (out of the other's path: holding alone cannot separate a head-on pair), and went on
  expect(events(ds[1])).toContain('separation-climb');
  expect(events(ds[1])).toContain('separation-continue');
  expect(events(ds[0])).not.toContain('separation-hold');
  expect(events(ds[0])).not.toContain('separation-climb');
  expect(shown).toMatchObject({ givesWayTo: first, how: 'climb', since: expect.any(String) });
  expect(Math.abs(shown.toAltRelM - (ds[1].plan.cruiseAltM + 15))).toBeLessThan(2);
  const climb = sep(ds[1]).find((e: any) => e.event === 'separation-climb');
  expect(climb.detail).toMatchObject({ vehicleId: second, givesWayTo: first, resolves: true, ack: { result: 'ACCEPTED' } });
  const audit = (await sup.get(`/api/audit?vehicleId=${encodeURIComponent(second)}`)).body;
  const rows = (Array.isArray(audit) ? audit : audit.rows ?? audit.items ?? []) as any[];
  expect(rows.map((r) => r.action)).toEqual(expect.arrayContaining(['separation.climb', 'separation.continue']));
  const alerts = (await sup.get('/api/alerts?limit=500')).body;
  const list = (Array.isArray(alerts) ? alerts : alerts.alerts ?? alerts.items ?? []).filter((a: any) => a.at >= sinceIso);
  expect(list.map((a: any) => a.code)).toEqual(expect.arrayContaining(['separation.climb', 'separation.restored']));
  // nothing an operator would still have to act on
  expect(list.filter((a: any) => a.level === 'critical' && !a.ackedAt).map((a: any) => a.text)).toEqual([]);
  expect(w.min.samples).toBeGreaterThan(50);
  expect(w.min.horizontalM).toBeGreaterThanOrEqual(SEP.horizontalM);
}
