/** The fleet: every link and every vehicle, one decoded state per vehicle. */
export { createFleet, Fleet, FleetError } from './fleet';
export type { FleetOptions, AddLinkOptions, LinkSigning, LinkSigningStatus, SigningCounters, ProvisionOptions } from './fleet';
export { parseLinkSpec } from './link-spec';
export type { LinkSpec } from './link-spec';
export { Vehicle, DEFAULT_MESSAGE_RATES_HZ } from './vehicle';
export type { VehicleOptions } from './vehicle';
export { applyFrame, emptyState } from './state';
export * from './types';
