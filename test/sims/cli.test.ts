/**
 * The sim CLI as a person runs it (`npm run sim -- --count 2 …`): it prints each vehicle's TCP port,
 * a ground station connecting there gets heartbeats from both sysids, and SIGTERM / SIGINT stop it
 * with exit code 0 and the ports closed.
 */
import * as net from 'net';
import * as path from 'path';
import { spawn, ChildProcess } from 'child_process';
import { MavlinkDecoder, Frame } from '../../src/mavlink/codec';
import { parseArgs } from '../../sims/cli';
import { TestGcs } from './gcs-client';
import { msg, common } from '../../src/mavlink/registry';
import { DEFAULT_POLICY } from '../../src/delivery/policy';
import { evaluate, namesToRead, requirementsFor } from '../../src/delivery/vehicle-profile';

const ROOT = path.resolve(__dirname, '..', '..');

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port P with P and P + 10 free (the CLI's instance i listens on P + 10·i). */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    if (p + 10 <= 65535 && (await portFree(p)) && (await portFree(p + 10))) return p;
  }
  throw new Error('no free base port');
}

async function until<T>(get: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Cli {
  child: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startCli(args: string[]): Cli {
  const child = spawn(process.execPath, [path.join(ROOT, 'node_modules', '.bin', 'tsx'), 'sims/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b) => (out += b.toString()));
  child.stderr!.on('data', (b) => (out += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, out: () => out, exit };
}

async function heartbeatsFrom(port: number, timeoutMs: number): Promise<number[]> {
  const sock = net.connect(port, '127.0.0.1');
  const frames: Frame[] = [];
  const dec = new MavlinkDecoder((f) => frames.push(f));
  sock.on('data', (b) => dec.push(b));
  sock.on('error', () => undefined);
  try {
    await until(() => frames.some((f) => f.name === 'HEARTBEAT'), timeoutMs, `a HEARTBEAT on TCP ${port}`);
    return [...new Set(frames.filter((f) => f.name === 'HEARTBEAT').map((f) => f.sysid))];
  } finally {
    sock.destroy();
  }
}

describe('sim CLI', () => {
  const running: Cli[] = [];
  afterAll(async () => {
    for (const c of running) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  });

  test('--count is the documented name, --instances its alias', () => {
    expect(parseArgs(['--count', '3', '--speedup', '1']).opts).toMatchObject({ instances: 3, speedup: 1 });
    expect(parseArgs(['--instances', '2']).opts.instances).toBe(2);
    expect(() => parseArgs(['--count'])).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
    expect(() => parseArgs(['--bogus'])).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
  });

  test('--delivery-ready: the vehicle meets every parameter requirement of the default vehicle profile, battery included (a stock one does not)', async () => {
    const judge = async (args: string[]) => {
      const base = await freeBase();
      const cli = startCli(['--speedup', '10', '--base-port', String(base), ...args]);
      running.push(cli);
      await until(() => /TCP port \d+/.test(cli.out()), 60000, `the CLI to print its port (output so far: ${cli.out()})`);
      const gcs = await TestGcs.connect(base, { heartbeatHz: 20 });
      try {
        const reqs = requirementsFor('ardupilot', DEFAULT_POLICY.vehicle, DEFAULT_POLICY.fenceMarginM);
        const values: Record<string, number | string> = {};
        // The product's own reading order (namesToRead) and judgement (evaluate).
        for (let round = 0; round < 6; round++) {
          const names = namesToRead(reqs, values);
          if (!names.length) break;
          for (const name of names) {
            const r = gcs.maybe('PARAM_VALUE', (d) => d.paramId === name, 3000);
            gcs.send(msg(common.ParamRequestRead, { targetSystem: 1, targetComponent: 1, paramId: name, paramIndex: -1 }));
            const f = await r;
            values[name] = f ? (f.data as common.ParamValue).paramValue : 'no such parameter';
          }
        }
        return evaluate(reqs, values).filter((l) => !l.ok).map((l) => `${l.name} = ${l.have}`);
      } finally {
        await gcs.close();
        cli.child.kill('SIGTERM');
        await cli.exit;
      }
    };
    expect(await judge(['--delivery-ready'])).toEqual([]);
    // A stock vehicle: GCS failsafe off, FS_OPTIONS 16, a 3S 3.3 Ah pack, no gripper …
    expect(await judge([])).toEqual(expect.arrayContaining(['FS_GCS_ENABLE = 0', 'FS_OPTIONS = 16', 'BATT_CAPACITY = 3300']));
    expect(parseArgs(['--delivery-ready', '--param', 'FS_OPTIONS=16']).opts.params).toMatchObject({ FS_OPTIONS: 16, FS_GCS_ENABLE: 1, BATT_CAPACITY: 20000 });
  }, 180_000);

  test.each(['SIGTERM', 'SIGINT'] as const)(
    '--count 2 prints both TCP ports, serves heartbeats from sysids 1 and 2, and %s exits 0',
    async (signal) => {
      const base = await freeBase();
      const cli = startCli(['--count', '2', '--speedup', '10', '--base-port', String(base)]);
      running.push(cli);
      const lines = await until(() => {
        const m = [...cli.out().matchAll(/^vehicle (\d+): sysid (\d+), TCP port (\d+) \(tcp:127\.0\.0\.1:(\d+)\)$/gm)];
        return m.length === 2 ? m : undefined;
      }, 60000, `the CLI to print two TCP ports (output so far: ${cli.out()})`);
      expect(lines.map((m) => [Number(m[2]), Number(m[3])])).toEqual([
        [1, base],
        [2, base + 10],
      ]);
      expect(await heartbeatsFrom(base, 15000)).toEqual([1]);
      expect(await heartbeatsFrom(base + 10, 15000)).toEqual([2]);

      cli.child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const { code } = await Promise.race([
        cli.exit,
        new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`CLI did not exit after ${signal}: ${cli.out()}`)), 20000))),
      ]).finally(() => clearTimeout(timer));
      expect(code).toBe(0);
      expect(cli.out()).toContain(`sim: ${signal}, stopping`);
      expect(await portFree(base)).toBe(true);
      expect(await portFree(base + 10)).toBe(true);
    },
    120000,
  );
});
