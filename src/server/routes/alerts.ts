/**
 * Alerts (acknowledged once, audited) and the audit log.
 */
import { z } from 'zod';
import { type RouteKit } from '../api-kit';
import { Fail } from '../errors';
import * as S from '../schemas';

export function alertRoutes(k: RouteKit): void {
  const { route } = k;
  const { store, log } = k.deps;
  const deps = k.deps;
  // ------------------------------------------------------------------ alerts
  route({
    method: 'get',
    path: '/api/alerts',
    summary: 'Alerts, newest first: {code, params, text, level, ackedAt, ackedBy}; ?unacked=true only those not acknowledged (?level=critical)',
    permission: 'read',
    query: S.AlertsQuerySchema,
    handler: async (c) => {
      const q = c.query as z.infer<typeof S.AlertsQuerySchema>;
      return { body: await store.listAlerts({ limit: q.limit, unacked: q.unacked === 'true', levels: q.level ? [q.level] : undefined }) };
    },
  });
  route({
    method: 'post',
    path: '/api/alerts/:id/ack',
    summary: 'Acknowledge an alert (once: who and when); a critical alert stays on every console until then',
    permission: 'alerts.ack',
    body: S.EmptyBody.optional(),
    audit: 'alert.ack',
    handler: async (c) => {
      const r = await store.ackAlert(String(c.req.params.id), c.user.username);
      if (!r.ok) throw new Fail(r.code === 'NOT_FOUND' ? 404 : 409, r.code, r.message, r.alert ? { ackedBy: r.alert.ackedBy, ackedAt: r.alert.ackedAt } : undefined);
      try {
        deps.onAlertAcked?.(r.alert);
      } catch (e) {
        log.warn({ err: e }, 'alert acknowledgement not published');
      }
      return { body: r.alert, outcome: { ok: true, level: r.alert.level, code: r.alert.code } };
    },
  });

  // ------------------------------------------------------------------ audit
  route({
    method: 'get',
    path: '/api/audit',
    summary: 'Audit records, newest first (filters: limit, action, username, vehicleId, deliveryId, since, until)',
    permission: 'audit.read',
    query: S.AuditQuerySchema,
    handler: async (c) => ({ body: await store.queryAudit(c.query) }),
  });
}
