/**
 * Which node raises a vehicle's fleet alerts (src/service/alert-owner.ts), on the in-process bus with
 * nodes that renew their leases as src/bus/attach.ts does: the lowest name renewing the vehicle; the
 * next one once the owner's renewals stop and its ttl has passed; a node alone owns every vehicle; a
 * node just started decides once it has listened; a bus outage freezes the view; malformed renewals
 * count for nothing. And the gate fleet-alerts.ts puts before raising (ownedAlerts).
 */
import { MemoryBus, Subjects } from '../../src/bus';
import { startAlertOwner, type AlertOwner } from '../../src/service/alert-owner';
import { ownedAlerts, type AlertInput } from '../../src/service/fleet-alerts';

const subjects = new Subjects('dltest');
const TTL = 400;
const RENEW = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const V1 = 'field.radio-1/1';
const V2 = 'field.radio-2/2';
const LOCAL = 'sim0/1';

/** A node: its alert owner, and its lease renewals of `vehicles` every RENEW ms (ttl TTL) until stopped. */
function node(bus: MemoryBus, name: string, vehicles: string[], settleMs = 0) {
  const owner = startAlertOwner({ bus, subjects, node: name, settleMs });
  const lease = Buffer.from(JSON.stringify({ node: name, ttlMs: TTL }));
  const renew = () => {
    for (const v of vehicles) {
      const [site, vehicle] = v.slice(0, v.lastIndexOf('/')).split('.');
      bus.publish(subjects.vehicle(site, vehicle, 'lease'), lease);
    }
  };
  renew();
  let timer: NodeJS.Timeout | null = setInterval(renew, RENEW);
  return {
    owner,
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
    close() {
      this.stop();
      owner.close();
    },
  };
}
type TestNode = ReturnType<typeof node>;

const owners = (nodes: Record<string, TestNode>, vehicleId: string) =>
  Object.entries(nodes)
    .filter(([, n]) => n.owner.owns(vehicleId))
    .map(([k]) => k);

let open: TestNode[] = [];
afterEach(() => {
  for (const n of open) n.close();
  open = [];
});
const start = (...n: TestNode[]) => (open.push(...n), n);

test('the lowest node renewing a vehicle owns its alerts; a vehicle nobody else holds is its own node’s; alone, a node owns every vehicle', async () => {
  const bus = new MemoryBus();
  const [a, b, c] = start(node(bus, 'node-a', [V1]), node(bus, 'node-b', [V1, V2]), node(bus, 'node-c', [V1, V2]));
  await Promise.all([a, b, c].map((n) => n.owner.ready));
  await sleep(RENEW * 2);
  const nodes = { a, b, c };
  expect(owners(nodes, V1)).toEqual(['a']);
  expect(owners({ b, c }, V2)).toEqual(['b']); // node-a does not hold it (and never asks: it is not in its fleet)
  expect(owners(nodes, LOCAL)).toEqual(['a', 'b', 'c']); // each node's own link: no renewals on the bus

  const alone = new MemoryBus();
  const [z] = start(node(alone, 'node-z', [V1, V2]));
  await sleep(RENEW * 2);
  expect([V1, V2, LOCAL].map((v) => z.owner.owns(v))).toEqual([true, true, true]);
});

test('when the owner stops renewing, the next lowest owns once its ttl has passed; it takes over again when it is back', async () => {
  const bus = new MemoryBus();
  const [a, b, c] = start(node(bus, 'node-a', [V1]), node(bus, 'node-b', [V1]), node(bus, 'node-c', [V1]));
  await sleep(RENEW * 2);
  const nodes = { a, b, c };
  expect(owners(nodes, V1)).toEqual(['a']);
  a.close(); // node-a dies
  delete (nodes as Partial<typeof nodes>).a;
  await sleep(TTL / 4);
  expect(owners(nodes, V1)).toEqual([]); // its last renewal still holds: nobody raises in that window
  await sleep(TTL);
  expect(owners(nodes, V1)).toEqual(['b']);
  b.stop(); // node-b's renewals stop (its owner still runs: it believes it owns)
  await sleep(TTL + RENEW * 2);
  expect(owners(nodes, V1)).toEqual(['b', 'c']); // the window where a silent but live node doubles
  const [a2] = start(node(bus, 'node-a', [V1])); // node-a restarted
  await sleep(RENEW * 2);
  expect(a2.owner.owns(V1)).toBe(true);
  expect(owners(nodes, V1)).toEqual([]);
});

