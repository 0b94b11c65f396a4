/**
 * The store's operations in PostgreSQL's dialect: the same rows and results as the SQLite store
 * (src/store/index.ts, whose row readers are reused), one method each.
 */
import { createHash } from 'crypto';
import { SqliteStore, type AuditInput, type AuditQuery, type PasswordState, type Role } from './index';
import type { StoreOps } from './store';
import { bringsZones, nextZoneVersion } from './zone-version';
import type { Delivery, DeliveryState, TimelineEntry } from '../delivery/types';

/** Runs one statement (`$1`… placeholders) and returns its rows. */
export type Query = (sql: string, params?: unknown[]) => Promise<any[]>;

type Ops = StoreOps;
type R<K extends keyof Ops> = ReturnType<Ops[K]>;
type A<K extends keyof Ops> = Parameters<Ops[K]>;

const nowIso = () => new Date().toISOString();

export class PgOps implements Ops {
  constructor(
    protected readonly q: Query,
    /** Run `fn` atomically: inside the transaction this object belongs to, or in a new one. */
    private readonly atomic: <T>(fn: (t: PgOps) => Promise<T>) => Promise<T>,
    private readonly zonesSaved: (version: number) => void,
  ) {}

  private async one(sql: string, params?: unknown[]): Promise<any> {
    return (await this.q(sql, params))[0];
  }

  // ---- users and sessions ----

  async userCount(): R<'userCount'> {
    return (await this.one('SELECT COUNT(*) AS n FROM users')).n;
  }
  async getUser(username: string): R<'getUser'> {
    return SqliteStore.user(await this.one('SELECT * FROM users WHERE username = $1', [username]));
  }
  async getUserById(id: number): R<'getUserById'> {
    return SqliteStore.user(await this.one('SELECT * FROM users WHERE id = $1', [id]));
  }
  async listUsers(): R<'listUsers'> {
    return (await this.q('SELECT * FROM users ORDER BY id')).map((r) => SqliteStore.user(r)!);
  }
  async addUser(username: string, role: Role, passwordHash: string, passwordState: PasswordState = 'set'): R<'addUser'> {
    const r = await this.one('INSERT INTO users (username, role, password_hash, created_at, password_state) VALUES ($1, $2, $3, $4, $5) RETURNING *', [username, role, passwordHash, nowIso(), passwordState]);
    return SqliteStore.user(r)!;
  }
  async setPasswordHash(username: string, passwordHash: string, passwordState: PasswordState = 'set'): R<'setPasswordHash'> {
    return this.atomic(async (t) => {
      const u = await t.one('UPDATE users SET password_hash = $1, password_state = $2, password_changed_at = $3 WHERE username = $4 RETURNING id', [passwordHash, passwordState, nowIso(), username]);
      if (!u) return false;
      await t.q('UPDATE sessions SET revoked = 1 WHERE user_id = $1 AND revoked = 0', [u.id]);
      return true;
    });
  }
  async upgradePasswordHash(username: string, passwordHash: string): R<'upgradePasswordHash'> {
    await this.q('UPDATE users SET password_hash = $1 WHERE username = $2', [passwordHash, username]);
  }
  async setUserDisabled(username: string, disabled: boolean): R<'setUserDisabled'> {
    return this.atomic(async (t) => {
      const u = await t.one('UPDATE users SET disabled = $1 WHERE username = $2 RETURNING id', [disabled ? 1 : 0, username]);
      if (!u) return false;
      if (disabled) await t.q('UPDATE sessions SET revoked = 1 WHERE user_id = $1 AND revoked = 0', [u.id]);
      return true;
    });
  }
  async usersWithDefaultPasswords(): R<'usersWithDefaultPasswords'> {
    return (await this.listUsers()).filter((u) => !u.disabled && u.passwordState !== 'set');
  }

  // ---- login throttling ----

