/**
 * Signing and bad bytes through the fleet over real TCP, against a scripted vehicle that signs
 * with its own encoder and verifies what we send with its own Signer; then provisioning a key
 * (SETUP_SIGNING) and the link URI's signing options against the built-in simulator.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { common, minimal } from 'mavlink-mappings';
import { createFleet, Fleet, FleetError } from '../../src/fleet';
import { MavlinkDecoder, MavlinkEncoder, Frame } from '../../src/mavlink/codec';
import { msg } from '../../src/mavlink/registry';
import { Signer, keyFromPassphrase, signingKeyId } from '../../src/mavlink/signing';
import { LinkError } from '../../src/link';
import { startSimulators } from '../../sims';
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
    // One key per link: a link that carries two vehicles is not re-keyed for one of them.
    expect(await fleet.provisionSigning('a/7', keyFromPassphrase('x'))).toMatchObject({ ok: false, code: 'DENIED', message: expect.stringMatching(/a\/8/) });
    expect(veh.got.some((x) => x.f.name === 'SETUP_SIGNING')).toBe(false);
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

describe('provisioning a key and the signing options of a link URI (built-in simulator)', () => {
  const KEY2 = keyFromPassphrase('provisioned');
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-keys-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function simAndFleet(simOpts: Parameters<typeof startSimulators>[0] = {}, uriQuery = '', fleetOpts: Parameters<typeof createFleet>[0] = {}) {
    const sims = await startSimulators({ basePort: 0, speedup: 10, bootDelayS: 1, ...simOpts });
    const fleet = createFleet({ heartbeatHz: 20, timesyncMs: 0, ...fleetOpts });
    cleanups.push(async () => {
      await fleet.close();
      await sims.stop();
    });
    fleet.addLink(sims.instances[0].uri + uriQuery, { id: 'v' });
    await until(() => fleet.get('v/1')?.state.connected === true, 10000, 'vehicle');
    return { sims, fleet, inst: sims.instances[0], v: fleet.get('v/1')! };
  }

  test('SETUP_SIGNING, then the link verifies with the new key; the vehicle takes signed commands', async () => {
    const { fleet, inst, v } = await simAndFleet();
    const r = await fleet.provisionSigning('v/1', KEY2);
    expect(r).toMatchObject({ ok: true, keyId: signingKeyId(KEY2), mode: 'require', attempts: 1 });
    expect(inst.vehicle.signing.keyId).toBe(signingKeyId(KEY2));
    expect(fleet.signingStatus('v/1')).toMatchObject({ linkId: 'v', enabled: true, mode: 'require', configuredMode: null, keyId: signingKeyId(KEY2) });
    expect(fleet.links()[0]).toMatchObject({ signing: 'require', signingKeyId: signingKeyId(KEY2) });
    expect(await v.setMessageInterval(33, 100000)).toMatchObject({ ok: true, result: 'ACCEPTED' });
    await until(() => fleet.signingStatus('v')!.counters.accepted > 10, 5000, 'signed frames');
    expect(fleet.signingStatus('v')!.counters).toMatchObject({ rejectedUnsigned: 0, rejectedReplay: 0 });
    // A second key over the signed link (SETUP_SIGNING signed with the first one).
    const KEY3 = keyFromPassphrase('rotated');
    expect(await fleet.provisionSigning('v/1', KEY3)).toMatchObject({ ok: true, keyId: signingKeyId(KEY3) });
    expect(inst.vehicle.signing.keyId).toBe(signingKeyId(KEY3));
    expect(await v.setMessageInterval(33, 200000)).toMatchObject({ ok: true, result: 'ACCEPTED' });
    // Frames in flight while the keys changed were taken with the key they carried: nothing dropped.
    expect(fleet.signingStatus('v')!.counters).toMatchObject({ rejectedUnsigned: 0, rejectedBadSignature: 0, rejectedReplay: 0 });
  });

  test('refused while armed, on a link configured signing=off; a vehicle that ignores SETUP_SIGNING leaves the link as it was', async () => {
    const a = await simAndFleet();
    expect(await a.v.arm(true)).toMatchObject({ ok: true });
    await until(() => a.v.state.armed, 5000, 'armed');
    expect(await a.fleet.provisionSigning('v/1', KEY2)).toMatchObject({ ok: false, code: 'DENIED', message: expect.stringMatching(/armed/) });
    expect(a.inst.vehicle.signing.enabled).toBe(false);

    const off = await simAndFleet({}, '?signing=off');
    expect(await off.fleet.provisionSigning('v/1', KEY2)).toMatchObject({ ok: false, code: 'DENIED', message: expect.stringMatching(/signing=off/) });

    // The PX4 personality ignores SETUP_SIGNING: no signed answer, so the link goes back to unsigned.
    const px4 = await simAndFleet({ personality: 'px4' });
    const r = await px4.fleet.provisionSigning('v/1', KEY2, { timeoutMs: 400, attempts: 2 });
    expect(r).toMatchObject({ ok: false, code: 'TIMEOUT' });
    expect(px4.fleet.signingStatus('v')).toMatchObject({ enabled: false, mode: 'off', keyId: null });
    const n = px4.v.state.link.packets;
    await until(() => px4.v.state.link.packets > n + 5, 5000, 'frames flow again');
    expect(px4.v.state.connected).toBe(true);
  });

  test('a link takes its key from signingKeyFile= or from signingKeyFor, and requires signatures by default', async () => {
    const keyFile = path.join(dir, 'v.key');
    fs.writeFileSync(keyFile, KEY2.toString('hex') + '\n');
    // A vehicle that already holds the key (as after an earlier provisioning).
    const a = await simAndFleet({ signingKey: KEY2 }, `?signing=require&signingKeyFile=${encodeURIComponent(keyFile)}`);
    expect(a.fleet.signingStatus('v')).toMatchObject({ mode: 'require', configuredMode: 'require', keyId: signingKeyId(KEY2) });
    await until(() => a.fleet.signingStatus('v')!.counters.accepted > 5, 5000, 'signed frames');
    expect(await a.v.setMessageInterval(33, 100000)).toMatchObject({ ok: true, result: 'ACCEPTED' });

    const b = await simAndFleet({ signingKey: KEY2 }, '', { signingKeyFor: (id) => (id === 'v' ? KEY2 : undefined) });
    expect(b.fleet.signingStatus('v')).toMatchObject({ mode: 'require', configuredMode: null, keyId: signingKeyId(KEY2) });
    expect(await b.v.setMessageInterval(33, 100000)).toMatchObject({ ok: true, result: 'ACCEPTED' });

    const c = await simAndFleet({ signingKey: KEY2 }, `?signing=sign&signingKeyFile=${encodeURIComponent(keyFile)}`);
    expect(c.fleet.signingStatus('v')).toMatchObject({ mode: 'sign', configuredMode: 'sign' });
    expect(await c.fleet.provisionSigning('v/1', KEY)).toMatchObject({ ok: true, mode: 'sign' });

    const fleet = createFleet();
    cleanups.push(() => fleet.close());
    const garbage = path.join(dir, 'garbage.key');
    fs.writeFileSync(garbage, 'not-a-key-0123456789abcdef');
    expect(() => fleet.addLink(`udpin:127.0.0.1:0?signing=require&signingKeyFile=${garbage}`)).toThrow(expect.objectContaining({ code: 'INVALID_SIGNING', message: expect.not.stringContaining('not-a-key') }));
    expect(() => fleet.addLink(`udpin:127.0.0.1:0?signingKeyFile=${path.join(dir, 'missing.key')}`)).toThrow(expect.objectContaining({ code: 'INVALID_SIGNING' }));
    expect(() => fleet.addLink('udpin:127.0.0.1:0?signing=require')).toThrow(expect.objectContaining({ code: 'INVALID_SIGNING', message: expect.stringMatching(/provision/) }));
    expect(() => fleet.addLink('udpin:127.0.0.1:0?signing=always')).toThrow(expect.objectContaining({ code: 'INVALID_LINK_URI' }));
    expect(fleet.addLink('udpin:127.0.0.1:0?id=field')).toBe('field');
    expect(fleet.links()[0]).toMatchObject({ id: 'field', uri: 'udpin:127.0.0.1:0?id=field', signing: 'off', signingKeyId: null });
  });
});
