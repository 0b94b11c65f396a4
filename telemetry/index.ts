/** Telemetry: frames, WebSocket fan-out, tlog recording and replay, link health. */
export * from './frame';
export * from './hub';
export * from './tlog';
export * from './replay';
export * from './link-health';
