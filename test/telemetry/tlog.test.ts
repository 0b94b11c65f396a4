/**
 * Tlogs: written by TlogWriter, read back by an independent parser written here (not readTlog);
 * readTlog on truncated and corrupted files; FlightRecorder rotation and retention.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EventEmitter } from 'events';
import { MavlinkEncoder, decodeAll } from '../../src/mavlink/codec';
import { Signer, keyFromPassphrase } from '../../src/mavlink/signing';
import { msg, common, minimal, REGISTRY } from '../../src/mavlink/registry';
import { TlogWriter, readTlog, FlightRecorder, TlogError } from '../../telemetry/tlog';
import type { FleetHandle } from '../../src/fleet/types';
import { waitFor } from './helpers';

/** X.25 / CRC-16/MCRF4XX as MAVLink defines it (independent of the codec). */
function crc16(bytes: Buffer, extra: number): number {
  let crc = 0xffff;
  const step = (b: number) => {
    let tmp = (b ^ (crc & 0xff)) & 0xff;
    tmp = (tmp ^ (tmp << 4)) & 0xff;
    crc = ((crc >> 8) ^ (tmp << 8) ^ (tmp << 3) ^ (tmp >> 4)) & 0xffff;
  };
  for (const b of bytes) step(b);
  step(extra);
  return crc;
}

/** The independent reader: 8-byte BE µs, then a MAVLink v1/v2 packet whose header gives its length. */
function parseTlogIndependently(buf: Buffer): Array<{ us: bigint; packet: Buffer; msgid: number; crcOk: boolean }> {
  const out: Array<{ us: bigint; packet: Buffer; msgid: number; crcOk: boolean }> = [];
  let i = 0;
  while (i < buf.length) {
    let us = 0n;
    for (let k = 0; k < 8; k++) us = (us << 8n) | BigInt(buf[i + k]);
    const p = i + 8;
    let len: number;
    let msgid: number;
    let crcAt: number;
    if (buf[p] === 0xfd) {
      const plen = buf[p + 1];
      const signed = (buf[p + 2] & 1) === 1;
      msgid = buf[p + 7] | (buf[p + 8] << 8) | (buf[p + 9] << 16);
      crcAt = 10 + plen;
      len = 10 + plen + 2 + (signed ? 13 : 0);
    } else if (buf[p] === 0xfe) {
      const plen = buf[p + 1];
      msgid = buf[p + 5];
      crcAt = 6 + plen;
      len = 6 + plen + 2;
    } else throw new Error(`bad start byte at ${p}`);
    const packet = buf.subarray(p, p + len);
    const crc = crc16(packet.subarray(1, crcAt), REGISTRY[msgid].MAGIC_NUMBER);
    out.push({ us, packet, msgid, crcOk: crc === (packet[crcAt] | (packet[crcAt + 1] << 8)) });
    i = p + len;
  }
  return out;
}

const made: string[] = [];
function tmpdir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-tlog-'));
  made.push(d);
  return d;
}
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function samplePackets(): Buffer[] {
  const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
  const signedEnc = new MavlinkEncoder({ sysid: 1, compid: 1, signer: new Signer({ key: keyFromPassphrase('tlog test'), mode: 'sign' }) });
  const out: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    out.push(enc.encode(msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 81, customMode: i % 10, systemStatus: 4 })));
    out.push(enc.encode(msg(common.GlobalPositionInt, { timeBootMs: i * 100, lat: 340600000 + i, lon: 1143900000 - i, alt: 120000, relativeAlt: i * 10, hdg: 9000 })));
    if (i % 50 === 0) out.push(enc.encode(msg(common.StatusText, { severity: 6, text: `step ${i}` })));
    if (i % 40 === 0) out.push(signedEnc.encode(msg(common.SysStatus, { voltageBattery: 12600, batteryRemaining: 90 - i / 10 })));
  }
  // A MAVLink 1 frame too (tlogs hold whatever came off the wire).
  const v1 = Buffer.from([0xfe, 9, 7, 1, 1, 0, 0, 0, 0, 0, 2, 3, 81, 4, 3]);
  const crc = crc16(v1.subarray(1), REGISTRY[0].MAGIC_NUMBER);
  out.push(Buffer.concat([v1, Buffer.from([crc & 0xff, crc >> 8])]));
  return out;
}