  async loginFailure(key: string): R<'loginFailure'> {
    // In a transaction (counting a failure), concurrent counts of the same key wait for it, even before its first row exists.
    await this.q('SELECT pg_advisory_xact_lock(hashtext($1))', [`login_failures:${key}`]);
    const r = await this.one('SELECT * FROM login_failures WHERE key = $1', [key]);
    return r ? { failures: r.failures, lastMs: r.last_ms, lockedUntilMs: r.locked_until_ms } : undefined;
  }
  async setLoginFailure(key: string, v: { failures: number; lastMs: number; lockedUntilMs: number }): R<'setLoginFailure'> {
    await this.q(
      'INSERT INTO login_failures (key, failures, last_ms, locked_until_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET failures = $2, last_ms = $3, locked_until_ms = $4',
      [key, v.failures, v.lastMs, v.lockedUntilMs],
    );
  }
  async clearLoginFailure(key: string): R<'clearLoginFailure'> {
    await this.q('DELETE FROM login_failures WHERE key = $1', [key]);
  }
  async addSession(tokenHash: string, userId: number, expiresMs: number, address?: string | null): R<'addSession'> {
    await this.q('INSERT INTO sessions (token_hash, user_id, created_ms, expires_ms, address) VALUES ($1, $2, $3, $4, $5)', [tokenHash, userId, Date.now(), expiresMs, address ?? null]);
  }
  async getSession(tokenHash: string): R<'getSession'> {
    const r = await this.one('SELECT * FROM sessions WHERE token_hash = $1', [tokenHash]);
    if (!r) return undefined;
    return { tokenHash: r.token_hash, userId: r.user_id, createdMs: r.created_ms, expiresMs: r.expires_ms, revoked: !!r.revoked };
  }
  async revokeSession(tokenHash: string): R<'revokeSession'> {
    await this.q('UPDATE sessions SET revoked = 1 WHERE token_hash = $1', [tokenHash]);
  }

  // ---- zones and the preflight policy ----

  async latestZones(): R<'latestZones'> {
    return SqliteStore.zoneRow(await this.one('SELECT * FROM zone_versions ORDER BY version DESC LIMIT 1'));
  }
  async latestPolicy(): R<'latestPolicy'> {
    const r = await this.one('SELECT version, policy FROM zone_versions ORDER BY version DESC LIMIT 1');
    return r ? { version: r.version, policy: JSON.parse(r.policy) } : undefined;
  }
  async zoneVersion(version: number): R<'zoneVersion'> {
    return SqliteStore.zoneRow(await this.one('SELECT * FROM zone_versions WHERE version = $1', [version]));
  }
  async zoneHistory(): R<'zoneHistory'> {
    return (await this.q('SELECT version, updated_at, updated_by, feature_count, change FROM zone_versions ORDER BY version DESC')).map((r) => ({
      version: r.version,
      updatedAt: r.updated_at,
      updatedBy: r.updated_by,
      featureCount: r.feature_count,
      change: r.change,
    }));
  }
  async saveZones(...[input]: A<'saveZones'>): R<'saveZones'> {
    const r = await this.atomic(async (t) => {
      // Versions are numbered in the database: writers of every node queue here.
      await t.q('LOCK TABLE zone_versions IN EXCLUSIVE MODE');
      const next = nextZoneVersion(input, bringsZones(input) ? await t.latestPolicy() : await t.latestZones());
      if (!next.ok) return next;
      const { version, zonesJson, featureCount, policyJson } = next;
      const row = await t.one(
        'INSERT INTO zone_versions (version, zones, policy, feature_count, updated_at, updated_by, change) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *',
        [version, zonesJson, policyJson, featureCount, nowIso(), input.by, input.change],
      );
      return { ok: true as const, version: SqliteStore.zoneRow(row)! };
    });
    if (r.ok) this.zonesSaved(r.version.version);
    return r;
  }

  // ---- deliveries ----

