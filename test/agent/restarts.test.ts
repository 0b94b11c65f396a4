/**
 * NATS and PostgreSQL restarted under a delivery in flight, with two service nodes as deployed.
 * Real processes throughout: a NATS server and a PostgreSQL cluster of this test's own (the
 * machine's shared ones are never touched), built-in simulators at ×10 with the default GCS failsafe
 * (FS_GCS_ENABLE 1, FS_GCS_TIMEOUT 5 s), a link agent with its default 20 s grace, and two service
 * nodes A and B on that PostgreSQL and NATS. Two nodes, because that is what an outage of the shared
 * servers hits: both lose the bus (resp. the store) at once and both must come back, and after a
 * PostgreSQL crash both have lost their job leases, so either may take the job up (a race): the job
 * must end up run by exactly one, and its record must say truthfully which did and why there was a
 * gap. The job is dispatched on A; the supervisor follows it through B (the job's record and audit
 * as B serves them) and the operator's commands go through B; a live viewer watches B's `/ws` as the
 * console does.
 *
 * For each restart (NATS killed with SIGKILL; PostgreSQL stopped with `-m immediate`, a crash), with
 * the vehicle flying towards the drop:
 * - both nodes' health says the bus (resp. the store) is gone, then back;
 * - the vehicle hears its GCS all along (the agent bridges the outage): no "GCS Failsafe";
 * - the delivery completes, every state once and in order;
 * - every timeline entry and every audit row seen during the run is still there afterwards;
 * - a command sent through B during the outage is audited with its outcome (bus down: audited, the
 *   vehicle unreachable; store down: refused as STORE_UNAVAILABLE, and nothing reaches the vehicle,
 *   since it cannot be audited); one sent after is audited and reaches the vehicle;
 * - B's live viewer receives the flying vehicle's frames with fresh positions again afterwards, on the
 *   socket it had all along. Through the NATS outage its session is checked in the store, which
 *   stayed up; through the PostgreSQL outage the check cannot be made, and a session that cannot be
 *   checked is not taken for one that ended (src/service/http.ts): the supervisor keeps the live map.
 * - While A runs the job, B answers it with the flight's progress, derived from B's own view of the
 *   vehicle (every node hears every vehicle through the bus): the supervisor on B waits for the job to
 *   be on its way through B, and B's progress is A's within the telemetry either node last heard.
 * - NATS: A keeps the job's lease all along (the store stayed up): nobody takes the job up.
 * - PostgreSQL: both nodes lose their leases with the database connection; afterwards exactly one
 *   takes the job up (one `tracking-resumed`, naming the node). Taken back by A: the gap's reason
 *   is `lease-regained` (A did not restart). Taken by B: `service-restarted`, which says the node
 *   running the job stopped following it (restarted, failed, or lost its database connection) and
 *   another node or the restarted service took it up — B cannot tell which of these befell A.
 */
import { Client, waitFor } from '../service/support/client';
import { auditRows, entryKey, FLOWN, liveViewer, observe, ownServersSuite, positions, Rig, VID } from './support/continuity-rig';

jest.setTimeout(300_000);

const DO_PAUSE_CONTINUE = 193;
/** The outage: long beside the lease (3 s) and the vehicle's failsafe (0.5 s of wall time at ×10), well inside the agent's grace (20 s). */
const OUTAGE_MS = 6000;
const A = 0;
const B = 1;
const NAME = ['A', 'B'];

