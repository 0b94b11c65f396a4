/**
 * Job changes and alerts between service nodes' consoles (src/service/cross-node.ts), on the
 * in-process bus: what one node announces reaches the other's hub and never its own, in order per
 * job, never going back; a job too large for the bus goes by its id; malformed messages are dropped;
 * fleet alerts (raised by the vehicle's alert owner only) reach every other node, also one that hears
 * the vehicle itself; after a bus outage the jobs changed meanwhile are shown again. The subjects never match a vehicle subject.
 */
import { MemoryBus, Subjects, subjectMatches } from '../../src/bus';
import { startCrossNode, checkAlert, type CrossNode } from '../../src/service/cross-node';

/** A MemoryBus that refuses (returns false for) messages larger than `max` bytes, as NATS does above max_payload. */
class SmallBus extends MemoryBus {
  max = Infinity;
  override publish(subject: string, data: Uint8Array): boolean {
    if (data.byteLength > this.max) return false;
    return super.publish(subject, data);
  }
}

const quiet = { warn: () => undefined, info: () => undefined };
const subjects = new Subjects('dltest');
const tick = () => new Promise((r) => setImmediate(r));

function node(bus: MemoryBus, name: string, o: { get?: (id: string) => Promise<object | undefined>; list?: () => Promise<Array<{ id: string; updatedAt: string }>> } = {}) {
  const deliveries: any[] = [];
  const alerts: any[] = [];
  const reads: string[] = [];
  const cn: CrossNode = startCrossNode({
    bus,
    subjects,
    node: name,
    hub: { publishDelivery: (d) => deliveries.push(d), publishAlert: (a) => alerts.push(a) },
    hubOpen: () => true,
    getDelivery: async (id) => {
      reads.push(id);
      return o.get ? o.get(id) : undefined;
    },
    listDeliveries: o.list,
    log: quiet,
  });
  return { cn, deliveries, alerts, reads };
}

const job = (id: string, states: string[], extra: object = {}) => ({ id, state: states[states.length - 1], updatedAt: new Date().toISOString(), timeline: states.map((s) => ({ at: 't', state: s })), ...extra });
const alert = (id: string, extra: object = {}) => ({ id, at: new Date().toISOString(), level: 'info' as const, code: 'text', params: {}, text: `alert ${id}`, ...extra });

test('the event subjects are not vehicle subjects: no agent or recording pattern matches them', () => {
  for (const kind of ['delivery', 'alert'] as const) {
    const s = subjects.event(kind);
    expect(s).toBe(`dltest.events.${kind}`);
    expect(subjects.parse(s)).toBeNull();
    for (const k of ['rx', 'tx', 'lease', 'presence'] as const) {
      expect(subjectMatches(subjects.all(k), s)).toBe(false);
      expect(subjectMatches(subjects.all(k, 'events'), s)).toBe(false);
    }
    for (const p of [`dltest.*.*.rx`, `dltest.*.*.tx`]) expect(subjectMatches(p, s)).toBe(false);
  }
  // A site called "events" keeps its vehicles' subjects to itself.
  expect(subjects.parse(subjects.vehicle('events', 'delivery-1', 'rx'))).toEqual({ site: 'events', vehicle: 'delivery-1', kind: 'rx' });
  expect(subjectMatches(subjects.event('delivery'), subjects.vehicle('events', 'delivery-1', 'rx'))).toBe(false);
});

test("a job change reaches the other nodes' consoles, never its own twice; in order, never going back", async () => {
  const bus = new SmallBus();
  const a = node(bus, 'a');
  const b = node(bus, 'b');
  const c = node(bus, 'c');
  a.cn.delivery(job('D00001', ['requested']));
  a.cn.delivery(job('D00001', ['requested', 'planned']));
  a.cn.delivery(job('D00001', ['requested', 'planned'], { progress: { missionCurrent: 1 } }));
  await tick();
  expect(a.deliveries).toEqual([]);
  for (const n of [b, c]) expect(n.deliveries.map((d) => [d.state, d.timeline.length, d.progress?.missionCurrent ?? null])).toEqual([['requested', 1, null], ['planned', 2, null], ['planned', 2, 1]]);
  // A late update of the job (fewer timeline entries than shown) is dropped.
  a.cn.delivery(job('D00001', ['requested']));
  await tick();
  expect(b.deliveries).toHaveLength(3);
  // ... also when the newer state was this node's own.
  b.cn.delivery(job('D00002', ['requested', 'planned', 'uploading']));
  a.cn.delivery(job('D00002', ['requested', 'planned']));
  await tick();
  expect(b.deliveries.filter((d) => d.id === 'D00002')).toEqual([]);
  expect(c.deliveries.filter((d) => d.id === 'D00002').map((d) => d.state)).toEqual(['uploading']);
  for (const n of [a, b, c]) n.cn.close();
});

test('a job too large for the bus goes by its id: receivers read it, and later updates wait behind the read', async () => {
  const bus = new SmallBus();
  bus.max = 400;
  const a = node(bus, 'a');
  let release!: () => void;
  const stored = job('D00003', ['requested', 'planned', 'uploading', 'ready', 'in-flight'], { progress: { missionCurrent: 2 } });
  const b = node(bus, 'b', { get: (id) => new Promise((r) => (release = () => r(id === 'D00003' ? stored : undefined))) });
  const big = job('D00003', ['requested', 'planned', 'uploading', 'ready', 'in-flight'], { plan: 'x'.repeat(1000) });
  a.cn.delivery(big);
  a.cn.delivery(job('D00003', ['requested', 'planned', 'uploading', 'ready', 'in-flight', 'delivered']));
  await tick();
  await tick();
  expect(b.reads).toEqual(['D00003']);
  expect(b.deliveries).toEqual([]); // the smaller update waits behind the read
  release();
  await tick();
  await tick();
  expect(b.deliveries.map((d) => [d.state, d.progress?.missionCurrent ?? null])).toEqual([
    ['in-flight', 2],
    ['delivered', null],
  ]);
  a.cn.close();
  b.cn.close();
});

