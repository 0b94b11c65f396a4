/**
 * `dropline` command line. With no arguments it runs the demo: SQLite in ./data, three built-in
 * simulated copters at the demo launch sites, the demo zones, the console on http://127.0.0.1:8080.
 */
import { parseArgs } from 'util';
import fs from 'fs';
import path from 'path';
import { z } from 'zod';

const USAGE = `Usage: dropline [options]
       dropline plan ZONES.geojson --launch NAME|LON,LAT --drop LON,LAT [--profile FILE]
                     [--wind SPEED_MPS,FROM_DEG] [--format json|plan|waypoints]
       dropline users add NAME --role operator|supervisor|trainer|admin [--data DIR | --store URL]
                     (password on stdin; --replace resets an existing user's password
                     and ends every session of theirs)
       dropline users disable|enable NAME [--data DIR | --store URL]   (disable ends every session at once)
       dropline users list [--data DIR | --store URL]
       dropline keys create NAME --scope requests.create [--scope requests.read]
                     [--data DIR | --store URL]   (a partner API key, printed once)
       dropline keys list|revoke ID [--data DIR | --store URL]
       dropline agent --link URI [--link URI ...] --bus nats://HOST:4222 --site NAME
                     (the link agent beside a radio; dropline agent --help)

  --host HOST          listen address (default 127.0.0.1). Any other address needs TLS
                       (--tls-cert/--tls-key) and no account with a default password;
                       0.0.0.0 also needs --origin
  --tls-cert FILE      TLS certificate (PEM): HTTPS, and session cookies marked Secure
  --tls-key FILE       TLS private key (PEM)
  --alert-retention-days N  acknowledged alerts (and unacknowledged info/warning ones) older than
                       N days are pruned, audited as alerts.prune (default 30; an unacknowledged
                       critical alert is kept until acknowledged)
  --trust-proxy        behind a TLS reverse proxy on this machine: client addresses from
                       X-Forwarded-For, Secure cookies (listen on 127.0.0.1; give --origin)
  --origin ORIGIN      an origin the console is reached at (https://NAME[:PORT]); repeatable.
                       State changes and live telemetry are refused from any other origin
                       (loopback origins are always allowed)
  --port PORT          HTTP port (default 8080)
  --data DIR           SQLite database and tlogs (default $DROPLINE_DATA_DIR or ./data)
  --store URL          keep the database in PostgreSQL instead of SQLite
                       (postgres://HOST:5432/DB[?schema=NAME]); nodes sharing it share users,
                       sessions, zones, jobs and the audit (tlogs stay in --data)
  --link URI           connect a vehicle link; repeatable (tcp:HOST:PORT, udpin:HOST:PORT,
                       udpout:HOST:PORT, serial:PATH:BAUD), with MAVLink 2 signing options
                       after '?': signing=off|sign|require, signingKeyFile=FILE (64 hex
                       digits), id=NAME (link id; default link0, link1, ...). A link with a
                       key stored for its id (POST /api/vehicles/ID/signing) requires signed
                       frames unless signing= says otherwise
  --bus URL            also take vehicles from link agents (dropline agent) over NATS
                       (nats://HOST:PORT): each vehicle an agent announces joins as
                       SITE.LINK-SYSID/SYSID; this node holds its lease and the agent sends
                       the GCS heartbeats, so a restart of this service goes unnoticed
  --bus-site NAME      only vehicles of this agent site; repeatable (default every site)
  --bus-prefix ROOT    subject root on the bus (default dropline)
  --sims N             built-in simulated copters to start (default 3, or 0 when links
                       or a bus are given)
  --speedup X          simulator speedup (default 1)
  --sim-port PORT      first simulator's TCP port; instance i listens on PORT+10*i, as
                       ArduPilot SITL does, so other ground stations can connect too
                       (default 5760; 0 = any free ports)
  --sitl PATH          ArduCopter SITL binary (arducopter): trainers may start SITL copters
                       beside the built-in ones (POST /api/sim/vehicles {kind: 'arducopter-sitl'})
  --sitl-defaults FILES  comma-separated defaults files ArduCopter SITL loads first
                       (e.g. Tools/autotest/default_params/copter.parm)
  --px4-sitl PATH      PX4 SITL binary (px4 of a px4_sitl_default build): kind 'px4-sitl'
  --zones FILE         zones GeoJSON seeded on first start (default: the demo scenario's zones)
  --tiles PATH         offline base map for the console: an .mbtiles file or a folder of
                       {z}/{x}/{y}.png tiles (choose "offline" in the console's settings)
  --config FILE        JSON file with any of: host, port, dataDir, links, sims, speedup, zones,
                       tiles, logLevel, bus, busSites, store (command-line options win)
  --no-demo-users      create only the admin on first start (password from
                       $DROPLINE_ADMIN_PASSWORD, or generated, printed once and to be changed
                       at the first login). Demo accounts are only ever created for built-in
                       simulators on a loopback address
  $DROPLINE_METRICS_TOKEN  bearer token that may read /metrics and the detailed /api/health
  --log-level LEVEL    pino level (default info)
  -h, --help           this text
`;

