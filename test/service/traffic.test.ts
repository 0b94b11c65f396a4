/**
 * Manned aircraft over the real API on built-in simulators (speed-up 5, the service's clock following
 * it): simulated ADS-B traffic (fault `adsb-traffic`) relayed by the vehicle as ADSB_VEHICLE, the
 * traffic picture (GET /api/traffic), the threat alert, and with policy airspace.traffic.action
 * 'auto' the audited command.
 *
 * 1. A helicopter crossing 1000 m behind a drone cruising on its job: a threat (< 2000 m) whose
 *    closest approach is not < 500 m, so the drone holds (DO_PAUSE_CONTINUE, audited as user
 *    'traffic', in its job's timeline and progress); once the helicopter is away and nothing has
 *    threatened its route for 30 s (vehicles' clock) it continues and the delivery completes.
 * 2. The "ADS-B intruder" training scenario while a drone flies: the helicopter crosses where the drone
 *    will be; the drone lands or holds as the rule says for the closest approach the alert gave.
 * 3. Policy 'suggest' (the default): the threat alerted with its suggested action, nothing commanded,
 *    the delivery completes.
 * 4. An aircraft 290 m above a cruising drone (inside the 300 m band; at the lowest cruise layer it
 *    would be 300 m and more above): the drone descends to that layer where it stands (DO_REPOSITION
 *    in GUIDED, audited), goes back to AUTO once clear, and the delivery completes.
 *
 * Nothing here waits on a tight timing: every wait is for a state, with minutes to spare.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { greatCircleDistanceM } from '../../planner/geo';
import { classifyAlert } from '../../src/alerts';
import { Client, waitFor, vehicleReady } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { DEMO_DROPS } from '../planner/helpers';
import { crossingBehindLaunch } from './support/traffic';

jest.setTimeout(900_000);

const SPEEDUP = 5;
let dir: string;
let svc: Service;
let op: Client;
let sup: Client;
let trainer: Client;
let admin: Client;
let basePolicy: any;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-traffic-'));
  await seedTestUsers(dir);
  // The delivery profile's battery (6S 20 Ah); FS_GCS_TIMEOUT 20 s of sim time so that event-loop
  // stalls of a loaded machine (× 5) do not end flights this test is not about.
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 2, simSpeedup: SPEEDUP, simParams: { BATT_CAPACITY: 20000, FS_GCS_TIMEOUT: 20 }, logLevel: 'silent' });
  op = await new Client(svc.url).login('operator');
  sup = await new Client(svc.url).login('supervisor');
  trainer = await new Client(svc.url).login('trainer');
  admin = await new Client(svc.url).login('admin');
  basePolicy = (await sup.get('/api/policy')).body.policy;
  await waitFor(async () => ((await op.get('/api/vehicles')).body as any[]).filter(vehicleReady).length === 2, 180_000, 'both vehicles ready', 500);
});

afterAll(async () => {
  await svc?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function setTraffic(traffic: Record<string, unknown>) {
  const r = await sup.put('/api/policy', { ...basePolicy, airspace: { ...basePolicy.airspace, traffic } });
  expect([r.status, JSON.stringify(r.body).slice(0, 300)]).toEqual([200, expect.any(String)]);
}

/** Create a job to `drop` and dispatch it to `vehicleId`; resolves once the vehicle cruises on it (AUTO, at altitude, moving). */
async function flyTo(vehicleId: string, drop: [number, number]): Promise<string> {
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

async function alertsSince(sinceIso: string): Promise<any[]> {
  const r = await sup.get('/api/alerts?limit=500');
  const list = (Array.isArray(r.body) ? r.body : r.body.alerts) as any[];
  return list.filter((a) => a.at >= sinceIso);
}

/** Audit rows of an action; a command's row is written before it leaves, its outcome `{}` until the vehicle answers (then `result`). */
async function auditOf(action: string, vehicleId: string): Promise<any[]> {
  const r = await admin.get(`/api/audit?action=${encodeURIComponent(action)}&vehicleId=${encodeURIComponent(vehicleId)}`);
  expect(r.status).toBe(200);
  return (Array.isArray(r.body) ? r.body : r.body.records ?? r.body.items) as any[];
}

test('auto: a helicopter crossing 1000 m behind a cruising drone — alert, the drone holds (audited), continues once the way has been clear for 30 s, and the delivery completes', async () => {
  await setTraffic({ action: 'auto' });
  const vehicleId = 'sim1/2';
  const since = new Date().toISOString();
  const job = await flyTo(vehicleId, DEMO_DROPS.garden);
  const inj = await trainer.post('/api/sim/faults', { vehicleId, fault: { kind: 'adsb-traffic', callsign: 'HELI01', icao: 0x7c4a11, speedMps: 50, crossInS: 30, crossAheadM: -1000, emitterType: 7 } });
  expect([inj.status, JSON.stringify(inj.body)]).toEqual([200, expect.any(String)]);

  // The aircraft is in the picture, with its callsign and a sane position and altitude.
  const seen = await waitFor(async () => ((await op.get('/api/traffic')).body.aircraft as any[]).find((a) => a.icao === '7C4A11'), 60_000, 'HELI01 in the traffic picture', 100);
  const s = svc.fleet.get(vehicleId)!.state;
  expect(seen).toMatchObject({ callsign: 'HELI01', emitterType: 7, altType: 'pressure', relays: [vehicleId] });
  expect(Math.abs(seen.altAmslM - s.position!.altAmslM)).toBeLessThan(20);
  const d0 = greatCircleDistanceM([seen.lon, seen.lat], [s.position!.lon, s.position!.lat]);
  expect(d0).toBeGreaterThan(1000);
  expect(d0).toBeLessThan(2500);
  expect(seen.speedMps).toBeCloseTo(50, 0);

  // The threat: alerted, the hold commanded and audited, shown on the job.
  const shown = await waitFor(async () => (await op.get(`/api/deliveries/${job}`)).body.progress?.traffic, 60_000, 'the threat on the job', 100);
  expect(shown).toMatchObject({ icao: '7C4A11', callsign: 'HELI01', action: 'hold', taken: 'hold' });
  expect(shown.minM).toBeGreaterThanOrEqual(500);
  expect(shown.minM).toBeLessThan(2000);
  const holds = await waitFor(async () => {
    const a = await auditOf('traffic.hold', vehicleId);
    return a.length > 0 && a[0].outcome?.result ? a : null;
  }, 60_000, 'traffic.hold audited with its outcome', 200);
  expect(holds[0]).toMatchObject({ username: 'traffic', role: 'system', deliveryId: job });
  expect(holds[0].params).toMatchObject({ callsign: 'HELI01', action: 'hold' });
  expect(JSON.stringify(holds[0].outcome)).toContain('ACCEPTED');
  // It does hold: it stops where it is.
  await waitFor(() => svc.fleet.get(vehicleId)!.state.groundSpeedMps < 0.5, 60_000, `${vehicleId} stopped`, 100);
  const tr = (await op.get('/api/traffic')).body;
  expect(tr.threats).toEqual([expect.objectContaining({ vehicleId, deliveryId: job, callsign: 'HELI01', action: 'hold', taken: 'hold' })]);

  // The helicopter passes; 30 s (vehicles' clock) without a threat to its route: it continues.
  const cont = await waitFor(async () => {
    const a = await auditOf('traffic.continue', vehicleId);
    return a.length > 0 && a[0].outcome?.result ? a : null;
  }, 300_000, 'traffic.continue audited', 250);
  expect(cont[0]).toMatchObject({ username: 'traffic', deliveryId: job });
  expect(cont[0].params).toMatchObject({ after: 'hold', clearS: 30 });
  await waitFor(() => svc.fleet.get(vehicleId)!.state.groundSpeedMps > 3, 120_000, `${vehicleId} moving again`, 100);
  const d = await waitFor(async () => {
    const x = (await op.get(`/api/deliveries/${job}`)).body;
    return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
  }, 600_000, `${job} finished`, 500);
  expect(d.state).toBe('completed');
  const events = d.timeline.filter((e: any) => e.event?.startsWith('traffic')).map((e: any) => e.event);
  expect(events).toEqual(['traffic-hold', 'traffic-continue']);

  // Alerts: the threat (critical, with the order), then the clear and the continuation (info); codes the consoles translate.
  const alerts = (await alertsSince(since)).filter((a) => a.code?.startsWith('traffic.'));
  const codes = alerts.map((a) => `${a.level} ${a.code}`);
  expect(codes).toEqual(expect.arrayContaining(['critical traffic.actionSent', 'info traffic.cleared', 'info traffic.resumed']));
  const sent = alerts.find((a) => a.code === 'traffic.actionSent');
  expect(sent.params).toMatchObject({ callsign: 'HELI01', vehicle: vehicleId, action: 'hold' });
  for (const a of alerts) expect(classifyAlert(a.level, a.text).code).toBe(a.code);
  // Nothing critical about traffic left unexplained: no refusal.
  expect(codes).not.toContain('critical traffic.refused');
});

test('auto: a hold ordered while the drone is still taking off — the pause is refused (ArduCopter pauses only on the way to a waypoint), so it is stopped in BRAKE, climbs on in AUTO once clear, and the delivery completes', async () => {
  await setTraffic({ action: 'auto' });
  const vehicleId = 'sim1/2';
  for (const inst of svc.sims!.instances) inst.clearFault('adsb-traffic');
  await waitFor(async () => ((await op.get('/api/vehicles')).body as any[]).find((v) => v.id === vehicleId && vehicleReady(v)), 300_000, `${vehicleId} ready again`, 500);
  const c = await op.post('/api/deliveries', { drop: DEMO_DROPS.garden, priority: 'urgent', payload: { description: 'insulin', massKg: 0.5 } });
  expect(c.status).toBe(201);
  const job = c.body.id as string;
  expect((await op.post(`/api/deliveries/${job}/dispatch`, { vehicleId })).status).toBe(202);
  // taking off: armed, in AUTO, a few metres up, not yet at cruise
  await waitFor(() => {
    const s = svc.fleet.get(vehicleId)!.state;
    return s.armed && s.mode === 'AUTO' && !!s.position && s.position.altRelM > 3 && s.position.altRelM < 20;
  }, 300_000, `${vehicleId} taking off`, 50);
  // an aircraft crossing 1000 m behind the launch (away from the drop) in 30 s, at the drone's altitude
  const s0 = svc.fleet.get(vehicleId)!.state;
  const launch = { lon: s0.position!.lon, lat: s0.position!.lat };
  const { from, headingDeg } = crossingBehindLaunch(launch, DEMO_DROPS.garden);
  const altAmslM = s0.position!.altAmslM - s0.position!.altRelM + 60;
  const inj = await trainer.post('/api/sim/faults', { vehicleId, fault: { kind: 'adsb-traffic', callsign: 'HELI02', icao: 0x7c4a12, from, headingDeg, speedMps: 50, altAmslM, emitterType: 7 } });
  expect([inj.status, JSON.stringify(inj.body)]).toEqual([200, expect.any(String)]);

  // the pause refused, then BRAKE: both audited before they left
  const holds = await waitFor(async () => {
    const a = await auditOf('traffic.hold', vehicleId);
    const mine = a.filter((x) => x.deliveryId === job && x.outcome?.result);
    return mine.length >= 2 ? mine : null;
  }, 60_000, 'the pause and the BRAKE audited with their outcomes', 100);
  const [byMode, paused] = holds; // newest first
  expect(paused.params).toMatchObject({ callsign: 'HELI02', action: 'hold' });
  expect(paused.outcome).toMatchObject({ ok: false, result: 'FAILED' });
  expect(byMode.params).toMatchObject({ callsign: 'HELI02', mode: 'BRAKE', pauseRefused: 'FAILED' });
  expect(byMode.outcome).toMatchObject({ ok: true, result: 'ACCEPTED' });
  // it stops where it is, climb included, and is not taken for a failsafe
  await waitFor(() => {
    const s = svc.fleet.get(vehicleId)!.state;
    return s.mode === 'BRAKE' && s.groundSpeedMps < 0.5 && Math.abs(s.climbMps) < 0.3 ? s : null;
  }, 60_000, `${vehicleId} stopped in BRAKE`, 100);
  expect((await op.get(`/api/deliveries/${job}`)).body.state).toBe('in-flight');

  // clear for 30 s: back to AUTO, the climb and the mission go on
  const cont = await waitFor(async () => {
    const a = (await auditOf('traffic.continue', vehicleId)).filter((x) => x.deliveryId === job && x.outcome?.result);
    return a.length > 0 ? a : null;
  }, 300_000, 'traffic.continue audited', 250);
  expect(cont[0].outcome).toMatchObject({ ok: true, result: 'ACCEPTED' });
  await waitFor(() => svc.fleet.get(vehicleId)!.state.mode === 'AUTO', 30_000, 'AUTO again', 100);
  const d = await waitFor(async () => {
    const x = (await op.get(`/api/deliveries/${job}`)).body;
    return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
  }, 600_000, `${job} finished`, 500);
  expect([d.state, d.failure]).toEqual(['completed', undefined]);
  expect(d.timeline.filter((e: any) => e.event?.startsWith('traffic')).map((e: any) => [e.event, e.detail.mode ?? null, e.detail.ack?.result])).toEqual([
    ['traffic-hold', null, 'FAILED'],
    ['traffic-hold', 'BRAKE', 'ACCEPTED'],
    ['traffic-continue', null, 'ACCEPTED'],
  ]);
});

test('the ADS-B intruder training scenario: the threatened drone lands or holds as the rule says', async () => {
  await setTraffic({ action: 'auto' });
  const vehicleId = 'sim0/1';
  const since = new Date().toISOString();
  const scenarios = (await trainer.get('/api/sim/scenarios')).body as any[];
  expect(scenarios.map((x) => x.name)).toContain('adsb-intruder');
  const job = await flyTo(vehicleId, DEMO_DROPS.xinhua);
  const r = await trainer.post('/api/sim/scenarios', { name: 'adsb-intruder' });
  expect([r.status, JSON.stringify(r.body)]).toEqual([200, expect.any(String)]);
  const cmd = await waitFor(async () => {
    for (const action of ['traffic.land', 'traffic.hold']) {
      const a = await auditOf(action, vehicleId);
      if (a.length && a[0].outcome?.result) return a[0];
    }
    return null;
  }, 180_000, 'a traffic command audited', 250);
  expect(cmd.params.callsign).toBe('HELI01');
  // the rule: land when the closest approach is within 60 s and nearer than 500 m, else hold
  const rule = cmd.params.tcaS <= 60 && cmd.params.minM < 500 ? 'land' : 'hold';
  expect(cmd.params.action).toBe(rule);
  expect(cmd.action).toBe(`traffic.${rule}`);
  if (rule === 'land') {
    await waitFor(() => svc.fleet.get(vehicleId)!.state.mode === 'LAND', 60_000, `${vehicleId} landing`, 100);
    // the landing was commanded (audited as `traffic`): the job records it as such, never as the vehicle's own failsafe
    const ended = await waitFor(async () => {
      const x = (await op.get(`/api/deliveries/${job}`)).body;
      return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
    }, 300_000, `${job} ended after the landing`, 250);
    expect(ended.failure?.code).toBe('LANDED_BEFORE_DROP');
    expect(ended.timeline.map((e: any) => e.event ?? e.state)).toContain('traffic-land');
  } else await waitFor(() => svc.fleet.get(vehicleId)!.state.groundSpeedMps < 0.5, 60_000, `${vehicleId} holding`, 100);
  const alerts = (await alertsSince(since)).filter((a) => a.code === 'traffic.actionSent');
  expect(alerts[0]?.params).toMatchObject({ callsign: 'HELI01', vehicle: vehicleId, action: rule });
  process.stderr.write(`intruder scenario: ${rule} (closest ${cmd.params.minM} m in ${cmd.params.tcaS} s) on ${job}\n`);
  // the trainer's list of faults in force names the simulated aircraft
  const sims = (await trainer.get('/api/sim')).body;
  const mine = (sims.instances ?? sims).find((i: any) => i.vehicleId === vehicleId || i.id === vehicleId);
  if (mine?.faults) expect(mine.faults.map((f: any) => f.kind)).toContain('adsb-traffic');
});

test("suggest (the default): the threat is alerted with the suggested action and shown on the job; nothing is commanded and the flight goes on", async () => {
  await setTraffic({});
  const vehicleId = 'sim1/2';
  // a fresh battery (a battery swap between sorties), then ready and on the ground
  svc.sims!.instances[1].inject({ kind: 'battery-set', pct: 100 });
  // the sky empty again: the intruder of the scenario is no longer sent and has been dropped (20 s)
  for (const inst of svc.sims!.instances) inst.clearFault('adsb-traffic');
  await waitFor(async () => ((await op.get('/api/traffic')).body.aircraft as any[]).length === 0, 120_000, 'no aircraft heard', 500);
  await waitFor(async () => {
    const v = ((await op.get('/api/vehicles')).body as any[]).find((x) => x.id === vehicleId);
    return vehicleReady(v) && !v.armed;
  }, 300_000, `${vehicleId} ready again`, 500);
  const since = new Date().toISOString();
  const job = await flyTo(vehicleId, DEMO_DROPS.riverside);
  // crossing where the drone will be in 40 s
  const inj = await trainer.post('/api/sim/faults', { vehicleId, fault: { kind: 'adsb-traffic', callsign: 'CES5123', icao: 0x780abc, speedMps: 45, crossInS: 40, emitterType: 1 } });
  expect(inj.status).toBe(200);
  const alert = await waitFor(async () => (await alertsSince(since)).find((a) => a.code === 'traffic.threat' && a.params?.callsign === 'CES5123'), 60_000, 'the threat alert', 200);
  expect(alert).toMatchObject({ level: 'critical', vehicleId, deliveryId: job });
  expect(alert.params).toMatchObject({ callsign: 'CES5123', vehicle: vehicleId });
  expect(['hold', 'land', 'descend']).toContain(alert.params.action);
  const shown = (await op.get(`/api/deliveries/${job}`)).body.progress?.traffic;
  if (shown) expect(shown).toMatchObject({ callsign: 'CES5123', taken: 'suggested' });
  // still flying its mission, nothing sent in the traffic monitor's name
  await new Promise((r) => setTimeout(r, 3000));
  const s = svc.fleet.get(vehicleId)!.state;
  expect(s.mode).toBe('AUTO');
  for (const action of ['traffic.hold', 'traffic.land', 'traffic.descend']) expect((await auditOf(action, vehicleId)).filter((a) => a.deliveryId === job)).toEqual([]);
  const d = await waitFor(async () => {
    const x = (await op.get(`/api/deliveries/${job}`)).body;
    return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
  }, 600_000, `${job} finished`, 500);
  expect(d.state).toBe('completed');
  expect(d.timeline.filter((e: any) => e.event?.startsWith('traffic')).map((e: any) => e.event)).toContain('traffic-threat');
});

test('auto: an aircraft crossing 290 m above a cruising drone — it descends to the lowest cruise layer (DO_REPOSITION in GUIDED, audited), where the aircraft is 300 m above it, goes back to its mission once clear, and the delivery completes', async () => {
  await setTraffic({ action: 'auto' });
  const vehicleId = 'sim0/1';
  // fresh battery, the sky empty again, on the ground and ready (after the intruder scenario)
  svc.sims!.instances[0].inject({ kind: 'battery-set', pct: 100 });
  for (const inst of svc.sims!.instances) inst.clearFault('adsb-traffic');
  await waitFor(async () => ((await op.get('/api/traffic')).body.aircraft as any[]).length === 0, 120_000, 'no aircraft heard', 500);
  await waitFor(async () => {
    const v = ((await op.get('/api/vehicles')).body as any[]).find((x) => x.id === vehicleId);
    return vehicleReady(v) && !v.armed;
  }, 300_000, `${vehicleId} ready again`, 500);
  const job = await flyTo(vehicleId, DEMO_DROPS.garden);
  const d0 = (await op.get(`/api/deliveries/${job}`)).body;
  const cruise = d0.plan.cruiseAltM as number;
  const lowest = Math.min(...(basePolicy.airspace.layersM as number[]));
  expect(cruise).toBeGreaterThan(lowest + 2);
  await waitFor(() => (svc.fleet.get(vehicleId)!.state.position?.altRelM ?? 0) > cruise - 2, 120_000, `${vehicleId} at cruise`, 100);
  const s = svc.fleet.get(vehicleId)!.state;
  const homeAmsl = s.position!.altAmslM - s.position!.altRelM;
  // 290 m above the drone at cruise: within the 300 m band; at the lowest layer 300 m + the layer gap below it
  const altAmslM = homeAmsl + cruise + 290;
  const inj = await trainer.post('/api/sim/faults', { vehicleId, fault: { kind: 'adsb-traffic', callsign: 'B7355', icao: 0x78a001, speedMps: 60, crossInS: 30, crossAheadM: -1000, altAmslM, emitterType: 3 } });
  expect([inj.status, JSON.stringify(inj.body)]).toEqual([200, expect.any(String)]);
  const cmd = await waitFor(async () => {
    const a = await auditOf('traffic.descend', vehicleId);
    return a.length > 0 && a[0].outcome?.result ? a[0] : null;
  }, 120_000, 'traffic.descend audited with its outcome', 200);
  expect(cmd).toMatchObject({ username: 'traffic', role: 'system', deliveryId: job });
  expect(cmd.params).toMatchObject({ callsign: 'B7355', action: 'descend' });
  expect(JSON.stringify(cmd.outcome)).toContain('ACCEPTED');
  // it goes down to the lowest layer where it stands (GUIDED), not on along its route
  await waitFor(() => {
    const x = svc.fleet.get(vehicleId)!.state;
    return x.mode === 'GUIDED' && Math.abs((x.position?.altRelM ?? 0) - lowest) < 2;
  }, 120_000, `${vehicleId} down at ${lowest} m`, 100);
  // clear for 30 s (vehicles' clock): back to its mission, and the delivery completes
  const cont = await waitFor(async () => {
    const a = await auditOf('traffic.continue', vehicleId);
    return a.find((x) => x.deliveryId === job && x.outcome?.result) ?? null;
  }, 300_000, 'traffic.continue audited', 250);
  expect(cont.params).toMatchObject({ after: 'descend', mode: 'AUTO' });
  const d = await waitFor(async () => {
    const x = (await op.get(`/api/deliveries/${job}`)).body;
    return ['completed', 'failed', 'aborted'].includes(x.state) ? x : null;
  }, 600_000, `${job} finished`, 500);
  expect(d.state).toBe('completed');
  expect(d.timeline.filter((e: any) => e.event?.startsWith('traffic')).map((e: any) => e.event)).toEqual(expect.arrayContaining(['traffic-descend', 'traffic-continue']));
});
