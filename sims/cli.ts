/**
 * Run simulated drones that any ground station (QGroundControl, Mission Planner, Dropline) can
 * connect to over TCP (one port per vehicle, printed at start):
 *
 *   npm run sim -- --count 3 --speedup 1        (TCP 5760, 5770, 5780 on 127.0.0.1)
 *   npm run sim -- --scenario demo
 *   npm run sim -- --count 2 --personality px4 --udp-out 127.0.0.1:14550 --param FS_GCS_ENABLE=1
 *   npm run sim -- --sitl --count 2             (ArduPilot SITL from $ARDUPILOT_SITL)
 *   npm run sim -- --sitl --personality px4     (PX4 SITL, SIH quadcopter, from $PX4_SITL; UDP)
 *
 * Options: --count N (alias --instances; default 1), --speedup S (default 1), --base-port P (default 5760;
 * 0 = free ports), --host H (default 127.0.0.1; 0.0.0.0 to accept other machines), --sysid-base N,
 * --personality ardupilot|px4, --udp-out host:port, --home lat,lon[,altAmslM] (repeatable),
 * --boot-delay S, --param NAME=VALUE (repeatable), --scenario NAME, --list-scenarios, --sitl,
 * --delivery-ready (the built-in vehicle as Dropline flies it: the demo airframe's 6S 20 Ah pack and
 * the project's parameters, failsafes, fence and gripper; --param still overrides them; SITL
 * launchers apply the project's parameters anyway).
 * SIGINT (Ctrl-C) or SIGTERM stops every vehicle and exits 0.
 */
import { startSimulators, SimOptions, SimError, SimFleet } from './index';
import { PROJECT_PARAMS, startSitl } from './sitl';
import { PX4_PROJECT_PARAMS, startPx4Sitl } from './px4-sitl';
import { DEMO_AIRFRAME } from './airframe';
import { runScenario, scenarioNames, scenarioOptions, SCENARIOS } from './scenarios';

export interface CliArgs {
  opts: SimOptions;
  scenario?: string;
  sitl: boolean;
  list: boolean;
  deliveryReady: boolean;
}

export function parseArgs(argv: string[]): CliArgs {
  const opts: SimOptions = {};
  const out: CliArgs = { opts, sitl: false, list: false, deliveryReady: false };
  const homes: NonNullable<SimOptions['homes']> = [];
  const params: Record<string, number> = {};
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n)) throw new SimError('SIM_INVALID_OPTION', `${flag} needs a number, got '${v ?? ''}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    switch (a) {
      case '--count':
      case '--instances':
        opts.instances = num(a, v());
        break;
      case '--speedup':
        opts.speedup = num(a, v());
        break;
      case '--base-port':
        opts.basePort = num(a, v());
        break;
      case '--host':
        opts.host = v();
        break;
      case '--sysid-base':
        opts.sysidBase = num(a, v());
        break;
      case '--personality': {
        const p = v();
        if (p !== 'ardupilot' && p !== 'px4') throw new SimError('SIM_INVALID_OPTION', `--personality must be ardupilot or px4, got '${p}'`);
        opts.personality = p;
        break;
      }
      case '--udp-out':
        opts.udpOut = v();
        break;
      case '--boot-delay':
        opts.bootDelayS = num(a, v());
        break;
      case '--home': {
        const parts = (v() ?? '').split(',').map(Number);
        if (parts.length < 2 || parts.some((x) => !Number.isFinite(x))) throw new SimError('SIM_INVALID_OPTION', `--home needs lat,lon[,altAmslM]`);
        homes.push({ lat: parts[0], lon: parts[1], altAmslM: parts[2] });
        break;
      }
      case '--param': {
        const m = /^([A-Z0-9_]+)=(.+)$/.exec(v() ?? '');
        if (!m || !Number.isFinite(Number(m[2]))) throw new SimError('SIM_INVALID_OPTION', `--param needs NAME=VALUE`);
        params[m[1]] = Number(m[2]);
        break;
      }
      case '--scenario':
        out.scenario = v();
        break;
      case '--list-scenarios':
        out.list = true;
        break;
      case '--sitl':
        out.sitl = true;
        break;
      case '--delivery-ready':
        out.deliveryReady = true;
        break;
      default:
        throw new SimError('SIM_INVALID_OPTION', `unknown option '${a}'`);
    }
  }
  if (homes.length) opts.homes = homes;
  if (out.deliveryReady && !out.sitl) {
    opts.airframe = DEMO_AIRFRAME;
    opts.params = { ...(opts.personality === 'px4' ? PX4_PROJECT_PARAMS : PROJECT_PARAMS), ...params };
  } else if (Object.keys(params).length) opts.params = params;
  return out;
}

async function main(): Promise<void> {
  let args: CliArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`sim: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (args.list) {
    for (const n of scenarioNames()) process.stdout.write(`${n.padEnd(16)} ${SCENARIOS[n].description}\n`);
    return;
  }
  let opts = args.opts;
  if (args.scenario) opts = scenarioOptions(args.scenario, opts);
  let fleet: SimFleet | null = null;
  let stopping: string | null = null;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = signal;
    // A signal during start-up is handled once the vehicles are up (they must be stopped, not orphaned).
    if (!fleet) return;
    process.stdout.write(`sim: ${signal}, stopping\n`);
    fleet.stop().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`sim: stop failed: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const px4Sitl = args.sitl && opts.personality === 'px4';
  try {
    fleet = px4Sitl ? await startPx4Sitl(opts) : args.sitl ? await startSitl(opts) : await startSimulators(opts);
  } catch (e) {
    process.stderr.write(`sim: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (stopping) {
    const signal = stopping;
    stopping = null;
    stop(signal);
    return;
  }
  for (const i of fleet.instances) {
    const port = i.uri.startsWith('udp') ? `UDP port ${i.tcpPort}` : `TCP port ${i.tcpPort}`;
    process.stdout.write(`vehicle ${i.index}: sysid ${i.sysid}, ${port} (${i.uri})${opts.udpOut ? `, also sending to udp ${opts.udpOut}` : ''}\n`);
  }
  const kind = px4Sitl ? ' (PX4 SITL)' : args.sitl ? ' (ArduPilot SITL)' : '';
  process.stdout.write(`speedup ${opts.speedup ?? 1}, personality ${opts.personality ?? 'ardupilot'}${kind}; Ctrl-C to stop\n`);
  if (args.scenario) {
    runScenario(fleet, args.scenario, { onStep: (s) => process.stdout.write(`scenario ${args.scenario}: t=${s.atS}s ${s.note}\n`) });
  }
}

if (require.main === module) void main();
