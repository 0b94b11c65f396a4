/**
 * Zones (versioned; checked in a planner thread, never parsed on the event loop), KML/GeoJSON
 * import, the policy versioned with them, and planning against them.
 */
import { z } from 'zod';
import { type RouteKit, type Ctx, type Reply } from '../api-kit';
import { Fail } from '../errors';
import * as S from '../schemas';
import { PolicySchema, readPolicy } from '../../delivery/policy';
import type { ZonesTextResult } from '../../planner-pool/task';
import type { ZoneVersion } from '../../store';

export function zoneRoutes(k: RouteKit): void {
  const { route, intParam, found, planning } = k;
  const { store, planner } = k.deps;
  // ------------------------------------------------------------------ zones and policy
  /**
   * A zone version as JSON, the stored zones text spliced in as it is (a city's zones are megabytes:
   * parsing and re-serialising them on the event loop would delay the GCS heartbeats).
   */
  const zonesReply = (v: ZoneVersion, extra: Record<string, unknown> = {}): Reply['send'] => {
    const head = JSON.stringify({ ...extra, version: v.version, updatedAt: v.updatedAt, updatedBy: v.updatedBy, change: v.change, policy: readPolicy(v.policy) });
    const text = `${head.slice(0, -1)},"zones":${v.zonesJson}}`;
    return (res) => res.status(200).type('application/json').send(text);
  };
  const latestOrFail = async () => {
    const z0 = await store.latestZones();
    if (!z0) throw new Fail(404, 'NOT_FOUND', 'no zones stored yet');
    return z0;
  };
  /** Zones text checked in a planner thread, or the refusal as an error answer. */
  const zonesTextOrFail = (r: ZonesTextResult): { json: string; featureCount: number } => {
    if (!r.ok) throw new Fail(r.status, r.code, r.message, r.details);
    return r;
  };
  const expectVersion = (c: Ctx): number | undefined => {
    const h = c.req.headers['if-match'];
    if (typeof h !== 'string') return undefined;
    const n = Number(h.replace(/"/g, ''));
    if (!Number.isInteger(n) || n < 0) throw new Fail(400, 'INVALID_HEADER', 'If-Match must be a zones version number');
    return n;
  };
  route({ method: 'get', path: '/api/zones', summary: 'Current zones (and the policy versioned with them)', permission: 'read', handler: async () => ({ send: zonesReply(await latestOrFail()) }) });
  route({
    method: 'put',
    path: '/api/zones',
    summary: 'Replace the zones (a new version; the previous one is kept). Optional If-Match: <version>. Body: a GeoJSON FeatureCollection (checked in a planner thread)',
    permission: 'zones.edit',
    rawBody: true,
    audit: 'zones.update',
    handler: async (c) => {
      const text = Buffer.isBuffer(c.req.body) ? c.req.body.toString('utf8') : '';
      if (!text) throw new Fail(400, 'INVALID_BODY', 'a GeoJSON FeatureCollection is required');
      const checked = zonesTextOrFail(await planning(c, () => planner.validateZonesText(text)));
      const r = await store.saveZones({ zonesJson: { text: checked.json, featureCount: checked.featureCount }, by: c.user.username, change: 'zones', expectVersion: expectVersion(c) });
      if (!r.ok) throw new Fail(409, r.code, r.message);
      return { send: zonesReply(r.version), outcome: { ok: true, version: r.version.version, featureCount: r.version.featureCount } };
    },
  });
  route({ method: 'get', path: '/api/zones/history', summary: 'Zone versions, newest first', permission: 'read', handler: async () => ({ body: await store.zoneHistory() }) });
  route({
    method: 'get',
    path: '/api/zones/history/:version',
    summary: 'One zone version',
    permission: 'read',
    handler: async (c) => {
      return { send: zonesReply(found(await store.zoneVersion(intParam(c, 'version')), `zones version ${c.req.params.version}`)) };
    },
  });
  route({
    method: 'post',
    path: '/api/zones/import',
    summary: 'Convert KML or GeoJSON text to zones and validate them (save: true stores them as a new version)',
    permission: 'zones.edit',
    body: S.ZonesImportBody,
    audit: 'zones.import',
    handler: async (c) => {
      const b = c.body as z.infer<typeof S.ZonesImportBody>;
      // Conversion, the shape check and validation all run in a planner thread.
      const checked = zonesTextOrFail(await planning(c, () => planner.importZones(b.format, b.text)));
      let version: number | undefined;
      if (b.save) {
        const s = await store.saveZones({ zonesJson: { text: checked.json, featureCount: checked.featureCount }, by: c.user.username, change: `import ${b.format}` });
        if (!s.ok) throw new Fail(409, s.code, s.message);
        version = s.version.version;
      }
      const head = JSON.stringify(version === undefined ? { ok: true } : { ok: true, version });
      const text = `${head.slice(0, -1)},"zones":${checked.json}}`;
      return { send: (res) => res.status(200).type('application/json').send(text), outcome: version === undefined ? { ok: true, featureCount: checked.featureCount } : { ok: true, version, featureCount: checked.featureCount } };
    },
  });
  route({
    method: 'get',
    path: '/api/policy',
    summary: 'Preflight/dispatch policy in force',
    permission: 'read',
    handler: async () => {
      const z0 = await store.latestZones();
      return { body: { version: z0?.version ?? 0, policy: readPolicy(z0?.policy) } };
    },
  });
  route({
    method: 'put',
    path: '/api/policy',
    summary: 'Replace the policy (a new zones version carrying the same zones)',
    permission: 'policy.edit',
    body: PolicySchema,
    audit: 'policy.update',
    handler: async (c) => {
      const r = await store.saveZones({ policy: c.body, by: c.user.username, change: 'policy', expectVersion: expectVersion(c) });
      if (!r.ok) throw new Fail(409, r.code, r.message);
      return { body: { version: r.version.version, policy: readPolicy(r.version.policy) }, outcome: { ok: true, version: r.version.version } };
    },
  });

  // ------------------------------------------------------------------ plans
  route({
    method: 'post',
    path: '/api/plans',
    summary: "Plan a delivery against the current zones (the planner's output)",
    permission: 'plan',
    body: S.PlanBody,
    handler: async (c) => {
      const z0 = await store.latestZones();
      if (!z0) throw new Fail(409, 'INVALID_STATE', 'no zones stored');
      const p = await planning(c, () => planner.planDelivery({ version: z0.version, json: z0.zonesJson }, c.body));
      if (!p?.ok) throw new Fail(422, 'PLAN_FAILED', p?.error?.message ?? 'planning failed', p?.error);
      return { body: p };
    },
  });
}