ownServersSuite('NATS and PostgreSQL restarted mid-flight, two service nodes', () => {
  const rig = new Rig(2, { nodes: 2 });
  const report: string[] = [];

  beforeAll(() => rig.start(), 240_000);
  afterAll(async () => {
    await rig.stop();
    // eslint-disable-next-line no-console
    console.log(report.join('\n'));
  });

  const command = (c: Client, i: number) => c.post(`/api/vehicles/${encodeURIComponent(VID(i))}/commands`, { action: 'continue' }).catch((e) => ({ status: 0, body: String(e) }));

  /** Waits until both nodes' health satisfies `pred`; each node's health then and when it first did. */
  async function bothNodes(what: string, pred: (h: any) => boolean, timeoutMs: number): Promise<{ health: any[]; atMs: number[] }> {
    const health: any[] = [null, null];
    const atMs = [NaN, NaN];
    await waitFor(
      async () => {
        for (const k of [A, B]) {
          if (Number.isFinite(atMs[k])) continue;
          const h = await rig.health(k);
          if (h && pred(h)) [health[k], atMs[k]] = [h, Date.now()];
        }
        return atMs.every(Number.isFinite);
      },
      timeoutMs,
      `health of both nodes: ${what}`,
    );
    return { health, atMs };
  }

  /** The job dispatched on A and flying; B's supervisor observing it, B's operator and B's live viewer ready. */
  async function flying(i: number) {
    const opA = await new Client(rig.nodes[A].url).login('operator');
    const opB = await new Client(rig.nodes[B].url).login('operator');
    const supB = await new Client(rig.nodes[B].url).login('supervisor');
    await bothNodes('bus connected, store reachable', (h) => h.bus?.connected === true && h.store?.reachable === true, 30_000);
    const id = await rig.dispatch(opA, i);
    await waitFor(async () => (await opB.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body?.connected === true, 30_000, 'vehicle seen on B');
    const seen = observe(supB, id, VID(i));
    // As the console on B sees it: A runs the job, B tells how far it has got from its own view of the vehicle.
    await rig.onItsWay(supB, id);
    await sameProgress(opA, supB, id);
    const viewer = await liveViewer(rig.nodes[B].url, supB);
    const tView = Date.now();
    await waitFor(() => positions(viewer.freshSince(VID(i), tView)) >= 2, 20_000, "B's viewer sees the vehicle fly");
    return { opB, supB, id, seen, viewer };
  }

  /**
   * The job as A (running it) and B (not running it) answer it together: both with its progress, of
   * one shape, telling the same place in the mission (within an item: each from the telemetry it last
   * heard) and the same distance to the drop (within what the vehicle flies, at ×10, in a moment of telemetry).
   */
  async function sameProgress(a: Client, b: Client, id: string) {
    const [fromA, fromB] = await Promise.all([a.get(`/api/deliveries/${id}`), b.get(`/api/deliveries/${id}`)]);
    expect([fromA.body.state, fromB.body.state]).toEqual(['in-flight', 'in-flight']);
    const [pa, pb] = [fromA.body.progress, fromB.body.progress];
    expect(pb).toMatchObject({ leg: expect.any(Number), missionCurrent: expect.any(Number), missionTotal: expect.any(Number), distanceToDropM: expect.any(Number) });
    expect(pb.etaS === null || typeof pb.etaS === 'number').toBe(true);
    expect(Object.keys(pb).sort()).toEqual(Object.keys(pa).sort());
    expect(pb.missionTotal).toBe(pa.missionTotal);
    expect(Math.abs(pb.missionCurrent - pa.missionCurrent)).toBeLessThanOrEqual(1);
    expect(Math.abs(pb.leg - pa.leg)).toBeLessThanOrEqual(1);
    expect(Math.abs(pb.distanceToDropM - pa.distanceToDropM)).toBeLessThan(250);
    report.push(`progress while A runs the job: A ${JSON.stringify(pa)}, B ${JSON.stringify(pb)}`);
  }

  /** B's viewer receives the vehicle's frames with fresh positions again after `tUp`; what happened to its socket. */
  async function viewerBack(viewer: Awaited<ReturnType<typeof liveViewer>>, i: number, tDown: number, tUp: number) {
    await waitFor(() => positions(viewer.freshSince(VID(i), tUp)) >= 2, 30_000, "B's viewer gets fresh positions of the vehicle again");
    const fresh = viewer.freshSince(VID(i), tUp);
    expect(fresh.every((x) => x.frame.armed === true)).toBe(true);
    const closed = viewer.closes.filter((c) => c.at >= tDown);
    const said = closed.length === 0 ? 'kept its socket' : `socket closed ${closed.map((c) => `${c.code} "${c.reason}" at +${c.at - tDown} ms`).join(', ')}; ${viewer.opened.length} sockets opened in all`;
    return { fresh, closed, said, firstMs: fresh[0].at - tUp };
  }

  /** What every restart must leave true. */
  async function afterwards(sup: Client, id: string, i: number, seen: ReturnType<typeof observe>, tDown: number) {
    const done = await rig.finished(sup, id);
    await seen.stop();
    expect(done.failure).toBeUndefined();
    expect(done.state).toBe('completed');
    expect(done.timeline.filter((e: any) => e.state).map((e: any) => e.state)).toEqual(FLOWN);
    // Every state seen while it ran is one the job went through.
    expect(seen.states.every((s) => FLOWN.includes(s))).toBe(true);
    // Nothing committed is lost: every entry seen during the run is in the final timeline.
    const final = new Set(done.timeline.map(entryKey));
    expect([...seen.entries.keys()].filter((k) => !final.has(k))).toEqual([]);
    // Every audit row seen is still there, completed.
    const rows = await auditRows(sup, id, VID(i));
    expect([...seen.audit.keys()].filter((k) => !rows.has(k))).toEqual([]);
    for (const r of rows.values()) expect(r.pending).toBe(false);
    // The vehicle never lost its GCS.
    expect(rig.texts.filter((x) => x.vehicle === i && x.t >= tDown && /^GCS Failsafe( - .*)?$/.test(x.text))).toEqual([]);
    expect(done.proofOfDrop.distanceToDropM).toBeLessThan(5);
    expect(rig.sims.instances[i].truth().payloadAttached).toBe(false);
    const since = done.timeline.filter((e: any) => Date.parse(e.at) >= tDown);
    report.push(`${VID(i)}: ${since.map((e: any) => e.state ?? e.event).join(' → ')}`);
    return { done, rows, since };
  }

  test('NATS killed and started again mid-flight: both nodes and the agent reconnect, the delivery completes, nothing is lost', async () => {
    const i = 0;
    const { opB, supB, id, seen, viewer } = await flying(i);

    const tDown = Date.now();
    await rig.nats.crash();
    const down = await bothNodes('bus disconnected', (h) => h.bus?.connected === false, 20_000);
    for (const h of down.health) expect(h.store).toEqual({ kind: 'postgres', reachable: true });
    const during = await command(opB, i);
    const tDuring = Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, tDown + OUTAGE_MS - Date.now())));
    await rig.nats.start();
    const tUp = Date.now();

    const up = await bothNodes('bus connected again', (h) => h.bus?.connected === true, 30_000);
    await waitFor(async () => (await opB.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body?.connected === true, 30_000, 'vehicle heard again on B through the agent');
    const tAfter = Date.now();
    const after = await command(opB, i);
    expect(after.status).toBe(200);
    await waitFor(() => rig.sent.some((s) => s.vehicle === i && s.t >= tAfter && s.command === DO_PAUSE_CONTINUE), 10_000, 'the command after the outage on the bus');
    // The viewer's session lives in the store, which stayed up: its socket is kept through the outage.
    const seenLive = await viewerBack(viewer, i, tDown, tUp);
    expect(seenLive.closed).toEqual([]);
    expect(viewer.opened).toHaveLength(1);
    report.push(
      `NATS down ${tUp - tDown} ms; bus back on A ${up.atMs[A] - tUp} ms, on B ${up.atMs[B] - tUp} ms after the server; command through B during the outage answered ${during.status}; ` +
        `B's viewer ${seenLive.said}, fresh positions ${seenLive.firstMs} ms after the server`,
    );

    const { done, rows, since } = await afterwards(supB, id, i, seen, tDown);
    // Both commands are audited with their outcome: the one during the outage too, whatever the vehicle made of it.
    const cmds = [...rows.values()].filter((r) => r.username === 'operator' && JSON.stringify(r.params ?? {}).includes('continue'));
    expect(cmds.filter((r) => Date.parse(r.at) >= tDown && Date.parse(r.at) <= tDuring)).toHaveLength(1);
    expect(cmds.filter((r) => Date.parse(r.at) >= tUp)).toHaveLength(1);
    // A kept the job's lease (the store stayed up): nobody took the job up.
    expect(since.filter((e: any) => e.event === 'tracking-resumed' || e.event === 'dispatch-resumed')).toEqual([]);
    // The silence on the bus is on the job's record as a gap, closed with the vehicle's state.
    const lost = done.timeline.find((e: any) => e.event === 'link-lost' && Date.parse(e.at) >= tDown);
    if (lost) {
      expect(lost.detail.reason).toBe('link-lost');
      const regained = done.timeline.find((e: any) => e.event === 'link-regained' && Date.parse(e.at) >= Date.parse(lost.at));
      expect(regained?.detail).toMatchObject({ from: lost.detail.from, state: { mode: 'AUTO', armed: true } });
    }
  });

  test('PostgreSQL crashed and started again mid-flight: both nodes reconnect, exactly one takes the job up, its record says which and why', async () => {
    const i = 1;
    const { opB, supB, id, seen, viewer } = await flying(i);

    const tDown = Date.now();
    await rig.pg.crash();
    const down = await bothNodes('store unreachable', (h) => h.store?.reachable === false, 20_000);
    for (const h of down.health) expect(h.bus.connected).toBe(true);
    // A command that cannot be audited is not sent.
    const sentBefore = rig.sent.filter((s) => s.vehicle === i && s.command === DO_PAUSE_CONTINUE).length;
    const during = await command(opB, i);
    // Refused as the store being unreachable (a stable code, Retry-After), not as an internal error.
    expect([during.status, during.body?.error?.code]).toEqual([503, 'STORE_UNAVAILABLE']);
    await new Promise((r) => setTimeout(r, Math.max(0, tDown + OUTAGE_MS - Date.now())));
    expect(rig.sent.filter((s) => s.vehicle === i && s.command === DO_PAUSE_CONTINUE)).toHaveLength(sentBefore);
    await rig.pg.start();
    const tUp = Date.now();

    const up = await bothNodes('store reachable again', (h) => h.store?.reachable === true, 30_000);
    const after = await waitFor(async () => {
      const r = await command(opB, i);
      return r.status === 200 ? r : null;
    }, 30_000, 'a command through B accepted after the restart', 500);
    expect(after.body.ok).toBe(true);
    const seenLive = await viewerBack(viewer, i, tDown, tUp);
    // The store gone, the viewer's session could not be checked: its socket was kept (a valid session
    // is not ended for want of an answer), and the fresh frames came on it.
    expect(seenLive.closed).toEqual([]);
    expect(viewer.opened).toHaveLength(1);
    expect(seenLive.fresh.every((x) => x.socket === viewer.opened[0].socket)).toBe(true);

    const { rows, since } = await afterwards(supB, id, i, seen, tDown);
    const cmds = [...rows.values()].filter((r) => r.username === 'operator' && JSON.stringify(r.params ?? {}).includes('continue'));
    // The refused command left no row (it never left either); the one after did.
    expect(cmds.filter((r) => Date.parse(r.at) >= tDown && Date.parse(r.at) < tUp)).toEqual([]);
    expect(cmds.filter((r) => Date.parse(r.at) >= tUp).length).toBeGreaterThanOrEqual(1);

    // Both nodes lost their leases with the database; exactly one took the job up afterwards, naming itself.
    const resumed = since.filter((e: any) => e.event === 'tracking-resumed' || e.event === 'dispatch-resumed');
    expect(resumed.map((e: any) => e.event)).toEqual(['tracking-resumed']);
    expect(resumed[0].detail).toMatchObject({ vehicleId: VID(i), flightId: expect.any(String) });
    const taker = rig.nodes.findIndex((n) => n.node === resumed[0].detail.node);
    expect([A, B]).toContain(taker);
    // Why the job went unfollowed, as the taking node knows it: A took back a job whose lease it lost
    // (it did not restart); B only knows that the node running it stopped following it.
    const reason = taker === A ? 'lease-regained' : 'service-restarted';
    const gaps = since.filter((e: any) => (e.event === 'link-lost' || e.event === 'link-regained') && e.detail?.reason !== 'link-lost');
    expect(gaps.map((e: any) => [e.event, e.detail.reason])).toEqual([
      ['link-lost', reason],
      ['link-regained', reason],
    ]);
    const [lost, regained] = gaps;
    expect(lost.detail).toMatchObject({ vehicleId: VID(i) });
    expect(regained.detail).toMatchObject({ vehicleId: VID(i), from: lost.detail.from, state: { mode: expect.any(String), armed: expect.any(Boolean) } });
    report.push(
      `PostgreSQL down ${tUp - tDown} ms; store back on A ${up.atMs[A] - tUp} ms, on B ${up.atMs[B] - tUp} ms after the server; command through B during the outage answered ${during.status}; ` +
        `job taken up by node ${NAME[taker]} (${resumed[0].detail.node}) ${Date.parse(resumed[0].at) - tUp} ms after the server, gap reason ${reason}; ` +
        `B's viewer ${seenLive.said}, fresh positions ${seenLive.firstMs} ms after the server`,
    );
  });
});
