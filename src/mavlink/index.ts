export * from './codec';
export * from './signing';
export * from './registry';
