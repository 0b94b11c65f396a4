/** The built-in simulated vehicle (ArduCopter/PX4-like over MAVLink): its public exports. */
export { SimVehicle } from './sim-vehicle';
export type { VehicleFaults, VehicleOptions, Parcel, ParcelRelease } from './state';
export { Result, ARDUCOPTER_BOOT_S, AIRFRAME } from './constants';