  async timeline(id: string): R<'timeline'> {
    return (await this.q('SELECT * FROM delivery_events WHERE delivery_id = $1 ORDER BY id', [id])).map((e) => {
      const t: TimelineEntry = { at: e.at };
      if (e.state) t.state = e.state;
      if (e.event) t.event = e.event;
      if (e.detail != null) t.detail = JSON.parse(e.detail);
      return t;
    });
  }
  private async toDelivery(r: any, withTimeline = true): Promise<Delivery> {
    const d = JSON.parse(r.doc) as Delivery;
    d.timeline = withTimeline ? await this.timeline(d.id) : [];
    return d;
  }
  async nextDeliverySeq(): R<'nextDeliverySeq'> {
    // Held to the end of the transaction (create a job in one): two nodes never draw the same number.
    await this.q("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.deliveries.seq'))");
    return (await this.one('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM deliveries')).n;
  }
  async insertDelivery(d: Delivery, seq: number, events: TimelineEntry[]): R<'insertDelivery'> {
    await this.atomic(async (t) => {
      const p = SqliteStore.deliveryParams(d, seq);
      await t.q(
        'INSERT INTO deliveries (id, seq, state, priority, priority_rank, vehicle_id, flight_id, created_at, updated_at, doc, training) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
        [p.id, p.seq, p.state, p.priority, p.rank, p.vehicleId, p.flightId, p.createdAt, p.updatedAt, p.doc, p.training],
      );
      for (const e of events) await t.insertEvent(d.id, e);
    });
  }
  async updateDelivery(d: Delivery, events: TimelineEntry[] = []): R<'updateDelivery'> {
    await this.atomic(async (t) => {
      const p = SqliteStore.deliveryParams(d);
      await t.q('UPDATE deliveries SET state = $1, priority = $2, priority_rank = $3, vehicle_id = $4, flight_id = $5, updated_at = $6, doc = $7 WHERE id = $8', [
        p.state,
        p.priority,
        p.rank,
        p.vehicleId,
        p.flightId,
        p.updatedAt,
        p.doc,
        p.id,
      ]);
      for (const e of events) await t.insertEvent(d.id, e);
    });
  }
  private async insertEvent(id: string, e: TimelineEntry): Promise<void> {
    await this.q('INSERT INTO delivery_events (delivery_id, at, state, event, detail) VALUES ($1, $2, $3, $4, $5)', [id, e.at, e.state ?? null, e.event ?? null, e.detail === undefined ? null : JSON.stringify(e.detail)]);
  }
  async getDelivery(id: string): R<'getDelivery'> {
    const r = await this.one('SELECT * FROM deliveries WHERE id = $1', [id]);
    return r ? this.toDelivery(r) : undefined;
  }
  async lockDelivery(id: string): R<'lockDelivery'> {
    await this.q('SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE', [id]);
  }
  async listDeliveries(limit = 500, withTimeline = false): R<'listDeliveries'> {
    const rows = await this.q('SELECT * FROM deliveries ORDER BY seq DESC LIMIT $1', [limit]);
    return Promise.all(rows.map((r) => this.toDelivery(r, withTimeline)));
  }
  async countDeliveriesByState(): R<'countDeliveriesByState'> {
    const out: Record<string, number> = {};
    for (const r of await this.q('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state')) out[r.state] = r.n;
    return out;
  }
  async deliveriesInStates(states: DeliveryState[], training?: boolean): R<'deliveriesInStates'> {
    const rows =
      training === undefined
        ? await this.q('SELECT * FROM deliveries WHERE state = ANY($1::text[]) ORDER BY priority_rank, seq', [states])
        : await this.q('SELECT * FROM deliveries WHERE state = ANY($1::text[]) AND training = $2 ORDER BY priority_rank, seq', [states, training ? 1 : 0]);
    return Promise.all(rows.map((r) => this.toDelivery(r, false)));
  }

  // ---- flights ----

  async insertFlight(...[f]: A<'insertFlight'>): R<'insertFlight'> {
    const r = await this.one('INSERT INTO flights (id, delivery_id, vehicle_id, state, started_at, tlog_path, summary) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *', [
      f.id,
      f.deliveryId,
      f.vehicleId,
      'active',
      nowIso(),
      f.tlogPath ?? null,
      JSON.stringify(f.summary ?? {}),
    ]);
    return SqliteStore.flight(r)!;
  }
  async endFlight(id: string, summary: Record<string, unknown>): R<'endFlight'> {
    await this.q("UPDATE flights SET state = 'ended', ended_at = $1, summary = $2 WHERE id = $3", [nowIso(), JSON.stringify(summary), id]);
  }
  async updateFlight(id: string, summary: Record<string, unknown>, tlogPath?: string | null): R<'updateFlight'> {
    await this.q('UPDATE flights SET summary = $1, tlog_path = COALESCE($2, tlog_path) WHERE id = $3', [JSON.stringify(summary), tlogPath ?? null, id]);
  }
  async getFlight(id: string): R<'getFlight'> {
    return SqliteStore.flight(await this.one('SELECT * FROM flights WHERE id = $1', [id]));
  }
  async listFlights(limit = 200): R<'listFlights'> {
    return (await this.q('SELECT * FROM flights ORDER BY started_at DESC LIMIT $1', [limit])).map((r) => SqliteStore.flight(r)!);
  }
  async activeFlights(): R<'activeFlights'> {
    return (await this.q("SELECT * FROM flights WHERE state = 'active' ORDER BY started_at")).map((r) => SqliteStore.flight(r)!);
  }

