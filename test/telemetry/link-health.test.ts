import { LinkHealth, prometheusText, promLabel } from '../../telemetry/link-health';
import { FakeClock } from '../../src/vehicle/clock';
import { startSimulators } from '../../sims';
import { createFleet } from '../../src/fleet';
import type { FleetHandle } from '../../src/fleet/types';
import { makeState, waitFor } from './helpers';

const f = (seq: number, name = 'HEARTBEAT', msgid = 0, data: unknown = null, compid = 1) => ({ seq, sysid: 1, compid, msgid, name, data: data as never });

describe('link health (injected clock)', () => {
  test('loss from sequence gaps per stream, with wrap-around; large jumps are not loss', () => {
    const clock = new FakeClock();
    const h = new LinkHealth({ clock });
    for (const s of [250, 251, 253, 255, 0, 1, 5]) h.observe('v/1', f(s));
    // gaps: 252 (1), 254 (1), 2,3,4 (3) → 5 lost of 12
    expect(h.get('v/1')).toMatchObject({ packets: 7, lost: 5, lossPct: 41.67 });
    h.observe('v/1', f(200)); // jump of 194: reboot or duplicate, not loss
    h.observe('v/1', f(10, 'HEARTBEAT', 0, null, 2)); // another component: its own stream
    h.observe('v/1', f(11, 'HEARTBEAT', 0, null, 2));
    expect(h.get('v/1')).toMatchObject({ packets: 10, lost: 5 });
    expect(h.get('nobody')).toBeUndefined();
  });

  test('message rates over a sliding window', () => {
    const clock = new FakeClock(1_000_000);
    const h = new LinkHealth({ clock, windowMs: 5000 });
    let seq = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      clock.advance(10);
      h.observe('v/1', f(seq++ & 0xff, 'ATTITUDE', 30));
      if (ms % 100 === 0) h.observe('v/1', f(seq++ & 0xff, 'GLOBAL_POSITION_INT', 33));
      if (ms % 1000 === 0) h.observe('v/1', f(seq++ & 0xff));
    }
    const r = h.get('v/1')!;
    expect(r.ratesHz.ATTITUDE).toBeCloseTo(100, 0);
    expect(r.ratesHz.GLOBAL_POSITION_INT).toBeCloseTo(10, 0);
    expect(r.ratesHz.HEARTBEAT).toBeCloseTo(1, 0);
    expect(r.lost).toBe(0);
    // Silence: the rates fall to nothing once the window has passed.
    clock.advance(20_000);
    expect(h.get('v/1')!.ratesHz).toEqual({});
  });

  test('round trip from TIMESYNC replies to our requests (ts1 = our ns); requests and implausible replies ignored', () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 30));
    const h = new LinkHealth({ clock });
    const sentNs = BigInt(clock.now()) * 1_000_000n;
    h.observe('v/1', f(0, 'TIMESYNC', 111, { tc1: 0n, ts1: 5n }));
    expect(h.get('v/1')!.rttMs).toBeNull();
    clock.advance(37);
    h.observe('v/1', f(1, 'TIMESYNC', 111, { tc1: 123n, ts1: sentNs }));
    expect(h.get('v/1')!.rttMs).toBe(37);
    h.observe('v/1', f(2, 'TIMESYNC', 111, { tc1: 123n, ts1: 42n })); // not our clock
    expect(h.get('v/1')!.rttMs).toBe(37);
  });

  test('prometheus text: valid exposition lines, escaped labels', () => {
    const clock = new FakeClock();
    const h = new LinkHealth({ clock });
    h.observe('odd"id\\/1', f(0));
    clock.advance(2000);
    const text = prometheusText({
      vehicles: [makeState(), makeState({ id: 'sim1/2', connected: false, link: { packets: 5, lost: 0, lossPct: 0, rttMs: null } })],
      health: h,
      hub: { viewers: 2, framesSent: 10, framesDropped: 3, messagesSent: 12, bytesSent: 999, backpressureSkips: 0, deliveriesSent: 0, deliveriesDropped: 0, alertsSent: 0, alertsDropped: 0, refused: 1, closedForBadInput: 0, closedDead: 0, vehicles: 2 },
    });
    const lines = text.trim().split('\n');
    for (const l of lines) expect(l).toMatch(/^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? -?[0-9.e+-]+)$/);
    expect(text).toContain('dropline_vehicle_link_loss_ratio{vehicle="sim0/1"} 0.0233');
    expect(text).toContain('dropline_vehicle_link_rtt_seconds{vehicle="sim0/1"} 0.003456');
    expect(text).not.toContain('dropline_vehicle_link_rtt_seconds{vehicle="sim1/2"}');
    expect(text).toContain('dropline_vehicle_connected{vehicle="sim1/2"} 0');
    expect(text).toContain('dropline_telemetry_frames_dropped_total 3');
    expect(text).toContain(`dropline_vehicle_message_rate_hz{vehicle="${promLabel('odd"id\\/1')}",message="HEARTBEAT"}`);
    expect(promLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(prometheusText({})).toBe('');
  });
});

describe('link health from a simulated vehicle through the fleet', () => {
  test('rates, no loss on a clean link, and a TIMESYNC round trip', async () => {
    const sims = await startSimulators({ instances: 1, basePort: 0, speedup: 10 });
    const fleet = createFleet({ timesyncMs: 200 });
    const h = new LinkHealth({ fleet: fleet as FleetHandle });
    try {
      fleet.addLink(sims.instances[0].uri, { id: 'lh' });
      const r = await waitFor(() => {
        const x = h.get('lh/1');
        return x && x.rttMs !== null && Object.keys(x.ratesHz).length >= 3 && x ? x : null;
      }, 30000, 'rates and rtt');
      expect(r.lost).toBe(0);
      expect(r.rttMs!).toBeGreaterThanOrEqual(0);
      expect(r.ratesHz.HEARTBEAT).toBeGreaterThan(0);
      const text = prometheusText({ vehicles: fleet.vehicles().map((v) => v.state), health: h });
      expect(text).toMatch(/dropline_vehicle_message_rate_hz\{vehicle="lh\/1",message="HEARTBEAT"\} [0-9.]+/);
    } finally {
      h.close();
      await fleet.close();
      await sims.stop();
    }
  });
});
