/** Stable error and warning codes of the planner. */

export const PLAN_ERROR_CODES = [
  /** The zones are not a FeatureCollection, a feature is not an object, or a kind is unknown. */
  'INVALID_ZONES',
  /** No features at all. */
  'EMPTY_ZONES',
  /** Too many features or positions (MAX_FEATURES, MAX_RING_VERTICES, MAX_TOTAL_VERTICES); details: {limitName, limit, actual}. */
  'ZONES_TOO_LARGE',
  /** A geometry is malformed: wrong type, NaN, out-of-range coordinate, unclosed or self-intersecting ring. */
  'INVALID_GEOMETRY',
  /** A property is malformed (missing name, negative clearanceM, ...). */
  'INVALID_PROPERTIES',
  'MISSING_OPERATING_AREA',
  'MULTIPLE_OPERATING_AREAS',
  'DUPLICATE_LAUNCH_SITE',
  /** The request fails its schema. */
  'INVALID_REQUEST',
  'UNKNOWN_LAUNCH_SITE',
  'LAUNCH_OUTSIDE_AREA',
  'DROP_OUTSIDE_AREA',
  'LAUNCH_IN_NO_FLY',
  'DROP_IN_NO_FLY',
  /** No safe path joins launch and drop (e.g. the drop is enclosed by no-fly zones). */
  'UNREACHABLE',
  'INSUFFICIENT_ENERGY',
  'WIND_TOO_STRONG',
  /** The parcels weigh more than the vehicle carries (a sortie: their total); details: {massKg, maxPayloadKg}. */
  'PAYLOAD_TOO_HEAVY',
  /**
   * A sortie (several drops in one flight) the vehicle cannot fly: a gripper or winch releases
   * every parcel at once, or the profile has fewer release outputs (profile.releaseServos) than
   * parcels; details: {parcels, release, releaseOutputs?}.
   */
  'MULTI_DROP_UNSUPPORTED',
  /**
   * No fence that holds the route fits the vehicle's fence storage, even with the corridor
   * narrowed to the zones' clearance; details: {fenceCapacity, itemsNeeded, vertices, polygons}.
   */
  'FENCE_CAPACITY',
  /** The route breaches the fence that would be uploaded (a planner defect; never expected). */
  'FENCE_CHECK_FAILED',
] as const;

export type PlanErrorCode = (typeof PLAN_ERROR_CODES)[number];

export interface PlanError {
  code: PlanErrorCode;
  message: string;
  details?: unknown;
}

export interface Warning {
  code: string;
  message: string;
  details?: unknown;
}

export function planError(code: PlanErrorCode, message: string, details?: unknown): PlanError {
  return details === undefined ? { code, message } : { code, message, details };
}

/** Describes a feature for messages: `feature #3 "City Hospital" (no-fly)`. */
export function featureLabel(index: number, name: unknown, kind?: unknown): string {
  const n = typeof name === 'string' && name.length > 0 ? ` "${name}"` : '';
  const k = typeof kind === 'string' ? ` (${kind})` : '';
  return `feature #${index}${n}${k}`;
}
