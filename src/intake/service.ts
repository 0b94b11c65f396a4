/**
 * Request intake: a request in (matched, prioritised, merged with a recent duplicate), a job out
 * (triaged by an operator in one step, or at once when the policy allows), a status link for the
 * resident, and the personal data purged after the retention period. Every step is audited (the
 * audit holds ids, places, scores and priorities, never the text or the contact).
 */
import crypto from 'crypto';
import type { AuthUser } from '../auth';
import type { Delivery, Priority } from '../delivery/types';
import type { AuditInput } from '../store';
import { IntakeDb, type RequestRow, type PlaceVersion, type DropCheck } from './db';
import { PlaceMatcher, type MatchResult } from './matcher';
import { suggestPriority } from './priority';
import { readIntakePolicy, IntakePolicySchema, type IntakePolicy } from './policy';
import { checkText, contactIdentity, MAX_CONTACT_CHARS, MAX_TEXT_CHARS } from './text';
import { validateCatalogue, type Place } from './places';
import { checkDrop, checkDrops, type PlanFn, type ZonesRef } from './place-check';

export type Outcome<T> = { ok: true; value: T } | { ok: false; status: number; code: string; message: string; details?: unknown };

export interface Actor {
  username: string;
  role: string;
  address?: string | null;
}

export interface IntakeDeps {
  db: IntakeDb;
  /** Append an audit row (the store's audit); returns its id. */
  audit(a: AuditInput): number | Promise<number>;
  completeAudit(id: number, outcome: unknown, deliveryId?: string | null): void | Promise<void>;
  /** The current zones as stored text. */
  zones(): ZonesRef | undefined | Promise<ZonesRef | undefined>;
  plan: PlanFn;
  createJob(input: { drop: [number, number]; priority: Priority; payload: { description: string }; requester: { name: string }; note: string }, user: AuthUser): Promise<{ ok: true; value: Delivery } | { ok: false; code: string; message: string; status?: number; details?: unknown }>;
  getJob(id: string): Delivery | undefined | Promise<Delivery | undefined>;
}

export interface NewRequest {
  text: string;
  contact?: string;
  placeId?: string;
  drop?: [number, number];
  lang?: 'zh-CN' | 'en';
}

export interface Created {
  request: RequestRow;
  statusToken: string;
  merged: boolean;
  job?: Delivery;
}

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
const nowIso = () => new Date().toISOString();
const TERMINAL = new Set(['completed', 'failed', 'aborted']);

export class IntakeService {
  private matcherCache: { version: number; matcher: PlaceMatcher; checks: Record<string, DropCheck> } | null = null;
  private building: { version: number; promise: Promise<{ version: number; matcher: PlaceMatcher; checks: Record<string, DropCheck> }> } | null = null;
  private salt: string | null = null;
  constructor(readonly deps: IntakeDeps) {}

  get db(): IntakeDb {
    return this.deps.db;
  }

