/**
 * Request intake over HTTP: POST /api/requests (partner keys and console users), triage and
 * rejection, the resident's status (GET /api/status/:token, public and rate-limited), partner keys
 * (admin), the intake policy, the export and the purge of personal data.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import { LonLatSchema } from '../schemas';
import { sendError } from '../errors';
import { residentState, type IntakeService } from '../../intake/service';
import type { RequestRow } from '../../intake/db';
import { createPartnerKey, KeyBody, keyView } from '../../intake/keys';
import { maskContact } from '../../intake/text';
import { toCsv } from '../../reports/csv';
import { actorOf, addressOf, callerFor, PERSONAL_DATA_ROLES, RateLimiter, reply, safe, type Caller, type CallerDeps } from './intake-http';

/** A request body is small: free text of 2,000 characters and a contact. */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024;

export const RequestBody = z
  .object({
    text: z.string().max(20_000),
    contact: z.string().max(2_000).optional(),
    placeId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
    drop: LonLatSchema.optional(),
    lang: z.enum(['zh-CN', 'en']).optional(),
  })
  .strict();
export const TriageBody = z
  .object({ placeId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(), drop: LonLatSchema.optional(), priority: z.enum(['urgent', 'high', 'normal']).optional() })
  .strict();
export const DropBody = z.object({ drop: LonLatSchema }).strict();
export const RejectBody = z.object({ reason: z.string().min(1).max(500) }).strict();
export { KeyBody } from '../../intake/keys';
const ListQuery = z.object({ state: z.enum(['new', 'triaged', 'merged', 'rejected']).optional(), limit: z.coerce.number().int().min(1).max(2000).optional() }).strict();
const ExportQuery = z.object({ reveal: z.enum(['0', '1']).optional(), since: z.string().max(40).optional() }).strict();
const ID = /^R\d{5,9}$/;

export interface RequestRoutesDeps extends CallerDeps {
  intake: IntakeService;
  log: Logger;
}

/** A request as a console user sees it: text and contact only for the roles that may see them. */
export function requestView(r: RequestRow, seesPersonal: boolean) {
  const { statusHash: _h, contactKey: _k, ...rest } = r;
  return seesPersonal ? rest : { ...rest, text: r.text === null ? null : '…', contact: maskContact(r.contact) };
}

