import { MavlinkEncoder, MavlinkDecoder, decodeAll, Frame } from '../../src/mavlink/codec';
import { msg, minimal, common } from '../../src/mavlink/registry';
import { Signer, keyFromPassphrase, signingKeyId, parseHexKey, SIGNING_EPOCH_MS } from '../../src/mavlink/signing';
import { parseLinkSpec } from '../../src/fleet/link-spec';
import { inspect } from 'util';

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

  test('signing clock rules: a new stream may be ahead but not a minute behind; our time follows what we accept', () => {
    const key = keyFromPassphrase('clock');
    const now = Date.UTC(2026, 0, 10);
    const minute = 60 * 100_000;
    const ticks = (now - SIGNING_EPOCH_MS) * 100;
    // A vehicle a minute and a half ahead (ArduPilot starts a minute past its stored timestamp).
    const ahead = new MavlinkEncoder({ sysid: 1, compid: 1, signer: new Signer({ key, nowMs: () => now + 90_000 }) });
    const behind = new MavlinkEncoder({ sysid: 2, compid: 1, signer: new Signer({ key, nowMs: () => now - 61_000 }) });
    const rx = new Signer({ key, mode: 'require', nowMs: () => now });
    const dec = new MavlinkDecoder(() => undefined, { signer: rx });
    dec.push(ahead.encode(hb()));
    expect(dec.stats.signedAccepted).toBe(1);
    expect(rx.lastTimestamp).toBeGreaterThan(ticks + minute);
    // Our next timestamp is above the newest accepted one.
    expect(rx.nextTimestamp()).toBeGreaterThan(ticks + minute);
    dec.push(behind.encode(hb()));
    expect(dec.stats).toMatchObject({ signedAccepted: 1, replayRejected: 1, badSignatureRejected: 0, signatureRejected: 1 });
  });

  test('signing: accept list, shared stream table, key fingerprint, the key never shown', () => {
    const key = keyFromPassphrase('shown?');
    const streams = new Map<string, number>();
    const a = new Signer({ key, mode: 'require', streams, acceptUnsigned: (id) => id === 109 });
    const b = new Signer({ key, mode: 'require', streams });
    const dec = new MavlinkDecoder(() => undefined, { signer: a });
    const plain = new MavlinkEncoder({ sysid: 3, compid: 1 });
    dec.push(plain.encode(msg(common.RadioStatus, { rssi: 1 })));
    dec.push(plain.encode(hb()));
    expect(dec.stats).toMatchObject({ packets: 1, unsignedRejected: 1 });
    // A frame accepted through one signer is a replay through another sharing the table.
    const tx = new MavlinkEncoder({ sysid: 4, compid: 1, signer: new Signer({ key }) });
    const f = tx.encode(hb());
    const decB = new MavlinkDecoder(() => undefined, { signer: b });
    dec.push(f);
    decB.push(f);
    expect(decB.stats.replayRejected).toBe(1);
    // Fingerprint and secrecy.
    expect(a.keyId).toBe(signingKeyId(key));
    expect(a.keyId).toMatch(/^[0-9a-f]{8}$/);
    expect(a.hasKey(key)).toBe(true);
    expect(a.hasKey(keyFromPassphrase('other'))).toBe(false);
    const hex = key.toString('hex');
    for (const shown of [JSON.stringify(a), inspect(a, { depth: 5, showHidden: true }), JSON.stringify({ signer: a })]) {
      expect(shown).not.toContain(hex);
      expect(shown).not.toContain(key.toString('base64'));
      expect(shown).not.toContain('Buffer');
    }
    expect(parseHexKey(` ${hex}\n`).equals(key)).toBe(true);
    expect(() => parseHexKey(hex.slice(2))).toThrow(expect.objectContaining({ code: 'INVALID_SIGNING_KEY' }));
    try {
      parseHexKey(hex + 'zz');
    } catch (e) {
      expect((e as Error).message).not.toContain(hex);
    }
  });

  test('link URIs carry signing options in a query the transport never sees', () => {
    expect(parseLinkSpec('tcp:127.0.0.1:5760')).toEqual({ transport: 'tcp:127.0.0.1:5760' });
    expect(parseLinkSpec('tcp:127.0.0.1:5760?signing=require')).toEqual({ transport: 'tcp:127.0.0.1:5760', signing: 'require' });
    expect(parseLinkSpec('serial:/dev/ttyACM0:115200?signing=sign&signingKeyFile=/etc/k.hex&id=field-1')).toEqual({
      transport: 'serial:/dev/ttyACM0:115200', signing: 'sign', signingKeyFile: '/etc/k.hex', id: 'field-1',
    });
    expect(parseLinkSpec('udpin:0.0.0.0:14550?signing=off').signing).toBe('off');
    for (const bad of ['tcp:127.0.0.1:5760?signing=maybe', 'tcp:127.0.0.1:5760?sign=1', 'tcp:127.0.0.1:5760?signing=sign&signing=off', 'tcp:127.0.0.1:5760?id=a/b', 'tcp:127.0.0.1:x?signing=require', 'tcp:127.0.0.1:5760?signingKeyFile=']) {
      expect(() => parseLinkSpec(bad)).toThrow(expect.objectContaining({ code: 'INVALID_LINK_URI' }));
    }
  });
});
