/**
 * Dropline's durable state in one SQLite file (better-sqlite3, synchronous API): the embedded store.
 * The service reaches it through the asynchronous interface in store.ts (sqlite.ts adapts it);
 * postgres.ts is the same interface on PostgreSQL, for several nodes sharing one database.
 *
 * Durability: WAL journal with `synchronous = FULL`. In WAL mode a committed transaction is in the
 * WAL file before `COMMIT` returns; a `kill -9` of the process therefore never loses it even with
 * NORMAL (the OS still holds the write). FULL additionally fsyncs the WAL on every commit, so a
 * power cut or kernel crash does not lose the last commits either. Our write rate is a few rows per
 * state change (telemetry goes to tlog files, not here), so the fsync per commit costs nothing
 * that matters, and a delivery's record is the thing we must never lose.
 */
import Database from 'better-sqlite3';
import { createHash } from 'crypto';
import fs from 'fs';
import path from 'path';
import { MIGRATIONS } from './migrations';
import { bringsZones, nextZoneVersion, type SaveZonesInput, type ZonesRefusal } from './zone-version';
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
  /** 'demo' (password = user name), 'generated' (printed once: must be changed at first login) or 'set'. */
  passwordState: PasswordState;
}

export type PasswordState = 'demo' | 'generated' | 'set';

export interface SessionRow {
  tokenHash: string;
  userId: number;
  createdMs: number;
  expiresMs: number;
  revoked: boolean;
}

