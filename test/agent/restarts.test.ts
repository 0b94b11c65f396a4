/**
 * NATS and PostgreSQL restarted under a delivery in flight. Real processes throughout: a NATS
 * server and a PostgreSQL cluster of this test's own (the machine's shared ones are never touched),
 * built-in simulators at ×10 with the default GCS failsafe (FS_GCS_ENABLE 1, FS_GCS_TIMEOUT 5 s), a
 * link agent with its default 20 s grace, and one service node on that PostgreSQL and NATS. One node,
 * not two: what is under test is each process's reconnection and what the store keeps, not a
 * take-over between nodes (test/agent/takeover-matrix.test.ts covers that), and a second node would
 * double the load on a 2-core machine for nothing these scenarios check.
 *
 * For each restart (NATS killed with SIGKILL; PostgreSQL stopped with `-m immediate`, a crash), with
 * the vehicle flying towards the drop:
 * - the node's health says the bus (resp. the store) is gone, then back;
 * - the vehicle hears its GCS all along (the agent bridges the outage): no "GCS Failsafe";
 * - the delivery completes, every state in order;
 * - every timeline entry and every audit row seen during the run is still there afterwards;
 * - a command sent during the outage is audited with its outcome (bus down: audited, the vehicle
 *   unreachable; store down: refused, and nothing reaches the vehicle, since it cannot be audited);
 *   one sent after is audited and reaches the vehicle;
 * - PostgreSQL: the node loses its job lease with the database connection and takes the job back:
 *   the job's record gives that as the gap's reason (`lease-regained`), not a restart.
 */
import { Client, waitFor } from '../service/support/client';
import { auditRows, entryKey, FLOWN, observe, ownServersSuite, Rig, VID } from './support/continuity-rig';

jest.setTimeout(300_000);

const DO_PAUSE_CONTINUE = 193;
/** The outage: long beside the lease (3 s) and the vehicle's failsafe (0.5 s of wall time at ×10), well inside the agent's grace (20 s). */
const OUTAGE_MS = 6000;

