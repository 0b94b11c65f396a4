/**
 * The vehicle links a service takes besides its simulators: the configured links (with a warning for
 * each that reaches a network unsigned) and the vehicles behind link agents over the bus.
 */
import type { Logger } from 'pino';
import { parseLinkSpec, type Fleet } from '../fleet';
import { parseLinkUri } from '../link';
import { attachBusVehicles, openBus, Subjects, type Bus, type BusVehicles } from '../bus';
import type { ServiceOptions } from './options';

/** The configured links (`link0`, `link1`, … unless `id=` names them), each warned about when it reaches a network unsigned. */
export function addConfiguredLinks(fleet: Fleet, links: string[], log: Logger): void {
  links.forEach((uri, i) => fleet.addLink(uri, { id: parseLinkSpec(uri).id ?? `link${i}` }));
  for (const l of fleet.links()) {
    if (l.signing !== 'require' && reachableFromNetwork(l.uri))
      log.warn({ link: l.id, uri: l.uri, signing: l.signing }, 'link reaches beyond this machine without signing=require: anyone on that network can inject telemetry or commands');
  }
}

/**
 * Vehicles behind link agents, over the bus (src/bus/attach.ts): the agents send their GCS heartbeats.
 * `onClose` gets what to close at shutdown, in the order it is to be registered.
 */
export async function connectBus(bus0: string | Bus, fleet: Fleet, opts: ServiceOptions, log: Logger, onClose: (c: () => Promise<void> | void) => void): Promise<{ bus: Bus; busVehicles: BusVehicles }> {
  const bus = typeof bus0 === 'string' ? await openBus(bus0) : bus0;
  if (typeof bus0 === 'string') onClose(() => bus.close());
  bus.on('disconnected', () => log.warn({ bus: bus.url }, 'bus connection lost: vehicles behind agents are unreachable until it is back'));
  bus.on('connected', () => log.info({ bus: bus.url }, 'bus connection back'));
  const attached = attachBusVehicles({ bus, fleet, subjects: new Subjects(opts.busPrefix), sites: opts.busSites, node: opts.busNode, log: log.child({ mod: 'bus' }) });
  onClose(() => attached.close());
  log.info({ bus: bus.url, node: attached.node, sites: opts.busSites ?? 'all' }, 'taking vehicles from link agents over the bus');
  return { bus, busVehicles: attached };
}

/** Whether a link's traffic crosses a network others may be on (serial and loopback do not). */
function reachableFromNetwork(uri: string): boolean {
  try {
    const p = parseLinkUri(parseLinkSpec(uri).transport);
    if (p.kind === 'serial') return false;
    return !/^(127\.|::1$|localhost$)/.test(p.host);
  } catch {
    return false;
  }
}
