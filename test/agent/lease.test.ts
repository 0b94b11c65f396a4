/** Heartbeats on behalf of a node, with fake time: leased → grace → stopped, and back on renewal. */
import { LeaseKeeper } from '../../src/agent/lease';
import { FakeClock } from '../../src/vehicle/clock';

function keeper(graceMs?: number) {
  const clock = new FakeClock();
  const k = new LeaseKeeper({ clock, graceMs, maxTtlMs: 10_000 });
  const changes: string[] = [];
  k.on('change', (m: string) => changes.push(m));
  return { clock, k, changes };
}

test('idle until a node renews; grace after the ttl; stopped after the grace (default 20 s)', () => {
  const { clock, k, changes } = keeper();
  expect(k.mode).toBe('idle');
  expect(k.beating).toBe(false);
  clock.advance(60_000);
  expect(k.mode).toBe('idle'); // nobody ever held it: no heartbeats
  const t0 = clock.now();
  expect(k.renew({ node: 'n1', ttlMs: 3000 })).toBe(true);
  expect(k).toMatchObject({ mode: 'leased', holder: 'n1', leaseUntilMs: t0 + 3000 });
  for (let i = 0; i < 10; i++) {
    clock.advance(1000);
    k.renew({ node: 'n1', ttlMs: 3000 });
  }
  expect(k.mode).toBe('leased');
  const lastRenewal = clock.now();
  clock.advance(2999);
  expect(k.mode).toBe('leased');
  clock.advance(1);
  expect(k.mode).toBe('grace');
  expect(k.beating).toBe(true);
  expect(k.graceUntilMs).toBe(lastRenewal + 3000 + 20_000);
  clock.advance(19_999);
  expect(k.mode).toBe('grace');
  clock.advance(1);
  expect(k.mode).toBe('stopped');
  expect(k.beating).toBe(false);
  expect(changes).toEqual(['leased', 'grace', 'stopped']);
});

test('a renewal in grace (a restarted node) or after it brings the heartbeats back', () => {
  const { clock, k, changes } = keeper(5000);
  k.renew({ node: 'n1', ttlMs: 1000 });
  clock.advance(3000);
  expect(k.mode).toBe('grace');
  k.renew({ node: 'n2', ttlMs: 1000 });
  expect(k).toMatchObject({ mode: 'leased', holder: 'n2', graceUntilMs: null });
  clock.advance(10_000);
  expect(k.mode).toBe('stopped');
  k.renew({ node: 'n2', ttlMs: 1000 });
  expect(k.mode).toBe('leased');
  expect(changes).toEqual(['leased', 'grace', 'leased', 'grace', 'stopped', 'leased']);
});

test('ttl is capped, grace 0 stops at once, malformed renewals are ignored', () => {
  const { clock, k } = keeper(0);
  expect(k.renew({ node: 'n1', ttlMs: 3_600_000 })).toBe(true);
  clock.advance(10_000);
  expect(k.mode).toBe('stopped');
  for (const bad of [null, {}, { node: '', ttlMs: 1000 }, { node: 'x', ttlMs: -1 }, { node: 'x', ttlMs: 'soon' }, { node: 'x'.repeat(300), ttlMs: 1000 }])
    expect(k.renew(bad as never)).toBe(false);
  expect(k.mode).toBe('stopped');
  expect(() => new LeaseKeeper({ clock, graceMs: -1 })).toThrow(/grace/);
});