test('malformed messages are dropped without effect', async () => {
  const bus = new MemoryBus();
  const b = node(bus, 'b');
  const good = { v: 1, node: 'a', from: 'x' };
  const bad: unknown[] = [
    'not json',
    '[]',
    'null',
    '42',
    JSON.stringify({ ...good, v: 2, delivery: job('D1', ['requested']) }),
    JSON.stringify({ v: 1, node: 'a', delivery: job('D1', ['requested']) }),
    JSON.stringify({ ...good, delivery: { state: 'requested' } }),
    JSON.stringify({ ...good, delivery: { id: 'D1' } }),
    JSON.stringify({ ...good, delivery: { id: 'D 1<script>', state: 'requested' } }),
    JSON.stringify({ ...good, delivery: { id: 'D1', state: 'requested', timeline: 'x' } }),
    JSON.stringify({ ...good, delivery: [] }),
    JSON.stringify({ ...good, id: 'x'.repeat(500) }),
    JSON.stringify({ ...good, id: 7 }),
  ];
  for (const m of bad) bus.publish(subjects.event('delivery'), Buffer.from(m as string));
  const badAlerts = [
    { ...good, kind: 'job', alert: { ...alert('A1'), level: 'severe' } },
    { ...good, kind: 'job', alert: { ...alert('A1'), text: '' } },
    { ...good, kind: 'job', alert: { ...alert('A1'), at: 'yesterday' } },
    { ...good, kind: 'job', alert: { ...alert('A1'), params: [1] } },
    { ...good, kind: 'job', alert: { ...alert('A1'), vehicleId: 3 } },
    { ...good, kind: 'other', alert: alert('A1') },
    { ...good, kind: 'job' },
  ];
  for (const m of badAlerts) bus.publish(subjects.event('alert'), Buffer.from(JSON.stringify(m)));
  bus.publish(subjects.event('alert'), Buffer.from([0xff, 0xfe, 0x00]));
  await tick();
  await tick();
  expect(b.deliveries).toEqual([]);
  expect(b.reads).toEqual([]);
  expect(b.alerts).toEqual([]);
  // Unknown fields of an alert stay behind.
  const a2 = alert('A2');
  const ackedAt = new Date().toISOString();
  expect(checkAlert({ ...a2, html: '<b>', ackedAt, ackedBy: 'li' })).toEqual({ ...a2, ackedAt, ackedBy: 'li' });
  b.cn.close();
});

test("alerts reach the other nodes' consoles once, fleet alerts too (every node hears the vehicle, one raises); acknowledgements too", async () => {
  const bus = new MemoryBus();
  const a = node(bus, 'a');
  const b = node(bus, 'b');
  const c = node(bus, 'c');
  a.cn.alert(alert('A1', { deliveryId: 'D1', vehicleId: 'field.radio-1/1' }), 'job');
  a.cn.alert(alert('A2', { vehicleId: 'field.radio-1/1', code: 'vehicle.batteryLow' }), 'fleet');
  await tick();
  expect(a.alerts).toEqual([]);
  expect(b.alerts.map((x) => x.id)).toEqual(['A1', 'A2']);
  expect(c.alerts.map((x) => x.id)).toEqual(['A1', 'A2']);
  // The same message again (a repeat on the bus) is not shown twice; the acknowledgement is.
  bus.publish(subjects.event('alert'), Buffer.from(JSON.stringify({ v: 1, node: 'a', from: 'other', kind: 'job', alert: alert('A1', { deliveryId: 'D1' }) })));
  const ackedAt = new Date().toISOString();
  b.cn.alert({ ...alert('A1', { deliveryId: 'D1' }), ackedAt, ackedBy: 'supervisor' }, 'ack');
  await tick();
  expect(b.alerts.map((x) => x.id)).toEqual(['A1', 'A2']);
  expect(c.alerts.map((x) => [x.id, x.ackedBy ?? null])).toEqual([
    ['A1', null],
    ['A2', null],
    ['A1', 'supervisor'],
  ]);
  expect(a.alerts.map((x) => [x.id, x.ackedAt])).toEqual([['A1', ackedAt]]);
  for (const n of [a, b, c]) n.cn.close();
});

test('after a bus outage the jobs changed meanwhile are read and shown again; closed, nothing more', async () => {
  const bus = new MemoryBus();
  const now = Date.now();
  const stored: Record<string, object> = { D00010: job('D00010', ['requested', 'planned', 'aborted']), D00011: job('D00011', ['requested']) };
  const b = node(bus, 'b', {
    get: async (id) => stored[id],
    list: async () => [
      { id: 'D00010', updatedAt: new Date(now + 5_000).toISOString() },
      { id: 'D00011', updatedAt: new Date(now - 3_600_000).toISOString() },
    ],
  });
  bus.emit('connected'); // no outage before: nothing read
  await tick();
  expect(b.reads).toEqual([]);
  bus.emit('disconnected');
  bus.emit('connected');
  for (let i = 0; i < 4; i++) await tick();
  expect(b.reads).toEqual(['D00010']);
  expect(b.deliveries.map((d) => d.state)).toEqual(['aborted']);
  b.cn.close();
  bus.publish(subjects.event('delivery'), Buffer.from(JSON.stringify({ v: 1, node: 'a', from: 'x', delivery: job('D00012', ['requested']) })));
  await tick();
  expect(b.deliveries).toHaveLength(1);
  expect(bus.listenerCount('connected')).toBe(0);
});
