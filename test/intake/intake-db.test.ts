/**
 * The intake persistence on both databases it is written for: a real SQLite file (the store's
 * schema and migration 7) and PostgreSQL (a schema of its own, migration 7 unchanged). Same calls,
 * same answers.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { openStore, type Store } from '../../src/store';
import { IntakeDb, type RequestRow } from '../../src/intake/db';
import { SqliteExecutor } from '../../src/intake/sql';
import { createPartnerKey, verifyPartnerKey } from '../../src/intake/keys';
import { pgSchema, type PgSchema } from './pg';
import { testCatalogue } from './catalogue';

let dir: string;
let store: Store;
let pg: PgSchema;
const dbs = {} as Record<'sqlite' | 'postgres', IntakeDb>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-intake-db-'));
  store = await openStore({ dataDir: dir });
  dbs.sqlite = new IntakeDb(new SqliteExecutor(store.db!));
  pg = await pgSchema('intake');
  dbs.postgres = new IntakeDb(pg.sql);
});

afterAll(async () => {
  store?.close();
  await pg?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const base = (o: Partial<RequestRow>): Omit<RequestRow, 'id' | 'seq'> => ({
  statusHash: Math.random().toString(36).slice(2) + Date.now(), source: 'key:abc', receivedAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
  text: '滨河小区1号楼 药', contact: '13800000000', contactKey: 'k1', lang: 'zh-CN', placeId: 'riverside-b1', compoundId: 'riverside', drop: [114.402, 34.0675],
  confidence: 0.99, match: { candidates: [] }, priority: 'high', priorityReasons: ['medicine'], state: 'new', deliveryId: null, mergedInto: null, merges: 0,
  triagedBy: null, triagedAt: null, purgedAt: null, ...o,
});

describe.each(['sqlite', 'postgres'] as const)('on %s', (engine) => {
  const db = () => dbs[engine];

  test('catalogue versions, with optimistic concurrency', async () => {
    expect(await db().latestPlaces()).toBeUndefined();
    expect(await db().savePlaces({ places: testCatalogue(), zonesVersion: 3, checks: { 'riverside-b1': { ok: true, sealedZone: 'Riverside' } }, by: 'sup', change: 'first' })).toEqual({ ok: true, version: 1 });
    expect(await db().savePlaces({ places: testCatalogue().slice(0, 2), zonesVersion: 4, checks: {}, by: 'sup', change: 'second', expectVersion: 1 })).toEqual({ ok: true, version: 2 });
    expect(await db().savePlaces({ places: [], zonesVersion: 4, checks: {}, by: 'sup', change: 'stale', expectVersion: 1 })).toMatchObject({ ok: false, code: 'CONFLICT' });
    const latest = (await db().latestPlaces())!;
    expect(latest).toMatchObject({ version: 2, zonesVersion: 4, placeCount: 2, updatedBy: 'sup', change: 'second' });
    expect(latest.places).toEqual(testCatalogue().slice(0, 2));
    expect((await db().placeHistory()).map((h) => h.version)).toEqual([2, 1]);
  });

  test('partner keys: hashed, verified, revoked', async () => {
    const k = await createPartnerKey(db(), 'bot', ['requests.create'], 'admin');
    expect(k.row.keyHash).not.toContain(k.key.split('_').slice(2).join('_'));
    expect(await verifyPartnerKey(db(), k.key)).toMatchObject({ ok: true, key: { id: k.row.id, scopes: ['requests.create'] } });
    expect(await db().revokeKey(k.row.id)).toBe(true);
    expect(await db().revokeKey(k.row.id)).toBe(false);
    expect((await verifyPartnerKey(db(), k.key)).ok).toBe(false);
  });

  test('requests: insert, duplicate lookup within the window, merge count, state changes, listing', async () => {
    const a = await db().insertRequest(base({}));
    expect(a).toMatchObject({ id: 'R00001', seq: 1, drop: [114.402, 34.0675], priorityReasons: ['medicine'], match: { candidates: [] }, confidence: 0.99 });
    const since = new Date(Date.now() - 60_000).toISOString();
    expect((await db().findDuplicate('k1', 'riverside', since))?.id).toBe(a.id);
    expect(await db().findDuplicate('k1', 'garden', since)).toBeUndefined();
    expect(await db().findDuplicate('k1', 'riverside', new Date(Date.now() + 60_000).toISOString())).toBeUndefined();
    const m = await db().insertOrMerge(base({}), { contactKey: 'k1', compoundId: 'riverside', sinceIso: since });
    expect([m.dup?.id, m.r.state, m.r.mergedInto]).toEqual([a.id, 'merged', a.id]);
    expect((await db().getRequest(a.id))!.merges).toBe(1);
    expect(await db().setState(a.id, ['new'], { state: 'triaged', deliveryId: 'D00001', triagedBy: 'op', priority: 'urgent' })).toBe(true);
    expect(await db().setState(a.id, ['new'], { state: 'rejected' })).toBe(false);
    expect(await db().getRequest(a.id)).toMatchObject({ state: 'triaged', deliveryId: 'D00001', triagedBy: 'op', priority: 'urgent', triagedAt: expect.any(String) });
    expect((await db().listRequests({ states: ['merged'] })).map((r) => r.mergedInto)).toEqual([a.id]);
    expect((await db().listRequests()).map((r) => r.id)).toEqual(['R00002', 'R00001']);
    expect((await db().getRequestByStatusHash(a.statusHash))?.id).toBe(a.id);
  });

  test('a failed transaction rolls back its own statements only: nothing else is written inside it', async () => {
    const a = await db().insertRequest(base({ contactKey: 'k5' }));
    const since = new Date(Date.now() - 60_000).toISOString();
    // Another code path writes on the same database at every turn of the event loop's microtask queue
    // while the intake transaction runs (on SQLite: the store's one shared connection).
    const others: Array<Promise<void>> = [];
    const writes: string[] = [];
    const other = async (tag: string) => {
      for (let i = 0; i < 10; i++) {
        await null;
        await db().setSetting(`other-${tag}-${i}`, i, 'another code path');
        writes.push(`${tag}-${i}`);
      }
    };
    others.push(other('before'));
    // Merged into `a` (its merge count raised), then the insert fails (a status hash already taken): the whole transaction is undone.
    const failed = db().insertOrMerge(base({ contactKey: 'k5', statusHash: a.statusHash }), { contactKey: 'k5', compoundId: 'riverside', sinceIso: since }).then(
      () => null,
      (e: Error) => e.message,
    );
    others.push(other('after'));
    expect(await failed).toMatch(/unique|UNIQUE|duplicate/);
    await Promise.all(others);
    expect(writes).toHaveLength(20);
    expect((await db().getRequest(a.id))!.merges).toBe(0);
    // Every write of the other code path is there: none was taken into the failed transaction and undone with it.
    for (const w of writes) expect([w, await db().getSetting(`other-${w}`)]).toEqual([w, Number(w.split('-')[1])]);
  });

  test('personal data purge: only past the retention and once the job (if any) has ended', async () => {
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const r = await db().insertRequest(base({ receivedAt: old, contactKey: 'k9' }));
    const before = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const ids = await db().purgePersonalData(before, new Date().toISOString());
    expect(ids).toEqual([r.id]);
    expect(await db().getRequest(r.id)).toMatchObject({ text: null, contact: null, contactKey: 'k9', purgedAt: expect.any(String) });
    expect(await db().purgePersonalData(before, new Date().toISOString())).toEqual([]);
  });

  test('settings: one JSON value per name, replaced', async () => {
    await db().setSetting('policy', { autoJob: true }, 'sup');
    await db().setSetting('policy', { autoJob: false, mergeWindowMin: 10 }, 'sup2');
    expect(await db().getSetting('policy')).toEqual({ autoJob: false, mergeWindowMin: 10 });
    expect(await db().getSetting('nothing')).toBeUndefined();
  });
});
