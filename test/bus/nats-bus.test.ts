/** The NATS bus against a real server: the same contract as the in-process bus, and JetStream recording. */
import { Subjects, openBus, type Bus } from '../../src/bus';
import { NatsBus } from '../../src/bus/nats';
import { natsSuite, natsTestRoot } from '../support/nats';

natsSuite('NATS bus', (url) => {
  const root = natsTestRoot();
  const subjects = new Subjects(root);
  let bus: Bus;
  let other: Bus;

  beforeAll(async () => {
    bus = await openBus(url);
    other = await openBus(url);
  });

  afterAll(async () => {
    // The test stream goes with the test.
    await bus?.removeRecording(subjects.tlogStream);
    await bus?.removeRecording(subjects.tlogStream); // gone already: no error
    await bus?.close();
    await other?.close();
  });

  test('connects, and says clearly when it cannot', async () => {
    expect(bus.kind).toBe('nats');
    expect(bus.connected).toBe(true);
    await expect(NatsBus.connect({ url: 'nats://127.0.0.1:1', connectTimeoutMs: 1000 })).rejects.toMatchObject({ code: 'BUS_UNREACHABLE' });
    await expect(openBus('http://127.0.0.1:4222')).rejects.toMatchObject({ code: 'INVALID_BUS_URL' });
  });

  test('delivers in order to wildcard subscribers on another connection', async () => {
    const got: string[] = [];
    const sub = other.subscribe(subjects.all('rx'), (m) => got.push(`${subjects.parse(m.subject)!.vehicle}:${Buffer.from(m.data).toString()}`));
    await other.flush();
    for (let i = 0; i < 50; i++) bus.publish(subjects.vehicle('s1', 'link0-1', 'rx'), Buffer.from(String(i)));
    bus.publish(subjects.vehicle('s1', 'link0-1', 'tx'), Buffer.from('not rx'));
    await bus.flush();
    const until = Date.now() + 5000;
    while (got.length < 50 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `link0-1:${i}`));
    sub.unsubscribe();
  });

  test('publishes from separate tasks (as a link agent reads each vehicle) keep their order; a message larger than the server takes is refused at once', async () => {
    const got: string[] = [];
    const sub = other.subscribe(subjects.vehicle('s1', 'link0-3', 'rx'), (m) => got.push(Buffer.from(m.data).toString()));
    await other.flush();
    // Each publish in a task of its own; none reaches the client inside publish (handlers never run inside it either).
    await Promise.all(Array.from({ length: 40 }, (_, i) => new Promise<void>((r) => setImmediate(() => (bus.publish(subjects.vehicle('s1', 'link0-3', 'rx'), Buffer.from(String(i))), r())))));
    for (let i = 40; i < 60; i++) await new Promise<void>((r) => setTimeout(() => (bus.publish(subjects.vehicle('s1', 'link0-3', 'rx'), Buffer.from(String(i))), r()), 1));
    await bus.flush(); // sends what is queued first
    const until = Date.now() + 5000;
    while (got.length < 60 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => String(i)));
    // Larger than the server takes: refused at once, not dropped later.
    expect(bus.publish(subjects.vehicle('s1', 'link0-3', 'rx'), Buffer.alloc(2 * 1024 * 1024))).toBe(false);
    sub.unsubscribe();
  });

  test('rounds: a message waits for the next round unless published with `now`, which sends the waiting round with it', async () => {
    const slow = await NatsBus.connect({ url, publishRoundMs: 400 });
    try {
      const got: Array<{ m: string; at: number }> = [];
      const sub = other.subscribe(subjects.vehicle('s1', 'link0-4', 'rx'), (m) => got.push({ m: Buffer.from(m.data).toString(), at: Date.now() }));
      await other.flush();
      const t0 = Date.now();
      slow.publish(subjects.vehicle('s1', 'link0-4', 'rx'), Buffer.from('a')); // opens a round: this turn
      await new Promise((r) => setTimeout(r, 50));
      slow.publish(subjects.vehicle('s1', 'link0-4', 'rx'), Buffer.from('b')); // waits for the next round (400 ms after the first)
      await new Promise((r) => setTimeout(r, 100));
      expect(got.map((g) => g.m)).toEqual(['a']);
      slow.publish(subjects.vehicle('s1', 'link0-4', 'rx'), Buffer.from('c'), { now: true }); // an answer: goes now, with 'b' before it
      const until = Date.now() + 2000;
      while (got.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      expect(got.map((g) => g.m)).toEqual(['a', 'b', 'c']);
      expect(got[2].at - t0).toBeLessThan(350);
      sub.unsubscribe();
    } finally {
      await slow.close();
    }
  });

  test('records rx and tx in JetStream and reads them back by subject and time', async () => {
    const rec = { stream: subjects.tlogStream, subjects: [`${root}.*.*.rx`, `${root}.*.*.tx`], maxAgeMs: 3600_000 };
    await bus.ensureRecording(rec);
    await other.ensureRecording(rec); // a second agent: same stream, no error
    const t0 = Date.now();
    for (let i = 0; i < 2500; i++) bus.publish(subjects.vehicle('s1', 'link0-2', i % 2 ? 'tx' : 'rx'), Buffer.from([i & 0xff, i >> 8]));
    bus.publish(subjects.vehicle('s1', 'link0-2', 'presence'), Buffer.from('{}')); // not recorded
    await bus.flush();
    await new Promise((r) => setTimeout(r, 200));
    const rx = await other.readRecorded(rec.stream, subjects.vehicle('s1', 'link0-2', 'rx'));
    expect(rx.length).toBe(1250);
    expect(rx.map((m) => m.data[0] | (m.data[1] << 8))).toEqual(Array.from({ length: 1250 }, (_, i) => 2 * i));
    expect(rx[0].timeMs).toBeGreaterThanOrEqual(t0 - 1000);
    const tx = await other.readRecorded(rec.stream, `${root}.*.*.tx`, { limit: 10 });
    expect(tx.map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => rx[0].seq + 2 * i + 1));
    expect((await other.readRecorded(rec.stream, `${root}.s1.*.rx`, { sinceMs: Date.now() + 60_000 })).length).toBe(0);
    await expect(other.readRecorded('DLTEST_NO_SUCH_TLOG', `${root}.*.*.rx`)).rejects.toMatchObject({ code: 'NO_SUCH_STREAM' });
    // Changing the limits updates the stream in place.
    await bus.ensureRecording({ ...rec, maxAgeMs: 7200_000 });
  });
});
