import { common } from 'mavlink-mappings';
import { msg } from '../../src/mavlink/registry';
import { CommandClient, Commands, setModeSpec, modeName, px4CustomMode, FORCE_ARM_MAGIC } from '../../src/vehicle/command';
import { Bench, flush } from './harness';

function setup(opts = {}) {
  const b = new Bench();
  const c = new CommandClient(b.deps(), opts);
  b.sink = (f) => c.handle(f);
  return { b, c };
}

const ack = (command: number, result: number, extra: Partial<common.CommandAck> = {}) =>
  msg(common.CommandAck, { command, result, targetSystem: 255, targetComponent: 190, ...extra });

describe('command protocol', () => {
  test('COMMAND_LONG bytes, ACCEPTED on first ack', async () => {
    const { b, c } = setup();
    b.peer = (f) => f.name === 'COMMAND_LONG' && b.reply(ack(400, 0));
    const r = await b.run(c.send(Commands.arm()));
    expect(r).toMatchObject({ ok: true, result: 'ACCEPTED', command: 400, attempts: 1 });
    const sent = b.sent[0].data as common.CommandLong;
    expect(b.sent[0].msgid).toBe(76);
    expect(b.sent[0].raw[0]).toBe(0xfd);
    expect(sent).toMatchObject({ command: 400, targetSystem: 1, targetComponent: 1, confirmation: 0, param1: 1, param2: 0 });
  });

  test('force arm/disarm uses 21196 only when asked', () => {
    expect(Commands.arm().params![1]).toBe(0);
    expect(Commands.disarm().params).toEqual([0, 0]);
    expect(Commands.arm(true).params).toEqual([1, FORCE_ARM_MAGIC]);
    expect(Commands.disarm(true).params).toEqual([0, 21196]);
  });

  test('retries with confirmation incremented, then TIMEOUT after retries+1 attempts', async () => {
    const { b, c } = setup({ timeoutMs: 1000, retries: 3 });
    const start = b.clock.now();
    const r = await b.run(c.send(Commands.takeoff(10)));
    expect(r).toMatchObject({ ok: false, result: 'TIMEOUT', attempts: 4 });
    expect(b.sent.map((f) => (f.data as common.CommandLong).confirmation)).toEqual([0, 1, 2, 3]);
    expect((b.sent[0].data as common.CommandLong).param7).toBe(10);
    expect(b.clock.now() - start).toBeGreaterThanOrEqual(4000);
    expect(b.clock.now() - start).toBeLessThan(4100);
  });

  test('first two sends lost: ACCEPTED on the third, confirmation 2', async () => {
    const { b, c } = setup({ timeoutMs: 500 });
    b.peer = (f) => (f.data as common.CommandLong).confirmation === 2 && b.reply(ack(176, 0));
    const r = await b.run(c.send(setModeSpec('ardupilot', 'GUIDED')!));
    expect(r).toMatchObject({ ok: true, attempts: 3 });
    expect(b.sent[2].data).toMatchObject({ command: 176, param1: 1, param2: 4, confirmation: 2 });
  });

  test('IN_PROGRESS extends the wait without resending, then the final result', async () => {
    const { b, c } = setup({ timeoutMs: 1000, inProgressTimeoutMs: 5000 });
    b.peer = () => b.reply(ack(42600, 5, { progress: 10 }));
    const p = c.send(Commands.winch('length', 2));
    // Progress reports at 0.9 s intervals for 4.5 s, then ACCEPTED.
    await flush();
    b.pump();
    for (let t = 0; t < 4500; t += 900) {
      b.clock.advance(900);
      b.reply(ack(42600, 5, { progress: 20 + t / 100 }));
      b.pump();
    }
    b.reply(ack(42600, 0));
    const r = await b.run(p);
    expect(r).toMatchObject({ ok: true, result: 'ACCEPTED', attempts: 1 });
    expect(b.sent).toHaveLength(1);
    expect(b.sent[0].data).toMatchObject({ command: 42600, param1: 1, param2: 1, param3: 2 });
  });

  test('IN_PROGRESS then silence → TIMEOUT with the last progress, never resent', async () => {
    const { b, c } = setup({ timeoutMs: 1000, inProgressTimeoutMs: 3000 });
    b.peer = () => b.reply(ack(211, 5, { progress: 50 }));
    const r = await b.run(c.send(Commands.gripper('release')));
    expect(r).toMatchObject({ ok: false, result: 'TIMEOUT', progress: 50, attempts: 1 });
    expect(b.sent).toHaveLength(1);
    expect(b.sent[0].data).toMatchObject({ param1: 1, param2: 0 });
  });

  test.each([
    [1, 'TEMPORARILY_REJECTED'],
    [2, 'DENIED'],
    [3, 'UNSUPPORTED'],
    [4, 'FAILED'],
    [6, 'CANCELLED'],
  ])('result %d → %s, not retried', async (code, name) => {
    const { b, c } = setup();
    b.peer = () => b.reply(ack(400, code, { resultParam2: 7 }));
    const r = await b.run(c.send(Commands.arm()));
    expect(r).toMatchObject({ ok: false, result: name, attempts: 1, resultParam2: 7 });
  });

  test('acks for another command, another GCS or another vehicle are ignored', async () => {
    const { b, c } = setup({ timeoutMs: 1000, retries: 0 });
    b.peer = () => {
      b.reply(ack(176, 0));
      b.reply(ack(400, 2, { targetSystem: 254 }));
      b.inbox_from(msg(common.CommandAck, { command: 400, result: 2, targetSystem: 255, targetComponent: 190 }), 2);
    };
    const r = await b.run(c.send(Commands.arm()));
    expect(r.result).toBe('TIMEOUT');
  });

  test('COMMAND_INT carries lat/lon ×1e7 and frame', async () => {
    const { b, c } = setup();
    b.peer = () => b.reply(ack(192, 0));
    const r = await b.run(c.send({ command: 192, useInt: true, frame: 6, params: [-1, 1, 0, 0, 340612345, 1143901234, 25] }));
    expect(r.ok).toBe(true);
    expect(b.sent[0].name).toBe('COMMAND_INT');
    expect(b.sent[0].data).toMatchObject({ command: 192, frame: 6, x: 340612345, y: 1143901234, z: 25, param1: -1 });
  });

  test('same command id is serialised; a vehicle that is gone fails fast', async () => {
    const { b, c } = setup();
    const order: number[] = [];
    b.peer = (f) => {
      order.push((f.data as common.CommandLong).param1);
      b.reply(ack(511, 0));
    };
    const [r1, r2] = await b.run(Promise.all([c.send(Commands.setMessageInterval(33, 250000)), c.send(Commands.setMessageInterval(30, 250000))]));
    expect(r1.ok && r2.ok).toBe(true);
    expect(order).toEqual([33, 30]);
    c.connected = () => false;
    const r3 = await c.send(Commands.arm());
    expect(r3).toMatchObject({ ok: false, result: 'NOT_CONNECTED', attempts: 0 });
  });

  test('mode tables: ArduCopter and PX4', () => {
    const table: Record<string, number> = { STABILIZE: 0, ALT_HOLD: 2, AUTO: 3, GUIDED: 4, LOITER: 5, RTL: 6, LAND: 9, BRAKE: 17, SMART_RTL: 21 };
    for (const [n, v] of Object.entries(table)) {
      expect(setModeSpec('ardupilot', n)!.params).toEqual([1, v]);
      expect(modeName('ardupilot', v)).toBe(n);
    }
    expect(setModeSpec('ardupilot', 'guided')!.params).toEqual([1, 4]);
    expect(setModeSpec('ardupilot', 'WARP')).toBeUndefined();
    expect(modeName('ardupilot', 99)).toBe('UNKNOWN(99)');
    expect(px4CustomMode('AUTO.MISSION')).toEqual({ main: 4, sub: 4 });
    expect(px4CustomMode('HOLD')).toEqual({ main: 4, sub: 3 });
    expect(px4CustomMode('POSCTL')).toEqual({ main: 3, sub: 0 });
    expect(setModeSpec('px4', 'RTL')!.params).toEqual([1, 4, 5]);
    expect(modeName('px4', (4 << 16) | (6 << 24))).toBe('AUTO.LAND');
    expect(modeName('px4', 3 << 16)).toBe('POSCTL');
    expect(setModeSpec('px4', 'AUTO.NOPE')).toBeUndefined();
  });
});