export function requestRoutes(deps: RequestRoutesDeps): express.Router {
  const { intake, log } = deps;
  const router = express.Router();
  const limiter = new RateLimiter();
  const onError = (e: unknown, req: Request) => log.error({ err: e, url: req.originalUrl }, 'intake route failed');
  const parse = <T>(res: Response, schema: z.ZodType<T>, v: unknown, code = 'INVALID_BODY'): T | null => {
    const p = schema.safeParse(v ?? {});
    if (p.success) return p.data;
    sendError(res, 400, code, code === 'INVALID_QUERY' ? 'query does not match the schema' : 'request body does not match the schema', p.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })));
    return null;
  };
  const seesPersonal = (c: Caller) => c.kind === 'user' && PERSONAL_DATA_ROLES.has(c.user.role);
  const idOf = (req: Request, res: Response): string | null => {
    const id = String(req.params.id);
    if (ID.test(id)) return id;
    sendError(res, 400, 'INVALID_ID', 'a request id looks like R00012');
    return null;
  };

  // ---- intake
  router.post(
    '/api/requests',
    safe(async (req, res) => {
      const bytes = Number(req.headers['content-length'] ?? Buffer.byteLength(JSON.stringify(req.body ?? {})));
      if (bytes > MAX_REQUEST_BODY_BYTES) return sendError(res, 413, 'PAYLOAD_TOO_LARGE', `a request body is at most ${MAX_REQUEST_BODY_BYTES} bytes`);
      const c = await callerFor(req, res, deps, { scope: 'requests.create', permission: 'delivery.create' });
      if (!c) return;
      if (c.kind === 'user' && c.user.role === 'trainer') return sendError(res, 403, 'FORBIDDEN', 'trainers do not take operational requests');
      const wait = limiter.hit(`create:${c.kind === 'key' ? c.key.id : c.user.username}`, 600);
      if (wait) return res.setHeader('Retry-After', String(wait)), sendError(res, 429, 'TOO_MANY_REQUESTS', `too many requests: try again in ${wait} s`);
      const body = parse(res, RequestBody, req.body);
      if (!body) return;
      const source = c.kind === 'key' ? `key:${c.key.id}` : `user:${c.user.username}`;
      const r = await intake.create(body, actorOf(c), source);
      if (!r.ok) return reply(res, r);
      const { request, statusToken, merged, job } = r.value;
      res.status(201).json({
        id: request.id,
        state: request.state,
        merged,
        ...(merged ? { mergedInto: request.mergedInto } : {}),
        statusToken,
        statusUrl: `/s/${statusToken}`,
        suggestedPriority: request.priority,
        priorityReasons: request.priorityReasons,
        match: { placeId: request.placeId, compoundId: request.compoundId, confidence: request.confidence },
        ...(job ? { job: { id: job.id, state: job.state } } : {}),
      });
    }, onError),
  );

  router.get(
    '/api/requests',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'read' });
      if (!c || c.kind !== 'user') return;
      const q = parse(res, ListQuery, req.query, 'INVALID_QUERY');
      if (!q) return;
      const rows = await intake.db.listRequests({ states: q.state ? [q.state] : undefined, limit: q.limit });
      res.json(rows.map((r) => requestView(r, seesPersonal(c))));
    }, onError),
  );

  router.get(
    '/api/requests.csv',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'read' });
      if (!c || c.kind !== 'user') return;
      if (!PERSONAL_DATA_ROLES.has(c.user.role)) return sendError(res, 403, 'FORBIDDEN', `role ${c.user.role} may not export requests`);
      const q = parse(res, ExportQuery, req.query, 'INVALID_QUERY');
      if (!q) return;
      const reveal = q.reveal === '1';
      if (reveal && c.user.role !== 'admin') return sendError(res, 403, 'FORBIDDEN', 'only an admin may export contacts and text unmasked');
      const rows = await intake.db.listRequests({ limit: 2000, since: q.since });
      await intake.deps.audit({ username: c.user.username, role: c.user.role, action: 'request.export', params: { reveal, rows: rows.length, since: q.since ?? null }, outcome: { ok: true }, address: c.address });
      const cols = ['id', 'receivedAt', 'state', 'source', 'priority', 'priorityReasons', 'placeId', 'compoundId', 'confidence', 'deliveryId', 'mergedInto', 'contact', 'text'];
      const data = rows.map((r) => ({ ...r, priorityReasons: r.priorityReasons.join(' '), contact: reveal ? r.contact : maskContact(r.contact), text: reveal ? r.text : r.text === null ? null : '(masked)' }));
      res.setHeader('Content-Disposition', 'attachment; filename="requests.csv"');
      res.type('text/csv; charset=utf-8').send(toCsv(cols, data as any));
    }, onError),
  );

  router.get(
    '/api/requests/:id',
    safe(async (req, res) => {
      const id = idOf(req, res);
      if (!id) return;
      const c = await callerFor(req, res, deps, { permission: 'read' });
      if (!c || c.kind !== 'user') return;
      const r = await intake.db.getRequest(id);
      if (!r) return sendError(res, 404, 'NOT_FOUND', `no request ${id}`);
      res.json(requestView(r, seesPersonal(c)));
    }, onError),
  );

  /** A partner reads the state of a request it sent (the resident's words, no personal data). */
  router.get(
    '/api/requests/:id/status',
    safe(async (req, res) => {
      const id = idOf(req, res);
      if (!id) return;
      const c = await callerFor(req, res, deps, { scope: 'requests.read', permission: 'read' });
      if (!c) return;
      const r = await intake.db.getRequest(id);
      if (!r || (c.kind === 'key' && r.source !== `key:${c.key.id}`)) return sendError(res, 404, 'NOT_FOUND', `no request ${id}`);
      const base = r.mergedInto ? ((await intake.db.getRequest(r.mergedInto)) ?? r) : r;
      const s = residentState(base, base.deliveryId ? await intake.deps.getJob(base.deliveryId) : undefined, Date.now());
      res.json({ id: r.id, state: s.state, mergedInto: r.mergedInto, deliveryId: base.deliveryId, predictedDropAt: s.predictedDropAt, deliveredAt: s.deliveredAt });
    }, onError),
  );

  router.post(
    '/api/requests/:id/triage',
    safe(async (req, res) => {
      const id = idOf(req, res);
      if (!id) return;
      const c = await callerFor(req, res, deps, { permission: 'delivery.create' });
      if (!c || c.kind !== 'user') return;
      if (c.user.role === 'trainer') return sendError(res, 403, 'FORBIDDEN', 'trainers do not triage operational requests');
      const body = parse(res, TriageBody, req.body);
      if (!body) return;
      const r = await intake.triage(id, body, c.user, actorOf(c));
      if (!r.ok) return reply(res, r);
      res.status(201).json({ request: requestView(r.value.request, true), job: r.value.job });
    }, onError),
  );

  router.post(
    '/api/requests/:id/drop',
    safe(async (req, res) => {
      const id = idOf(req, res);
      if (!id) return;
      const c = await callerFor(req, res, deps, { permission: 'delivery.create' });
      if (!c || c.kind !== 'user') return;
      if (c.user.role === 'trainer') return sendError(res, 403, 'FORBIDDEN', 'trainers do not place operational requests');
      const body = parse(res, DropBody, req.body);
      if (!body) return;
      const r = await intake.placeDrop(id, body.drop, actorOf(c));
      if (!r.ok) return reply(res, r);
      res.json({ request: requestView(r.value.request, true), check: r.value.check });
    }, onError),
  );

  router.post(
    '/api/requests/:id/reject',
    safe(async (req, res) => {
      const id = idOf(req, res);
      if (!id) return;
      const c = await callerFor(req, res, deps, { permission: 'delivery.create' });
      if (!c || c.kind !== 'user') return;
      const body = parse(res, RejectBody, req.body);
      if (!body) return;
      const r = await intake.reject(id, body.reason, actorOf(c));
      if (!r.ok) return reply(res, r);
      res.json(requestView(r.value, true));
    }, onError),
  );

  router.post(
    '/api/requests/purge',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'users.manage' });
      if (!c) return;
      res.json(await intake.purge(actorOf(c)));
    }, onError),
  );

  // ---- the resident's status (no login: the token is the capability)
  router.get(
    '/api/status/:token',
    safe(async (req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Referrer-Policy', 'no-referrer');
      const policy = await intake.policy();
      const wait = limiter.hit(`status:${addressOf(req) ?? '?'}`, policy.statusPerMinute);
      if (wait) return res.setHeader('Retry-After', String(wait)), sendError(res, 429, 'TOO_MANY_REQUESTS', `too many requests: try again in ${wait} s`);
      reply(res, await intake.status(String(req.params.token)));
    }, onError),
  );

  // ---- partner keys (admin)
  router.get(
    '/api/intake/keys',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'users.manage' });
      if (!c) return;
      res.json((await intake.db.listKeys()).map(keyView));
    }, onError),
  );
  router.post(
    '/api/intake/keys',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'users.manage' });
      if (!c || c.kind !== 'user') return;
      const body = parse(res, KeyBody, req.body);
      if (!body) return;
      const k = await createPartnerKey(intake.db, body.name, body.scopes, c.user.username);
      await intake.deps.audit({ username: c.user.username, role: c.user.role, action: 'intake.key.create', params: { keyId: k.row.id, name: body.name, scopes: body.scopes }, outcome: { ok: true }, address: c.address });
      res.status(201).json({ ...keyView(k.row), key: k.key });
    }, onError),
  );
  router.post(
    '/api/intake/keys/:id/revoke',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'users.manage' });
      if (!c || c.kind !== 'user') return;
      const id = String(req.params.id).slice(0, 40);
      const ok = await intake.db.revokeKey(id);
      await intake.deps.audit({ username: c.user.username, role: c.user.role, action: 'intake.key.revoke', params: { keyId: id }, outcome: ok ? { ok: true } : { ok: false, code: 'NOT_FOUND' }, address: c.address });
      if (!ok) return sendError(res, 404, 'NOT_FOUND', `no active key ${id}`);
      res.json(keyView((await intake.db.getKey(id))!));
    }, onError),
  );

  // ---- the intake policy
  router.get(
    '/api/intake/policy',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'read' });
      if (!c) return;
      res.json(await intake.policy());
    }, onError),
  );
  router.put(
    '/api/intake/policy',
    safe(async (req, res) => {
      const c = await callerFor(req, res, deps, { permission: 'policy.edit' });
      if (!c) return;
      reply(res, await intake.setPolicy(req.body, actorOf(c)));
    }, onError),
  );
  return router;
}
