/**
 * Intake persistence behind an asynchronous interface (every method returns a Promise): the places
 * catalogue versions, partner keys, requests and the intake settings. Standard SQL through a
 * SqlExecutor, so the PostgreSQL port only supplies another executor.
 */
import type { Place } from './places';
import { sq, type SqlExecutor, type TxBody } from './sql';

export interface PlaceVersion {
  version: number;
  zonesVersion: number;
  places: Place[];
  placeCount: number;
  /** Per drop point: the outcome of its checks against the zones. */
  checks: Record<string, DropCheck>;
  updatedAt: string;
  updatedBy: string;
  change: string;
}

export interface DropCheck {
  ok: boolean;
  code?: string;
  message?: string;
  sealedZone?: string | null;
  launch?: string | null;
  /** The planner's details of a refusal (the no-fly zone's name …). */
  details?: unknown;
}

export interface PartnerKeyRow {
  id: string;
  name: string;
  keyHash: string;
  scopes: string[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export type RequestState = 'new' | 'triaged' | 'merged' | 'rejected';

export interface RequestRow {
  id: string;
  seq: number;
  statusHash: string;
  source: string;
  receivedAt: string;
  updatedAt: string;
  text: string | null;
  contact: string | null;
  contactKey: string | null;
  lang: 'zh-CN' | 'en';
  placeId: string | null;
  compoundId: string | null;
  drop: [number, number] | null;
  confidence: number;
  match: unknown;
  priority: 'urgent' | 'high' | 'normal';
  priorityReasons: string[];
  state: RequestState;
  deliveryId: string | null;
  mergedInto: string | null;
  merges: number;
  triagedBy: string | null;
  triagedAt: string | null;
  purgedAt: string | null;
}

const j = (s: unknown, d: unknown) => (typeof s === 'string' ? JSON.parse(s) : d);

function requestRow(r: any): RequestRow {
  return {
    id: r.id,
    seq: Number(r.seq),
    statusHash: r.status_hash,
    source: r.source,
    receivedAt: r.received_at,
    updatedAt: r.updated_at,
    text: r.text ?? null,
    contact: r.contact ?? null,
    contactKey: r.contact_key ?? null,
    lang: r.lang,
    placeId: r.place_id ?? null,
    compoundId: r.compound_id ?? null,
    drop: r.drop_lon == null || r.drop_lat == null ? null : [Number(r.drop_lon), Number(r.drop_lat)],
    confidence: Number(r.confidence),
    match: j(r.match, {}),
    priority: r.priority,
    priorityReasons: j(r.priority_reasons, []),
    state: r.state,
    deliveryId: r.delivery_id ?? null,
    mergedInto: r.merged_into ?? null,
    merges: Number(r.merges),
    triagedBy: r.triaged_by ?? null,
    triagedAt: r.triaged_at ?? null,
    purgedAt: r.purged_at ?? null,
  };
}

function keyRow(r: any): PartnerKeyRow {
  return { id: r.id, name: r.name, keyHash: r.key_hash, scopes: j(r.scopes, []), createdAt: r.created_at, createdBy: r.created_by, revokedAt: r.revoked_at ?? null, lastUsedAt: r.last_used_at ?? null };
}

export interface RequestQuery {
  states?: RequestState[];
  limit?: number;
  /** Only requests received at or after this ISO time. */
  since?: string;
}

export class IntakeDb {
  constructor(readonly sql: SqlExecutor) {}

  // ---- places catalogue (versioned)

  async latestPlaces(): Promise<PlaceVersion | undefined> {
    const [r] = await this.sql.all<any>('SELECT * FROM intake_place_versions ORDER BY version DESC LIMIT 1');
    return r ? placeVersion(r) : undefined;
  }
  async placeHistory(limit = 100): Promise<Array<Omit<PlaceVersion, 'places' | 'checks'>>> {
    const rows = await this.sql.all<any>('SELECT version, zones_version, place_count, updated_at, updated_by, change FROM intake_place_versions ORDER BY version DESC LIMIT ?', [limit]);
    return rows.map((r) => ({ version: Number(r.version), zonesVersion: Number(r.zones_version), placeCount: Number(r.place_count), updatedAt: r.updated_at, updatedBy: r.updated_by, change: r.change }));
  }
  /** A new version; with expectVersion, refused (CONFLICT) unless the latest is that one. */
  async savePlaces(v: { places: Place[]; zonesVersion: number; checks: Record<string, DropCheck>; by: string; change: string; expectVersion?: number }): Promise<{ ok: true; version: number } | { ok: false; code: 'CONFLICT'; message: string }> {
    return this.sql.transaction(function* () {
      const [r]: Array<{ v: number | null }> = yield sq.all('SELECT MAX(version) AS v FROM intake_place_versions');
      const latest = Number(r?.v ?? 0);
      if (v.expectVersion !== undefined && v.expectVersion !== latest) return { ok: false as const, code: 'CONFLICT' as const, message: `the catalogue is at version ${latest}, not ${v.expectVersion}` };
      const version = latest + 1;
      yield sq.run('INSERT INTO intake_place_versions (version, zones_version, places, place_count, checks, updated_at, updated_by, change) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        version,
        v.zonesVersion,
        JSON.stringify(v.places),
        v.places.length,
        JSON.stringify(v.checks),
        new Date().toISOString(),
        v.by,
        v.change,
      ]);
      return { ok: true as const, version };
    });
  }

  // ---- partner keys

  async addKey(k: { id: string; name: string; keyHash: string; scopes: string[]; createdBy: string }): Promise<PartnerKeyRow> {
    await this.sql.run('INSERT INTO intake_keys (id, name, key_hash, scopes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)', [k.id, k.name, k.keyHash, JSON.stringify(k.scopes), new Date().toISOString(), k.createdBy]);
    return (await this.getKey(k.id))!;
  }
  async getKey(id: string): Promise<PartnerKeyRow | undefined> {
    const [r] = await this.sql.all('SELECT * FROM intake_keys WHERE id = ?', [id]);
    return r ? keyRow(r) : undefined;
  }
  async listKeys(): Promise<PartnerKeyRow[]> {
    return (await this.sql.all('SELECT * FROM intake_keys ORDER BY created_at, id')).map(keyRow);
  }
  async revokeKey(id: string): Promise<boolean> {
    return (await this.sql.run('UPDATE intake_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [new Date().toISOString(), id])).changes === 1;
  }
  async touchKey(id: string, at: string): Promise<void> {
    await this.sql.run('UPDATE intake_keys SET last_used_at = ? WHERE id = ?', [at, id]);
  }

  // ---- requests

  /** Inserts a request (its number the next one), in one transaction. */
  async insertRequest(r: Omit<RequestRow, 'seq' | 'id'>): Promise<RequestRow> {
    return this.sql.transaction(() => insertRequestSteps(r));
  }
  /**
   * A new request, merged into the open one from the same contact for the same compound since
   * `merge.sinceIso` when there is one (its merge count raised): lookup, count and insert in one
   * transaction.
   */
  async insertOrMerge(row: Omit<RequestRow, 'seq' | 'id'>, merge: { contactKey: string; compoundId: string; sinceIso: string } | null): Promise<{ r: RequestRow; dup?: RequestRow }> {
    return this.sql.transaction(function* () {
      let dup: RequestRow | undefined;
      if (merge) {
        const [d] = yield sq.all(DUPLICATE_SQL, [merge.contactKey, merge.compoundId, merge.sinceIso]);
        dup = d ? requestRow(d) : undefined;
      }
      if (dup) yield sq.run(MERGE_SQL, [row.receivedAt, dup.id]);
      const r: RequestRow = yield* insertRequestSteps(dup ? { ...row, state: 'merged', mergedInto: dup.id } : row);
      return { r, dup };
    });
  }
  async getRequest(id: string): Promise<RequestRow | undefined> {
    const [r] = await this.sql.all('SELECT * FROM intake_requests WHERE id = ?', [id]);
    return r ? requestRow(r) : undefined;
  }
  async getRequestByStatusHash(hash: string): Promise<RequestRow | undefined> {
    const [r] = await this.sql.all('SELECT * FROM intake_requests WHERE status_hash = ?', [hash]);
    return r ? requestRow(r) : undefined;
  }
  async requestForDelivery(deliveryId: string): Promise<RequestRow | undefined> {
    const [r] = await this.sql.all("SELECT * FROM intake_requests WHERE delivery_id = ? AND state = 'triaged' ORDER BY seq LIMIT 1", [deliveryId]);
    return r ? requestRow(r) : undefined;
  }
  /** The open request (new or triaged) from the same contact for the same place since `sinceIso`, oldest first. */
  async findDuplicate(contactKey: string, compoundId: string, sinceIso: string): Promise<RequestRow | undefined> {
    const [r] = await this.sql.all(DUPLICATE_SQL, [contactKey, compoundId, sinceIso]);
    return r ? requestRow(r) : undefined;
  }
  async addMerge(id: string, at: string): Promise<void> {
    await this.sql.run(MERGE_SQL, [at, id]);
  }
  /** Move a request from one state to the next (only if it is still in `from`). */
  async setState(id: string, from: RequestState[], patch: { state: RequestState; deliveryId?: string | null; triagedBy?: string; priority?: string; placeId?: string | null; drop?: [number, number] | null }): Promise<boolean> {
    const at = new Date().toISOString();
    const r = await this.sql.run(
      `UPDATE intake_requests SET state = ?, delivery_id = COALESCE(?, delivery_id), triaged_by = COALESCE(?, triaged_by), triaged_at = COALESCE(?, triaged_at),
       priority = COALESCE(?, priority), place_id = COALESCE(?, place_id), drop_lon = COALESCE(?, drop_lon), drop_lat = COALESCE(?, drop_lat), updated_at = ?
       WHERE id = ? AND state IN (${from.map(() => '?').join(', ')})`,
      [patch.state, patch.deliveryId ?? null, patch.triagedBy ?? null, patch.triagedBy ? at : null, patch.priority ?? null, patch.placeId ?? null, patch.drop?.[0] ?? null, patch.drop?.[1] ?? null, at, id, ...from],
    );
    return r.changes === 1;
  }
  /** A drop point an operator placed on the map for a new request: it replaces the matched place. */
  async placeDrop(id: string, drop: [number, number]): Promise<boolean> {
    const r = await this.sql.run(
      "UPDATE intake_requests SET drop_lon = ?, drop_lat = ?, place_id = NULL, compound_id = NULL, updated_at = ? WHERE id = ? AND state = 'new'",
      [drop[0], drop[1], new Date().toISOString(), id],
    );
    return r.changes === 1;
  }
  async listRequests(q: RequestQuery = {}): Promise<RequestRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.states?.length) (where.push(`state IN (${q.states.map(() => '?').join(', ')})`), args.push(...q.states));
    if (q.since) (where.push('received_at >= ?'), args.push(q.since));
    const limit = Math.max(1, Math.min(q.limit ?? 200, 2000));
    const rows = await this.sql.all(`SELECT * FROM intake_requests ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ${limit}`, args);
    return rows.map(requestRow);
  }
  /** Blank text and contact of requests received before `beforeIso` whose job (if any) has ended. Returns the ids purged. */
  async purgePersonalData(beforeIso: string, at: string): Promise<string[]> {
    return this.sql.transaction(function* () {
      const rows: Array<{ id: string }> = yield sq.all(
        `SELECT r.id FROM intake_requests r LEFT JOIN deliveries d ON d.id = r.delivery_id
         WHERE r.received_at < ? AND r.purged_at IS NULL AND (d.id IS NULL OR d.state IN ('completed','failed','aborted'))
         ORDER BY r.seq`,
        [beforeIso],
      );
      if (rows.length) yield sq.run(`UPDATE intake_requests SET text = NULL, contact = NULL, purged_at = ? WHERE purged_at IS NULL AND id IN (${rows.map(() => '?').join(', ')})`, [at, ...rows.map((r) => r.id)]);
      return rows.map((r) => r.id);
    });
  }

  // ---- settings

  async getSetting<T>(name: string): Promise<T | undefined> {
    const [r] = await this.sql.all<{ value: string }>('SELECT value FROM intake_settings WHERE name = ?', [name]);
    return r ? (JSON.parse(r.value) as T) : undefined;
  }
  async setSetting(name: string, value: unknown, by: string): Promise<void> {
    await this.sql.run('INSERT INTO intake_settings (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by', [
      name,
      JSON.stringify(value),
      new Date().toISOString(),
      by,
    ]);
  }
}

function placeVersion(r: any): PlaceVersion {
  return {
    version: Number(r.version),
    zonesVersion: Number(r.zones_version),
    places: JSON.parse(r.places),
    placeCount: Number(r.place_count),
    checks: j(r.checks, {}),
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
    change: r.change,
  };
}

const DUPLICATE_SQL = "SELECT * FROM intake_requests WHERE contact_key = ? AND compound_id = ? AND received_at >= ? AND state IN ('new','triaged') ORDER BY seq LIMIT 1";
const MERGE_SQL = 'UPDATE intake_requests SET merges = merges + 1, updated_at = ? WHERE id = ?';

/** The statements that insert a request under the next number (inside a transaction). */
function* insertRequestSteps(r: Omit<RequestRow, 'seq' | 'id'>): TxBody<RequestRow> {
  const [m]: Array<{ n: number | null }> = yield sq.all('SELECT MAX(seq) AS n FROM intake_requests');
  const seq = Number(m?.n ?? 0) + 1;
  const id = `R${String(seq).padStart(5, '0')}`;
  yield sq.run(
    `INSERT INTO intake_requests (id, seq, status_hash, source, received_at, updated_at, text, contact, contact_key, lang, place_id, compound_id, drop_lon, drop_lat, confidence, match, priority, priority_reasons, state, delivery_id, merged_into, merges, triaged_by, triaged_at, purged_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      id, seq, r.statusHash, r.source, r.receivedAt, r.updatedAt, r.text, r.contact, r.contactKey, r.lang, r.placeId, r.compoundId,
      r.drop?.[0] ?? null, r.drop?.[1] ?? null, r.confidence, JSON.stringify(r.match ?? {}), r.priority, JSON.stringify(r.priorityReasons),
      r.state, r.deliveryId, r.mergedInto, r.merges, r.triagedBy, r.triagedAt, r.purgedAt,
    ],
  );
  const [row] = yield sq.all('SELECT * FROM intake_requests WHERE id = ?', [id]);
  return requestRow(row);
}