  // ---- MAVLink signing keys ----

  async setSigningKey(linkId: string, key: Buffer, meta: { vehicleId?: string | null; createdBy?: string | null } = {}): R<'setSigningKey'> {
    if (!Buffer.isBuffer(key) || key.length !== 32) throw Object.assign(new Error('signing key must be 32 bytes'), { code: 'INVALID_SIGNING_KEY' });
    const keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
    const r = await this.one(
      `INSERT INTO signing_keys (link_id, vehicle_id, key, key_id, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (link_id) DO UPDATE SET vehicle_id = excluded.vehicle_id, key = excluded.key, key_id = excluded.key_id, created_at = excluded.created_at, created_by = excluded.created_by
       RETURNING link_id, vehicle_id, key_id, created_at, created_by`,
      [linkId, meta.vehicleId ?? null, key, keyId, nowIso(), meta.createdBy ?? null],
    );
    return SqliteStore.signingInfo(r)!;
  }
  async getSigningKey(linkId: string): R<'getSigningKey'> {
    const r = await this.one('SELECT key FROM signing_keys WHERE link_id = $1', [linkId]);
    return r ? Buffer.from(r.key) : undefined;
  }
  async getSigningKeyInfo(linkId: string): R<'getSigningKeyInfo'> {
    return SqliteStore.signingInfo(await this.one('SELECT link_id, vehicle_id, key_id, created_at, created_by FROM signing_keys WHERE link_id = $1', [linkId]));
  }
  async listSigningKeys(): R<'listSigningKeys'> {
    return (await this.q('SELECT link_id, vehicle_id, key_id, created_at, created_by FROM signing_keys ORDER BY link_id')).map((r) => SqliteStore.signingInfo(r)!);
  }
  async deleteSigningKey(linkId: string): R<'deleteSigningKey'> {
    return (await this.q('DELETE FROM signing_keys WHERE link_id = $1 RETURNING link_id', [linkId])).length === 1;
  }

  // ---- fence capacity per vehicle ----

  async setFenceCapacity(...[vehicleId, c]: A<'setFenceCapacity'>): R<'setFenceCapacity'> {
    if (!Number.isInteger(c.items) || c.items < 0) throw Object.assign(new Error('fence capacity must be a whole number of items'), { code: 'INVALID_FENCE_CAPACITY' });
    await this.q(
      `INSERT INTO fence_capacities (vehicle_id, autopilot, items, at_least, measured_at, measured_by, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (vehicle_id) DO UPDATE SET autopilot = excluded.autopilot, items = excluded.items, at_least = excluded.at_least, measured_at = excluded.measured_at, measured_by = excluded.measured_by, detail = excluded.detail`,
      [vehicleId, c.autopilot, c.items, c.atLeast ? 1 : 0, c.at ?? nowIso(), c.measuredBy ?? null, JSON.stringify(c.detail ?? {})],
    );
    return (await this.getFenceCapacity(vehicleId))!;
  }
  async getFenceCapacity(vehicleId: string): R<'getFenceCapacity'> {
    const r = await this.one('SELECT * FROM fence_capacities WHERE vehicle_id = $1', [vehicleId]);
    if (!r) return undefined;
    return { vehicleId: r.vehicle_id, autopilot: r.autopilot, items: r.items, atLeast: r.at_least === 1, measuredAt: r.measured_at, measuredBy: r.measured_by, detail: JSON.parse(r.detail) };
  }

  // ---- battery swaps (append-only: a trigger refuses UPDATE, DELETE and TRUNCATE) ----