test('a node just started decides once it has listened settleMs: renewals heard meanwhile count', async () => {
  const bus = new MemoryBus();
  const [a] = start(node(bus, 'node-a', [V1]));
  await sleep(RENEW * 2);
  const [b] = start(node(bus, 'node-0', [V1], 600)); // a lower name joins
  let ready = false;
  void b.owner.ready.then(() => (ready = true));
  expect(b.owner.owns(V1)).toBe(true); // what it knows so far (it has heard nobody yet): not to be trusted before ready
  await sleep(RENEW * 2);
  expect(ready).toBe(false);
  expect([a.owner.owns(V1), b.owner.owns(V1)]).toEqual([false, true]); // node-a yields once it hears node-0
  await b.owner.ready;
  expect(ready).toBe(true);
  expect([a.owner.owns(V1), b.owner.owns(V1)]).toEqual([false, true]);
});

test('while the bus connection is down the view stands still; once back, every node heard before has the time it had left', async () => {
  const bus = new MemoryBus();
  const [a, b] = start(node(bus, 'node-a', [V1]), node(bus, 'node-b', [V1]));
  await sleep(RENEW * 2);
  expect([a.owner.owns(V1), b.owner.owns(V1)]).toEqual([true, false]);
  a.stop();
  bus.emit('disconnected');
  await sleep(TTL * 2);
  expect(b.owner.owns(V1)).toBe(false); // node-a, the owner before the outage, still is
  bus.emit('connected');
  await sleep(TTL / 4);
  expect(b.owner.owns(V1)).toBe(false);
  await sleep(TTL);
  expect(b.owner.owns(V1)).toBe(true); // node-a was not heard again
});

test('malformed renewals, renewals on other subjects and a node’s own name count for nothing; a ttl is capped', async () => {
  const bus = new MemoryBus();
  const [b] = start(node(bus, 'node-b', [V1]));
  const lease = subjects.vehicle('field', 'radio-1', 'lease');
  const bad: unknown[] = ['not json', '[]', 'null', '{}', { node: '', ttlMs: 1000 }, { node: 'node-0' }, { node: 'node-0', ttlMs: '1000' }, { node: 'node-0', ttlMs: -5 }, { node: 7, ttlMs: 1000 }, { node: 'x'.repeat(300), ttlMs: 1000 }];
  for (const m of bad) bus.publish(lease, Buffer.from(typeof m === 'string' ? m : JSON.stringify(m)));
  bus.publish(lease, Buffer.from([0xff, 0xfe, 0x00]));
  bus.publish(subjects.vehicle('field', 'radio-1', 'presence'), Buffer.from(JSON.stringify({ node: 'node-0', ttlMs: 1000 })));
  bus.publish('dltest.field.lease', Buffer.from(JSON.stringify({ node: 'node-0', ttlMs: 1000 })));
  await sleep(RENEW);
  expect(b.owner.owns(V1)).toBe(true);
  bus.publish(lease, Buffer.from(JSON.stringify({ node: 'node-0', ttlMs: 1000 })));
  await sleep(RENEW);
  expect(b.owner.owns(V1)).toBe(false);
  // A closed owner hears nothing more.
  b.close();
  expect(bus.listenerCount('connected') + bus.listenerCount('disconnected')).toBe(0);

  // A renewal holding for a day counts for a minute at most.
  let t = 1_000_000;
  const c = startAlertOwner({ bus, subjects, node: 'node-c', settleMs: 0, now: () => t });
  bus.publish(lease, Buffer.from(JSON.stringify({ node: 'node-0', ttlMs: 86_400_000 })));
  await sleep(RENEW);
  expect(c.owns(V1)).toBe(false);
  t += 60_001;
  expect(c.owns(V1)).toBe(true);
  c.close();
});

test('fleet alerts go out only for vehicles this node owns, held until its owner is ready and stamped when they happened', async () => {
  let resolve!: () => void;
  const mine = new Set([V1]);
  const owner: AlertOwner = { owns: (id) => mine.has(id), ready: new Promise<void>((r) => (resolve = r)), close: () => undefined };
  const out: AlertInput[] = [];
  const publish = ownedAlerts(owner, async (a) => void out.push(a));
  const t0 = new Date().toISOString();
  void publish({ level: 'warning', text: 'V1 battery low', vehicleId: V1 });
  void publish({ level: 'warning', text: 'V2 battery low', vehicleId: V2 });
  void publish({ level: 'info', text: 'no vehicle' });
  await sleep(20);
  expect(out).toEqual([]);
  resolve();
  await sleep(0);
  expect(out.map((a) => a.text)).toEqual(['V1 battery low', 'no vehicle']);
  for (const a of out) expect(Date.parse(a.at!)).toBeLessThan(Date.now() - 15);
  expect(out[0].at! >= t0).toBe(true);
  // Without an owner (no bus) every alert goes out as it is.
  const all: AlertInput[] = [];
  await ownedAlerts(undefined, async (a) => void all.push(a))({ level: 'info', text: 'x', vehicleId: V2 });
  expect(all).toEqual([{ level: 'info', text: 'x', vehicleId: V2 }]);
});
