/**
 * MAVLink 2 signing in the built-in simulator (sims/signing.ts), over real TCP with a bare ground
 * station: SETUP_SIGNING as ArduPilot handles it, signed output, what is refused unsigned and what
 * ArduPilot lets through (RADIO_STATUS), replay, the armed refusal, turning signing off, a key kept
 * across a reboot.
 */
import { startSimulators, BuiltinInstance } from '../../sims';
import { TestGcs, until } from './gcs-client';
import { msg, common } from '../../src/mavlink/registry';
import { Signer, signingKeyId, SIGNING_EPOCH_MS } from '../../src/mavlink/signing';
import { MavlinkEncoder, type Frame } from '../../src/mavlink/codec';

jest.setTimeout(60_000);

const KEY = Buffer.alloc(32, 0x5a);
const OTHER = Buffer.alloc(32, 0x33);
const nowTicks = () => BigInt(Math.floor((Date.now() - SIGNING_EPOCH_MS) * 100));
const setup = (key: Buffer, ts: bigint = nowTicks()) => msg(common.SetupSigning, { targetSystem: 1, targetComponent: 1, secretKey: [...key], initialTimestamp: ts });

/** Another ground station's encoder: its own key, or none. */
const otherGcs = (key?: Buffer) => new MavlinkEncoder({ sysid: 255, compid: 190, signer: key ? new Signer({ key }) : undefined });

type Sims = Awaited<ReturnType<typeof startSimulators>>;
const open: Array<{ close(): Promise<void> } | { stop(): Promise<void> }> = [];
afterEach(async () => {
  while (open.length) {
    const x = open.pop()!;
    await ('close' in x ? x.close() : x.stop());
  }
});

async function start(opts: { signingKey?: Buffer } = {}): Promise<{ sims: Sims; inst: BuiltinInstance; gcs: TestGcs }> {
  const sims = await startSimulators({ basePort: 0, speedup: 10, bootDelayS: 1, ...opts });
  open.push(sims);
  const inst = sims.instances[0];
  const gcs = await TestGcs.connect(inst.tcpPort, { heartbeatHz: 0 });
  open.push(gcs);
  return { sims, inst, gcs };
}

/** Sign what the test ground station sends, and accept only frames signed with `key`. */
function signWith(gcs: TestGcs, key: Buffer | undefined): void {
  const s = key ? new Signer({ key, mode: 'require' }) : undefined;
  gcs.enc.signer = s;
  gcs.dec.setSigner(s);
}

const simLink = (inst: BuiltinInstance) => [...inst.vehicle.links][0];

