/** zod schemas of every request body and query the API accepts (also the source of the OpenAPI document). */
import { z } from 'zod';
import { MAX_FEATURES } from '../../planner/zones';

const lon = z.number().min(-180).max(180);
const lat = z.number().min(-90).max(90);
export const LonLatSchema = z.tuple([lon, lat]).describe('[lon, lat] in degrees');
/** A vehicle, flight or launch-site name. */
const IdText = z.string().min(1).max(200);
/** A named launch site or a position. */
const LaunchSchema = z.union([IdText, LonLatSchema]);

export const LoginBody = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(200) }).strict();
export const PasswordChangeBody = z.object({ current: z.string().min(1).max(200), next: z.string().min(1).max(200) }).strict();
export const QueueQuerySchema = z.object({ training: z.enum(['true', 'false']).optional() }).strict();

export const VehicleCommandBody = z
  .object({
    action: z.enum(['arm', 'disarm', 'mode', 'takeoff', 'hold', 'continue', 'rtl', 'land', 'release']),
    mode: z.string().min(1).max(40).optional(),
    altM: z.number().positive().max(500).optional(),
    confirm: z.literal(true).optional(),
  })
  .strict()
  .refine((b) => b.action !== 'mode' || !!b.mode, { message: "action 'mode' needs a mode", path: ['mode'] });

export const FeatureCollectionSchema = z
  .object({
    type: z.literal('FeatureCollection'),
    features: z
      .array(
        z
          .object({
            type: z.literal('Feature'),
            geometry: z.any(),
            properties: z.record(z.string(), z.any()).nullable().optional(),
            id: z.union([z.string(), z.number()]).optional(),
          })
          .passthrough(),
      )
      // The planner's own cap answers 413 ZONES_TOO_LARGE naming MAX_FEATURES; this bound only keeps
      // the schema check itself bounded (the body limit allows no more features than this anyway).
      .max(MAX_FEATURES * 40),
  })
  .passthrough();

export const ZonesImportBody = z
  .object({
    format: z.enum(['kml', 'geojson']),
    text: z.string().min(1).max(5_000_000),
    /** Store the imported zones as a new version when they validate. Default false (validate only). */
    save: z.boolean().optional(),
  })
  .strict();

export const PlanBody = z
  .object({
    drop: LonLatSchema,
    launch: LaunchSchema.optional(),
    profile: z.any().optional(),
    payload: z.any().optional(),
    wind: z.any().optional(),
  })
  .passthrough();

export const DeliveryBody = z
  .object({
    drop: LonLatSchema,
    launch: LaunchSchema.optional(),
    priority: z.enum(['urgent', 'high', 'normal']).optional(),
    payload: z.object({ description: z.string().min(1).max(500), massKg: z.number().positive().max(50).optional() }).strict().optional(),
    requester: z.object({ name: z.string().min(1).max(200), contact: z.string().max(200).optional() }).strict().optional(),
    note: z.string().max(2000).optional(),
    /** A training job (trainers' jobs always are): never in the operational queue, simulated vehicles only. */
    training: z.boolean().optional(),
  })
  .strict();

export const DispatchBody = z
  .object({
    vehicleId: IdText,
    /** Fly these queued jobs in the same flight (a sortie: one parcel bay each, up to 3 more). */
    with: z.array(IdText).min(1).max(3).optional(),
  })
  .strict();
export const AbortBody = z
  .object({ reason: z.string().min(1).max(500).optional(), land: z.boolean().optional() })
  .strict();
export const EmptyBody = z.object({}).strict();
/** POST /api/sim/parcels */
export const SimParcelsBody = z.object({ vehicleId: IdText, outputs: z.array(z.number().int().min(1).max(16)).min(1).max(16) }).strict();

/** POST /api/vehicles/:id/setup */
export const VehicleSetupBody = z
  .object({
    /** Set what differs from the vehicle profile (and reboot the vehicle when a parameter needs it). */
    apply: z.literal(true),
    /** Measure the fence capacity by a bounded search of probe fences, restoring the vehicle's fence. Default true. */
    measureFence: z.boolean().optional(),
  })
  .strict();

/** Text a person typed: no control characters. */
const PlainText = (max: number) => z.string().max(max).refine((x) => !/[\u0000-\u001f\u007f]/.test(x), 'no control characters');

/** POST /api/vehicles/:id/battery-swap (the body is optional). */
export const BatterySwapBody = z.preprocess(
  (b) => (b === undefined ? {} : b),
  z
    .object({
      /** What was done (≤ 200 characters). */
      note: PlainText(200).optional(),
      /** The pack's label (≤ 40 characters). */
      packId: PlainText(40).refine((x) => x.trim().length > 0, 'empty').optional(),
    })
    .strict(),
);
export const BatterySwapsQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).optional() }).strict();

export const AuditQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(5000).optional(),
    action: z.string().max(100).optional(),
    username: z.string().max(100).optional(),
    vehicleId: z.string().max(200).optional(),
    deliveryId: z.string().max(100).optional(),
    since: z.string().max(40).optional(),
    until: z.string().max(40).optional(),
  })
  .strict();

export const ReplayBody = z.object({ flightId: IdText, speed: z.number().min(1).max(50).optional() }).strict();
/**
 * Replay control. `seek` needs exactly one of `index` (record index in the tlog, 0..total; beyond the
 * end is refused by the service with REPLAY_INVALID_INDEX) or `fraction` (0..1 of the recording);
 * `index` and `fraction` are refused with any other action.
 */
export const ReplayControlBody = z
  .object({
    action: z.enum(['pause', 'resume', 'step', 'speed', 'stop', 'seek']),
    speed: z.number().min(0.1).max(50).optional(),
    index: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    fraction: z.number().min(0).max(1).optional(),
    /** Flight time to seek to: seconds since the recording's first record. */
    atS: z.number().min(0).max(10_000_000).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const given = (b.index !== undefined ? 1 : 0) + (b.fraction !== undefined ? 1 : 0) + (b.atS !== undefined ? 1 : 0);
    if (b.action === 'seek' && given !== 1) {
      ctx.addIssue({ code: 'custom', message: "action 'seek' needs exactly one of index, fraction or atS", path: [b.index !== undefined ? 'fraction' : 'index'] });
    }
    if (b.action !== 'seek' && given > 0) {
      ctx.addIssue({ code: 'custom', message: "index, fraction and atS are only for action 'seek'", path: [b.index !== undefined ? 'index' : b.fraction !== undefined ? 'fraction' : 'atS'] });
    }
  });
export const SimVehiclesBody = z.object({ count: z.number().int().min(1).max(10).optional(), kind: z.enum(['builtin', 'arducopter-sitl', 'px4-sitl']).optional() }).strict();
export const SimFaultBody = z.object({ vehicleId: IdText, fault: z.object({ kind: z.string().min(1).max(60) }).passthrough() }).strict();
export const SimClearFaultBody = z.object({ vehicleId: IdText, kind: z.string().min(1).max(60) }).strict();
export const SimScenarioBody = z.object({ name: z.string().min(1).max(100) }).strict();

export type Issue = { path: string; code: string; message: string };

/** zod issues as they travel in `error.details`. */
export function issues(err: z.ZodError): Issue[] {
  return err.issues.map((i) => ({ path: i.path.map(String).join('.'), code: i.code, message: i.message }));
}

export const AlertsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).optional(),
    unacked: z.enum(['true', 'false']).optional(),
    level: z.enum(['info', 'warning', 'critical']).optional(),
  })
  .strict();
