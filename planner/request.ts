/**
 * The plan request and the vehicle profile, validated with zod; every field but the drop point
 * has a default (a medium delivery quadcopter).
 */
import { z } from 'zod';

const finite = () => z.number().refine(Number.isFinite, 'must be a finite number');
const lon = finite().min(-180).max(180);
const lat = finite().min(-90).max(90);
/** [lon, lat] */
export const lonLatSchema = z.tuple([lon, lat]);

export const vehicleProfileSchema = z.object({
  /** Display name. Default 'medium delivery quad'. */
  name: z.string().default('medium delivery quad'),
  /** Airspeed in cruise, m/s. Default 10. */
  cruiseSpeedMps: finite().positive().max(40).default(10),
  /** Vertical climb rate, m/s. Default 2.5. */
  climbRateMps: finite().positive().max(10).default(2.5),
  /** Vertical descent rate, m/s. Default 1.5. */
  descentRateMps: finite().positive().max(10).default(1.5),
  /** Cruise altitude above launch, m. Default 60. */
  cruiseAltM: finite().min(5).max(500).default(60),
  /** Altitude above launch at which the parcel is released, m. Default 15. */
  dropAltM: finite().min(1).max(500).default(15),
  /** Usable battery energy when full, Wh. Default 444 (6S 20 Ah). */
  batteryWh: finite().positive().default(444),
  /** Hover power at empty mass, W. Default 800. */
  hoverPowerW: finite().positive().default(800),
  /** Power in cruise at cruiseSpeedMps at empty mass, W. Default 700. */
  cruisePowerW: finite().positive().default(700),
  /** Climb power as a multiple of hover power. Default 1.2. */
  climbPowerFactor: finite().positive().default(1.2),
  /** Descent power as a multiple of hover power. Default 0.9. */
  descentPowerFactor: finite().positive().default(0.9),
  /** Mass without payload, kg. Default 7. */
  emptyMassKg: finite().positive().default(7),
  /** Heaviest payload, kg. Default 3. */
  maxPayloadKg: finite().min(0).default(3),
  /** Energy kept in reserve at landing, % of batteryWh. Default 25. */
  reservePct: finite().min(0).max(90).default(25),
  /** Strongest wind the vehicle is flown in, m/s. Default 12. */
  maxWindMps: finite().min(0).default(12),
  /** Hold at drop altitude before release, s (NAV_WAYPOINT param1). Default 2. */
  holdBeforeReleaseS: finite().min(0).max(60).default(2),
  /** Settle after release, s (NAV_LOITER_TIME). Default 3. */
  settleS: finite().min(0).max(600).default(3),
  /** Gripper instance for DO_GRIPPER. Default 1. */
  gripperInstance: z.number().int().min(1).default(1),
  /** Winch instance for DO_WINCH. Default 1. */
  winchInstance: z.number().int().min(1).default(1),
  /** Winch paying-out rate, m/s. Default 0.5. */
  winchRateMps: finite().positive().default(0.5),
  /** Servo output for DO_SET_SERVO release. Default 9. */
  releaseServo: z.number().int().min(1).max(32).default(9),
  /** PWM that opens the release servo, µs. Default 1100. */
  releasePwm: z.number().int().min(800).max(2200).default(1100),
  /**
   * Release outputs of a vehicle that carries several parcels, one per parcel: parcel k (k = 0 for
   * `drop`, k = i + 1 for `stops[i]`) is released by DO_SET_SERVO(releaseServos[k] ?? releaseServo,
   * releasePwm). Each 1–32, distinct. Absent: none (only `releaseServo`, one parcel).
   */
  releaseServos: z.array(z.number().int().min(1).max(32)).max(32)
    .refine((a) => new Set(a).size === a.length, 'release servo outputs must be distinct').optional(),
});

export type VehicleProfile = z.output<typeof vehicleProfileSchema>;

export const DEFAULT_PROFILE: VehicleProfile = vehicleProfileSchema.parse({});

export const releaseMethods = ['gripper', 'winch', 'servo'] as const;
export type ReleaseMethod = (typeof releaseMethods)[number];

/** Further drops of a sortie after `drop`: at most this many (MAX_STOPS + 1 parcels in all). */
export const MAX_STOPS = 3;