  async recordBatterySwap(...[s]: A<'recordBatterySwap'>): R<'recordBatterySwap'> {
    const r = await this.one(
      'INSERT INTO battery_swaps (vehicle_id, at, source, username, role, pack_id, note, from_pct, to_pct, audit_id, confirms_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *',
      SqliteStore.batterySwapArgs(s),
    );
    return SqliteStore.batterySwapRow(r)!;
  }
  async listBatterySwaps(...[vehicleId, q = {}]: A<'listBatterySwaps'>): R<'listBatterySwaps'> {
    const limit = Math.max(1, Math.min(q.limit ?? 20, 500));
    const rows = await this.q('SELECT * FROM battery_swaps WHERE vehicle_id = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3', [vehicleId, q.since ?? '', limit]);
    return rows.map((r) => SqliteStore.batterySwapRow(r)!);
  }

  // ---- alerts ----

  async insertAlert(...[a]: A<'insertAlert'>): R<'insertAlert'> {
    await this.q('INSERT INTO alerts (id, at, level, code, params, text, vehicle_id, delivery_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING', [
      a.id,
      a.at,
      a.level,
      a.code,
      JSON.stringify(a.params ?? {}),
      a.text,
      a.vehicleId ?? null,
      a.deliveryId ?? null,
    ]);
  }
  async getAlert(id: string): R<'getAlert'> {
    return SqliteStore.alertRow(await this.one('SELECT * FROM alerts WHERE id = $1', [id]));
  }
  async listAlerts(...[q = {}]: A<'listAlerts'>): R<'listAlerts'> {
    const limit = Math.max(1, Math.min(q.limit ?? 200, 1000));
    const rows = q.unacked
      ? await this.q('SELECT * FROM alerts WHERE acked_at IS NULL AND level = ANY($1::text[]) ORDER BY seq DESC LIMIT $2', [q.levels ?? ['info', 'warning', 'critical'], limit])
      : await this.q('SELECT * FROM alerts ORDER BY seq DESC LIMIT $1', [limit]);
    return rows.map((r) => SqliteStore.alertRow(r)!);
  }
  async ackAlert(id: string, by: string): R<'ackAlert'> {
    const changed = (await this.q('UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE id = $3 AND acked_at IS NULL RETURNING id', [nowIso(), by, id])).length === 1;
    const a = await this.getAlert(id);
    if (!a) return { ok: false, code: 'NOT_FOUND', message: `no alert ${id}` };
    if (!changed) return { ok: false, code: 'INVALID_STATE', message: `alert ${id} was acknowledged by ${a.ackedBy} at ${a.ackedAt}`, alert: a };
    return { ok: true, alert: a };
  }

  // ---- audit (append-only: a trigger refuses UPDATE, DELETE and TRUNCATE) ----

  async audit(a: AuditInput): R<'audit'> {
    const r = await this.one(
      'INSERT INTO audit (at, username, role, action, vehicle_id, delivery_id, params, outcome, address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id',
      [a.at ?? nowIso(), a.username ?? null, a.role ?? null, a.action, a.vehicleId ?? null, a.deliveryId ?? null, JSON.stringify(a.params ?? {}), JSON.stringify(a.outcome ?? {}), a.address ?? null],
    );
    return r.id;
  }
  async completeAudit(id: number, outcome: unknown, deliveryId?: string | null): R<'completeAudit'> {
    await this.q('INSERT INTO audit_outcomes (audit_id, at, outcome, delivery_id) VALUES ($1, $2, $3, $4)', [id, nowIso(), JSON.stringify(outcome ?? {}), deliveryId ?? null]);
  }
  async queryAudit(q: AuditQuery = {}): R<'queryAudit'> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (cond: string, v: unknown) => (args.push(v), where.push(cond.replace('?', `$${args.length}`)));
    if (q.action) add('audit.action = ?', q.action);
    if (q.username) add('audit.username = ?', q.username);
    if (q.vehicleId) add('audit.vehicle_id = ?', q.vehicleId);
    if (q.deliveryId) add('COALESCE(audit.delivery_id, o.delivery_id) = ?', q.deliveryId);
    if (q.since) add('audit.at >= ?', q.since);
    if (q.until) add('audit.at <= ?', q.until);
    const limit = Math.max(1, Math.min(q.limit ?? 200, 5000));
    const sql = `SELECT audit.*, o.outcome AS final_outcome, o.delivery_id AS created_delivery_id FROM audit LEFT JOIN audit_outcomes o ON o.audit_id = audit.id ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY audit.id DESC LIMIT ${limit}`;
    return (await this.q(sql, args)).map((r) => SqliteStore.auditRow(r));
  }
}