/** A typed, user-facing CLI error: printed as one line, exit code 2. */
class CliError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const ConfigFile = z
  .object({
    host: z.string().optional(),
    port: z.number().int().min(0).max(65535).optional(),
    dataDir: z.string().optional(),
    links: z.array(z.string()).optional(),
    sims: z.number().int().min(0).max(50).optional(),
    speedup: z.number().min(0.1).max(100).optional(),
    zones: z.string().optional(),
    tiles: z.string().optional(),
    logLevel: z.string().optional(),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    trustProxy: z.boolean().optional(),
    origins: z.array(z.string()).optional(),
    bus: z.string().optional(),
    store: z.string().optional(),
    busSites: z.array(z.string()).optional(),
    alertRetentionDays: z.number().min(1).max(3650).optional(),
  })
  .strict();

export function readConfig(file: string): z.infer<typeof ConfigFile> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError('INVALID_CONFIG', `cannot read config ${file}: ${(e as Error).message}`);
  }
  const r = ConfigFile.safeParse(raw);
  if (!r.success) throw new CliError('INVALID_CONFIG', `config ${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  // Paths in the file are relative to the file.
  const dir = path.dirname(path.resolve(file));
  const c = r.data;
  const rel = (f: string | undefined) => f && path.resolve(dir, f);
  return { ...c, dataDir: rel(c.dataDir), zones: rel(c.zones), tiles: rel(c.tiles), tlsCert: rel(c.tlsCert), tlsKey: rel(c.tlsKey) };
}

function defaultDataDir(): string {
  return process.env.DROPLINE_DATA_DIR || './data';
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function usersCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string' },
      data: { type: 'string' },
      store: { type: 'string' },
      replace: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [verb, name] = positionals;
  const usage = 'usage: dropline users add NAME --role ROLE [--replace] | disable NAME | enable NAME | list   [--data DIR | --store URL] (add: password on stdin)';
  if (!['add', 'disable', 'enable', 'list'].includes(verb) || (verb !== 'list' && !name) || (verb === 'add' && !values.role)) throw new CliError('INVALID_ARGS', usage);
  // require, not import(): the entry point loads TypeScript through tsx's CommonJS hook only
  const { openStore } = require('./store') as typeof import('./store');
  const { addUser } = require('./auth') as typeof import('./auth');
  const store = await openStore({ dataDir: path.resolve(values.data ?? defaultDataDir()), url: values.store });
  try {
    if (verb === 'list') {
      for (const u of await store.listUsers())
        process.stdout.write(`${u.username}\t${u.role}\t${u.disabled ? 'disabled' : 'enabled'}\t${u.passwordState === 'set' ? 'password set' : `${u.passwordState} password`}\n`);
      return 0;
    }
    if (verb === 'disable' || verb === 'enable') {
      // Sessions are revoked in the database: a running service sees it at the next request, and its live sockets close within a second.
      if (!(await store.setUserDisabled(name, verb === 'disable'))) throw new CliError('NOT_FOUND', `no user ${name}`);
      process.stdout.write(`${verb}d ${name}\n`);
      return 0;
    }
    const password = (await readStdin()).replace(/\r?\n$/, '');
    const r = await addUser(store, name, values.role!, password, { replace: values.replace });
    if (!r.ok) throw new CliError(r.code, r.message);
    process.stdout.write(`${values.replace ? 'updated' : 'added'} ${r.username} (${r.role})\n`);
    return 0;
  } finally {
    await store.close();
  }
}

async function runService(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      'data-dir': { type: 'string' },
      link: { type: 'string', multiple: true },
      sims: { type: 'string' },
      speedup: { type: 'string' },
      'sim-port': { type: 'string' },
      sitl: { type: 'string' },
      'sitl-defaults': { type: 'string' },
      'px4-sitl': { type: 'string' },
      zones: { type: 'string' },
      tiles: { type: 'string' },
      config: { type: 'string' },
      'no-demo-users': { type: 'boolean', default: false },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'alert-retention-days': { type: 'string' },
      'trust-proxy': { type: 'boolean', default: false },
      origin: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      bus: { type: 'string' },
      store: { type: 'string' },
      'bus-site': { type: 'string', multiple: true },
      'bus-prefix': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const cfg = values.config ? readConfig(values.config) : {};
  const bus = values.bus ?? cfg.bus;
  const port = values.port !== undefined ? Number(values.port) : cfg.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError('INVALID_ARGS', `--port must be 0..65535, got ${values.port}`);
  const links = values.link ?? cfg.links ?? [];
  const sims = values.sims !== undefined ? Number(values.sims) : cfg.sims ?? (links.length > 0 || bus ? 0 : 3);
  if (!Number.isInteger(sims) || sims < 0 || sims > 50) throw new CliError('INVALID_ARGS', `--sims must be 0..50, got ${values.sims}`);
  const speedup = values.speedup !== undefined ? Number(values.speedup) : cfg.speedup ?? 1;
  if (!(speedup >= 0.1 && speedup <= 100)) throw new CliError('INVALID_ARGS', `--speedup must be 0.1..100, got ${values.speedup}`);
  const simPort = values['sim-port'] !== undefined ? Number(values['sim-port']) : 5760;
  if (!Number.isInteger(simPort) || simPort < 0 || simPort > 65000) throw new CliError('INVALID_ARGS', `--sim-port must be 0..65000, got ${values['sim-port']}`);
  const dataDir = values.data ?? values['data-dir'] ?? cfg.dataDir ?? defaultDataDir();
  const zones = values.zones ?? cfg.zones;
  const tiles = values.tiles ?? cfg.tiles;
  const retentionDays = values['alert-retention-days'] !== undefined ? Number(values['alert-retention-days']) : cfg.alertRetentionDays ?? 30;
  if (!(retentionDays >= 1 && retentionDays <= 3650)) throw new CliError('INVALID_ARGS', `--alert-retention-days must be 1..3650, got ${values['alert-retention-days']}`);

  const sitl = sitlBinaries(values.sitl, values['sitl-defaults'], values['px4-sitl']);

  const { startService } = require('./service') as typeof import('./service');
  const svc = await startService({
    host: values.host ?? cfg.host ?? '127.0.0.1',
    port,
    dataDir: path.resolve(dataDir),
    links,
    simulators: sims,
    simSpeedup: speedup,
    simBasePort: simPort,
    // The demo's vehicles run in processes of their own that outlive a crash of the service.
    simProcesses: true,
    sitl,
    zonesFile: zones ? path.resolve(zones) : undefined,
    tiles: tiles ? path.resolve(tiles) : undefined,
    demoUsers: values['no-demo-users'] ? false : undefined,
    tlsCert: values['tls-cert'] ?? cfg.tlsCert,
    tlsKey: values['tls-key'] ?? cfg.tlsKey,
    alertRetentionMs: retentionDays * 24 * 3600_000,
    trustProxy: values['trust-proxy'] || cfg.trustProxy || false,
    allowedOrigins: values.origin ?? cfg.origins,
    logLevel: values['log-level'] ?? cfg.logLevel ?? 'info',
    bus,
    store: values.store ?? cfg.store,
    busSites: values['bus-site'] ?? cfg.busSites,
    busPrefix: values['bus-prefix'],
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

/** --sitl, --sitl-defaults, --px4-sitl: each file must exist (and the binaries be executable). */
function sitlBinaries(arducopter?: string, defaults?: string, px4?: string): { arducopter?: string; arducopterDefaults?: string[]; px4?: string } {
  const check = (flag: string, p: string, exec: boolean) => {
    try {
      fs.accessSync(p, exec ? fs.constants.X_OK : fs.constants.R_OK);
      if (!fs.statSync(p).isFile()) throw new Error('not a file');
    } catch {
      throw new CliError('INVALID_ARGS', `${flag} ${p}: not ${exec ? 'an executable' : 'a readable'} file`);
    }
    return path.resolve(p);
  };
  if (defaults !== undefined && arducopter === undefined) throw new CliError('INVALID_ARGS', '--sitl-defaults needs --sitl');
  return {
    ...(arducopter !== undefined ? { arducopter: check('--sitl', arducopter, true) } : {}),
    ...(defaults !== undefined ? { arducopterDefaults: defaults.split(',').map((f) => f.trim()).filter(Boolean).map((f) => check('--sitl-defaults', f, false)) } : {}),
    ...(px4 !== undefined ? { px4: check('--px4-sitl', px4, true) } : {}),
  };
}

/** Errors in what the user asked for: one line on stderr, exit code 2. */
const USER_ERRORS = new Set([
  'UNSAFE_CONFIG', 'INVALID_ORIGIN', 'ERR_PARSE_ARGS_UNKNOWN_OPTION', 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL',
  // the bus and the link agent
  'INVALID_ARGS', 'INVALID_BUS_URL', 'BUS_UNREACHABLE', 'BUS_STREAM_FAILED', 'INVALID_BUS_NAME', 'INVALID_AGENT_OPTION', 'INVALID_LINK_URI', 'INVALID_SIGNING', 'DUPLICATE_LINK',
]);

export async function main(argv: string[]): Promise<void> {
  try {
    if (argv[0] === 'plan') {
      // Offline route planning: one JSON document on stdout, exit 2 with the error JSON.
      // require, not import(): the entry point loads TypeScript through tsx's CommonJS hook only
      const { runPlanCli } = require('../planner/cli') as typeof import('../planner/cli');
      process.exitCode = await runPlanCli(argv.slice(1));
      return;
    }
    if (argv[0] === 'users') {
      process.exitCode = await usersCommand(argv.slice(1));
      return;
    }
    if (argv[0] === 'keys') {
      // Partner API keys (src/intake/keys-cli.ts).
      const { keysCommand, KeysCliError } = require('./intake/keys-cli') as typeof import('./intake/keys-cli');
      try {
        process.exitCode = await keysCommand(argv.slice(1), { defaultDataDir: defaultDataDir() });
      } catch (e) {
        throw e instanceof KeysCliError ? new CliError(e.code, e.message) : e;
      }
      return;
    }
    if (argv[0] === 'sim-process') {
      // One built-in simulator of the embedded demo, started by the service (src/sim-processes.ts).
      const { simProcessMain } = require('../sims/sim-process') as typeof import('../sims/sim-process');
      await simProcessMain();
      return;
    }
    if (argv[0] === 'agent') {
      // The link agent: runs until SIGINT/SIGTERM (src/agent).
      const { runAgentCli } = require('./agent/cli') as typeof import('./agent/cli');
      await runAgentCli(argv.slice(1));
      return;
    }
    await runService(argv);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (e instanceof CliError || USER_ERRORS.has(err.code ?? '')) {
      process.stderr.write(`dropline: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}