export const stopSchema = z.object({
  /** Drop point [lon, lat]. */
  drop: lonLatSchema,
  /** This parcel's mass, kg. Default 1. */
  massKg: finite().min(0).default(1),
  /** The caller's reference for this drop (a job id), echoed in the plan's `drops`. */
  ref: z.string().max(64).optional(),
});

/** 'given': the drops in the request's order; 'shortest': the order with the shortest route. */
export const stopOrders = ['given', 'shortest'] as const;
export type StopOrder = (typeof stopOrders)[number];

export const planRequestSchema = z.object({
  /** Launch site name from the zones, or any [lon, lat]. Default: the first launch site. */
  launch: z.union([z.string().min(1), lonLatSchema]).optional(),
  /** Drop point [lon, lat]. Required. */
  drop: lonLatSchema,
  /**
   * A sortie: further drops after `drop`, flown in one flight (0–3). Needs release 'servo' and a
   * release output per parcel (profile.releaseServos).
   */
  stops: z.array(stopSchema).max(MAX_STOPS).optional(),
  profile: vehicleProfileSchema.partial().optional(),
  payload: z.object({
    /** kg (the first parcel's, at `drop`, in a sortie). Default 1. */
    massKg: finite().min(0).default(1),
    /** Default 'gripper'. */
    release: z.enum(releaseMethods).default('gripper'),
  }).default({ massKg: 1, release: 'gripper' }),
  wind: z.object({
    /** m/s. Default 0. */
    speedMps: finite().min(0).max(100).default(0),
    /** Direction the wind blows from, degrees clockwise from north. Default 0. */
    fromDeg: finite().min(-360).max(360).default(0),
  }).default({ speedMps: 0, fromDeg: 0 }),
  /** Clearance from no-fly zones without their own clearanceM, m. Default 30. */
  clearanceM: finite().min(0).max(10000).default(30),
  /**
   * Fence storage of the vehicle, in items (a single polygon of this many vertices is known to
   * fit; see planner/README.md for how several polygons are counted). Default 60 (ArduCopter,
   * below what ArduCopter SITL was measured to store). Learn it per vehicle at commissioning.
   */
  fenceCapacity: z.number().int().min(3).max(1000).optional(),
  options: z.object({
    /** Route stays this far inside the operating area, m. Default 20. */
    areaMarginM: finite().min(0).max(10000).default(20),
    /** Minimum distance from the route to every fence edge, m. Default 10. */
    fenceMarginM: finite().min(0).max(1000).default(10),
    /**
     * Half-width of the fenced corridor around the route, m: the inclusion polygon lies within
     * this distance of the route (and inside the operating area). Narrowed, down to the zones'
     * clearance, when the fence would not fit the vehicle. Default 100.
     */
    corridorMarginM: finite().min(1).max(5000).default(100),
    /** Deprecated name of fenceCapacity (used when fenceCapacity is not given). */
    fenceMaxItems: z.number().int().min(3).max(1000).optional(),
    /** Rally point altitude above launch, m. Default: the profile's cruise altitude. */
    rallyAltM: finite().min(0).max(500).optional(),
    /** Order of a sortie's drops (the first drop included). Default 'given'. */
    orderStops: z.enum(stopOrders).optional(),
  }).default({ areaMarginM: 20, fenceMarginM: 10, corridorMarginM: 100 }),
});

/** ArduCopter's fence storage when nothing better is known, items. */
export const DEFAULT_FENCE_CAPACITY = 60;

export type PlanRequestInput = z.input<typeof planRequestSchema>;

/** The request with every default applied. */
export interface NormalizedRequest {
  launch: { name?: string; lon: number; lat: number };
  drop: [number, number];
  profile: VehicleProfile;
  payload: { massKg: number; release: ReleaseMethod };
  wind: { speedMps: number; fromDeg: number };
  clearanceM: number;
  /** Items the vehicle's fence storage holds. */
  fenceCapacity: number;
  /** Present only when the request has stops (a sortie): the further drops, defaults applied. */
  stops?: NormalizedStop[];
  options: {
    areaMarginM: number; fenceMarginM: number; corridorMarginM: number; rallyAltM: number;
    /** Present only when the request has stops. */
    orderStops?: StopOrder;
  };
}

export interface NormalizedStop {
  drop: [number, number];
  massKg: number;
  ref?: string;
}