  async policy(): Promise<IntakePolicy> {
    return readIntakePolicy(await this.db.getSetting('policy'));
  }
  async setPolicy(raw: unknown, actor: Actor): Promise<Outcome<IntakePolicy>> {
    const p = IntakePolicySchema.safeParse(raw);
    if (!p.success) return { ok: false, status: 400, code: 'INVALID_POLICY', message: 'intake policy does not match the schema', details: p.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })) };
    await this.db.setSetting('policy', p.data, actor.username);
    await this.audit(actor, 'intake.policy', { policy: p.data }, { ok: true });
    return { ok: true, value: p.data };
  }

  private async audit(actor: Actor, action: string, params: unknown, outcome: unknown, deliveryId?: string | null): Promise<number> {
    return this.deps.audit({ username: actor.username, role: actor.role, action, params, outcome, deliveryId: deliveryId ?? null, address: actor.address ?? null });
  }

  /** A keyed hash of the contact (the key is this installation's own), so duplicates merge without comparing contacts in clear. */
  private async contactKey(contact: string): Promise<string> {
    if (!this.salt) {
      let s = await this.db.getSetting<string>('contactKeySalt');
      if (!s) {
        s = crypto.randomBytes(32).toString('hex');
        await this.db.setSetting('contactKeySalt', s, 'system');
        s = (await this.db.getSetting<string>('contactKeySalt')) ?? s;
      }
      this.salt = s;
    }
    return crypto.createHmac('sha256', this.salt).update(contactIdentity(contact)).digest('hex');
  }

  // ---------------------------------------------------------------- catalogue

  async catalogue(): Promise<PlaceVersion | undefined> {
    return this.db.latestPlaces();
  }

  /** The matcher of the latest catalogue (built once per version). */
  async matcher(): Promise<{ version: number; matcher: PlaceMatcher; checks: Record<string, DropCheck> }> {
    const latest = await this.db.placeHistory(1);
    const v = latest[0]?.version ?? 0;
    if (this.matcherCache?.version === v) return this.matcherCache;
    // One build per version, shared by the requests that arrive meanwhile.
    if (this.building?.version !== v) {
      const building = (async () => {
        const pv = v ? await this.db.latestPlaces() : undefined;
        return { version: pv?.version ?? 0, matcher: await PlaceMatcher.build(pv?.places ?? []), checks: pv?.checks ?? {} };
      })();
      this.building = { version: v, promise: building };
      // A failed build is tried again by the next request.
      building.catch(() => {
        if (this.building?.promise === building) this.building = null;
      });
    }
    const built = await this.building.promise;
    if (!this.matcherCache || built.version >= this.matcherCache.version) this.matcherCache = built;
    return built;
  }

  /** Validate, check every drop against the current zones (planner threads), store a new version. */
  async saveCatalogue(input: unknown, actor: Actor, opts: { change: string; expectVersion?: number; source?: string }): Promise<Outcome<{ version: number; checks: Record<string, DropCheck>; failed: number }>> {
    const v = validateCatalogue(input);
    if (!v.ok) return { ok: false, status: 400, code: v.code, message: v.message, details: v.details };
    const zones = await this.deps.zones();
    if (!zones) return { ok: false, status: 409, code: 'INVALID_STATE', message: 'no zones stored: the drop points cannot be checked' };
    const checks = await checkDrops(v.places, zones, this.deps.plan);
    const unanswered = Object.entries(checks).filter(([, c]) => c.code?.startsWith('PLANNER_'));
    if (unanswered.length) return { ok: false, status: 503, code: 'PLANNER_BUSY', message: `the planner could not check ${unanswered.length} drop point(s) now: try again`, details: unanswered.slice(0, 10).map(([id, c]) => ({ id, code: c.code })) };
    const failed = Object.entries(checks).filter(([, c]) => !c.ok);
    const auditId = await this.audit(actor, 'places.save', { places: v.places.length, source: opts.source ?? 'json', change: opts.change, failedDrops: failed.length }, { pending: true });
    if (failed.length) {
      const details = failed.slice(0, 50).map(([id, c]) => ({ id, code: c.code, message: c.message }));
      await this.deps.completeAudit(auditId, { ok: false, code: 'DROP_CHECK_FAILED', details });
      return { ok: false, status: 422, code: 'DROP_CHECK_FAILED', message: `${failed.length} drop point(s) fail their checks against zones version ${zones.version}`, details };
    }
    const r = await this.db.savePlaces({ places: v.places, zonesVersion: zones.version, checks, by: actor.username, change: opts.change.slice(0, 500), expectVersion: opts.expectVersion });
    if (!r.ok) {
      await this.deps.completeAudit(auditId, { ok: false, code: r.code });
      return { ok: false, status: 409, code: r.code, message: r.message };
    }
    await this.deps.completeAudit(auditId, { ok: true, version: r.version, zonesVersion: zones.version });
    return { ok: true, value: { version: r.version, checks, failed: 0 } };
  }

  /**
   * New zones: the catalogue's drop points are checked again and a new catalogue version records
   * the outcome against that zones version (a drop point that now fails is kept, marked, and never
   * used for an automatic job). Audited as places.recheck.
   */
  async recheck(zonesVersion: number): Promise<{ version: number; failed: number } | null> {
    const cat = await this.db.latestPlaces();
    if (!cat || cat.zonesVersion >= zonesVersion) return null;
    const zones = await this.deps.zones();
    if (!zones || zones.version !== zonesVersion) return null;
    const checks = await checkDrops(cat.places, zones, this.deps.plan);
    const failed = Object.entries(checks).filter(([, c]) => !c.ok);
    const r = await this.db.savePlaces({ places: cat.places, zonesVersion, checks, by: 'system', change: `checked against zones version ${zonesVersion}`, expectVersion: cat.version });
    const actor = { username: 'system', role: 'system' };
    await this.audit(actor, 'places.recheck', { zonesVersion, catalogueVersion: cat.version }, r.ok ? { ok: true, version: r.version, failedDrops: failed.map(([id, c]) => ({ id, code: c.code })).slice(0, 50) } : { ok: false, code: r.code });
    return r.ok ? { version: r.version, failed: failed.length } : null;
  }

  // ---------------------------------------------------------------- requests

  async create(input: NewRequest, actor: Actor, source: string): Promise<Outcome<Created>> {
    const text = checkText(input.text, 'text', MAX_TEXT_CHARS);
    if (!text.ok) return { ok: false, status: text.code === 'TEXT_TOO_LONG' ? 413 : 400, code: text.code, message: text.message };
    let contact: string | null = null;
    if (input.contact !== undefined) {
      const c = checkText(input.contact, 'contact', MAX_CONTACT_CHARS, true);
      if (!c.ok) return { ok: false, status: c.code === 'TEXT_TOO_LONG' ? 413 : 400, code: c.code, message: c.message };
      contact = c.text || null;
    }
    const { matcher, checks } = await this.matcher();
    if (input.placeId !== undefined && !matcher.places.has(input.placeId)) return { ok: false, status: 422, code: 'UNKNOWN_PLACE', message: `no place ${input.placeId} in the catalogue` };
    const match: MatchResult = matcher.match(text.text, { placeId: input.placeId, point: input.drop });
    const best = match.best;
    const prio = suggestPriority(text.text);
    const token = crypto.randomBytes(32).toString('base64url');
    const at = nowIso();
    const policy = await this.policy();
    const contactKey = contact ? await this.contactKey(contact) : null;
    const drop = input.drop ?? best?.drop ?? null;
    const row = {
      statusHash: sha256(token),
      source,
      receivedAt: at,
      updatedAt: at,
      text: text.text,
      contact,
      contactKey,
      lang: input.lang ?? (/\p{Script=Han}/u.test(text.text) ? 'zh-CN' : 'en'),
      placeId: best?.placeId ?? null,
      compoundId: best?.compoundId ?? null,
      drop,
      confidence: best?.confidence ?? 0,
      match: { candidates: match.candidates, buildingNumber: match.buildingNumber ?? null },
      priority: prio.priority,
      priorityReasons: prio.reasons,
      state: 'new' as const,
      deliveryId: null,
      mergedInto: null,
      merges: 0,
      triagedBy: null,
      triagedAt: null,
      purgedAt: null,
    };
    // Merge with an open request from the same contact for the same compound within the window.
    const stored = await this.db.insertOrMerge(
      row,
      contactKey && best && policy.mergeWindowMin > 0 ? { contactKey, compoundId: best.compoundId, sinceIso: new Date(Date.parse(at) - policy.mergeWindowMin * 60_000).toISOString() } : null,
    );
    const common = { requestId: stored.r.id, source, placeId: row.placeId, compoundId: row.compoundId, confidence: row.confidence, method: best?.method ?? null, priority: row.priority, reasons: row.priorityReasons };
    if (stored.dup) {
      await this.audit(actor, 'request.merge', { ...common, into: stored.dup.id }, { ok: true, mergedInto: stored.dup.id });
      return { ok: true, value: { request: stored.r, statusToken: token, merged: true } };
    }
    await this.audit(actor, 'request.create', common, { ok: true, state: 'new' });
    // The check of the place whose position the drop is (drop point, else building, else compound).
    const dropCheck = best ? checks[best.dropPointId ?? best.buildingId ?? best.compoundId] : undefined;
    if (policy.autoJob && best && best.confidence >= policy.autoJobMinConfidence && best.drop && dropCheck?.ok && !input.drop) {
      const t = await this.triage(stored.r.id, {}, { id: 0, username: 'intake-policy', role: 'operator' }, { username: 'intake-policy', role: 'policy', address: null });
      if (t.ok) return { ok: true, value: { request: t.value.request, statusToken: token, merged: false, job: t.value.job } };
    }
    return { ok: true, value: { request: stored.r, statusToken: token, merged: false } };
  }

  /** One step from request to job: the drop (and place) from the match unless the operator names others. */
  async triage(id: string, choice: { placeId?: string; drop?: [number, number]; priority?: Priority }, user: AuthUser, actor: Actor): Promise<Outcome<{ request: RequestRow; job: Delivery }>> {
    const r = await this.db.getRequest(id);
    if (!r) return { ok: false, status: 404, code: 'NOT_FOUND', message: `no request ${id}` };
    if (r.state !== 'new') return { ok: false, status: 409, code: 'INVALID_STATE', message: `request ${id} is ${r.state}${r.deliveryId ? ` (job ${r.deliveryId})` : ''}${r.mergedInto ? ` (merged into ${r.mergedInto})` : ''}` };
    let drop = choice.drop ?? null;
    let placeId = r.placeId;
    if (!drop && choice.placeId) {
      const { matcher } = await this.matcher();
      const p = matcher.places.get(choice.placeId);
      if (!p) return { ok: false, status: 422, code: 'UNKNOWN_PLACE', message: `no place ${choice.placeId} in the catalogue` };
      const m = matcher.match('', { placeId: choice.placeId });
      drop = m.best?.drop ?? null;
      placeId = choice.placeId;
    }
    drop ??= r.drop;
    if (!drop) return { ok: false, status: 422, code: 'NO_DROP_POINT', message: `request ${id} has no drop point: name a place or a position` };
    const priority = choice.priority ?? r.priority;
    const auditId = await this.audit(actor, 'request.triage', { requestId: id, placeId, drop, priority, suggested: r.priority }, { pending: true });
    // The drop point is checked again against today's zones (sealed zone included): the catalogue or
    // the map placement checked it against the zones of its time, and a zone may have been edited since.
    const zones = await this.deps.zones();
    if (zones) {
      const { retryable, ...check } = await checkDrop(drop, zones, this.deps.plan);
      if (!check.ok) {
        const code = check.code ?? 'PLAN_FAILED';
        await this.deps.completeAudit(auditId, { ok: false, code, message: check.message, zonesVersion: zones.version }, null);
        return { ok: false, status: retryable ? 503 : 422, code, message: `request ${id}: ${check.message ?? 'the drop point did not pass its checks'} (zones version ${zones.version})`, ...(check.details !== undefined ? { details: check.details } : {}) };
      }
    }
    const job = await this.deps.createJob({ drop, priority, payload: { description: `request ${id}` }, requester: { name: `request ${id}` }, note: `from request ${id} (${r.source})` }, user);
    if (!job.ok) {
      const failedJob = (job.details as any)?.delivery?.id as string | undefined;
      await this.deps.completeAudit(auditId, { ok: false, code: job.code, message: job.message }, failedJob ?? null);
      return { ok: false, status: job.status ?? 422, code: job.code, message: job.message, details: job.details };
    }
    const moved = await this.db.setState(id, ['new'], { state: 'triaged', deliveryId: job.value.id, triagedBy: actor.username, priority, placeId, drop });
    await this.deps.completeAudit(auditId, moved ? { ok: true, deliveryId: job.value.id } : { ok: false, code: 'INVALID_STATE', message: 'the request changed while its job was created', deliveryId: job.value.id }, job.value.id);
    if (!moved) return { ok: false, status: 409, code: 'INVALID_STATE', message: `request ${id} changed while its job was created (job ${job.value.id})` };
    return { ok: true, value: { request: (await this.db.getRequest(id))!, job: job.value } };
  }

  /**
   * An operator gives a request its drop point on the map (one no place matched, or a better one):
   * checked as a catalogue place is (inside a sealed zone, outside every no-fly zone, reachable
   * from a launch site; planned in the planner threads), stored only if it passes, audited
   * (request.drop) either way. Triage then uses it.
   */
  async placeDrop(id: string, drop: [number, number], actor: Actor): Promise<Outcome<{ request: RequestRow; check: DropCheck }>> {
    const r = await this.db.getRequest(id);
    if (!r) return { ok: false, status: 404, code: 'NOT_FOUND', message: `no request ${id}` };
    if (r.state !== 'new') return { ok: false, status: 409, code: 'INVALID_STATE', message: `request ${id} is ${r.state}` };
    const zones = await this.deps.zones();
    if (!zones) return { ok: false, status: 409, code: 'INVALID_STATE', message: 'no zones stored: the drop point cannot be checked' };
    const { retryable, ...check } = await checkDrop(drop, zones, this.deps.plan);
    const params = { requestId: id, drop, zonesVersion: zones.version };
    if (!check.ok) {
      await this.audit(actor, 'request.drop', params, { ok: false, code: check.code });
      return { ok: false, status: retryable ? 503 : 422, code: check.code ?? 'PLAN_FAILED', message: check.message ?? 'the drop point did not pass its checks', ...(check.details !== undefined ? { details: check.details } : {}) };
    }
    const moved = await this.db.placeDrop(id, drop);
    await this.audit(actor, 'request.drop', params, moved ? { ok: true, sealedZone: check.sealedZone ?? null, launch: check.launch ?? null } : { ok: false, code: 'INVALID_STATE' });
    if (!moved) return { ok: false, status: 409, code: 'INVALID_STATE', message: `request ${id} changed while its drop point was checked` };
    return { ok: true, value: { request: (await this.db.getRequest(id))!, check } };
  }

  async reject(id: string, reason: string, actor: Actor): Promise<Outcome<RequestRow>> {
    const r = await this.db.getRequest(id);
    if (!r) return { ok: false, status: 404, code: 'NOT_FOUND', message: `no request ${id}` };
    const moved = await this.db.setState(id, ['new'], { state: 'rejected' });
    await this.audit(actor, 'request.reject', { requestId: id, reason }, moved ? { ok: true } : { ok: false, code: 'INVALID_STATE' });
    if (!moved) return { ok: false, status: 409, code: 'INVALID_STATE', message: `request ${id} is ${r.state}` };
    return { ok: true, value: (await this.db.getRequest(id))! };
  }

  // ---------------------------------------------------------------- status link

  /** What the resident's status page shows: plain state, place name, predicted and actual drop times; nothing else. */
  async status(token: string, at = Date.now()): Promise<Outcome<ResidentStatus>> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return { ok: false, status: 404, code: 'NOT_FOUND', message: 'no such status link' };
    let r = await this.db.getRequestByStatusHash(sha256(token));
    if (!r) return { ok: false, status: 404, code: 'NOT_FOUND', message: 'no such status link' };
    if (r.mergedInto) r = (await this.db.getRequest(r.mergedInto)) ?? r;
    const policy = await this.policy();
    const job = r.deliveryId ? await this.deps.getJob(r.deliveryId) : undefined;
    const s = residentState(r, job, at);
    const endedAt = s.endedAt ? Date.parse(s.endedAt) : null;
    if (endedAt !== null && at > endedAt + policy.statusGraceH * 3_600_000) return { ok: false, status: 410, code: 'STATUS_EXPIRED', message: 'this status link has expired' };
    const { matcher } = await this.matcher();
    const place = r.compoundId ? matcher.places.get(r.compoundId) : undefined;
    const building = r.placeId && r.placeId !== r.compoundId ? matcher.places.get(r.placeId) : undefined;
    return {
      ok: true,
      value: {
        reference: r.id,
        state: s.state,
        lang: r.lang,
        place: place ? { zh: place.name.zh ?? null, en: place.name.en ?? null } : null,
        building: building && building.kind !== 'compound' ? { zh: building.name.zh ?? null, en: building.name.en ?? null } : null,
        receivedAt: r.receivedAt,
        predictedDropAt: s.predictedDropAt,
        deliveredAt: s.deliveredAt,
        updatedAt: job?.updatedAt ?? r.updatedAt,
      },
    };
  }

  // ---------------------------------------------------------------- privacy

  /** Blank the text and contact of requests past the retention period (whose job has ended). Audited. */
  async purge(actor: Actor, at = new Date()): Promise<{ purged: number; before: string }> {
    const policy = await this.policy();
    const before = new Date(at.getTime() - policy.retentionDays * 86_400_000).toISOString();
    const ids = await this.db.purgePersonalData(before, at.toISOString());
    await this.audit(actor, 'request.purge', { before, retentionDays: policy.retentionDays }, { ok: true, purged: ids.length, ids: ids.slice(0, 500) });
    return { purged: ids.length, before };
  }
}

