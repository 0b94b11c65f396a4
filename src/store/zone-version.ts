/** The next zones version from a save request and the latest version: what both stores write, or why not. */
import type { ZoneVersion } from './index';

export interface SaveZonesInput {
  zones?: GeoJSON.FeatureCollection;
  /** The zones as JSON text (already validated elsewhere, e.g. in a planner thread), with their feature count. */
  zonesJson?: { text: string; featureCount: number };
  policy?: Record<string, unknown>;
  by: string;
  change: string;
  expectVersion?: number;
}

export type ZonesRefusal = { ok: false; code: 'CONFLICT' | 'INVALID_STATE'; message: string };

/** Whether the save brings zones of its own (then the latest version's zones need not be read). */
export const bringsZones = (input: SaveZonesInput) => !!(input.zones || input.zonesJson);

/**
 * `latest` is the latest version's number and policy, and its zones when the save brings none.
 * `expectVersion`, when given, must equal the latest version (optimistic concurrency).
 */
export function nextZoneVersion(
  input: SaveZonesInput,
  latest: { version: number; policy: Record<string, unknown>; zonesJson?: string; featureCount?: number } | undefined,
): ZonesRefusal | { ok: true; version: number; zonesJson: string; featureCount: number; policyJson: string } {
  if (input.expectVersion !== undefined && (latest?.version ?? 0) !== input.expectVersion) {
    return { ok: false, code: 'CONFLICT', message: `zones are at version ${latest?.version ?? 0}, not ${input.expectVersion}` };
  }
  const prev = bringsZones(input) ? undefined : (latest as Partial<ZoneVersion> | undefined);
  const zonesJson = input.zonesJson?.text ?? (input.zones ? JSON.stringify(input.zones) : prev?.zonesJson);
  const featureCount = input.zonesJson?.featureCount ?? input.zones?.features.length ?? prev?.featureCount ?? 0;
  const policy = input.policy ?? latest?.policy;
  if (!zonesJson || !policy) return { ok: false, code: 'INVALID_STATE', message: 'the first version needs both zones and policy' };
  return { ok: true, version: (latest?.version ?? 0) + 1, zonesJson, featureCount, policyJson: JSON.stringify(policy) };
}
