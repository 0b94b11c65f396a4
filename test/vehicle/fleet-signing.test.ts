/**
 * Signing and bad bytes through the fleet over real TCP, against a scripted vehicle that signs
 * with its own encoder and verifies what we send with its own Signer.
 */
import * as net from 'net';
import { common, minimal } from 'mavlink-mappings';
import { createFleet, Fleet, FleetError } from '../../src/fleet';
import { MavlinkDecoder, MavlinkEncoder, Frame } from '../../src/mavlink/codec';
import { msg } from '../../src/mavlink/registry';
import { Signer, keyFromPassphrase } from '../../src/mavlink/signing';
import { LinkError } from '../../src/link';
import { until } from './wait';

const KEY = keyFromPassphrase('dropline test key');
const hb = () => msg(minimal.Heartbeat, { type: 2, autopilot: 3, baseMode: 81, customMode: 4, systemStatus: 3 });

interface Scripted {
  port: number;
  /** Frames received from the fleet, with whether they verified against the key. */
  got: Array<{ f: Frame }>;
  rejected: () => number;
  send(b: Buffer): void;
  close(): Promise<void>;
}

/** A TCP "vehicle": sysid 7 signs with KEY; answers COMMAND_LONG with a signed ACCEPTED. */
async function scriptedVehicle(opts: { requireSigned: boolean; extras?: (enc: { good: MavlinkEncoder; wrongKey: MavlinkEncoder; unsigned: MavlinkEncoder }) => Buffer[] }): Promise<Scripted> {
  const good = new MavlinkEncoder({ sysid: 7, compid: 1, signer: new Signer({ key: KEY, linkId: 1 }) });
  const wrongKey = new MavlinkEncoder({ sysid: 9, compid: 1, signer: new Signer({ key: keyFromPassphrase('not the key'), linkId: 1 }) });
  const unsigned = new MavlinkEncoder({ sysid: 8, compid: 1 });
  const got: Array<{ f: Frame }> = [];
  const socks = new Set<net.Socket>();
  const timers: NodeJS.Timeout[] = [];
  let decoder: MavlinkDecoder | undefined;
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => undefined);
    s.on('close', () => socks.delete(s));
    decoder = new MavlinkDecoder(
      (f) => {
        got.push({ f });
        if (f.name === 'COMMAND_LONG') {
          const c = f.data as common.CommandLong;
          s.write(good.encode(msg(common.CommandAck, { command: c.command, result: 0, targetSystem: f.sysid, targetComponent: f.compid })));
        }
      },
      { signer: opts.requireSigned ? new Signer({ key: KEY, mode: 'require' }) : undefined },
    );
    s.on('data', (b) => decoder!.push(b));
    const tick = () => {
      if (s.destroyed) return;
      const parts = [good.encode(hb()), ...(opts.extras?.({ good, wrongKey, unsigned }) ?? [])];
      s.write(Buffer.concat(parts));
    };
    tick();
    timers.push(setInterval(tick, 100));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    got,
    rejected: () => (decoder ? decoder.stats.signatureRejected + decoder.stats.unsignedRejected : 0),
    send: (b) => socks.forEach((s) => s.write(b)),
    close: async () => {
      timers.forEach(clearInterval);
      socks.forEach((s) => s.destroy());
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function track(f: Fleet, v?: Scripted): Fleet {
  cleanups.push(async () => {
    await f.close();
    await v?.close();
  });
  return f;
}

describe('fleet over TCP with signing and bad bytes', () => {
  test("'require': signed vehicle discovered; unsigned, wrong-key and replayed frames dropped and counted; our frames signed", async () => {
    let replay: Buffer | undefined;
    const veh = await scriptedVehicle({
      requireSigned: true,
      extras: ({ good, wrongKey, unsigned }) => {
        const out = [unsigned.encode(hb()), wrongKey.encode(hb())];
        if (!replay) replay = good.encode(hb());
        else out.push(replay);
        return out;
      },
    });
    const fleet = track(createFleet({ signing: { mode: 'require', key: KEY }, timesyncMs: 0 }), veh);
    fleet.addLink(`tcp:127.0.0.1:${veh.port}`, { id: 'signed' });
    await until(() => fleet.vehicles().length === 1, 10000, 'discovery');
    const v = fleet.get('signed/7')!;
    expect(v.state.autopilot).toBe('ardupilot');
    await until(() => {
      const s = fleet.links()[0].stats;
      return s.unsignedRejected >= 3 && s.signatureRejected >= 6;
    }, 10000, 'rejections');
    expect(fleet.vehicles().map((x) => x.id)).toEqual(['signed/7']);
    // Commands travel signed, verify on the vehicle side and their signed ACK comes back.
    const r = await v.setMessageInterval(33, 250000);
    expect(r).toMatchObject({ ok: true, result: 'ACCEPTED' });
    expect(veh.got.length).toBeGreaterThan(1);
    expect(veh.got.every((x) => x.f.signed)).toBe(true);
    expect(veh.got.some((x) => x.f.name === 'HEARTBEAT' && x.f.sysid === 255)).toBe(true);
    expect(veh.rejected()).toBe(0);
    expect(fleet.links()[0].signing).toBe('require');
  });

  test("'sign' signs what we send and still accepts unsigned vehicles", async () => {
    const veh = await scriptedVehicle({ requireSigned: false, extras: ({ unsigned }) => [unsigned.encode(hb())] });
    const fleet = track(createFleet({ timesyncMs: 0 }), veh);
    fleet.addLink(`tcp:127.0.0.1:${veh.port}`, { id: 'a', signing: { mode: 'sign', key: KEY } });
    await until(() => fleet.vehicles().length === 2, 10000, 'both vehicles');
    expect(fleet.vehicles().map((x) => x.id).sort()).toEqual(['a/7', 'a/8']);
    await until(() => veh.got.length > 0);
    expect(veh.got[0].f.signed).toBe(true);
  });

  test("'off' (the default) sends unsigned frames", async () => {
    const veh = await scriptedVehicle({ requireSigned: false });
    const fleet = track(createFleet({ timesyncMs: 0 }), veh);
    fleet.addLink(`tcp:127.0.0.1:${veh.port}`);
    await until(() => veh.got.length > 0 && fleet.vehicles().length === 1, 10000, 'exchange');
    expect(veh.got[0].f.signed).toBe(false);
    expect(fleet.links()[0]).toMatchObject({ id: 'link1', signing: 'off' });
  });

  test('garbage, truncated and CRC-failing bytes are counted and skipped, never crash; unknown ids counted', async () => {
    const veh = await scriptedVehicle({ requireSigned: false });
    const fleet = track(createFleet({ timesyncMs: 0 }), veh);
    fleet.addLink(`tcp:127.0.0.1:${veh.port}`, { id: 'noisy' });
    await until(() => fleet.vehicles().length === 1, 10000, 'discovery');
    const enc = new MavlinkEncoder({ sysid: 7, compid: 1 });
    const good = enc.encode(msg(common.StatusText, { severity: 4, text: 'after the noise' }));
    const corrupt = Buffer.from(enc.encode(msg(common.StatusText, { severity: 4, text: 'corrupted' })));
    corrupt[15] ^= 0x55;
    const unknownId = Buffer.from(enc.encode(hb()));
    unknownId.writeUIntLE(0xabcde, 7, 3);
    const random = Buffer.alloc(4000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) & 0xff;
    // A false start byte in garbage makes any MAVLink parser wait for the length it claims (up to
    // 280 bytes); live traffic supplies them. Here 600 idle bytes stand in for that traffic.
    veh.send(Buffer.concat([random, corrupt, Buffer.from([0xfd, 0x05, 0x00]), good, unknownId, good.subarray(0, 8), Buffer.alloc(600)]));
    const v = fleet.get('noisy/7')!;
    await until(() => v.state.statusText.some((t) => t.text === 'after the noise'), 10000, 'good frame after garbage');
    const s = fleet.links()[0].stats;
    expect(s.crcErrors).toBeGreaterThanOrEqual(1);
    expect(s.skippedBytes).toBeGreaterThan(1000);
    await until(() => fleet.links()[0].stats.unknown >= 1, 5000, 'unknown id counted');
    expect(v.state.statusText.some((t) => t.text === 'corrupted')).toBe(false);
    expect(v.state.connected).toBe(true);
  });

  test('bad link URI and bad signing options are typed errors', () => {
    const fleet = createFleet();
    expect(() => fleet.addLink('tcp:nowhere')).toThrow(LinkError);
    expect(() => fleet.addLink('bogus:1:2')).toThrow(expect.objectContaining({ code: 'INVALID_LINK_URI' }));
    expect(() => fleet.addLink('udpin:127.0.0.1:0', { signing: { mode: 'require' } })).toThrow(FleetError);
    expect(() => fleet.addLink('udpin:127.0.0.1:0', { signing: { mode: 'sign', key: Buffer.alloc(5) } })).toThrow(expect.objectContaining({ code: 'INVALID_SIGNING' }));
    expect(fleet.links()).toEqual([]);
    void fleet.close();
  });
});
