import { MavlinkEncoder, MavlinkDecoder, decodeAll, Frame } from '../../src/mavlink/codec';
import { msg, minimal, common } from '../../src/mavlink/registry';
import { Signer, keyFromPassphrase } from '../../src/mavlink/signing';

const hb = () => msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 81, customMode: 4, systemStatus: 4 });

describe('codec', () => {
  test('round-trips a heartbeat as MAVLink 2 with a per-encoder sequence', () => {
    const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
    const a = enc.encode(hb());
    const b = enc.encode(hb());
    expect(a[0]).toBe(0xfd);
    expect(a[4]).toBe(0);
    expect(b[4]).toBe(1);
    const frames = decodeAll(Buffer.concat([a, b]));
    expect(frames.map((f) => f.name)).toEqual(['HEARTBEAT', 'HEARTBEAT']);
    const h = frames[0].data as minimal.Heartbeat;
    expect(h.customMode).toBe(4);
    expect(h.baseMode).toBe(81);
    expect(h.mavlinkVersion).toBe(3);
    expect(frames[0].sysid).toBe(1);
  });

  test('decodes a frame split across chunks and skips garbage, counting CRC errors', () => {
    const enc = new MavlinkEncoder();
    const st = enc.encode(msg(common.StatusText, { severity: 6, text: 'Flight plan received' }));
    const corrupt = Buffer.from(st);
    corrupt[12] ^= 0xff;
    const stream = Buffer.concat([Buffer.from([1, 2, 3, 0xfd, 9]), corrupt, st]);
    const got: Frame[] = [];
    const dec = new MavlinkDecoder((f) => got.push(f));
    for (let i = 0; i < stream.length; i += 3) dec.push(stream.subarray(i, i + 3));
    expect(got).toHaveLength(1);
    expect((got[0].data as common.StatusText).text).toBe('Flight plan received');
    expect(dec.stats.crcErrors).toBeGreaterThanOrEqual(1);
  });

  test('counts lost packets from sequence gaps', () => {
    const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
    const frames = Array.from({ length: 10 }, () => enc.encode(hb()));
    const dec = new MavlinkDecoder(() => undefined);
    dec.push(Buffer.concat(frames.filter((_, i) => i !== 3 && i !== 4 && i !== 7)));
    expect(dec.stats.lost).toBe(3);
    expect(dec.stats.packets).toBe(7);
  });

  test('signing: accepts signed frames, rejects replays, bad keys and (in require mode) unsigned frames', () => {
    const key = keyFromPassphrase('dropline');
    let now = Date.UTC(2026, 10, 30);
    const tx = new MavlinkEncoder({ sysid: 1, compid: 1, signer: new Signer({ key, nowMs: () => now }) });
    const s1 = tx.encode(hb());
    const s2 = tx.encode(hb());
    // Same millisecond, yet strictly increasing timestamps.
    expect(s2.readUIntLE(s2.length - 12, 6)).toBeGreaterThan(s1.readUIntLE(s1.length - 12, 6));
    const rx = new Signer({ key, mode: 'require', nowMs: () => now });
    const got: Frame[] = [];
    const dec = new MavlinkDecoder((f) => got.push(f), { signer: rx });
    dec.push(Buffer.concat([s1, s2, s1]));
    expect(got.map((f) => f.signed)).toEqual([true, true]);
    expect(dec.stats.signatureRejected).toBe(1);
    dec.push(new MavlinkEncoder({ sysid: 1, compid: 1 }).encode(hb()));
    expect(dec.stats.unsignedRejected).toBe(1);
    const wrong = new MavlinkEncoder({ sysid: 2, compid: 1, signer: new Signer({ key: keyFromPassphrase('other'), nowMs: () => now }) });
    dec.push(wrong.encode(hb()));
    expect(dec.stats.signatureRejected).toBe(2);
    now += 1000;
    expect(got).toHaveLength(2);
  });
});
