/** Vehicle protocol state machines: each is handed a sender, a clock and its target. */
export * from './clock';
export * from './types';
export * from './heartbeat';
export * from './command';
export * from './mission-transfer';
export * from './params';