ownServersSuite('NATS and PostgreSQL restarted mid-flight', () => {
  const rig = new Rig(2);
  const report: string[] = [];

  beforeAll(() => rig.start(), 240_000);
  afterAll(async () => {
    await rig.stop();
    // eslint-disable-next-line no-console
    console.log(report.join('\n'));
  });

  const command = (c: Client, i: number) => c.post(`/api/vehicles/${encodeURIComponent(VID(i))}/commands`, { action: 'continue' }).catch((e) => ({ status: 0, body: String(e) }));

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
    report.push(`${VID(i)}: ${done.timeline.filter((e: any) => Date.parse(e.at) >= tDown).map((e: any) => e.state ?? e.event).join(' → ')}`);
    return { done, rows };
  }

  test('NATS killed and started again mid-flight: node and agent reconnect, the delivery completes, nothing is lost', async () => {
    const i = 0;
    const op = await new Client(rig.node.url).login('operator');
    const sup = await new Client(rig.node.url).login('supervisor');
    await waitFor(async () => (await rig.health())?.bus?.connected === true, 30_000, 'bus connected in health');
    const id = await rig.dispatch(op, i);
    const seen = observe(sup, id, VID(i));
    await rig.onItsWay(op, id);

    const tDown = Date.now();
    await rig.nats.crash();
    const h = await waitFor(async () => {
      const x = await rig.health();
      return x?.bus?.connected === false ? x : null;
    }, 20_000, 'health: bus disconnected');
    expect(h.store).toEqual({ kind: 'postgres', reachable: true });
    const during = await command(op, i);
    const tDuring = Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, tDown + OUTAGE_MS - Date.now())));
    await rig.nats.start();
    const tUp = Date.now();

    await waitFor(async () => (await rig.health())?.bus?.connected === true, 30_000, 'health: bus connected again');
    const reconnectMs = Date.now() - tUp;
    await waitFor(async () => (await op.get(`/api/vehicles/${encodeURIComponent(VID(i))}`)).body?.connected === true, 30_000, 'vehicle heard again through the agent');
    const tAfter = Date.now();
    const after = await command(op, i);
    expect(after.status).toBe(200);
    await waitFor(() => rig.sent.some((s) => s.vehicle === i && s.t >= tAfter && s.command === DO_PAUSE_CONTINUE), 10_000, 'the command after the outage on the bus');
    report.push(`NATS down ${tUp - tDown} ms; node's bus back ${reconnectMs} ms after the server; command during the outage answered ${during.status}`);

    const { done, rows } = await afterwards(sup, id, i, seen, tDown);
    // Both commands are audited with their outcome: the one during the outage too, whatever the vehicle made of it.
    const cmds = [...rows.values()].filter((r) => r.username === 'operator' && JSON.stringify(r.params ?? {}).includes('continue'));
    expect(cmds.filter((r) => Date.parse(r.at) >= tDown && Date.parse(r.at) <= tDuring)).toHaveLength(1);
    expect(cmds.filter((r) => Date.parse(r.at) >= tUp)).toHaveLength(1);
    // The silence on the bus is on the job's record as a gap, closed with the vehicle's state.
    const lost = done.timeline.find((e: any) => e.event === 'link-lost' && Date.parse(e.at) >= tDown);
    if (lost) {
      const regained = done.timeline.find((e: any) => e.event === 'link-regained' && Date.parse(e.at) >= Date.parse(lost.at));
      expect(regained?.detail).toMatchObject({ from: lost.detail.from, state: { mode: 'AUTO', armed: true } });
    }
  });

  test('PostgreSQL crashed and started again mid-flight: the node reconnects, the delivery completes, nothing is lost', async () => {
    const i = 1;
    const op = await new Client(rig.node.url).login('operator');
    const sup = await new Client(rig.node.url).login('supervisor');
    await waitFor(async () => (await rig.health())?.store?.reachable === true, 30_000, 'store reachable in health');
    const id = await rig.dispatch(op, i);
    const seen = observe(sup, id, VID(i));
    await rig.onItsWay(op, id);

    const tDown = Date.now();
    await rig.pg.crash();
    const h = await waitFor(async () => {
      const x = await rig.health();
      return x?.store?.reachable === false ? x : null;
    }, 20_000, 'health: store unreachable');
    expect(h.bus.connected).toBe(true);
    // A command that cannot be audited is not sent.
    const sentBefore = rig.sent.filter((s) => s.vehicle === i && s.command === DO_PAUSE_CONTINUE).length;
    const during = await command(op, i);
    // Refused as the store being unreachable (a stable code, Retry-After), not as an internal error.
    expect([during.status, during.body?.error?.code]).toEqual([503, 'STORE_UNAVAILABLE']);
    await new Promise((r) => setTimeout(r, Math.max(0, tDown + OUTAGE_MS - Date.now())));
    expect(rig.sent.filter((s) => s.vehicle === i && s.command === DO_PAUSE_CONTINUE)).toHaveLength(sentBefore);
    await rig.pg.start();
    const tUp = Date.now();

    await waitFor(async () => (await rig.health())?.store?.reachable === true, 30_000, 'health: store reachable again');
    const reconnectMs = Date.now() - tUp;
    const after = await waitFor(async () => {
      const r = await command(op, i);
      return r.status === 200 ? r : null;
    }, 30_000, 'a command accepted after the restart', 500);
    expect(after.body.ok).toBe(true);
    report.push(`PostgreSQL down ${tUp - tDown} ms; node's store back ${reconnectMs} ms after the server; command during the outage answered ${during.status}`);

    const { done, rows } = await afterwards(sup, id, i, seen, tDown);
    const cmds = [...rows.values()].filter((r) => r.username === 'operator' && JSON.stringify(r.params ?? {}).includes('continue'));
    // The refused command left no row (it never left either); the one after did.
    expect(cmds.filter((r) => Date.parse(r.at) >= tDown && Date.parse(r.at) < tUp)).toEqual([]);
    expect(cmds.filter((r) => Date.parse(r.at) >= tUp).length).toBeGreaterThanOrEqual(1);
    // The node lost its lease with the database and took the job back: its record says so, not that
    // the service restarted (it did not), and the gap closes with the vehicle's state.
    const since = done.timeline.filter((e: any) => Date.parse(e.at) >= tDown);
    const lost = since.find((e: any) => e.event === 'link-lost');
    expect(lost?.detail).toMatchObject({ vehicleId: VID(i), reason: 'lease-regained' });
    const regained = since.find((e: any) => e.event === 'link-regained' && Date.parse(e.at) >= Date.parse(lost.at));
    expect(regained?.detail).toMatchObject({ vehicleId: VID(i), from: lost.detail.from, reason: 'lease-regained', state: { mode: expect.any(String), armed: expect.any(Boolean) } });
    expect(since.filter((e: any) => e.detail?.reason === 'service-restarted')).toEqual([]);
  });
});