describe('tlog format', () => {
  test('records written by TlogWriter read back frame by frame by an independent parser', async () => {
    const dir = tmpdir();
    const file = path.join(dir, 'a.tlog');
    const packets = samplePackets();
    const w = new TlogWriter(file, { flushIntervalMs: 50, maxBufferedBytes: 1024 });
    const t0 = BigInt(Date.UTC(2026, 10, 30, 1, 2, 3)) * 1000n + 456n;
    packets.forEach((p, i) => w.write(p, t0 + BigInt(i) * 100_000n));
    await w.close();
    const parsed = parseTlogIndependently(fs.readFileSync(file));
    expect(parsed.length).toBe(packets.length);
    parsed.forEach((r, i) => {
      expect(r.us).toBe(t0 + BigInt(i) * 100_000n);
      expect(r.packet.equals(packets[i])).toBe(true);
      expect(r.crcOk).toBe(true);
    });
    expect(fs.statSync(file).size).toBe(packets.reduce((n, p) => n + 8 + p.length, 0));
    // And the codec decodes the packets to the same messages.
    const decoded = decodeAll(Buffer.concat(parsed.map((r) => r.packet)));
    expect(decoded.length).toBe(packets.length);
    expect(decoded.filter((f) => f.name === 'GLOBAL_POSITION_INT').length).toBe(200);
    // readTlog agrees.
    const back = readTlog(file);
    expect(back.error).toBeUndefined();
    expect(back.records.map((r) => r.timeUs)).toEqual(parsed.map((r) => r.us));
  });

  test('default timestamps are µs since the epoch, non-decreasing', async () => {
    const dir = tmpdir();
    const file = path.join(dir, 'now.tlog');
    const w = new TlogWriter(file);
    const before = BigInt(Date.now() - 1) * 1000n;
    for (const p of samplePackets().slice(0, 50)) w.write(p);
    await w.close();
    const after = BigInt(Date.now() + 1) * 1000n;
    const parsed = parseTlogIndependently(fs.readFileSync(file));
    expect(parsed.length).toBe(50);
    for (let i = 0; i < parsed.length; i++) {
      expect(parsed[i].us >= before && parsed[i].us <= after).toBe(true);
      if (i > 0) expect(parsed[i].us >= parsed[i - 1].us).toBe(true);
    }
  });

  test('flush policy: records reach the file within flushIntervalMs, or at maxBufferedBytes, without close()', async () => {
    const dir = tmpdir();
    const packets = samplePackets();
    const timed = new TlogWriter(path.join(dir, 'timed.tlog'), { flushIntervalMs: 100, maxBufferedBytes: 1 << 20 });
    timed.write(packets[0]);
    expect(fs.statSync(timed.path).size).toBe(0);
    await waitFor(() => fs.statSync(timed.path).size === 8 + packets[0].length, 5000, 'timed flush');
    const sized = new TlogWriter(path.join(dir, 'sized.tlog'), { flushIntervalMs: 60_000, maxBufferedBytes: 500 });
    let n = 0;
    let bytes = 0;
    while (bytes < 500) {
      sized.write(packets[n]);
      bytes += 8 + packets[n++].length;
    }
    await waitFor(() => fs.statSync(sized.path).size === bytes, 5000, 'size flush');
    await Promise.all([timed.close(), sized.close()]);
  });

  test('bad writes are typed errors', async () => {
    const w = new TlogWriter(path.join(tmpdir(), 'bad.tlog'));
    expect(() => w.write(Buffer.from([1, 2, 3]))).toThrow(expect.objectContaining({ code: 'TLOG_INVALID_PACKET' }));
    const p = samplePackets()[0];
    expect(() => w.write(Buffer.concat([p, p]))).toThrow(TlogError);
    await w.close();
    expect(() => w.write(p)).toThrow(expect.objectContaining({ code: 'TLOG_CLOSED' }));
    expect(() => new TlogWriter(path.join(tmpdir(), 'no/such/dir/x.tlog'))).toThrow(expect.objectContaining({ code: 'TLOG_IO' }));
    expect(() => readTlog('/nonexistent/x.tlog')).toThrow(expect.objectContaining({ code: 'TLOG_IO' }));
  });

  test('truncated and corrupted tlogs: every valid record up to the break, and where it breaks', async () => {
    const file = path.join(tmpdir(), 'src.tlog');
    const packets = samplePackets().slice(0, 100);
    const w = new TlogWriter(file);
    packets.forEach((p) => w.write(p));
    await w.close();
    const full = fs.readFileSync(file);
    const offsets: number[] = [];
    let o = 0;
    for (const p of packets) {
      offsets.push(o);
      o += 8 + p.length;
    }
    // Cut inside record 60's packet.
    const cut = readTlog(full.subarray(0, offsets[60] + 8 + 5));
    expect(cut.records.length).toBe(60);
    expect(cut.error).toEqual({ offset: offsets[60], reason: expect.stringMatching(/truncated/) });
    // Cut inside record 61's timestamp.
    expect(readTlog(full.subarray(0, offsets[61] + 3)).error).toEqual({ offset: offsets[61], reason: expect.stringMatching(/timestamp/) });
    // A flipped payload byte in record 30 → CRC mismatch there.
    const crcBad = Buffer.from(full);
    crcBad[offsets[30] + 8 + 12] ^= 0xff;
    const r1 = readTlog(crcBad);
    expect(r1.records.length).toBe(30);
    expect(r1.error).toEqual({ offset: offsets[30], reason: expect.stringMatching(/CRC/) });
    // A lost byte shifts every boundary after it: caught at the next record.
    const shifted = Buffer.concat([full.subarray(0, offsets[40] + 3), full.subarray(offsets[40] + 4)]);
    const r2 = readTlog(shifted);
    expect(r2.records.length).toBe(40);
    expect(r2.error!.offset).toBe(offsets[40]);
    // Garbage start byte.
    const stx = Buffer.from(full);
    stx[offsets[10] + 8] = 0x00;
    expect(readTlog(stx)).toMatchObject({ records: { length: 10 }, error: { offset: offsets[10], reason: expect.stringMatching(/start byte/) } });
    // Empty file: no records, no error.
    expect(readTlog(Buffer.alloc(0))).toEqual({ records: [] });
    // Records before the break are byte-identical.
    r1.records.forEach((r, i) => expect(r.raw.equals(packets[i])).toBe(true));
  });
});

