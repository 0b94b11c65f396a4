/**
 * The built-in simulated vehicle (ArduCopter/PX4-like over MAVLink). Its parts are in sims/vehicle/:
 * sim-vehicle.ts (the class and its step loop), state.ts, boot, arming, flight-modes, navigation,
 * mission, payload, failsafes, battery, fence, physics, telemetry, incoming, commands.
 */
export * from './vehicle/index';
