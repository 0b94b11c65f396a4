/**
 * kill -9 of the link agent under a delivery in flight (test/agent/agent-nats.test.ts kills it
 * under a vehicle flown by hand; this is the job's side). Real processes: a NATS server and a
 * PostgreSQL cluster of the test's own, the built-in simulator at ×10 with the default GCS failsafe
 * (FS_GCS_ENABLE 1 = RTL, FS_GCS_TIMEOUT 5 s), the agent, one service node.
 *
 * With the agent dead nobody sends the vehicle GCS heartbeats and nobody hears it:
 * - the vehicle fails safe as configured (RTL), FS_GCS_TIMEOUT after the kill, and lands at home;
 * - the job records the link loss (`link-lost`, from when the vehicle was last heard) and, hearing
 *   nothing, stays in flight on its record;
 * - the agent restarted once the vehicle is down re-attaches it: the job closes the gap
 *   (`link-regained`: its span and the vehicle's state as heard again, RTL, disarmed, release not
 *   reached), fails LANDED_BEFORE_DROP and the flight ends.
 */
import { Client, waitFor } from '../service/support/client';
import { greatCircleDistanceM } from '../../planner/geo';
import { entryKey, observe, ownServersSuite, Rig, VID } from './support/continuity-rig';

jest.setTimeout(300_000);

ownServersSuite('kill -9 of the link agent under a delivery in flight', () => {
  const rig = new Rig(1);

  beforeAll(() => rig.start(), 240_000);
  afterAll(() => rig.stop());

  test('the vehicle fails safe, the job records the link loss with its times, the restarted agent re-attaches the vehicle', async () => {
    const i = 0;
    const op = await new Client(rig.node.url).login('operator');
    const sup = await new Client(rig.node.url).login('supervisor');
    const id = await rig.dispatch(op, i);
    const seen = observe(sup, id, VID(i));
    await rig.onItsWay(op, id);
    expect(rig.sims.instances[i].truth()).toMatchObject({ mode: 'AUTO', armed: true, payloadAttached: true });

    const tKill = Date.now();
    await rig.killAgent();
    // The vehicle's own failsafe: FS_GCS_TIMEOUT (0.5 s of wall time at ×10) after the last heartbeat.
    await waitFor(() => rig.sims.instances[i].truth().mode === 'RTL', 20_000, 'RTL after the agent died');
    const tRtl = Date.now();
    expect(rig.sims.instances[i].truth().armed).toBe(true);
    // The job records the loss, from when the vehicle was last heard (at most a beat before the kill).
    const lost = await waitFor(async () => (await sup.get(`/api/deliveries/${id}`)).body.timeline.find((e: any) => e.event === 'link-lost'), 30_000, 'link-lost on the job');
    expect(lost.detail).toMatchObject({ vehicleId: VID(i), reason: 'link-lost' });
    expect(Date.parse(lost.detail.from)).toBeGreaterThanOrEqual(tKill - 2000);
    expect(Date.parse(lost.detail.from)).toBeLessThanOrEqual(Date.parse(lost.at));
    expect((await sup.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body.connected).toBe(false);

    // Nobody hears it while it flies home and lands by itself.
    await waitFor(() => rig.sims.instances[i].truth().landed && !rig.sims.instances[i].truth().armed, 180_000, 'landed at home under its failsafe', 250);
    const truth = rig.sims.instances[i].truth();
    expect(truth).toMatchObject({ mode: 'RTL', payloadAttached: true });
    expect(greatCircleDistanceM([truth.lon, truth.lat], [114.39, 34.06])).toBeLessThan(5);
    expect((await sup.get(`/api/deliveries/${id}`)).body.state).toBe('in-flight'); // nothing heard: the record stays where it was

    const tBack = Date.now();
    await rig.startAgent();
    await waitFor(async () => (await sup.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body?.connected === true, 30_000, 're-attached through the new agent');
    await waitFor(() => rig.texts.some((x) => x.vehicle === i && x.t >= tBack && /GCS Failsafe Cleared/.test(x.text)), 20_000, '"GCS Failsafe Cleared": the new agent heartbeats again');
    // The gap closes with the vehicle's state as heard again: in RTL, disarmed.
    const regained = await waitFor(async () => (await sup.get(`/api/deliveries/${id}`)).body.timeline.find((e: any) => e.event === 'link-regained'), 30_000, 'link-regained on the job');
    expect(regained.detail).toMatchObject({ vehicleId: VID(i), from: lost.detail.from, reason: 'link-lost', state: { mode: 'RTL', armed: false, releaseReached: false } });
    expect(Date.parse(regained.detail.to)).toBeGreaterThanOrEqual(tBack);
    expect(regained.detail.gapS).toBeCloseTo((Date.parse(regained.detail.to) - Date.parse(lost.detail.from)) / 1000, 0);

    // The vehicle came down before the drop: the job fails so, after the gap is closed, and the flight ends.
    const done = await waitFor(async () => {
      const d = (await sup.get(`/api/deliveries/${id}`)).body;
      return d.state === 'failed' && d.timeline.some((e: any) => e.event === 'landed') ? d : null;
    }, 60_000, 'the job failed and the landing recorded', 250);
    expect(done.failure).toMatchObject({ code: 'LANDED_BEFORE_DROP' });
    expect(done.failure.message).toMatch(/mode RTL/);
    expect(Date.parse(done.timeline.find((e: any) => e.state === 'failed').at)).toBeGreaterThanOrEqual(Date.parse(regained.at));
    expect(done.proofOfDrop ?? null).toBeNull();
    await seen.stop();
    expect((await sup.get(`/api/flights/${done.flightId}`)).body).toMatchObject({ state: 'ended', deliveryId: id });
    // Nothing seen during the run is lost.
    const final = new Set(done.timeline.map(entryKey));
    expect([...seen.entries.keys()].filter((k) => !final.has(k))).toEqual([]);
    // eslint-disable-next-line no-console
    console.log(
      `agent killed; vehicle in RTL ${tRtl - tKill} ms later; job: ${done.timeline.filter((e: any) => Date.parse(e.at) >= tKill - 2000).map((e: any) => e.state ?? e.event).join(' → ')}`,
    );
  });
});
