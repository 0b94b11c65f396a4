/**
 * Manned aircraft over the real API on ArduCopter SITL: the scenarios of test/service/traffic.test.ts
 * flown on real firmware. A trainer starts an ArduCopter SITL vehicle through the API (its launcher's
 * ADS-B receiver on SERIAL1, ADSB_TYPE 1: sims/adsb-receiver.ts) and places an aircraft with the
 * fault 'adsb-traffic', the deterministic crossing model of the built-in simulator; ArduPilot takes
 * the receiver's ADSB_VEHICLE reports and relays them on its ADSB stream to the service.
 *
 * 1. A helicopter crossing 1000 m behind the drone cruising on its job (policy airspace.traffic.action
 *    'auto'): in the traffic picture with its callsign, the threat alerted, the hold commanded
 *    (DO_PAUSE_CONTINUE 0, audited as user 'traffic'); ArduCopter stops where it is and still reports
 *    AUTO (a paused mission, not BRAKE or LOITER); once clear for 30 s of its clock it continues
 *    (DO_PAUSE_CONTINUE 1) and the delivery completes, the parcel dropped at its point.
 * 2. An aircraft 290 m above the cruising drone: it descends to the lowest cruise layer where it
 *    stands (DO_REPOSITION in GUIDED, audited), goes back to AUTO once clear, the delivery completes.
 * 3. The "ADS-B intruder" training scenario while the drone flies: it lands or holds as the rule says.
 *
 * Skipped without ARDUPILOT_SITL (the built-in simulator flies the same in traffic.test.ts). Run it in
 * a private network namespace: `/opt/sitl/netns-run.sh npx jest test/service/traffic.sitl.test.ts --forceExit`.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { sitlAvailable } from '../../sims/sitl';
import { greatCircleDistanceM } from '../../planner/geo';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { DEMO_DROPS } from '../planner/helpers';
import { crossingBehindLaunch } from './support/traffic';

jest.setTimeout(900_000);

const SPEEDUP = 10;
const available = sitlAvailable();
if (!available) {
  // eslint-disable-next-line no-console
  console.log('traffic.sitl.test.ts skipped: set ARDUPILOT_SITL to an arducopter SITL binary (and ARDUPILOT_SITL_DEFAULTS to its copter.parm) to run it');
}
const suite = available ? describe : describe.skip;

suite('manned aircraft on ArduCopter SITL', () => {
  let dir: string;
  let svc: Service;
  let op: Client;
  let sup: Client;
  let trainer: Client;
  let admin: Client;
  let basePolicy: any;
  let vehicleId: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-traffic-sitl-'));
    await seedTestUsers(dir);
    const defaults = (process.env.ARDUPILOT_SITL_DEFAULTS ?? '').split(',').map((f) => f.trim()).filter(Boolean);
    // FS_GCS_TIMEOUT 20 s of sim time: event-loop stalls of a loaded machine (× 10) must not end flights this test is not about
    svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 0, simSpeedup: SPEEDUP, simParams: { FS_GCS_TIMEOUT: 20 }, sitl: { arducopter: process.env.ARDUPILOT_SITL, arducopterDefaults: defaults }, logLevel: 'silent' });
    op = await new Client(svc.url).login('operator');
    sup = await new Client(svc.url).login('supervisor');
    trainer = await new Client(svc.url).login('trainer');
    admin = await new Client(svc.url).login('admin');
    basePolicy = (await sup.get('/api/policy')).body.policy;
    const r = await trainer.post('/api/sim/vehicles', { kind: 'arducopter-sitl', count: 1 });
    expect([r.status, JSON.stringify(r.body).slice(0, 300)]).toEqual([201, expect.any(String)]);
    vehicleId = r.body.instances[0].vehicleId;
    await waitFor(async () => ((await op.get('/api/vehicles')).body as any[]).find((v) => v.id === vehicleId && vehicleReady(v)), 300_000, `${vehicleId} ready`, 500);
  }, 400_000);

  afterAll(async () => {
    await svc?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The SITL instance behind the vehicle (its clock: the autopilot's time_boot_ms). */
  const sitl = () => svc.sims!.instances[0] as unknown as { vehicleClockS(): number | null };
  const clockS = () => sitl().vehicleClockS() ?? NaN;

  async function setTraffic(traffic: Record<string, unknown>) {
    const r = await sup.put('/api/policy', { ...basePolicy, airspace: { ...basePolicy.airspace, traffic } });
    expect([r.status, JSON.stringify(r.body).slice(0, 300)]).toEqual([200, expect.any(String)]);
  }

  /** Create a job to `drop` and dispatch it; resolves once the vehicle cruises on it (AUTO, at altitude, moving). */
  async function flyTo(drop: [number, number]): Promise<string> {
    const c = await op.post('/api/deliveries', { drop, priority: 'urgent', payload: { description: 'insulin', massKg: 0.5 } });
    expect(c.status).toBe(201);
    const id = c.body.id as string;
    const r = await op.post(`/api/deliveries/${id}/dispatch`, { vehicleId });
    expect([r.status, JSON.stringify(r.body).slice(0, 400)]).toEqual([202, expect.stringContaining('"state"')]);
    await waitFor(() => {
      const s = svc.fleet.get(vehicleId)!.state;
      return s.mode === 'AUTO' && !!s.position && s.position.altRelM > 30 && s.groundSpeedMps > 5;
    }, 300_000, `${vehicleId} cruising on ${id}`, 100);
    return id;
  }

  async function finished(job: string): Promise<any> {
    const d = await waitFor(async () => {
      const x = (await op.get(`/api/deliveries/${job}`)).body;
      return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
    }, 600_000, `${job} finished`, 500);
    if (d.state !== 'completed') process.stderr.write(`${job} ${d.state}: ${JSON.stringify(d.failure ?? d.abortReason)}\n${d.timeline.map((e: any) => `  ${e.at} ${e.state ?? e.event} ${JSON.stringify(e.detail ?? '').slice(0, 200)}`).join('\n')}\n`);
    return d;
  }

  async function alertsSince(sinceIso: string): Promise<any[]> {
    const r = await sup.get('/api/alerts?limit=500');
    const list = (Array.isArray(r.body) ? r.body : r.body.alerts) as any[];
    return list.filter((a) => a.at >= sinceIso);
  }

  /** Audit rows of an action; a command's row is written before it leaves, its outcome `{}` until the vehicle answers (then `result`). */
  async function auditOf(action: string): Promise<any[]> {
    const r = await admin.get(`/api/audit?action=${encodeURIComponent(action)}&vehicleId=${encodeURIComponent(vehicleId)}`);
    expect(r.status).toBe(200);
    return (Array.isArray(r.body) ? r.body : r.body.records ?? r.body.items) as any[];
  }

  /** A fault through the trainer's API. */
  async function inject(fault: Record<string, unknown>) {
    const r = await trainer.post('/api/sim/faults', { vehicleId, fault });
    expect(`${r.status} ${JSON.stringify(r.body)}`).toMatch(/^200 /);
  }

  /** Back on the ground, disarmed and ready, with a fresh battery and an empty sky. */
  async function readyAgain() {
    await inject({ kind: 'battery-set', pct: 100 });
    expect((await trainer.req('DELETE', '/api/sim/faults', { vehicleId, kind: 'adsb-traffic' })).status).toBe(200);
    await waitFor(async () => ((await op.get('/api/traffic')).body.aircraft as any[]).length === 0, 120_000, 'no aircraft heard', 500);
    await waitFor(async () => {
      const v = ((await op.get('/api/vehicles')).body as any[]).find((x) => x.id === vehicleId);
      return vehicleReady(v) && !v.armed;
    }, 300_000, `${vehicleId} ready again`, 500);
  }

  /** Milestones: wall seconds and seconds of the vehicle's clock since the injection. */
  function stopwatch() {
    const w0 = Date.now(), c0 = clockS();
    const marks: string[] = [];
    return {
      mark(what: string) {
        marks.push(`${what} +${((Date.now() - w0) / 1000).toFixed(1)} s wall / +${(clockS() - c0).toFixed(1)} s vehicle`);
      },
      toString: () => marks.join('; '),
    };
  }

  test('auto: a helicopter crossing 1000 m behind the cruising drone — seen with its callsign, alerted, held (audited; ArduCopter stays in AUTO, paused), continues once clear, the delivery completes', async () => {
    await setTraffic({ action: 'auto' });
    const since = new Date().toISOString();
    const job = await flyTo(DEMO_DROPS.garden);
    await inject({ kind: 'adsb-traffic', callsign: 'HELI01', icao: 0x7c4a11, speedMps: 50, crossInS: 30, crossAheadM: -1000, emitterType: 7 });
    const sw = stopwatch();
    const sim = (await trainer.get('/api/sim')).body.instances.find((i: any) => i.vehicleId === vehicleId);
    expect(sim.faults).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'adsb-traffic', callsign: 'HELI01' })]));

    // In the picture, relayed by ArduPilot: callsign, emitter, altitude near the drone's, 1000–2500 m away, 50 m/s.
    const seen = await waitFor(async () => ((await op.get('/api/traffic')).body.aircraft as any[]).find((a) => a.icao === '7C4A11'), 60_000, 'HELI01 in the traffic picture', 100);
    sw.mark('seen');
    const s = svc.fleet.get(vehicleId)!.state;
    expect(seen).toMatchObject({ callsign: 'HELI01', emitterType: 7, altType: 'pressure', relays: [vehicleId] });
    expect(Math.abs(seen.altAmslM - s.position!.altAmslM)).toBeLessThan(20);
    const d0 = greatCircleDistanceM([seen.lon, seen.lat], [s.position!.lon, s.position!.lat]);
    expect(d0).toBeGreaterThan(1000);
    expect(d0).toBeLessThan(2500);
    expect(seen.speedMps).toBeCloseTo(50, 0);

    // The threat: alerted, the hold commanded and audited, shown on the job.
    const sent = await waitFor(async () => (await alertsSince(since)).find((a) => a.code === 'traffic.actionSent'), 60_000, 'the traffic alert', 100);
    sw.mark('alert');
    expect(sent).toMatchObject({ level: 'critical', vehicleId, deliveryId: job });
    expect(sent.params).toMatchObject({ callsign: 'HELI01', vehicle: vehicleId, action: 'hold' });
    const holds = await waitFor(async () => {
      const a = await auditOf('traffic.hold');
      return a.length > 0 && a[0].outcome?.result ? a : null;
    }, 60_000, 'traffic.hold audited with its outcome', 100);
    sw.mark('hold acknowledged');
    expect(holds[0]).toMatchObject({ username: 'traffic', role: 'system', deliveryId: job });
    expect(holds[0].params).toMatchObject({ callsign: 'HELI01', action: 'hold' });
    expect(JSON.stringify(holds[0].outcome)).toContain('ACCEPTED');
    expect(holds[0].params.minM).toBeGreaterThanOrEqual(500);
    const shown = (await op.get(`/api/deliveries/${job}`)).body.progress?.traffic;
    expect(shown).toMatchObject({ icao: '7C4A11', callsign: 'HELI01', action: 'hold', taken: 'hold' });
    // ArduCopter pauses its mission: it stops where it is and reports AUTO all along.
    const modes = new Set<string>();
    await waitFor(() => {
      const x = svc.fleet.get(vehicleId)!.state;
      modes.add(x.mode);
      return x.groundSpeedMps < 0.5;
    }, 60_000, `${vehicleId} stopped`, 50);
    sw.mark('stopped');
    const heldAt = svc.fleet.get(vehicleId)!.state;
    expect([...modes]).toEqual(['AUTO']);
    const tr = (await op.get('/api/traffic')).body;
    expect(tr.threats).toEqual([expect.objectContaining({ vehicleId, deliveryId: job, callsign: 'HELI01', action: 'hold', taken: 'hold' })]);

    // Clear for 30 s of the vehicle's clock: it continues from where it held.
    let drift = 0;
    const cont = await waitFor(async () => {
      const x = svc.fleet.get(vehicleId)!.state;
      modes.add(x.mode);
      drift = Math.max(drift, greatCircleDistanceM([x.position!.lon, x.position!.lat], [heldAt.position!.lon, heldAt.position!.lat]));
      const a = await auditOf('traffic.continue');
      return a.length > 0 && a[0].outcome?.result ? a : null;
    }, 300_000, 'traffic.continue audited', 100);
    sw.mark('continue acknowledged');
    expect(cont[0]).toMatchObject({ username: 'traffic', deliveryId: job });
    expect(cont[0].params).toMatchObject({ after: 'hold', clearS: 30 });
    expect(JSON.stringify(cont[0].outcome)).toContain('ACCEPTED');
    await waitFor(() => svc.fleet.get(vehicleId)!.state.groundSpeedMps > 3, 120_000, `${vehicleId} moving again`, 100);
    sw.mark('moving again');
    expect([...modes]).toEqual(['AUTO']);
    expect(drift).toBeLessThan(10);
    const d = await finished(job);
    sw.mark('completed');
    expect(d.state).toBe('completed');
    expect(d.timeline.filter((e: any) => e.event?.startsWith('traffic')).map((e: any) => e.event)).toEqual(['traffic-hold', 'traffic-continue']);
    const codes = (await alertsSince(since)).filter((a) => a.code?.startsWith('traffic.')).map((a) => `${a.level} ${a.code}`);
    expect(codes).toEqual(expect.arrayContaining(['critical traffic.actionSent', 'info traffic.cleared', 'info traffic.resumed']));
    expect(codes).not.toContain('critical traffic.refused');
    process.stderr.write(`SITL traffic hold: ${sw}; first heard ${d0.toFixed(0)} m away; closest predicted ${holds[0].params.minM} m in ${holds[0].params.tcaS} s; held ${drift.toFixed(1)} m from where it stopped; dropped ${d.proofOfDrop?.distanceToDropM?.toFixed?.(1)} m from the drop point\n`);
    expect(d.proofOfDrop.distanceToDropM).toBeLessThan(10);
  });

  test('auto: an aircraft 290 m above the cruising drone — it descends to the lowest cruise layer (DO_REPOSITION, GUIDED, audited), back to AUTO once clear, the delivery completes', async () => {
    await readyAgain();
    await setTraffic({ action: 'auto' });
    const job = await flyTo(DEMO_DROPS.garden);
    const cruise = (await op.get(`/api/deliveries/${job}`)).body.plan.cruiseAltM as number;
    const lowest = Math.min(...(basePolicy.airspace.layersM as number[]));
    expect(cruise).toBeGreaterThan(lowest + 2);
    await waitFor(() => (svc.fleet.get(vehicleId)!.state.position?.altRelM ?? 0) > cruise - 2, 120_000, `${vehicleId} at cruise`, 100);
    const s = svc.fleet.get(vehicleId)!.state;
    const homeAmsl = s.position!.altAmslM - s.position!.altRelM;
    await inject({ kind: 'adsb-traffic', callsign: 'B7355', icao: 0x78a001, speedMps: 60, crossInS: 30, crossAheadM: -1000, altAmslM: homeAmsl + cruise + 290, emitterType: 3 });
    const sw = stopwatch();
    const cmd = await waitFor(async () => {
      const a = await auditOf('traffic.descend');
      return a.find((x) => x.deliveryId === job && x.outcome?.result) ?? null;
    }, 120_000, 'traffic.descend audited with its outcome', 100);
    sw.mark('descend acknowledged');
    expect(cmd).toMatchObject({ username: 'traffic', role: 'system', deliveryId: job });
    expect(cmd.params).toMatchObject({ callsign: 'B7355', action: 'descend' });
    expect(JSON.stringify(cmd.outcome)).toContain('ACCEPTED');
    await waitFor(() => {
      const x = svc.fleet.get(vehicleId)!.state;
      return x.mode === 'GUIDED' && Math.abs((x.position?.altRelM ?? 0) - lowest) < 2;
    }, 120_000, `${vehicleId} down at ${lowest} m in GUIDED`, 100);
    sw.mark(`down at ${lowest} m`);
    const cont = await waitFor(async () => {
      const a = await auditOf('traffic.continue');
      return a.find((x) => x.deliveryId === job && x.outcome?.result) ?? null;
    }, 300_000, 'traffic.continue audited', 100);
    sw.mark('continue acknowledged');
    expect(cont.params).toMatchObject({ after: 'descend', mode: 'AUTO' });
    expect(JSON.stringify(cont.outcome)).toContain('ACCEPTED');
    await waitFor(() => svc.fleet.get(vehicleId)!.state.mode === 'AUTO', 60_000, `${vehicleId} back in AUTO`, 100);
    const d = await finished(job);
    sw.mark('completed');
    expect(d.state).toBe('completed');
    expect(d.timeline.filter((e: any) => e.event?.startsWith('traffic')).map((e: any) => e.event)).toEqual(expect.arrayContaining(['traffic-descend', 'traffic-continue']));
    process.stderr.write(`SITL traffic descend: ${sw}; cruise ${cruise} m → ${lowest} m; dropped ${d.proofOfDrop?.distanceToDropM?.toFixed?.(1)} m from the drop point\n`);
    expect(d.proofOfDrop.distanceToDropM).toBeLessThan(10);
  });

  test('auto: a hold ordered while the drone takes off — ArduCopter refuses the pause (FAILED), so it is stopped in BRAKE, back to AUTO once clear, the delivery completes', async () => {
    await readyAgain();
    await setTraffic({ action: 'auto' });
    const c = await op.post('/api/deliveries', { drop: DEMO_DROPS.garden, priority: 'urgent', payload: { description: 'insulin', massKg: 0.5 } });
    expect(c.status).toBe(201);
    const job = c.body.id as string;
    expect((await op.post(`/api/deliveries/${job}/dispatch`, { vehicleId })).status).toBe(202);
    await waitFor(() => {
      const x = svc.fleet.get(vehicleId)!.state;
      return x.armed && x.mode === 'AUTO' && !!x.position && x.position.altRelM > 3 && x.position.altRelM < 20;
    }, 300_000, `${vehicleId} taking off`, 50);
    // an aircraft crossing 1000 m behind the launch (away from the drop) in 30 s, at cruise altitude
    const s0 = svc.fleet.get(vehicleId)!.state;
    const launch = { lon: s0.position!.lon, lat: s0.position!.lat };
    const { from, headingDeg } = crossingBehindLaunch(launch, DEMO_DROPS.garden);
    await inject({ kind: 'adsb-traffic', callsign: 'HELI02', icao: 0x7c4a12, from, headingDeg, speedMps: 50, altAmslM: s0.position!.altAmslM - s0.position!.altRelM + 60, emitterType: 7 });
    const sw = stopwatch();
    const holds = await waitFor(async () => {
      const mine = (await auditOf('traffic.hold')).filter((x) => x.deliveryId === job && x.outcome?.result);
      return mine.length >= 2 ? mine : null;
    }, 120_000, 'the pause and the BRAKE audited with their outcomes', 100);
    sw.mark('BRAKE acknowledged');
    const [byMode, paused] = holds; // newest first
    expect(paused.outcome).toMatchObject({ ok: false, result: 'FAILED' });
    expect(byMode.params).toMatchObject({ callsign: 'HELI02', mode: 'BRAKE', pauseRefused: 'FAILED' });
    expect(byMode.outcome).toMatchObject({ ok: true, result: 'ACCEPTED' });
    const held = await waitFor(() => {
      const x = svc.fleet.get(vehicleId)!.state;
      return x.mode === 'BRAKE' && x.groundSpeedMps < 0.5 && Math.abs(x.climbMps) < 0.3 ? x : null;
    }, 120_000, `${vehicleId} stopped in BRAKE`, 100);
    sw.mark(`stopped at ${held.position!.altRelM.toFixed(1)} m`);
    expect((await op.get(`/api/deliveries/${job}`)).body.state).toBe('in-flight');
    const cont = await waitFor(async () => (await auditOf('traffic.continue')).find((x) => x.deliveryId === job && x.outcome?.result) ?? null, 300_000, 'traffic.continue audited', 100);
    sw.mark('continue acknowledged');
    expect(cont.outcome).toMatchObject({ ok: true, result: 'ACCEPTED' });
    await waitFor(() => svc.fleet.get(vehicleId)!.state.mode === 'AUTO', 60_000, `${vehicleId} back in AUTO`, 100);
    const d = await finished(job);
    sw.mark('completed');
    expect([d.state, d.failure]).toEqual(['completed', undefined]);
    expect(d.timeline.filter((e: any) => e.event?.startsWith('traffic')).map((e: any) => [e.event, e.detail.mode ?? null, e.detail.ack?.result])).toEqual([
      ['traffic-hold', null, 'FAILED'],
      ['traffic-hold', 'BRAKE', 'ACCEPTED'],
      ['traffic-continue', null, 'ACCEPTED'],
    ]);
    process.stderr.write(`SITL traffic hold during take-off: ${sw}; dropped ${d.proofOfDrop?.distanceToDropM?.toFixed?.(1)} m from the drop point\n`);
    expect(d.proofOfDrop.distanceToDropM).toBeLessThan(10);
  });

  test('the ADS-B intruder training scenario on SITL: the threatened drone lands or holds as the rule says', async () => {
    await readyAgain();
    await setTraffic({ action: 'auto' });
    const job = await flyTo(DEMO_DROPS.xinhua);
    const r = await trainer.post('/api/sim/scenarios', { name: 'adsb-intruder' });
    expect([r.status, JSON.stringify(r.body)]).toEqual([200, expect.any(String)]);
    const sw = stopwatch();
    const cmd = await waitFor(async () => {
      for (const action of ['traffic.land', 'traffic.hold']) {
        const a = (await auditOf(action)).filter((x) => x.deliveryId === job);
        if (a.length && a[0].outcome?.result) return a[0];
      }
      return null;
    }, 180_000, 'a traffic command audited', 100);
    sw.mark(`${cmd.action} acknowledged`);
    expect(cmd.params.callsign).toBe('HELI01');
    const rule = cmd.params.tcaS <= 60 && cmd.params.minM < 500 ? 'land' : 'hold';
    expect(cmd.params.action).toBe(rule);
    expect(JSON.stringify(cmd.outcome)).toContain('ACCEPTED');
    if (rule === 'land') {
      await waitFor(() => svc.fleet.get(vehicleId)!.state.mode === 'LAND', 60_000, `${vehicleId} landing`, 100);
      const ended = await finished(job);
      sw.mark('ended');
      expect(ended.failure?.code).toBe('LANDED_BEFORE_DROP');
      expect(ended.timeline.map((e: any) => e.event ?? e.state)).toContain('traffic-land');
    } else {
      await waitFor(() => svc.fleet.get(vehicleId)!.state.groundSpeedMps < 0.5, 60_000, `${vehicleId} holding`, 100);
      sw.mark('stopped');
      const d = await finished(job);
      expect(d.state).toBe('completed');
    }
    process.stderr.write(`SITL intruder scenario: ${rule} (closest ${cmd.params.minM} m in ${cmd.params.tcaS} s): ${sw}\n`);
  });
});
