/** The intake policy (kept in intake_settings under 'policy'; supervisors change it, audited). */
import { z } from 'zod';

export const IntakePolicySchema = z
  .object({
    /** A request matched to a checked drop point with at least autoJobMinConfidence becomes a job at once. Default false. */
    autoJob: z.boolean().default(false),
    /** Default 0.95. */
    autoJobMinConfidence: z.number().min(0.5).max(1).default(0.95),
    /** Requests from one contact for one compound within this many minutes are merged. Default 30. */
    mergeWindowMin: z.number().int().min(0).max(24 * 60).default(30),
    /** Text and contacts are blanked this many days after the request (once its job has ended). Default 30. */
    retentionDays: z.number().int().min(1).max(3650).default(30),
    /** A status link still answers this many hours after the job ended (or the request was closed). Default 24. */
    statusGraceH: z.number().min(0).max(24 * 30).default(24),
    /** Status page reads per minute from one address. Default 30. */
    statusPerMinute: z.number().int().min(1).max(10_000).default(30),
  })
  .strict();

export type IntakePolicy = z.infer<typeof IntakePolicySchema>;

export const DEFAULT_INTAKE_POLICY: IntakePolicy = IntakePolicySchema.parse({});

export function readIntakePolicy(raw: unknown): IntakePolicy {
  const r = IntakePolicySchema.safeParse(raw ?? {});
  return r.success ? r.data : DEFAULT_INTAKE_POLICY;
}
