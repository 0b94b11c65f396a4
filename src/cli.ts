/**
 * `dropline` command line. With no arguments it runs the demo: SQLite in ./data, three built-in
 * simulated copters at the demo launch site, the demo zones, the console on http://127.0.0.1:8080.
 */
import { parseArgs } from 'util';
import path from 'path';
import { startService } from './service';

const USAGE = `Usage: dropline [options]
       dropline plan ZONES.geojson --launch NAME|LON,LAT --drop LON,LAT [--profile FILE]
                     [--wind SPEED_MPS,FROM_DEG] [--format json|plan|waypoints]

  --host HOST          listen address (default 127.0.0.1)
  --port PORT          HTTP port (default 8080)
  --data-dir DIR       SQLite database, tlogs (default ./data)
  --link URI           connect a vehicle link; repeatable (tcp:HOST:PORT, udpin:HOST:PORT,
                       udpout:HOST:PORT, serial:PATH:BAUD)
  --sims N             built-in simulated copters to start (default 3; 0 with --link for real vehicles)
  --speedup X          simulator speedup (default 1)
  --zones FILE         zones GeoJSON seeded on first start (default: the demo zones)
  --no-demo-users      do not create the demo accounts on first start
  --log-level LEVEL    pino level (default info)
  -h, --help           this text
`;

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'plan') {
    // Offline route planning: one JSON document on stdout, exit 2 with the error JSON.
    // require, not import(): the entry point loads TypeScript through tsx's CommonJS hook only
    const { runPlanCli } = require('../planner/cli') as typeof import('../planner/cli');
    process.exitCode = await runPlanCli(argv.slice(1));
    return;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      'data-dir': { type: 'string', default: './data' },
      link: { type: 'string', multiple: true, default: [] },
      sims: { type: 'string' },
      speedup: { type: 'string', default: '1' },
      zones: { type: 'string' },
      'no-demo-users': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  const links = values.link as string[];
  const sims = values.sims !== undefined ? Number(values.sims) : links.length > 0 ? 0 : 3;
  if (!Number.isInteger(sims) || sims < 0 || sims > 50) throw new Error(`--sims must be 0..50, got ${values.sims}`);
  const speedup = Number(values.speedup);
  if (!(speedup >= 0.1 && speedup <= 100)) throw new Error(`--speedup must be 0.1..100, got ${values.speedup}`);

  const svc = await startService({
    host: values.host,
    port,
    dataDir: path.resolve(values['data-dir'] as string),
    links,
    simulators: sims,
    simSpeedup: speedup,
    zonesFile: values.zones ? path.resolve(values.zones) : undefined,
    demoUsers: !values['no-demo-users'],
    logLevel: values['log-level'],
  });
  process.stdout.write(`Dropline console: ${svc.url}\n`);
  let closing = false;
  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    await svc.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}