export type ResidentState = 'received' | 'scheduled' | 'on-the-way' | 'delivered' | 'problem' | 'closed';

export interface ResidentStatus {
  reference: string;
  state: ResidentState;
  lang: 'zh-CN' | 'en';
  place: { zh: string | null; en: string | null } | null;
  building: { zh: string | null; en: string | null } | null;
  receivedAt: string;
  predictedDropAt: string | null;
  deliveredAt: string | null;
  updatedAt: string;
}

const FLYING = new Set(['uploading', 'ready', 'in-flight']);
const DONE = new Set(['delivered', 'returning', 'completed']);

/** The resident's view of a request and its job; endedAt starts the link's grace period. */
export function residentState(r: RequestRow, job: Delivery | undefined, at: number): { state: ResidentState; predictedDropAt: string | null; deliveredAt: string | null; endedAt: string | null } {
  if (r.state === 'rejected') return { state: 'closed', predictedDropAt: null, deliveredAt: null, endedAt: r.updatedAt };
  if (!job) return { state: r.state === 'triaged' ? 'scheduled' : 'received', predictedDropAt: null, deliveredAt: null, endedAt: null };
  const deliveredAt = job.proofOfDrop?.at ?? job.timeline?.find((e) => e.state === 'delivered')?.at ?? null;
  if (DONE.has(job.state) || deliveredAt) return { state: 'delivered', predictedDropAt: null, deliveredAt, endedAt: deliveredAt ?? job.updatedAt };
  if (TERMINAL.has(job.state)) return { state: 'problem', predictedDropAt: null, deliveredAt: null, endedAt: job.updatedAt };
  if (FLYING.has(job.state)) {
    const eta = job.progress?.etaS;
    const outboundS = Number((job.plan as any)?.legs?.[0]?.durationS ?? (job.plan as any)?.durationS / 2);
    const predicted = eta != null ? at + eta * 1000 : Number.isFinite(outboundS) ? Date.parse(job.updatedAt) + outboundS * 1000 : Date.parse(job.promiseBy);
    return { state: 'on-the-way', predictedDropAt: new Date(predicted).toISOString(), deliveredAt: null, endedAt: null };
  }
  return { state: 'scheduled', predictedDropAt: job.promiseBy, deliveredAt: null, endedAt: null };
}
