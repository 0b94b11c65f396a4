/**
 * Dropline's durable state in one SQLite file (better-sqlite3, synchronous API).
 *
 * Durability: WAL journal with `synchronous = FULL`. In WAL mode a committed transaction is in the
 * WAL file before `COMMIT` returns; a `kill -9` of the process therefore never loses it even with
 * NORMAL (the OS still holds the write). FULL additionally fsyncs the WAL on every commit, so a
 * power cut or kernel crash does not lose the last commits either. Our write rate is a few rows per
 * state change (telemetry goes to tlog files, not here), so the fsync per commit costs nothing
 * that matters, and a delivery's record is the thing we must never lose.
 */
import Database from 'better-sqlite3';
import fs from 'fs';
import path from 'path';
import { MIGRATIONS } from './migrations';
import type { Delivery, DeliveryState, TimelineEntry } from '../delivery/types';
import { PRIORITY_RANK } from '../delivery/types';

export type Role = 'admin' | 'operator' | 'supervisor' | 'trainer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'supervisor', 'trainer'];

export interface UserRow {
  id: number;
  username: string;
  role: Role;
  passwordHash: string;
  disabled: boolean;
  createdAt: string;
}

export interface SessionRow {
  tokenHash: string;
  userId: number;
  createdMs: number;
  expiresMs: number;
  revoked: boolean;
}

export interface ZoneVersion {
  version: number;
  zones: GeoJSON.FeatureCollection;
  policy: Record<string, unknown>;
  featureCount: number;
  updatedAt: string;
  updatedBy: string;
  change: string;
}

export interface FlightRow {
  id: string;
  deliveryId: string | null;
  vehicleId: string;
  state: 'active' | 'ended';
  startedAt: string;
  endedAt: string | null;
  tlogPath: string | null;
  summary: Record<string, unknown>;
}

export interface AuditInput {
  username?: string | null;
  role?: string | null;
  action: string;
  vehicleId?: string | null;
  deliveryId?: string | null;
  params?: unknown;
  outcome?: unknown;
  address?: string | null;
  at?: string;
}

export interface AuditRow {
  id: number;
  at: string;
  username: string | null;
  role: string | null;
  action: string;
  vehicleId: string | null;
  deliveryId: string | null;
  params: unknown;
  outcome: unknown;
  address: string | null;
}

export interface AuditQuery {
  limit?: number;
  action?: string;
  username?: string;
  vehicleId?: string;
  deliveryId?: string;
  /** ISO time bounds (inclusive). */
  since?: string;
  until?: string;
}

export interface StoreOptions {
  /** Directory of the database file (created if missing). */
  dataDir: string;
  /** File name inside dataDir. Default 'dropline.sqlite'. */
  fileName?: string;
}

const nowIso = () => new Date().toISOString();

export class Store {
  readonly db: Database.Database;
  readonly file: string;
  private readonly st: Record<string, Database.Statement>;

