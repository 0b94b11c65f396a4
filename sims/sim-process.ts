/**
 * One built-in simulated vehicle in a process of its own (the embedded demo's vehicles; the
 * parent side is src/sim-processes.ts). It outlives a crash of the service that started it, as a
 * real vehicle would: the vehicle's MAVLink TCP port stays where it was, and a loopback control
 * port (JSON lines) lets a restarted service re-attach to it for the trainer's controls (truth,
 * faults, parameters, scenarios, stop).
 *
 * The spec arrives as one JSON document on stdin (it holds the signing key: never on the command
 * line). Once listening, the process writes its record (pid, ports, sysid, site) to `recordFile`
 * (written to a temporary name and renamed, so a reader never sees half of it). SIGTERM/SIGINT or
 * the `stop` request stop the vehicle, remove the record and exit 0.
 */
import crypto from 'crypto';
import fs from 'fs';
import net from 'net';
import readline from 'readline';
import { startSimulators, type SimFault } from './index';
import { DEMO_AIRFRAME } from './airframe';
import { runScenario, type Scenario, type ScenarioRun } from './scenarios';

export interface SimProcessSpec {
  linkId: string;
  index: number;
  sysid: number;
  speedup: number;
  home?: { lat: number; lon: number; altAmslM?: number };
  params: Record<string, number>;
  /** TCP port of the vehicle's MAVLink link (0 = any free). */
  basePort: number;
  signingKeyHex?: string;
  /** Launch site name (for the record; the home is what places the vehicle). */
  site?: string | null;
  recordFile: string;
  /** Secret a control connection must present in its first request (`hello`); kept in the record (mode 0600). */
  token: string;
}

/** What a simulator process writes to its record file once listening. */
export interface SimProcessRecord {
  pid: number;
  linkId: string;
  index: number;
  sysid: number;
  site: string | null;
  tcpPort: number;
  uri: string;
  controlPort: number;
  speedup: number;
  startedAt: string;
  token: string;
}

/** Longest control request line accepted (a scenario is the largest: a few KB). */
const MAX_LINE = 256 * 1024;

export async function runSimProcess(specText: string): Promise<void> {
  const spec = JSON.parse(specText) as SimProcessSpec;
  const fleet = await startSimulators({
    instances: 1,
    basePort: spec.basePort,
    sysidBase: spec.sysid,
    speedup: spec.speedup,
    homes: spec.home ? [spec.home] : undefined,
    params: spec.params,
    signingKey: spec.signingKeyHex ? Buffer.from(spec.signingKeyHex, 'hex') : undefined,
    airframe: DEMO_AIRFRAME,
  });
  const inst = fleet.instances[0];
  const sockets = new Set<net.Socket>();
  /** The scenario this vehicle runs (the latest asked for: a new one replaces it). */
  let scenario: ScenarioRun | null = null;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    for (const s of sockets) s.destroy();
    server.close();
    await fleet.stop().catch(() => undefined);
    try {
      const rec = JSON.parse(fs.readFileSync(spec.recordFile, 'utf8')) as SimProcessRecord;
      if (rec.pid === process.pid) fs.rmSync(spec.recordFile, { force: true });
    } catch {
      /* no record, or another process's */
    }
    process.exit(0);
  };
  const handle = async (op: string, a: any): Promise<unknown> => {
    switch (op) {
      case 'hello':
        return { pid: process.pid, sysid: inst.sysid, linkId: spec.linkId, tcpPort: inst.tcpPort, uri: inst.uri };
      case 'truth':
        return { truth: inst.truth(), faults: inst.activeFaults?.() ?? [], scenario: scenario?.progress() ?? null };
      case 'params':
        return Object.fromEntries(Object.keys(spec.params).map((k) => [k, inst.getParam(k)]));
      case 'getParam':
        return inst.getParam(String(a?.name));
      case 'setParam':
        inst.setParam(String(a?.name), Number(a?.value));
        return null;
      case 'inject':
        inst.inject(a?.fault as SimFault);
        return null;
      case 'loadParcels':
        // The crew loads a parcel into each bay (built-in simulator only: the outputs DO_SET_SERVO releases).
        try {
          inst.vehicle.loadParcels(a?.outputs, a?.releasePwm === undefined ? {} : { releasePwm: Number(a.releasePwm) });
        } catch (e) {
          throw Object.assign(new Error((e as Error).message), { code: 'SIM_INVALID_OPTION' });
        }
        return null;
      case 'loadPayload':
        inst.vehicle.loadPayload();
        return null;
      case 'clear':
        inst.clearFault(a?.kind as SimFault['kind']);
        return null;
      case 'reboot':
        await inst.reboot();
        return null;
      case 'scenario':
        scenario?.cancel();
        scenario = runScenario(fleet, a?.scenario as Scenario);
        return null;
      case 'stop':
        setImmediate(() => void stop());
        return null;
      default:
        throw Object.assign(new Error(`unknown request '${op}'`), { code: 'SIM_INVALID_OPTION' });
    }
  };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    const rl = readline.createInterface({ input: sock, crlfDelay: Infinity });
    let authed = false;
    rl.on('line', (line) => {
      if (line.length > MAX_LINE) return void sock.destroy();
      let req: { id?: unknown; op?: unknown; args?: unknown };
      try {
        req = JSON.parse(line);
      } catch {
        return void sock.destroy();
      }
      const id = req.id;
      // Anyone on this machine can reach a loopback port: only the holder of the record's token commands.
      if (!authed) {
        const a = req.args as { token?: unknown } | undefined;
        if (req.op !== 'hello' || typeof a?.token !== 'string' || !tokenMatches(a.token, spec.token)) return void sock.destroy();
        authed = true;
      }
      handle(String(req.op), req.args).then(
        (result) => sock.writable && sock.write(JSON.stringify({ id, ok: true, result }) + '\n'),
        (e: any) => sock.writable && sock.write(JSON.stringify({ id, ok: false, error: { code: e?.code ?? 'SIM_FAILED', message: e?.message ?? String(e) } }) + '\n'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const record: SimProcessRecord = {
    pid: process.pid,
    linkId: spec.linkId,
    index: spec.index,
    sysid: inst.sysid,
    site: spec.site ?? null,
    tcpPort: inst.tcpPort,
    uri: inst.uri,
    controlPort: (server.address() as net.AddressInfo).port,
    speedup: spec.speedup,
    startedAt: new Date().toISOString(),
    token: spec.token,
  };
  const tmp = `${spec.recordFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(record) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, spec.recordFile);
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // The service that started this process may be gone: nothing here writes to stdout/stderr pipes.
  process.on('SIGPIPE', () => undefined);
}

function tokenMatches(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return want.length >= 32 && a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Entry: read the spec from stdin, then run until stopped. */
export async function simProcessMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  await runSimProcess(Buffer.concat(chunks).toString('utf8'));
}