describe('built-in simulator signing (as ArduPilot)', () => {
  test('SETUP_SIGNING over an unsigned link: the vehicle signs from then on and refuses unsigned frames except RADIO_STATUS', async () => {
    const { inst, gcs } = await start();
    const hb0 = await gcs.next('HEARTBEAT', (_d, f) => f.sysid === 1);
    expect(hb0.signed).toBe(false);
    expect(inst.vehicle.signing.enabled).toBe(false);
    // No key yet: an unsigned command is answered.
    expect(await gcs.command(511, [33, 100000])).toBe(0);

    gcs.send(setup(KEY));
    await until(() => inst.vehicle.signing.enabled, 5000, 'key taken');
    expect(inst.vehicle.signing.keyId).toBe(signingKeyId(KEY));
    // Everything it sends now is signed with the key (our decoder verifies; unsigned would be dropped).
    signWith(gcs, undefined);
    gcs.dec.setSigner(new Signer({ key: KEY, mode: 'require' }));
    const hb = await gcs.next('HEARTBEAT', (_d, f) => f.sysid === 1, 5000);
    expect(hb.signed).toBe(true);

    // Unsigned command: dropped by the vehicle, no ACK, counted on its link.
    const link = simLink(inst);
    const rejectedBefore = link.decoder.stats.unsignedRejected;
    gcs.send(msg(common.CommandLong, { targetSystem: 1, targetComponent: 1, command: 511, param1: 30, param2: 100000 }));
    expect(await gcs.maybe('COMMAND_ACK', (d) => d.command === 511, 1500)).toBeNull();
    expect(link.decoder.stats.unsignedRejected).toBe(rejectedBefore + 1);

    // RADIO_STATUS from a telemetry radio passes unsigned (ArduPilot's accept list).
    const framesIn = link.stats.framesIn;
    gcs.send(msg(common.RadioStatus, { rssi: 200, remrssi: 190, txbuf: 90, noise: 20, remnoise: 25, rxerrors: 0, fixed: 0 }));
    await until(() => link.stats.framesIn === framesIn + 1, 3000, 'RADIO_STATUS accepted');
    expect(link.decoder.stats.unsignedRejected).toBe(rejectedBefore + 1);

    // Signed with the key: answered, and the answer is signed.
    signWith(gcs, KEY);
    const ack = gcs.next('COMMAND_ACK', (d) => d.command === 511, 5000);
    gcs.send(msg(common.CommandLong, { targetSystem: 1, targetComponent: 1, command: 511, param1: 30, param2: 100000 }));
    expect((await ack).signed).toBe(true);
  });

  test('a captured signed command replayed, a wrong key and an unsigned SETUP_SIGNING are all refused', async () => {
    const { inst, gcs } = await start({ signingKey: KEY });
    signWith(gcs, KEY);
    const link = simLink(inst);
    const captured = gcs.enc.encode(msg(common.CommandLong, { targetSystem: 1, targetComponent: 1, command: 511, param1: 24, param2: 200000 }));
    const acks: Frame[] = [];
    gcs.on((f) => {
      if (f.name === 'COMMAND_ACK') acks.push(f);
    });
    gcs.sendRaw(captured);
    await until(() => acks.length === 1, 5000, 'first ACK');
    gcs.sendRaw(captured);
    await until(() => link.decoder.stats.replayRejected === 1, 3000, 'replay counted');
    await new Promise((r) => setTimeout(r, 300));
    expect(acks).toHaveLength(1);

    gcs.sendRaw(otherGcs(OTHER).encode(msg(common.CommandLong, { targetSystem: 1, targetComponent: 1, command: 511, param1: 24, param2: 200000 })));
    await until(() => link.decoder.stats.badSignatureRejected === 1, 3000, 'bad signature counted');

    // Someone without the key cannot change it.
    gcs.sendRaw(otherGcs().encode(setup(OTHER)));
    await until(() => link.decoder.stats.unsignedRejected >= 1, 3000, 'unsigned SETUP_SIGNING dropped');
    expect(inst.vehicle.signing.keyId).toBe(signingKeyId(KEY));
  });

  test('armed: SETUP_SIGNING refused with a STATUSTEXT; an all-zero key turns signing off; the key survives a reboot', async () => {
    const { inst, gcs } = await start({ signingKey: KEY });
    signWith(gcs, KEY);
    gcs.startHeartbeat(20);
    expect(await gcs.command(400, [1, 21196])).toBe(0); // forced arm: readiness does not matter here
    gcs.send(setup(OTHER));
    expect(await gcs.waitText(/Won't setup signing when armed/, 5000)).toBe("ERROR: Won't setup signing when armed");
    expect(inst.vehicle.signing.keyId).toBe(signingKeyId(KEY));
    expect(await gcs.command(400, [0, 21196])).toBe(0);

    // Reboot: the links drop, the key stays; a new connection gets signed frames at once.
    await inst.reboot();
    await until(() => gcs.closed, 5000, 'link dropped by the reboot');
    const again = await TestGcs.connect(inst.tcpPort, { heartbeatHz: 0 });
    open.push(again);
    signWith(again, KEY);
    expect((await again.next('HEARTBEAT', (_d, f) => f.sysid === 1, 5000)).signed).toBe(true);
    // Rebooted, the vehicle signs a minute past its saved timestamp: ahead of our clock. A ground
    // station that has accepted its frames signs above them (as the MAVLink C library does), so
    // its new stream is not taken for a stale one.
    expect(again.enc.signer!.lastTimestamp).toBeGreaterThan(Number(nowTicks()) + 60 * 100_000);

    // All-zero key and timestamp 0, signed with the current key: signing off, frames unsigned again.
    again.send(setup(Buffer.alloc(32), 0n));
    await until(() => !inst.vehicle.signing.enabled, 5000, 'signing off');
    again.dec.setSigner(undefined);
    expect((await again.next('HEARTBEAT', (_d, f) => f.sysid === 1, 5000)).signed).toBe(false);
  });
});