  constructor(opts: StoreOptions) {
    fs.mkdirSync(opts.dataDir, { recursive: true });
    this.file = path.join(opts.dataDir, opts.fileName ?? 'dropline.sqlite');
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const p = (sql: string) => this.db.prepare(sql);
    this.st = {
      userByName: p('SELECT * FROM users WHERE username = ?'),
      userById: p('SELECT * FROM users WHERE id = ?'),
      users: p('SELECT * FROM users ORDER BY id'),
      userCount: p('SELECT COUNT(*) AS n FROM users'),
      insertUser: p('INSERT INTO users (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)'),
      updateUserPassword: p('UPDATE users SET password_hash = ? WHERE username = ?'),
      insertSession: p('INSERT INTO sessions (token_hash, user_id, created_ms, expires_ms, address) VALUES (?, ?, ?, ?, ?)'),
      session: p('SELECT * FROM sessions WHERE token_hash = ?'),
      revokeSession: p('UPDATE sessions SET revoked = 1 WHERE token_hash = ?'),
      purgeSessions: p('DELETE FROM sessions WHERE expires_ms < ?'),
      latestZones: p('SELECT * FROM zone_versions ORDER BY version DESC LIMIT 1'),
      latestPolicy: p('SELECT version, policy FROM zone_versions ORDER BY version DESC LIMIT 1'),
      zoneVersion: p('SELECT * FROM zone_versions WHERE version = ?'),
      zoneHistory: p('SELECT version, updated_at, updated_by, feature_count, change FROM zone_versions ORDER BY version DESC'),
      insertZones: p('INSERT INTO zone_versions (version, zones, policy, feature_count, updated_at, updated_by, change) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      nextDeliverySeq: p('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM deliveries'),
      insertDelivery: p(
        'INSERT INTO deliveries (id, seq, state, priority, priority_rank, vehicle_id, flight_id, created_at, updated_at, doc) VALUES (@id, @seq, @state, @priority, @rank, @vehicleId, @flightId, @createdAt, @updatedAt, @doc)',
      ),
      updateDelivery: p(
        'UPDATE deliveries SET state = @state, priority = @priority, priority_rank = @rank, vehicle_id = @vehicleId, flight_id = @flightId, updated_at = @updatedAt, doc = @doc WHERE id = @id',
      ),
      delivery: p('SELECT * FROM deliveries WHERE id = ?'),
      deliveries: p('SELECT * FROM deliveries ORDER BY seq DESC LIMIT ?'),
      deliveriesInStates: p("SELECT * FROM deliveries WHERE state IN (SELECT value FROM json_each(?)) ORDER BY priority_rank, seq"),
      countByState: p('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state'),
      insertEvent: p('INSERT INTO delivery_events (delivery_id, at, state, event, detail) VALUES (?, ?, ?, ?, ?)'),
      events: p('SELECT * FROM delivery_events WHERE delivery_id = ? ORDER BY id'),
      insertFlight: p('INSERT INTO flights (id, delivery_id, vehicle_id, state, started_at, tlog_path, summary) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      endFlight: p("UPDATE flights SET state = 'ended', ended_at = ?, summary = ? WHERE id = ?"),
      updateFlightSummary: p('UPDATE flights SET summary = ?, tlog_path = COALESCE(?, tlog_path) WHERE id = ?'),
      flight: p('SELECT * FROM flights WHERE id = ?'),
      flights: p('SELECT * FROM flights ORDER BY started_at DESC LIMIT ?'),
      activeFlights: p("SELECT * FROM flights WHERE state = 'active' ORDER BY started_at"),
      insertAudit: p(
        'INSERT INTO audit (at, username, role, action, vehicle_id, delivery_id, params, outcome, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
    };
    this.st.purgeSessions.run(Date.now());
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- users and sessions ----

  private static user(r: any): UserRow | undefined {
    if (!r) return undefined;
    return { id: r.id, username: r.username, role: r.role, passwordHash: r.password_hash, disabled: !!r.disabled, createdAt: r.created_at };
  }

  userCount(): number {
    return (this.st.userCount.get() as { n: number }).n;
  }
  getUser(username: string): UserRow | undefined {
    return Store.user(this.st.userByName.get(username));
  }
  getUserById(id: number): UserRow | undefined {
    return Store.user(this.st.userById.get(id));
  }
  listUsers(): UserRow[] {
    return (this.st.users.all() as any[]).map((r) => Store.user(r)!);
  }
  addUser(username: string, role: Role, passwordHash: string): UserRow {
    this.st.insertUser.run(username, role, passwordHash, nowIso());
    return this.getUser(username)!;
  }
  setPasswordHash(username: string, passwordHash: string): boolean {
    return this.st.updateUserPassword.run(passwordHash, username).changes === 1;
  }
  addSession(tokenHash: string, userId: number, expiresMs: number, address?: string | null): void {
    this.st.insertSession.run(tokenHash, userId, Date.now(), expiresMs, address ?? null);
  }
  getSession(tokenHash: string): SessionRow | undefined {
    const r = this.st.session.get(tokenHash) as any;
    if (!r) return undefined;
    return { tokenHash: r.token_hash, userId: r.user_id, createdMs: r.created_ms, expiresMs: r.expires_ms, revoked: !!r.revoked };
  }
  revokeSession(tokenHash: string): void {
    this.st.revokeSession.run(tokenHash);
  }

  // ---- zones and the preflight policy (versioned together) ----

  private static zoneRow(r: any): ZoneVersion | undefined {
    if (!r) return undefined;
    return {
      version: r.version,
      zones: JSON.parse(r.zones),
      policy: JSON.parse(r.policy),
      featureCount: r.feature_count,
      updatedAt: r.updated_at,
      updatedBy: r.updated_by,
      change: r.change,
    };
  }
  latestZones(): ZoneVersion | undefined {
    return Store.zoneRow(this.st.latestZones.get());
  }
  /** The latest version's number and policy, without reading its zones (which may be megabytes of JSON). */
  latestPolicy(): { version: number; policy: Record<string, unknown> } | undefined {
    const r = this.st.latestPolicy.get() as { version: number; policy: string } | undefined;
    return r ? { version: r.version, policy: JSON.parse(r.policy) } : undefined;
  }
  zoneVersion(version: number): ZoneVersion | undefined {
    return Store.zoneRow(this.st.zoneVersion.get(version));
  }
  zoneHistory(): Array<{ version: number; updatedAt: string; updatedBy: string; featureCount: number; change: string }> {
    return (this.st.zoneHistory.all() as any[]).map((r) => ({
      version: r.version,
      updatedAt: r.updated_at,
      updatedBy: r.updated_by,
      featureCount: r.feature_count,
      change: r.change,
    }));
  }
  /**
   * Write a new version. Either part left undefined is carried over from the latest version.
   * `expectVersion`, when given, must equal the latest version (optimistic concurrency).
   */
  saveZones(input: {
    zones?: GeoJSON.FeatureCollection;
    policy?: Record<string, unknown>;
    by: string;
    change: string;
    expectVersion?: number;
  }): { ok: true; version: ZoneVersion } | { ok: false; code: 'CONFLICT' | 'INVALID_STATE'; message: string } {
    return this.db.transaction(() => {
      // New zones: the previous ones are not read (JSON of up to megabytes, parsed on the event loop).
      const latest = input.zones ? this.latestPolicy() : this.latestZones();
      if (input.expectVersion !== undefined && (latest?.version ?? 0) !== input.expectVersion) {
        return { ok: false as const, code: 'CONFLICT' as const, message: `zones are at version ${latest?.version ?? 0}, not ${input.expectVersion}` };
      }
      const zones = input.zones ?? (latest as ZoneVersion | undefined)?.zones;
      const policy = input.policy ?? latest?.policy;
      if (!zones || !policy) return { ok: false as const, code: 'INVALID_STATE' as const, message: 'the first version needs both zones and policy' };
      const version = (latest?.version ?? 0) + 1;
      const zonesJson = JSON.stringify(zones), policyJson = JSON.stringify(policy);
      const row = { version, featureCount: zones.features.length, updatedAt: nowIso(), updatedBy: input.by, change: input.change };
      this.st.insertZones.run(version, zonesJson, policyJson, row.featureCount, row.updatedAt, row.updatedBy, row.change);
      // What was stored, as zoneVersion() would read it back (copies, not the caller's objects); the
      // zones are parsed only if someone reads them.
      const stored = { ...row, policy: JSON.parse(policyJson) } as ZoneVersion;
      let zonesCopy: GeoJSON.FeatureCollection | undefined;
      Object.defineProperty(stored, 'zones', { enumerable: true, get: () => (zonesCopy ??= JSON.parse(zonesJson)) });
      return { ok: true as const, version: stored };
    })();
  }

  // ---- deliveries ----

  private rowToDelivery(r: any, withTimeline = true): Delivery {
    const d = JSON.parse(r.doc) as Delivery;
    d.timeline = withTimeline ? this.timeline(d.id) : [];
    return d;
  }
  timeline(id: string): TimelineEntry[] {
    return (this.st.events.all(id) as any[]).map((e) => {
      const t: TimelineEntry = { at: e.at };
      if (e.state) t.state = e.state;
      if (e.event) t.event = e.event;
      if (e.detail != null) t.detail = JSON.parse(e.detail);
      return t;
    });
  }
  nextDeliverySeq(): number {
    return (this.st.nextDeliverySeq.get() as { n: number }).n;
  }
  private params(d: Delivery, seq?: number) {
    const { timeline: _t, ...doc } = d;
    return {
      id: d.id,
      seq,
      state: d.state,
      priority: d.priority,
      rank: PRIORITY_RANK[d.priority],
      vehicleId: d.vehicleId ?? null,
      flightId: d.flightId ?? null,
      createdAt: d.createdAt,
      updatedAt: d.updatedAt,
      doc: JSON.stringify(doc),
    };
  }
  /** Insert a new delivery with its first timeline entries, in one transaction. */
  insertDelivery(d: Delivery, seq: number, events: TimelineEntry[]): void {
    this.db.transaction(() => {
      this.st.insertDelivery.run(this.params(d, seq));
      for (const e of events) this.insertEventRow(d.id, e);
    })();
  }
  /** Save the delivery document and append timeline entries atomically. */
  updateDelivery(d: Delivery, events: TimelineEntry[] = []): void {
    this.db.transaction(() => {
      const { seq: _s, ...p } = this.params(d);
      this.st.updateDelivery.run(p);
      for (const e of events) this.insertEventRow(d.id, e);
    })();
  }
  private insertEventRow(id: string, e: TimelineEntry): void {
    this.st.insertEvent.run(id, e.at, e.state ?? null, e.event ?? null, e.detail === undefined ? null : JSON.stringify(e.detail));
  }
  getDelivery(id: string): Delivery | undefined {
    const r = this.st.delivery.get(id);
    return r ? this.rowToDelivery(r) : undefined;
  }
  listDeliveries(limit = 500, withTimeline = false): Delivery[] {
    return (this.st.deliveries.all(limit) as any[]).map((r) => this.rowToDelivery(r, withTimeline));
  }
  countDeliveriesByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.st.countByState.all() as Array<{ state: string; n: number }>) out[r.state] = r.n;
    return out;
  }
  /** Deliveries in the given states, urgent first then oldest first. */
  deliveriesInStates(states: DeliveryState[]): Delivery[] {
    return (this.st.deliveriesInStates.all(JSON.stringify(states)) as any[]).map((r) => this.rowToDelivery(r, false));
  }

  // ---- flights ----

  private static flight(r: any): FlightRow | undefined {
    if (!r) return undefined;
    return {
      id: r.id,
      deliveryId: r.delivery_id,
      vehicleId: r.vehicle_id,
      state: r.state,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      tlogPath: r.tlog_path,
      summary: JSON.parse(r.summary),
    };
  }
  insertFlight(f: { id: string; deliveryId: string | null; vehicleId: string; tlogPath?: string | null; summary?: Record<string, unknown> }): FlightRow {
    this.st.insertFlight.run(f.id, f.deliveryId, f.vehicleId, 'active', nowIso(), f.tlogPath ?? null, JSON.stringify(f.summary ?? {}));
    return this.getFlight(f.id)!;
  }
  endFlight(id: string, summary: Record<string, unknown>): void {
    this.st.endFlight.run(nowIso(), JSON.stringify(summary), id);
  }
  updateFlight(id: string, summary: Record<string, unknown>, tlogPath?: string | null): void {
    this.st.updateFlightSummary.run(JSON.stringify(summary), tlogPath ?? null, id);
  }
  getFlight(id: string): FlightRow | undefined {
    return Store.flight(this.st.flight.get(id));
  }
  listFlights(limit = 200): FlightRow[] {
    return (this.st.flights.all(limit) as any[]).map((r) => Store.flight(r)!);
  }
  activeFlights(): FlightRow[] {
    return (this.st.activeFlights.all() as any[]).map((r) => Store.flight(r)!);
  }

  // ---- audit (append-only: triggers refuse UPDATE and DELETE) ----

  audit(a: AuditInput): number {
    const r = this.st.insertAudit.run(
      a.at ?? nowIso(),
      a.username ?? null,
      a.role ?? null,
      a.action,
      a.vehicleId ?? null,
      a.deliveryId ?? null,
      JSON.stringify(a.params ?? {}),
      JSON.stringify(a.outcome ?? {}),
      a.address ?? null,
    );
    return Number(r.lastInsertRowid);
  }
  queryAudit(q: AuditQuery = {}): AuditRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.action) (where.push('action = ?'), args.push(q.action));
    if (q.username) (where.push('username = ?'), args.push(q.username));
    if (q.vehicleId) (where.push('vehicle_id = ?'), args.push(q.vehicleId));
    if (q.deliveryId) (where.push('delivery_id = ?'), args.push(q.deliveryId));
    if (q.since) (where.push('at >= ?'), args.push(q.since));
    if (q.until) (where.push('at <= ?'), args.push(q.until));
    const limit = Math.max(1, Math.min(q.limit ?? 200, 5000));
    const sql = `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ${limit}`;
    return (this.db.prepare(sql).all(...args) as any[]).map((r) => ({
      id: r.id,
      at: r.at,
      username: r.username,
      role: r.role,
      action: r.action,
      vehicleId: r.vehicle_id,
      deliveryId: r.delivery_id,
      params: JSON.parse(r.params),
      outcome: JSON.parse(r.outcome),
      address: r.address,
    }));
  }
}

export function openStore(opts: StoreOptions): Store {
  return new Store(opts);
}
