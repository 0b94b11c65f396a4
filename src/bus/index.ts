/**
 * The bus between link agents and service nodes (see bus.ts for the contract, subjects.ts for
 * the subject names). `openBus('memory')` is the in-process bus; `openBus('nats://HOST:4222')`
 * connects to NATS.
 */
import { BusError, type Bus } from './bus';
import { createMemoryBus } from './memory';
import type { NatsBusOptions } from './nats';

export type { Bus, BusMessage, BusSubscription, PublishOptions, RecordedMessage, RecordingOptions, ReadOptions } from './bus';
export { BusError, subjectMatches } from './bus';
export { MemoryBus, createMemoryBus } from './memory';
export type { NatsBus, NatsBusOptions } from './nats';
export * from './subjects';
export { BusLink, type BusLinkOptions } from './bus-link';
export { recordedFrames, busVehicleOf, type RecordedFramesReader } from './recorded-frames';
export { attachBusVehicles, type BusVehicles, type BusVehiclesOptions } from './attach';

/** 'memory' for the in-process bus, else a NATS URL. */
export async function openBus(url: string, opts: Omit<NatsBusOptions, 'url'> = {}): Promise<Bus> {
  if (url === 'memory') return createMemoryBus();
  if (typeof url !== 'string' || !url) throw new BusError('INVALID_BUS_URL', 'a bus URL is nats://HOST:PORT');
  // Loaded on first use: the embedded service (no --bus) never loads the NATS client.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NatsBus } = require('./nats') as typeof import('./nats');
  return NatsBus.connect({ url, ...opts });
}
