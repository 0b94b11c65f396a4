/**
 * A signed vehicle behind an agent: the agent holds the key (signingKeyFile= on its link), signs its
 * own GCS heartbeats and the frames a node sends unsigned, and the vehicle's frames cross the bus
 * with their signatures. On the in-process bus, against the built-in simulator holding the key.
 */
import { randomBytes } from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { minimal } from 'mavlink-mappings';
import { MavlinkEncoder, decodeAll } from '../../src/mavlink/codec';
import { msg } from '../../src/mavlink/registry';
import { Signer } from '../../src/mavlink/signing';
import { createMemoryBus, attachBusVehicles, Subjects, type MemoryBus, type BusVehicles } from '../../src/bus';
import { startAgent, signFrames, type Agent } from '../../src/agent';
import { createFleet, type Fleet } from '../../src/fleet';
import { DELIVERY_READY_SIM_PARAMS } from '../../src/service';
import { startSimulators, type SimFleet } from '../../sims';
import { gcsHeartbeatHzFor } from '../support/vehicles';
import { until } from '../vehicle/wait';
import { warmingUp } from '../../src/delivery/preflight';
import { DEFAULT_POLICY } from '../../src/delivery';

const key = randomBytes(32);
const VID = 'signed.link0-1/1';
let dir: string;
let sims: SimFleet;
let bus: MemoryBus;
let agent: Agent;
let fleet: Fleet;
let attached: BusVehicles;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-agent-key-'));
  fs.writeFileSync(path.join(dir, 'field.key'), key.toString('hex') + '\n', { mode: 0o600 });
  // The built-in simulator holds the key, as a provisioned ArduPilot does: it drops unsigned frames.
  sims = await startSimulators({ instances: 1, basePort: 0, speedup: 10, bootDelayS: 3, signingKey: key, params: { ...DELIVERY_READY_SIM_PARAMS, FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 5 } });
  bus = createMemoryBus();
  agent = await startAgent({
    bus,
    site: 'signed',
    links: [`${sims.instances[0].uri}?signing=require&signingKeyFile=${path.join(dir, 'field.key')}`],
    heartbeatHz: gcsHeartbeatHzFor(10),
  });
  fleet = createFleet({ heartbeatHz: gcsHeartbeatHzFor(10) });
  attached = attachBusVehicles({ bus, fleet, node: 'node-s', leaseTtlMs: 1000, renewMs: 250 });
  await until(() => !!fleet.get(VID), 30_000, 'the signed vehicle through the bus');
}, 60_000);

afterAll(async () => {
  await attached?.close();
  await fleet?.close();
  await agent?.close();
  await bus?.close();
  await sims?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the node sends unsigned, the agent signs; the vehicle obeys and takes the agent heartbeats', async () => {
  const v = fleet.get(VID)!;
  expect(fleet.links().find((l) => l.id === 'signed.link0-1')!.signing).toBe('off'); // the key stays at the agent
  expect(agent.status().links[0].signing).toBe('require');
  await until(() => warmingUp(v.state, DEFAULT_POLICY).length === 0, 60_000, 'warmed up (GPS fix, EKF, home, pre-arm)');
  expect((await v.setMode('GUIDED')).ok).toBe(true);
  expect((await v.arm()).ok).toBe(true);
  expect((await v.takeoff(10)).ok).toBe(true);
  await until(() => (v.state.position?.altRelM ?? 0) > 8, 30_000, 'at 10 m');
  // 2 s is 20 s of sim time, four times FS_GCS_TIMEOUT: only signed heartbeats count for this vehicle.
  await new Promise((r) => setTimeout(r, 2000));
  expect(sims.instances[0].truth()).toMatchObject({ mode: 'GUIDED', armed: true });
  expect(agent.status().links[0].stats.txSigned).toBeGreaterThan(3);

  const s = new Subjects();
  const rx = (await bus.readRecorded(s.tlogStream, s.vehicle('signed', 'link0-1', 'rx'))).flatMap((m) => decodeAll(Buffer.from(m.data)));
  const tx = (await bus.readRecorded(s.tlogStream, s.vehicle('signed', 'link0-1', 'tx'))).flatMap((m) => decodeAll(Buffer.from(m.data)));
  expect(rx.length).toBeGreaterThan(20);
  expect(rx.every((f) => f.signed)).toBe(true); // as the vehicle sent them
  expect(tx.some((f) => f.name === 'COMMAND_LONG')).toBe(true);
  expect(tx.every((f) => !f.signed)).toBe(true); // signed at the agent, on the way out
});

test('a key cannot be provisioned over the bus: it belongs to the agent', async () => {
  const r = await fleet.provisionSigning(VID, randomBytes(32));
  expect(r).toMatchObject({ ok: false, code: 'DENIED' });
  expect((r as { message: string }).message).toMatch(/link agent/);
});

test('signFrames signs unsigned MAVLink 2 frames and leaves signed ones alone', () => {
  const hb = msg(minimal.Heartbeat, { type: 6, autopilot: 8, baseMode: 0, customMode: 0, systemStatus: 4 });
  const plain = new MavlinkEncoder().encode(hb);
  const signer = new Signer({ key, mode: 'require', linkId: 1 });
  const once = signFrames(Buffer.concat([plain, plain]), signer);
  expect(once).toMatchObject({ signed: 2, passed: 0 });
  const verify = new Signer({ key, mode: 'require' });
  const frames = decodeAll(once.bytes, { signer: verify });
  expect(frames.map((f) => [f.name, f.signed])).toEqual([['HEARTBEAT', true], ['HEARTBEAT', true]]);
  const twice = signFrames(once.bytes, signer);
  expect(twice).toMatchObject({ signed: 0, passed: 2 });
  expect(twice.bytes.equals(once.bytes)).toBe(true);
  expect(decodeAll(signFrames(plain, new Signer({ key: randomBytes(32) })).bytes, { signer: new Signer({ key, mode: 'require' }) })).toEqual([]); // another key: dropped
});
