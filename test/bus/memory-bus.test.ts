/** The in-process bus: NATS subject matching, asynchronous ordered delivery, recorded streams. */
import { createMemoryBus, subjectMatches, Subjects, parseVehicleToken, vehicleToken, checkToken } from '../../src/bus';

test('subject matching follows NATS: * one token, > the rest', () => {
  expect(subjectMatches('dropline.*.*.rx', 'dropline.fugou.radio1-3.rx')).toBe(true);
  expect(subjectMatches('dropline.*.*.rx', 'dropline.fugou.radio1-3.tx')).toBe(false);
  expect(subjectMatches('dropline.>', 'dropline.fugou.radio1-3.tx')).toBe(true);
  expect(subjectMatches('dropline.>', 'dropline')).toBe(false);
  expect(subjectMatches('dropline.fugou.*', 'dropline.fugou.a.b')).toBe(false);
});

test('subject names and vehicle tokens', () => {
  const s = new Subjects();
  expect(s.vehicle('fugou', vehicleToken('radio1', 3), 'rx')).toBe('dropline.fugou.radio1-3.rx');
  expect(s.all('presence')).toBe('dropline.*.*.presence');
  expect(s.parse('dropline.fugou.radio1-3.lease')).toEqual({ site: 'fugou', vehicle: 'radio1-3', kind: 'lease' });
  expect(s.parse('other.fugou.radio1-3.lease')).toBeNull();
  expect(s.tlogStream).toBe('DROPLINE_TLOG');
  expect(new Subjects('dl-test').tlogStream).toBe('DL_TEST_TLOG');
  expect(parseVehicleToken('link-a-12')).toEqual({ linkId: 'link-a', sysid: 12 });
  expect(parseVehicleToken('link0-0')).toBeNull();
  expect(parseVehicleToken('link0')).toBeNull();
  expect(() => checkToken('site', 'a.b')).toThrow(/site/);
  expect(() => checkToken('site', 'fu gou')).toThrow(/site/);
  expect(() => new Subjects('a*')).toThrow();
});

test('delivers after publish returns, in order, to every matching subscriber; records what a stream covers', async () => {
  const bus = createMemoryBus();
  const got: string[] = [];
  const sub = bus.subscribe('dropline.*.*.rx', (m) => got.push(`${m.subject}:${Buffer.from(m.data).toString()}`));
  await bus.ensureRecording({ stream: 'T', subjects: ['dropline.*.*.rx'] });
  const buf = Buffer.from('a');
  bus.publish('dropline.s.v-1.rx', buf);
  buf[0] = 0x7a; // the publisher's buffer is copied
  bus.publish('dropline.s.v-1.tx', Buffer.from('x'));
  bus.publish('dropline.s.v-2.rx', Buffer.from('b'));
  expect(got).toEqual([]);
  await bus.flush();
  expect(got).toEqual(['dropline.s.v-1.rx:a', 'dropline.s.v-2.rx:b']);
  const rec = await bus.readRecorded('T', 'dropline.s.v-1.rx');
  expect(rec.map((r) => [r.seq, Buffer.from(r.data).toString()])).toEqual([[1, 'a']]);
  expect((await bus.readRecorded('T', 'dropline.>')).length).toBe(2);
  await expect(bus.readRecorded('NOPE', '>')).rejects.toMatchObject({ code: 'NO_SUCH_STREAM' });
  sub.unsubscribe();
  bus.publish('dropline.s.v-1.rx', Buffer.from('c'));
  await bus.flush();
  expect(got.length).toBe(2);
  await bus.close();
  expect(bus.connected).toBe(false);
  expect(bus.publish('x', Buffer.from('y'))).toBe(false);
});