export interface ZoneVersion {
  version: number;
  /** Parsed on first access (megabytes of JSON for a city: callers that only pass them on use zonesJson). */
  zones: GeoJSON.FeatureCollection;
  /** The zones as stored (JSON text). */
  zonesJson: string;
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
  /** True while a command's outcome has not been recorded yet (or never will be: the process died). */
  pending: boolean;
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

/** A stored signing key as it may be shown: never the key itself. */
export interface SigningKeyInfo {
  linkId: string;
  /** Vehicle it was provisioned to (`link/sysid`), when known. */
  vehicleId: string | null;
  /** First 8 hex digits of sha256(key). */
  keyId: string;
  createdAt: string;
  createdBy: string | null;
}

/** A vehicle's measured fence storage. */
export interface FenceCapacityRow {
  vehicleId: string;
  /** Autopilot at the time of the measurement ('ardupilot', 'px4', …): a different one makes it stale. */
  autopilot: string;
  items: number;
  /** The search reached its bound: the vehicle may store more. */
  atLeast: boolean;
  measuredAt: string;
  measuredBy: string | null;
  /** The probes and what they were answered. */
  detail: unknown;
}

/** A battery swap as stored (migration 9, append-only). */
export interface BatterySwapRow {
  id: number;
  vehicleId: string;
  at: string;
  /** 'operator': recorded by a person (POST …/battery-swap); 'telemetry': seen in the vehicle's charge. */
  source: 'operator' | 'telemetry';
  username: string | null;
  role: string | null;
  packId: string | null;
  note: string | null;
  /** Telemetry: the remaining charge before and after, %. */
  fromPct: number | null;
  toPct: number | null;
  /** The audit row of the request that recorded it. */
  auditId: number | null;
  /** A telemetry swap this record confirms (the same pack: counted once). */
  confirmsId: number | null;
}

export interface BatterySwapInput {
  vehicleId: string;
  source: BatterySwapRow['source'];
  at?: string;
  username?: string | null;
  role?: string | null;
  packId?: string | null;
  note?: string | null;
  fromPct?: number | null;
  toPct?: number | null;
  auditId?: number | null;
  confirmsId?: number | null;
}

/** An operator alert as stored (migration 5). */
export interface AlertRow {
  id: string;
  at: string;
  level: 'info' | 'warning' | 'critical';
  /** Stable code consoles translate (src/alerts.ts); 'text' when there is only the sentence. */
  code: string;
  params: Record<string, unknown>;
  text: string;
  vehicleId?: string;
  deliveryId?: string;
  ackedAt?: string;
  ackedBy?: string;
}

export interface StoreOptions {
  /** Directory of the database file (created if missing). */
  dataDir: string;
  /** File name inside dataDir. Default 'dropline.sqlite'. */
  fileName?: string;
}

const nowIso = () => new Date().toISOString();

/** Give a zone version a `zones` property that parses its JSON on first access only. */
function lazyZones(v: ZoneVersion, json: string): ZoneVersion {
  let parsed: GeoJSON.FeatureCollection | undefined;
  Object.defineProperty(v, 'zones', { enumerable: true, configurable: true, get: () => (parsed ??= JSON.parse(json)) });
  return v;
}

export class SqliteStore {
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
      insertUser: p('INSERT INTO users (username, role, password_hash, created_at, password_state) VALUES (?, ?, ?, ?, ?)'),
      updateUserPassword: p('UPDATE users SET password_hash = ?, password_state = ?, password_changed_at = ? WHERE username = ?'),
      setUserDisabled: p('UPDATE users SET disabled = ? WHERE username = ?'),
      revokeUserSessions: p('UPDATE sessions SET revoked = 1 WHERE user_id = ? AND revoked = 0'),
      loginFailure: p('SELECT * FROM login_failures WHERE key = ?'),
      upsertLoginFailure: p(
        'INSERT INTO login_failures (key, failures, last_ms, locked_until_ms) VALUES (@key, @failures, @lastMs, @lockedUntilMs) ON CONFLICT(key) DO UPDATE SET failures = @failures, last_ms = @lastMs, locked_until_ms = @lockedUntilMs',
      ),
      clearLoginFailure: p('DELETE FROM login_failures WHERE key = ?'),
      insertAuditOutcome: p('INSERT INTO audit_outcomes (audit_id, at, outcome, delivery_id) VALUES (?, ?, ?, ?)'),
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
        'INSERT INTO deliveries (id, seq, state, priority, priority_rank, vehicle_id, flight_id, created_at, updated_at, doc, training) VALUES (@id, @seq, @state, @priority, @rank, @vehicleId, @flightId, @createdAt, @updatedAt, @doc, @training)',
      ),
      updateDelivery: p(
        'UPDATE deliveries SET state = @state, priority = @priority, priority_rank = @rank, vehicle_id = @vehicleId, flight_id = @flightId, updated_at = @updatedAt, doc = @doc WHERE id = @id',
      ),
      delivery: p('SELECT * FROM deliveries WHERE id = ?'),
      deliveries: p('SELECT * FROM deliveries ORDER BY seq DESC LIMIT ?'),
      deliveriesInStates: p("SELECT * FROM deliveries WHERE state IN (SELECT value FROM json_each(?)) ORDER BY priority_rank, seq"),
      deliveriesInStatesOf: p("SELECT * FROM deliveries WHERE state IN (SELECT value FROM json_each(?)) AND training = ? ORDER BY priority_rank, seq"),
      countByState: p('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state'),
      insertEvent: p('INSERT INTO delivery_events (delivery_id, at, state, event, detail) VALUES (?, ?, ?, ?, ?)'),
      events: p('SELECT * FROM delivery_events WHERE delivery_id = ? ORDER BY id'),
      insertFlight: p('INSERT INTO flights (id, delivery_id, vehicle_id, state, started_at, tlog_path, summary) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      endFlight: p("UPDATE flights SET state = 'ended', ended_at = ?, summary = ? WHERE id = ?"),
      updateFlightSummary: p('UPDATE flights SET summary = ?, tlog_path = COALESCE(?, tlog_path) WHERE id = ?'),
      flight: p('SELECT * FROM flights WHERE id = ?'),
      flights: p('SELECT * FROM flights ORDER BY started_at DESC LIMIT ?'),
      activeFlights: p("SELECT * FROM flights WHERE state = 'active' ORDER BY started_at"),
      setSigningKey: p(
        `INSERT INTO signing_keys (link_id, vehicle_id, key, key_id, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(link_id) DO UPDATE SET vehicle_id = excluded.vehicle_id, key = excluded.key, key_id = excluded.key_id, created_at = excluded.created_at, created_by = excluded.created_by`,
      ),
      signingKey: p('SELECT key FROM signing_keys WHERE link_id = ?'),
      signingKeyInfo: p('SELECT link_id, vehicle_id, key_id, created_at, created_by FROM signing_keys WHERE link_id = ?'),
      signingKeys: p('SELECT link_id, vehicle_id, key_id, created_at, created_by FROM signing_keys ORDER BY link_id'),
      deleteSigningKey: p('DELETE FROM signing_keys WHERE link_id = ?'),
      setFenceCapacity: p(
        `INSERT INTO fence_capacities (vehicle_id, autopilot, items, at_least, measured_at, measured_by, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(vehicle_id) DO UPDATE SET autopilot = excluded.autopilot, items = excluded.items, at_least = excluded.at_least, measured_at = excluded.measured_at, measured_by = excluded.measured_by, detail = excluded.detail`,
      ),
      fenceCapacity: p('SELECT * FROM fence_capacities WHERE vehicle_id = ?'),
      insertBatterySwap: p(
        'INSERT INTO battery_swaps (vehicle_id, at, source, username, role, pack_id, note, from_pct, to_pct, audit_id, confirms_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      batterySwap: p('SELECT * FROM battery_swaps WHERE id = ?'),
      batterySwaps: p('SELECT * FROM battery_swaps WHERE vehicle_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?'),
      insertAlert: p('INSERT OR IGNORE INTO alerts (id, at, level, code, params, text, vehicle_id, delivery_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      alert: p('SELECT * FROM alerts WHERE id = ?'),
      alerts: p('SELECT * FROM alerts ORDER BY rowid DESC LIMIT ?'),
      unackedAlerts: p("SELECT * FROM alerts WHERE acked_at IS NULL AND level IN (SELECT value FROM json_each(?)) ORDER BY rowid DESC LIMIT ?"),
      ackAlert: p('UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL'),
      insertAudit: p(
        'INSERT INTO audit (at, username, role, action, vehicle_id, delivery_id, params, outcome, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
    };
    this.st.purgeSessions.run(Date.now());
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    // In version order whatever the array order (versions may have gaps: see migrations.ts).
    for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
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

  static user(r: any): UserRow | undefined {
    if (!r) return undefined;
    return {
      id: r.id,
      username: r.username,
      role: r.role,
      passwordHash: r.password_hash,
      disabled: !!r.disabled,
      createdAt: r.created_at,
      passwordState: r.password_state ?? 'set',
    };
  }

  userCount(): number {
    return (this.st.userCount.get() as { n: number }).n;
  }
  getUser(username: string): UserRow | undefined {
    return SqliteStore.user(this.st.userByName.get(username));
  }
  getUserById(id: number): UserRow | undefined {
    return SqliteStore.user(this.st.userById.get(id));
  }
  listUsers(): UserRow[] {
    return (this.st.users.all() as any[]).map((r) => SqliteStore.user(r)!);
  }
  addUser(username: string, role: Role, passwordHash: string, passwordState: PasswordState = 'set'): UserRow {
    this.st.insertUser.run(username, role, passwordHash, nowIso(), passwordState);
    return this.getUser(username)!;
  }
  /** New password hash; every session of the user is revoked in the same transaction. */
  setPasswordHash(username: string, passwordHash: string, passwordState: PasswordState = 'set'): boolean {
    return this.db.transaction(() => {
      const u = this.getUser(username);
      if (!u) return false;
      this.st.updateUserPassword.run(passwordHash, passwordState, nowIso(), username);
      this.st.revokeUserSessions.run(u.id);
      return true;
    })();
  }
  /** Same password, stronger hash parameters (after a successful login): sessions stay. */
  upgradePasswordHash(username: string, passwordHash: string): void {
    this.db.prepare('UPDATE users SET password_hash = ? WHERE username = ?').run(passwordHash, username);
  }
  /** Disable (revoking every session) or enable a user. False when there is no such user. */
  setUserDisabled(username: string, disabled: boolean): boolean {
    return this.db.transaction(() => {
      const u = this.getUser(username);
      if (!u) return false;
      this.st.setUserDisabled.run(disabled ? 1 : 0, username);
      if (disabled) this.st.revokeUserSessions.run(u.id);
      return true;
    })();
  }
  /** Users whose password is a demo password (user name) or a generated one not changed yet. */
  usersWithDefaultPasswords(): UserRow[] {
    return this.listUsers().filter((u) => !u.disabled && u.passwordState !== 'set');
  }

  // ---- login throttling ----

  loginFailure(key: string): { failures: number; lastMs: number; lockedUntilMs: number } | undefined {
    const r = this.st.loginFailure.get(key) as any;
    return r ? { failures: r.failures, lastMs: r.last_ms, lockedUntilMs: r.locked_until_ms } : undefined;
  }
  setLoginFailure(key: string, v: { failures: number; lastMs: number; lockedUntilMs: number }): void {
    this.st.upsertLoginFailure.run({ key, ...v });
  }
  clearLoginFailure(key: string): void {
    this.st.clearLoginFailure.run(key);
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

  static zoneRow(r: any): ZoneVersion | undefined {
    if (!r) return undefined;
    const v = {
      version: r.version,
      zonesJson: r.zones as string,
      policy: JSON.parse(r.policy),
      featureCount: r.feature_count,
      updatedAt: r.updated_at,
      updatedBy: r.updated_by,
      change: r.change,
    } as ZoneVersion;
    return lazyZones(v, r.zones);
  }
  latestZones(): ZoneVersion | undefined {
    return SqliteStore.zoneRow(this.st.latestZones.get());
  }
  /** The latest version's number and policy, without reading its zones (which may be megabytes of JSON). */
  latestPolicy(): { version: number; policy: Record<string, unknown> } | undefined {
    const r = this.st.latestPolicy.get() as { version: number; policy: string } | undefined;
    return r ? { version: r.version, policy: JSON.parse(r.policy) } : undefined;
  }
  zoneVersion(version: number): ZoneVersion | undefined {
    return SqliteStore.zoneRow(this.st.zoneVersion.get(version));
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
  saveZones(input: SaveZonesInput): { ok: true; version: ZoneVersion } | ZonesRefusal {
    const r = this.saveZonesTx(input);
    if (r.ok) {
      for (const fn of this.zonesListeners) {
        try {
          fn(r.version.version);
        } catch {
          /* a listener's failure is not the writer's */
        }
      }
    }
    return r;
  }

  private readonly zonesListeners = new Set<(version: number) => void>();
  /** Told the number of every zones (or policy) version once it is committed. Returns the unsubscribe. */
  onZonesSaved(fn: (version: number) => void): () => void {
    this.zonesListeners.add(fn);
    return () => this.zonesListeners.delete(fn);
  }

  private saveZonesTx(input: Parameters<SqliteStore['saveZones']>[0]): ReturnType<SqliteStore['saveZones']> {
    return this.db.transaction(() => {
      // New zones: the previous ones are not read (JSON of up to megabytes, parsed on the event loop).
      const next = nextZoneVersion(input, bringsZones(input) ? this.latestPolicy() : this.latestZones());
      if (!next.ok) return next;
      const { version, zonesJson, featureCount, policyJson } = next;
      const row = { version, featureCount, updatedAt: nowIso(), updatedBy: input.by, change: input.change };
      this.st.insertZones.run(version, zonesJson, policyJson, row.featureCount, row.updatedAt, row.updatedBy, row.change);
      // What was stored, as zoneVersion() would read it back (copies, not the caller's objects); the
      // zones are parsed only if someone reads them.
      const stored = lazyZones({ ...row, zonesJson, policy: JSON.parse(policyJson) } as ZoneVersion, zonesJson);
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
  static deliveryParams(d: Delivery, seq?: number) {
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
      training: d.training ? 1 : 0,
    };
  }
  /** Insert a new delivery with its first timeline entries, in one transaction. */
  insertDelivery(d: Delivery, seq: number, events: TimelineEntry[]): void {
    this.db.transaction(() => {
      this.st.insertDelivery.run(SqliteStore.deliveryParams(d, seq));
      for (const e of events) this.insertEventRow(d.id, e);
    })();
  }
  /** Save the delivery document and append timeline entries atomically. */
  updateDelivery(d: Delivery, events: TimelineEntry[] = []): void {
    this.db.transaction(() => {
      const { seq: _s, training: _t, ...p } = SqliteStore.deliveryParams(d);
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
  /** Inside `tx`: hold the job's row until the transaction ends (PostgreSQL; SQLite transactions are serialised already). */
  lockDelivery(_id: string): void {}
  listDeliveries(limit = 500, withTimeline = false): Delivery[] {
    return (this.st.deliveries.all(limit) as any[]).map((r) => this.rowToDelivery(r, withTimeline));
  }
  countDeliveriesByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.st.countByState.all() as Array<{ state: string; n: number }>) out[r.state] = r.n;
    return out;
  }
  /** Deliveries in the given states, urgent first then oldest first; `training` keeps only training (or only operational) jobs. */
  deliveriesInStates(states: DeliveryState[], training?: boolean): Delivery[] {
    const rows = training === undefined ? this.st.deliveriesInStates.all(JSON.stringify(states)) : this.st.deliveriesInStatesOf.all(JSON.stringify(states), training ? 1 : 0);
    return (rows as any[]).map((r) => this.rowToDelivery(r, false));
  }

  // ---- flights ----

  static flight(r: any): FlightRow | undefined {
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
    return SqliteStore.flight(this.st.flight.get(id));
  }
  listFlights(limit = 200): FlightRow[] {
    return (this.st.flights.all(limit) as any[]).map((r) => SqliteStore.flight(r)!);
  }
  activeFlights(): FlightRow[] {
    return (this.st.activeFlights.all() as any[]).map((r) => SqliteStore.flight(r)!);
  }

  // ---- MAVLink signing keys (one per link id; the key itself only through getSigningKey) ----

  static signingInfo(r: any): SigningKeyInfo | undefined {
    if (!r) return undefined;
    return { linkId: r.link_id, vehicleId: r.vehicle_id, keyId: r.key_id, createdAt: r.created_at, createdBy: r.created_by };
  }
  /** Store (or replace) the 32-byte key of a link; returns what may be shown of it. */
  setSigningKey(linkId: string, key: Buffer, meta: { vehicleId?: string | null; createdBy?: string | null } = {}): SigningKeyInfo {
    if (!Buffer.isBuffer(key) || key.length !== 32) throw Object.assign(new Error('signing key must be 32 bytes'), { code: 'INVALID_SIGNING_KEY' });
    const keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
    this.st.setSigningKey.run(linkId, meta.vehicleId ?? null, key, keyId, nowIso(), meta.createdBy ?? null);
    return this.getSigningKeyInfo(linkId)!;
  }
  /** The key material of a link, for the fleet only. */
  getSigningKey(linkId: string): Buffer | undefined {
    const r = this.st.signingKey.get(linkId) as { key: Buffer } | undefined;
    return r ? Buffer.from(r.key) : undefined;
  }
  getSigningKeyInfo(linkId: string): SigningKeyInfo | undefined {
    return SqliteStore.signingInfo(this.st.signingKeyInfo.get(linkId));
  }
  /** Every stored key, without key material. */
  listSigningKeys(): SigningKeyInfo[] {
    return (this.st.signingKeys.all() as any[]).map((r) => SqliteStore.signingInfo(r)!);
  }
  deleteSigningKey(linkId: string): boolean {
    return this.st.deleteSigningKey.run(linkId).changes === 1;
  }

  // ---- fence capacity per vehicle (measured during commissioning) ----

  setFenceCapacity(vehicleId: string, c: { autopilot: string; items: number; atLeast?: boolean; measuredBy?: string | null; detail?: unknown; at?: string }): FenceCapacityRow {
    if (!Number.isInteger(c.items) || c.items < 0) throw Object.assign(new Error('fence capacity must be a whole number of items'), { code: 'INVALID_FENCE_CAPACITY' });
    this.st.setFenceCapacity.run(vehicleId, c.autopilot, c.items, c.atLeast ? 1 : 0, c.at ?? nowIso(), c.measuredBy ?? null, JSON.stringify(c.detail ?? {}));
    return this.getFenceCapacity(vehicleId)!;
  }
  getFenceCapacity(vehicleId: string): FenceCapacityRow | undefined {
    const r = this.st.fenceCapacity.get(vehicleId) as any;
    if (!r) return undefined;
    return { vehicleId: r.vehicle_id, autopilot: r.autopilot, items: r.items, atLeast: r.at_least === 1, measuredAt: r.measured_at, measuredBy: r.measured_by, detail: JSON.parse(r.detail) };
  }

  // ---- battery swaps (append-only: triggers refuse UPDATE and DELETE) ----

  static batterySwapRow(r: any): BatterySwapRow | undefined {
    if (!r) return undefined;
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      id: Number(r.id),
      vehicleId: r.vehicle_id,
      at: r.at,
      source: r.source,
      username: r.username ?? null,
      role: r.role ?? null,
      packId: r.pack_id ?? null,
      note: r.note ?? null,
      fromPct: num(r.from_pct),
      toPct: num(r.to_pct),
      auditId: num(r.audit_id),
      confirmsId: num(r.confirms_id),
    };
  }
  static batterySwapArgs(s: BatterySwapInput): unknown[] {
    return [s.vehicleId, s.at ?? nowIso(), s.source, s.username ?? null, s.role ?? null, s.packId ?? null, s.note ?? null, s.fromPct ?? null, s.toPct ?? null, s.auditId ?? null, s.confirmsId ?? null];
  }
  recordBatterySwap(s: BatterySwapInput): BatterySwapRow {
    const r = this.st.insertBatterySwap.run(...SqliteStore.batterySwapArgs(s));
    return SqliteStore.batterySwapRow(this.st.batterySwap.get(Number(r.lastInsertRowid)))!;
  }
  /** A vehicle's swaps, newest first: the latest `limit` (default 20), at or after `since` when given. */
  listBatterySwaps(vehicleId: string, q: { limit?: number; since?: string } = {}): BatterySwapRow[] {
    const limit = Math.max(1, Math.min(q.limit ?? 20, 500));
    return (this.st.batterySwaps.all(vehicleId, q.since ?? '', limit) as any[]).map((r) => SqliteStore.batterySwapRow(r)!);
  }

  // ---- alerts ----

  static alertRow(r: any): AlertRow | undefined {
    if (!r) return undefined;
    const a: AlertRow = { id: r.id, at: r.at, level: r.level, code: r.code, params: JSON.parse(r.params), text: r.text };
    if (r.vehicle_id != null) a.vehicleId = r.vehicle_id;
    if (r.delivery_id != null) a.deliveryId = r.delivery_id;
    if (r.acked_at != null) (a.ackedAt = r.acked_at), (a.ackedBy = r.acked_by);
    return a;
  }
  /** Keeps an alert (an id already stored is left as it is). */
  insertAlert(a: Omit<AlertRow, 'ackedAt' | 'ackedBy'>): void {
    this.st.insertAlert.run(a.id, a.at, a.level, a.code, JSON.stringify(a.params ?? {}), a.text, a.vehicleId ?? null, a.deliveryId ?? null);
  }
  getAlert(id: string): AlertRow | undefined {
    return SqliteStore.alertRow(this.st.alert.get(id));
  }
  /** Newest first: the latest `limit`, and with `unacked` only those not acknowledged yet (of the given levels). */
  listAlerts(q: { limit?: number; unacked?: boolean; levels?: Array<AlertRow['level']> } = {}): AlertRow[] {
    const limit = Math.max(1, Math.min(q.limit ?? 200, 1000));
    const rows = q.unacked ? this.st.unackedAlerts.all(JSON.stringify(q.levels ?? ['info', 'warning', 'critical']), limit) : this.st.alerts.all(limit);
    return (rows as any[]).map((r) => SqliteStore.alertRow(r)!);
  }
  /** Acknowledge once: who and when. Refused (with who did) when it was acknowledged already. */
  ackAlert(id: string, by: string): { ok: true; alert: AlertRow } | { ok: false; code: 'NOT_FOUND' | 'INVALID_STATE'; message: string; alert?: AlertRow } {
    const changed = this.st.ackAlert.run(nowIso(), by, id).changes === 1;
    const a = this.getAlert(id);
    if (!a) return { ok: false, code: 'NOT_FOUND', message: `no alert ${id}` };
    if (!changed) return { ok: false, code: 'INVALID_STATE', message: `alert ${id} was acknowledged by ${a.ackedBy} at ${a.ackedAt}`, alert: a };
    return { ok: true, alert: a };
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
  /** Record the outcome of an audit row written as pending (once: the outcome is append-only too). */
  completeAudit(id: number, outcome: unknown, deliveryId?: string | null): void {
    this.st.insertAuditOutcome.run(id, nowIso(), JSON.stringify(outcome ?? {}), deliveryId ?? null);
  }
  queryAudit(q: AuditQuery = {}): AuditRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.action) (where.push('audit.action = ?'), args.push(q.action));
    if (q.username) (where.push('audit.username = ?'), args.push(q.username));
    if (q.vehicleId) (where.push('audit.vehicle_id = ?'), args.push(q.vehicleId));
    if (q.deliveryId) (where.push('COALESCE(audit.delivery_id, o.delivery_id) = ?'), args.push(q.deliveryId));
    if (q.since) (where.push('audit.at >= ?'), args.push(q.since));
    if (q.until) (where.push('audit.at <= ?'), args.push(q.until));
    const limit = Math.max(1, Math.min(q.limit ?? 200, 5000));
    const sql = `SELECT audit.*, o.outcome AS final_outcome, o.delivery_id AS created_delivery_id FROM audit LEFT JOIN audit_outcomes o ON o.audit_id = audit.id ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY audit.id DESC LIMIT ${limit}`;
    return (this.db.prepare(sql).all(...args) as any[]).map((r) => SqliteStore.auditRow(r));
  }
  static auditRow(r: any): AuditRow {
    return {
      id: r.id,
      at: r.at,
      username: r.username,
      role: r.role,
      action: r.action,
      vehicleId: r.vehicle_id,
      deliveryId: r.delivery_id ?? r.created_delivery_id ?? null,
      params: JSON.parse(r.params),
      outcome: JSON.parse(r.final_outcome ?? r.outcome),
      address: r.address,
      pending: r.final_outcome == null && JSON.parse(r.outcome)?.pending === true,
    };
  }
}

export type { Store, StoreOps } from './store';
export { openStore, storeReachable } from './open';