describe('FlightRecorder', () => {
  function fakeFleet(): FleetHandle {
    // Only the 'frame' event is used by the recorder.
    return new EventEmitter() as unknown as FleetHandle;
  }

  test('records only the started vehicle, rotates at rotateBytes, stop() summarises', async () => {
    const dir = tmpdir();
    const fleet = fakeFleet();
    const rec = new FlightRecorder({ fleet, dir, rotateBytes: 2000, flushIntervalMs: 20 });
    const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
    const other = new MavlinkEncoder({ sysid: 2, compid: 1 });
    const p = rec.start('sim0/1', 'flight-1');
    expect(p).toBe(path.join(dir, 'flight-1.tlog'));
    const sent: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const raw = enc.encode(msg(common.GlobalPositionInt, { timeBootMs: i, lat: i, lon: i, relativeAlt: i }));
      sent.push(raw);
      fleet.emit('frame', 'sim0/1', { raw });
      fleet.emit('frame', 'sim0/2', { raw: other.encode(msg(minimal.Heartbeat, { type: 2 })) });
    }
    const sum = await rec.stop('sim0/1');
    expect(sum!.frames).toBe(100);
    expect(sum!.paths.length).toBeGreaterThan(1);
    let total = 0;
    const all: Buffer[] = [];
    for (const f of sum!.paths) {
      const size = fs.statSync(f).size;
      expect(size).toBeLessThanOrEqual(2000);
      total += size;
      all.push(...parseTlogIndependently(fs.readFileSync(f)).map((r) => r.packet));
    }
    expect(total).toBe(sum!.bytes);
    expect(all.length).toBe(100);
    all.forEach((b, i) => expect(b.equals(sent[i])).toBe(true));
    expect(await rec.stop('sim0/1')).toBeNull();
    expect(() => rec.start('sim0/1', '../escape')).toThrow(expect.objectContaining({ code: 'TLOG_INVALID_OPTIONS' }));
    await rec.close();
    expect(() => rec.start('sim0/1', 'again')).toThrow(expect.objectContaining({ code: 'TLOG_CLOSED' }));
  });

  test('recording a flight id again appends instead of overwriting', async () => {
    const dir = tmpdir();
    const enc = new MavlinkEncoder({ sysid: 1, compid: 1 });
    const sent: Buffer[] = [];
    for (const n of [3, 4]) {
      const fleet = fakeFleet();
      const rec = new FlightRecorder({ fleet, dir });
      rec.start('sim0/1', 'again');
      for (let i = 0; i < n; i++) {
        const raw = enc.encode(msg(minimal.Heartbeat, { type: 2, customMode: i }));
        sent.push(raw);
        fleet.emit('frame', 'sim0/1', { raw });
      }
      expect((await rec.stop('sim0/1'))!.frames).toBe(n);
      await rec.close();
    }
    const parsed = parseTlogIndependently(fs.readFileSync(path.join(dir, 'again.tlog')));
    expect(parsed.map((r) => r.packet.toString('hex'))).toEqual(sent.map((b) => b.toString('hex')));
  });

  test('retention: older than retentionDays and beyond maxFiles are deleted; files being written never', async () => {
    const dir = tmpdir();
    const fleet = fakeFleet();
    const now = Date.now();
    for (let i = 0; i < 6; i++) {
      const f = path.join(dir, `old-${i}.tlog`);
      fs.writeFileSync(f, '');
      const t = new Date(now - (i < 2 ? 40 : i) * 86_400_000);
      fs.utimesSync(f, t, t);
    }
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    const rec = new FlightRecorder({ fleet, dir, retentionDays: 30, maxFiles: 4 });
    rec.start('a/1', 'live-a');
    // 2 removed for age; of the 4 left (old-2..5) the 3 newest stay, with the new file 4 in all.
    expect(fs.readdirSync(dir).sort()).toEqual(['live-a.tlog', 'notes.txt', 'old-2.tlog', 'old-3.tlog', 'old-4.tlog']);
    rec.start('b/1', 'live-b');
    // live-a is being written: never deleted; room for live-b leaves 2 old ones.
    expect(fs.readdirSync(dir).sort()).toEqual(['live-a.tlog', 'live-b.tlog', 'notes.txt', 'old-2.tlog', 'old-3.tlog']);
    await rec.close();
  });
});
