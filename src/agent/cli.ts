/** `dropline agent`: the link agent's command line (see agent.ts for what it does). */
import { parseArgs } from 'util';
import pino from 'pino';
import { openBus } from '../bus';
import { Subjects, checkToken } from '../bus/subjects';
import { parseLinkSpec } from '../fleet/link-spec';
import { startAgent } from './agent';

export const AGENT_USAGE = `Usage: dropline agent --link URI [--link URI ...] --bus nats://HOST:4222 --site NAME [options]

Runs beside a radio (or SITL): holds the vehicle links, moves MAVLink frames between them and the
bus (subjects <root>.<site>.<link>-<sysid>.rx / .tx), records every frame in the JetStream stream
<ROOT>_TLOG, and sends the GCS heartbeats while a service node holds the vehicle's lease, then
for a grace after the lease lapses (a service restart goes unnoticed), then stops so that the
vehicle's own failsafe acts.

  --link URI           a vehicle link; repeatable: tcp:HOST:PORT, udpin:HOST:PORT,
                       udpout:HOST:PORT, serial:PATH:BAUD, with options after '?':
                       id=NAME (link id, part of the vehicle's subjects; default link0,
                       link1, ... in this order: give ids when links may be reordered),
                       signing=off|sign|require and signingKeyFile=FILE (64 hex digits):
                       the agent signs its heartbeats and what nodes send unsigned, and with
                       require drops unsigned or badly signed frames from the link
  --bus URL            the NATS server (nats://HOST:PORT; JetStream on)
  --site NAME          this launch site's name: letters, digits, _ or -; one agent per site
  --heartbeat-hz HZ    GCS heartbeats per second (default 2; at least twice a simulator's
                       speedup against a sped-up simulator)
  --grace S            seconds of heartbeats after a service node's lease lapses (default 20;
                       longer than a service restart, and what the vehicle flies on with
                       nobody able to command it)
  --gcs-sysid N        our MAVLink system id, the vehicle's MAV_GCS_SYSID (default 255)
  --bus-prefix ROOT    subject root, for several deployments on one NATS (default dropline)
  --tlog-max-age H     hours the recorded stream keeps frames (default 336: 14 days)
  --tlog-max-bytes N   bytes the recorded stream keeps at most (default: the server's limit)
  --no-tlog            do not set up the recorded stream
  --log-level LEVEL    pino level (default info)
  -h, --help           this text
`;

class AgentCliError extends Error {
  readonly code = 'INVALID_ARGS';
}

function num(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new AgentCliError(`--${name} must be ${min}..${max}, got ${text}`);
  return n;
}

/** Run the agent until SIGINT/SIGTERM. Resolves once it runs (or with --help); throws typed errors. */
export async function runAgentCli(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      link: { type: 'string', multiple: true },
      bus: { type: 'string' },
      site: { type: 'string' },
      'heartbeat-hz': { type: 'string' },
      grace: { type: 'string' },
      'gcs-sysid': { type: 'string' },
      'bus-prefix': { type: 'string' },
      'tlog-max-age': { type: 'string' },
      'tlog-max-bytes': { type: 'string' },
      'no-tlog': { type: 'boolean', default: false },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(AGENT_USAGE);
    return;
  }
  if (positionals.length) throw new AgentCliError(`unexpected argument ${positionals[0]} (see dropline agent --help)`);
  if (!values.link?.length) throw new AgentCliError('dropline agent needs at least one --link URI (see --help)');
  if (!values.bus) throw new AgentCliError('dropline agent needs --bus nats://HOST:PORT');
  if (!values.site) throw new AgentCliError('dropline agent needs --site NAME');
  checkToken('site', values.site);
  for (const uri of values.link) parseLinkSpec(uri); // throws INVALID_LINK_URI before anything connects
  const hz = num('heartbeat-hz', values['heartbeat-hz'], 0.2, 50);
  const graceS = num('grace', values.grace, 0, 3600);
  const gcsSysid = num('gcs-sysid', values['gcs-sysid'], 1, 255);
  const maxAgeH = num('tlog-max-age', values['tlog-max-age'], 0.01, 24 * 3650);
  const maxBytes = num('tlog-max-bytes', values['tlog-max-bytes'], 1024 * 1024, Number.MAX_SAFE_INTEGER);
  const subjects = new Subjects(values['bus-prefix'] ?? undefined);
  const log = pino({ level: process.env.DROPLINE_LOG_LEVEL ?? values['log-level'] ?? 'info', base: { svc: 'dropline-agent', site: values.site } });
  const bus = await openBus(values.bus, { name: `dropline-agent-${values.site}` });
  bus.on('disconnected', () => log.warn({ bus: bus.url }, 'bus connection lost: leases cannot be renewed until it is back'));
  bus.on('connected', () => log.info({ bus: bus.url }, 'bus connection back'));
  let agent;
  try {
    agent = await startAgent({
      bus,
      site: values.site,
      links: values.link,
      subjects,
      heartbeatHz: hz,
      graceMs: graceS === undefined ? undefined : graceS * 1000,
      gcsSysid,
      record: !values['no-tlog'],
      recordMaxAgeMs: maxAgeH === undefined ? undefined : maxAgeH * 3600_000,
      recordMaxBytes: maxBytes,
      log: log.child({ mod: 'agent' }),
    });
  } catch (e) {
    await bus.close();
    throw e;
  }
  const st = agent.status();
  log.info({ bus: bus.url, links: st.links.map((l) => ({ id: l.id, uri: l.uri, signing: l.signing })), stream: values['no-tlog'] ? null : subjects.tlogStream }, 'dropline agent running');
  process.stdout.write(`dropline agent: site ${st.site}, ${st.links.length} link(s), bus ${bus.url}\n`);
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await agent.close();
    await bus.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}
