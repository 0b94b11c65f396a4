/**
 * Request intake over real HTTP against a running service (real SQLite file, planner threads):
 * partner keys (scopes, bad and revoked keys 401), hostile and oversized text 4xx, the places
 * catalogue checked against the zones, matching, merge of duplicates, triage into a job, auto-job by
 * policy, the resident's status (no personal data, rate-limited, expiry), masking and export, the
 * purge of personal data, and the audit of every step.
 */
import fs from 'fs';
import fc from 'fast-check';
import os from 'os';
import path from 'path';
import { startService, type Service } from '../../src/service';
import { Client, waitFor } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';
import { testCatalogue, RIVERSIDE_B1, RIVERSIDE_GATE, IN_NO_FLY, GARDEN_B1 } from '../intake/catalogue';

jest.setTimeout(120_000);

/** Inside the Xinhua Block sealed zone of the test zones (no catalogue place there). */
const XINHUA: [number, number] = [114.3935, 34.0515];

let dir: string;
let svc: Service;
const c: Record<string, Client> = {};
let createKey = '';
let fullKey = '';
let fullKeyId = '';

const withKey = (key: string | null, method: string, p: string, body?: unknown, raw?: string) => new Client(svc.url).req(method, p, body, { token: key, raw });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-intake-'));
  await seedTestUsers(dir);
  svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, simulators: 0, logLevel: 'silent' });
  for (const r of ['admin', 'operator', 'supervisor', 'trainer']) c[r] = await new Client(svc.url).login(r);
  const k1 = await c.admin.post('/api/intake/keys', { name: 'community chat-bot', scopes: ['requests.create'] });
  expect(k1.status).toBe(201);
  createKey = k1.body.key;
  const k2 = await c.admin.post('/api/intake/keys', { name: 'hotline', scopes: ['requests.create', 'requests.read'] });
  fullKey = k2.body.key;
  fullKeyId = k2.body.id;
  const saved = await c.supervisor.put('/api/places', { places: testCatalogue(), change: 'first catalogue' });
  expect(saved.status).toBe(200);
});

afterAll(async () => {
  await svc?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('partner keys', () => {
  test('a key is shown once; only its hash is stored; only admins make them', async () => {
    expect(createKey).toMatch(/^dlk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const list = await c.admin.get('/api/intake/keys');
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(createKey.split('_').slice(2).join('_'));
    expect(list.body.map((k: any) => k.role)).toEqual(['intake', 'intake']);
    const stored = svc.store.db!.prepare('SELECT key_hash FROM intake_keys').all() as Array<{ key_hash: string }>;
    for (const s of stored) expect(s.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await c.supervisor.post('/api/intake/keys', { name: 'x', scopes: ['requests.create'] })).status).toBe(403);
    expect((await c.operator.get('/api/intake/keys')).status).toBe(403);
  });

  test('no key, a malformed key, an unknown key and a wrong secret are 401', async () => {
    const body = { text: '滨河小区1号楼需要药' };
    expect((await withKey(null, 'POST', '/api/requests', body)).status).toBe(401);
    expect((await withKey('dlk_nonsense', 'POST', '/api/requests', body)).status).toBe(401);
    expect((await withKey(`dlk_zzzzzzzzzzzz_${'A'.repeat(43)}`, 'POST', '/api/requests', body)).status).toBe(401);
    const wrongSecret = createKey.slice(0, -3) + (createKey.endsWith('AAA') ? 'BBB' : 'AAA');
    const r = await withKey(wrongSecret, 'POST', '/api/requests', body);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('UNAUTHENTICATED');
  });

  test('scopes: a create-only key cannot read status; no key reads the console routes', async () => {
    const made = await withKey(createKey, 'POST', '/api/requests', { text: 'Riverside Estate building 2: rice and vegetables' });
    expect(made.status).toBe(201);
    const read = await withKey(createKey, 'GET', `/api/requests/${made.body.id}/status`);
    expect(read.status).toBe(403);
    expect(read.body.error.code).toBe('FORBIDDEN');
    for (const p of ['/api/requests', `/api/requests/${made.body.id}`, '/api/places', '/api/intake/keys', '/api/reports/operations?from=2026-01-01']) {
      expect((await withKey(fullKey, 'GET', p)).status).toBe(403);
    }
    // A key with requests.read reads the requests it sent, not another partner's.
    const own = await withKey(fullKey, 'POST', '/api/requests', { text: '花园小区1号楼 面包' });
    expect((await withKey(fullKey, 'GET', `/api/requests/${own.body.id}/status`)).body).toMatchObject({ id: own.body.id, state: 'received' });
    expect((await withKey(fullKey, 'GET', `/api/requests/${made.body.id}/status`)).status).toBe(404);
  });

  test('the routes are in the OpenAPI document, with their permission, partner scope and body schema', async () => {
    const doc = (await c.operator.get('/api/openapi.json')).body;
    expect(doc.paths['/api/requests'].post).toMatchObject({ 'x-permission': 'delivery.create', 'x-partner-scope': 'requests.create', 'x-audit-action': 'request.create' });
    expect(doc.paths['/api/requests'].post.requestBody.content['application/json'].schema.properties.text).toBeTruthy();
    expect(doc.paths['/api/status/{token}'].get.security).toEqual([]);
    expect(doc.paths['/api/reports/operations'].get.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['from', 'to', 'tzOffsetMin']));
  });

  test('a revoked key is 401 at once', async () => {
    const k = await c.admin.post('/api/intake/keys', { name: 'temporary', scopes: ['requests.create'] });
    expect((await withKey(k.body.key, 'POST', '/api/requests', { text: 'Riverside Estate' })).status).toBe(201);
    expect((await c.admin.post(`/api/intake/keys/${k.body.id}/revoke`, {})).status).toBe(200);
    expect((await withKey(k.body.key, 'POST', '/api/requests', { text: 'Riverside Estate' })).status).toBe(401);
  });
});

describe('hostile and oversized input', () => {
  const cases: Array<[string, unknown, number, string]> = [
    ['markup', { text: '滨河小区<script>alert(1)</script>' }, 400, 'HOSTILE_TEXT'],
    ['an image tag', { text: 'Riverside <img src=x onerror=alert(1)>' }, 400, 'HOSTILE_TEXT'],
    ['a javascript: URL', { text: 'see javascript:alert(1)' }, 400, 'HOSTILE_TEXT'],
    ['control characters', { text: 'Riverside\u0000Estate' }, 400, 'HOSTILE_TEXT'],
    ['a bidi override', { text: 'Riverside \u202eetatsE' }, 400, 'HOSTILE_TEXT'],
    ['an unpaired surrogate', { text: 'Riverside \ud800 Estate' }, 400, 'HOSTILE_TEXT'],
    ['a hostile contact', { text: 'Riverside Estate', contact: '<svg onload=alert(1)>' }, 400, 'HOSTILE_TEXT'],
    ['empty text', { text: '   ' }, 400, 'EMPTY_TEXT'],
    ['text past 2,000 characters', { text: '药'.repeat(2001) }, 413, 'TEXT_TOO_LONG'],
    ['an unknown field', { text: 'Riverside Estate', extra: 1 }, 400, 'INVALID_BODY'],
    ['a wrong type', { text: 42 }, 400, 'INVALID_BODY'],
    ['an unknown place', { text: 'x', placeId: 'nowhere' }, 422, 'UNKNOWN_PLACE'],
    ['a position out of range', { text: 'x', drop: [500, 34] }, 400, 'INVALID_BODY'],
  ];
  test.each(cases)('%s is refused', async (_what, body, status, code) => {
    const r = await withKey(createKey, 'POST', '/api/requests', body);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
  });

  test('a body past 16 KiB is 413, malformed JSON 400, another content type 415', async () => {
    const big = await withKey(createKey, 'POST', '/api/requests', { text: 'Riverside', contact: 'x'.repeat(17_000) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const bad = await withKey(createKey, 'POST', '/api/requests', undefined, '{"text": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('MALFORMED_JSON');
    const form = await new Client(svc.url).req('POST', '/api/requests', undefined, { token: createKey, raw: 'text=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
  });
});

describe('catalogue', () => {
  test('drop points are checked against the zones when saved: a drop in a no-fly zone is refused', async () => {
    const places = testCatalogue();
    places.push({ id: 'helipad-dp', kind: 'drop-point', parentId: 'riverside', name: { en: 'Helipad' }, drop: IN_NO_FLY });
    const r = await c.supervisor.put('/api/places', { places });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('DROP_CHECK_FAILED');
    expect(r.body.error.details).toEqual([expect.objectContaining({ id: 'helipad-dp', code: 'DROP_IN_NO_FLY' })]);
    // Outside every sealed zone (in the operating area, clear of no-fly zones).
    places[places.length - 1].drop = [114.39, 34.058];
    const outside = await c.supervisor.put('/api/places', { places });
    expect(outside.status).toBe(422);
    expect(outside.body.error.details[0].code).toBe('DROP_OUTSIDE_SEALED_ZONE');
    const cat = await c.operator.get('/api/places');
    expect(cat.body.version).toBe(1);
    expect(cat.body.checks['riverside-b1']).toMatchObject({ ok: true, sealedZone: 'Riverside Estate 滨河小区' });
  });

  test('operators may not edit it; CSV and GeoJSON imports make new versions tied to the zones version', async () => {
    expect((await c.operator.put('/api/places', { places: testCatalogue() })).status).toBe(403);
    const csv = [
      'id,kind,parent,name_zh,name_en,aliases,number,lon,lat',
      'riverside,compound,,滨河小区,Riverside Estate,滨河|Binhe,,,',
      `riverside-b1,building,riverside,1号楼,Building 1,,1,${RIVERSIDE_B1.join(',')}`,
      `riverside-gate,drop-point,riverside,西门,"West gate, by the shop",,,${RIVERSIDE_GATE.join(',')}`,
      'garden,compound,,花园小区,Garden Court,,,,',
      `garden-b1,building,garden,1号楼,Building 1,,1,${GARDEN_B1.join(',')}`,
    ].join('\n');
    const r1 = await c.supervisor.post('/api/places/import', { format: 'csv', text: csv });
    expect(r1.status).toBe(200);
    expect(r1.body.version).toBe(2);
    const fc = { type: 'FeatureCollection', features: testCatalogue().map((p) => ({ type: 'Feature', properties: { id: p.id, kind: p.kind, parent: p.parentId, name_zh: p.name.zh, name_en: p.name.en, aliases: p.aliases?.join('|'), number: p.number }, geometry: p.drop ? { type: 'Point', coordinates: p.drop } : null })) };
    const r2 = await c.supervisor.post('/api/places/import', { format: 'geojson', text: JSON.stringify(fc), expectVersion: 2 });
    expect(r2.status).toBe(200);
    expect((await c.supervisor.post('/api/places/import', { format: 'geojson', text: JSON.stringify(fc), expectVersion: 2 })).body.error.code).toBe('CONFLICT');
    expect((await c.supervisor.post('/api/places/import', { format: 'csv', text: 'id,kind\n"unclosed' })).body.error.code).toBe('INVALID_CSV');
    const hist = await c.operator.get('/api/places/history');
    expect(hist.body.map((h: any) => h.version)).toEqual([3, 2, 1]);
    expect(hist.body[0].zonesVersion).toBeGreaterThanOrEqual(1);
  });
});

describe('requests', () => {
  test('matched, prioritised, merged with a duplicate from the same contact, audited without personal data', async () => {
    const a = await withKey(createKey, 'POST', '/api/requests', { text: '我奶奶90岁，住滨河小区2号楼，需要降压药', contact: '138 0013 8000' });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ state: 'new', merged: false, suggestedPriority: 'urgent', priorityReasons: ['medicine', 'elderly'], match: { placeId: 'riverside-b2', compoundId: 'riverside' } });
    expect(a.body.match.confidence).toBeGreaterThanOrEqual(0.95);
    expect(a.body.statusUrl).toBe(`/s/${a.body.statusToken}`);
    // The same contact (written differently) for the same compound within the window: merged.
    const b = await withKey(fullKey, 'POST', '/api/requests', { text: 'Riverside Estate, grandma still needs her medicine', contact: '13800138000' });
    expect(b.body).toMatchObject({ merged: true, mergedInto: a.body.id });
    const orig = await c.operator.get(`/api/requests/${a.body.id}`);
    expect(orig.body).toMatchObject({ merges: 1, text: '我奶奶90岁，住滨河小区2号楼，需要降压药', contact: '138 0013 8000' });
    expect(orig.body.match.candidates[0]).toMatchObject({ placeId: 'riverside-b2', method: 'exact' });
    // Another contact: not merged.
    const d = await withKey(createKey, 'POST', '/api/requests', { text: 'Riverside Estate building 1 baby formula', contact: '13900000000' });
    expect(d.body.merged).toBe(false);
    const audit = await c.supervisor.get('/api/audit?limit=200');
    const created = audit.body.filter((x: any) => x.action === 'request.create' && x.params.requestId === a.body.id);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ username: expect.stringMatching(/^key:/), role: 'intake', params: { placeId: 'riverside-b2', priority: 'urgent' } });
    expect(audit.body.find((x: any) => x.action === 'request.merge' && x.params.into === a.body.id)).toBeTruthy();
    expect(JSON.stringify(audit.body)).not.toContain('13800138000');
    expect(JSON.stringify(audit.body)).not.toContain('降压药');
  });

  test('text and contact only for operators, supervisors and admins; exports masked unless an admin asks (audited)', async () => {
    const list = await c.trainer.get('/api/requests');
    expect(list.status).toBe(200);
    const row = list.body.find((r: any) => r.contact);
    expect(row.text).toBe('…');
    expect(row.contact).toMatch(/^\*+\d{0,4}$/);
    expect((await c.trainer.get('/api/requests.csv')).status).toBe(403);
    const masked = await c.supervisor.get('/api/requests.csv');
    expect(masked.status).toBe(200);
    expect(masked.body).not.toContain('13800138000');
    expect(masked.body).not.toContain('138 0013 8000');
    expect(masked.body).toContain('(masked)');
    expect((await c.supervisor.get('/api/requests.csv?reveal=1')).status).toBe(403);
    const revealed = await c.admin.get('/api/requests.csv?reveal=1');
    expect(revealed.body).toContain('138 0013 8000');
    const audit = await c.admin.get('/api/audit?action=request.export');
    expect(audit.body.map((x: any) => [x.username, x.params.reveal])).toEqual(expect.arrayContaining([['admin', true], ['supervisor', false]]));
  });

  test('triage makes a job in one step with the drop point pre-filled; the status link follows it', async () => {
    const r = await withKey(fullKey, 'POST', '/api/requests', { text: 'Garden Court building 1, insulin for my father (diabetic)', contact: 'wechat: resident-7' });
    expect(r.body.suggestedPriority).toBe('urgent');
    const before = await new Client(svc.url).req('GET', `/api/status/${r.body.statusToken}`, undefined, { token: null });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ reference: r.body.id, state: 'received', place: { zh: '花园小区', en: 'Garden Court' } });
    expect((await c.trainer.post(`/api/requests/${r.body.id}/triage`, {})).status).toBe(403);
    const t = await c.operator.post(`/api/requests/${r.body.id}/triage`, {});
    expect(t.status).toBe(201);
    expect(t.body.job).toMatchObject({ drop: GARDEN_B1, priority: 'urgent', state: 'planned' });
    expect(t.body.request).toMatchObject({ state: 'triaged', deliveryId: t.body.job.id, triagedBy: 'operator' });
    // The job carries no personal data of the resident.
    expect(JSON.stringify(t.body.job)).not.toContain('resident-7');
    expect((await c.operator.post(`/api/requests/${r.body.id}/triage`, {})).body.error.code).toBe('INVALID_STATE');
    const s = await new Client(svc.url).req('GET', `/api/status/${r.body.statusToken}`, undefined, { token: null });
    expect(s.body).toMatchObject({ state: 'scheduled', predictedDropAt: t.body.job.promiseBy });
    expect(Object.keys(s.body).sort()).toEqual(['building', 'deliveredAt', 'lang', 'place', 'predictedDropAt', 'receivedAt', 'reference', 'state', 'updatedAt']);
    expect(JSON.stringify(s.body)).not.toMatch(/resident-7|insulin|vehicle/);
    const audit = await c.supervisor.get(`/api/audit?action=request.triage`);
    expect(audit.body[0]).toMatchObject({ username: 'operator', deliveryId: t.body.job.id, outcome: { ok: true, deliveryId: t.body.job.id }, pending: false });
    // Rejecting a triaged request is refused; rejecting a new one closes its link's state.
    expect((await c.operator.post(`/api/requests/${r.body.id}/reject`, { reason: 'dup' })).status).toBe(409);
  });

  test('a job that ends has its report facts written as it ends, not when a report is asked for', async () => {
    const r = await withKey(createKey, 'POST', '/api/requests', { text: 'Garden Court building 1, bread' });
    const t = await c.operator.post(`/api/requests/${r.body.id}/triage`, {});
    expect(t.status).toBe(201);
    const id = t.body.job.id;
    const facts = () =>
      svc.store.db!.prepare('SELECT site, promise_by, failure_code, reason, created_at, dropped_at, asked_at, compound, wait_s, within_promise FROM report_job_facts WHERE delivery_id = ?').get(id);
    expect(facts()).toBeUndefined();
    expect((await c.operator.post(`/api/deliveries/${id}/abort`, { reason: 'resident collected it' })).status).toBe(200);
    const row = await waitFor(async () => facts(), 10_000, 'facts row of the aborted job');
    const job = (await c.operator.get(`/api/deliveries/${id}`)).body;
    expect(job.state).toBe('aborted');
    // From the job's timeline and its request: never dropped, asked when the request came in.
    expect(row).toEqual({
      site: job.launch.name, promise_by: job.promiseBy, failure_code: null, reason: 'resident collected it',
      created_at: job.createdAt, dropped_at: null, asked_at: t.body.request.receivedAt, compound: t.body.request.compoundId, wait_s: null, within_promise: 0,
    });
    expect(t.body.request.compoundId).toEqual(expect.any(String));
  });

  test('an unmatched request gets its drop point from the map: checked as a catalogue place is, kept only if it passes, audited; triage uses it', async () => {
    const r = await withKey(createKey, 'POST', '/api/requests', { text: 'the flat above the noodle shop, some rice please', contact: 'hotline 4417' });
    expect(r.status).toBe(201);
    expect(r.body.match.placeId).toBeNull();
    const id = r.body.id;
    const place = (who: Client, drop: unknown) => who.post(`/api/requests/${id}/drop`, { drop });
    // Without a drop point the job cannot be made.
    expect((await c.operator.post(`/api/requests/${id}/triage`, {})).body.error.code).toBe('NO_DROP_POINT');
    expect((await place(c.trainer, XINHUA)).status).toBe(403);
    for (const bad of [[114.39], [200, 34], [114.39, 34.05, 1], '114.39,34.05', null]) expect([bad, (await place(c.operator, bad)).status]).toEqual([bad, 400]);
    const noFly = await place(c.operator, IN_NO_FLY);
    expect([noFly.status, noFly.body.error.code]).toEqual([422, 'DROP_IN_NO_FLY']);
    const outside = await place(c.operator, [114.39, 34.058]);
    expect([outside.status, outside.body.error.code]).toEqual([422, 'DROP_OUTSIDE_SEALED_ZONE']);
    expect((await c.operator.get(`/api/requests/${id}`)).body.drop).toBeNull();
    const ok = await place(c.operator, XINHUA);
    expect(ok.status).toBe(200);
    expect(ok.body.check).toMatchObject({ ok: true, sealedZone: 'Xinhua Block 新华街区' });
    expect(ok.body.request).toMatchObject({ id, state: 'new', drop: XINHUA, placeId: null, compoundId: null });
    const audit = (await c.supervisor.get('/api/audit?action=request.drop')).body.filter((a: any) => a.params.requestId === id);
    expect(audit.map((a: any) => [a.username, a.outcome.ok, a.outcome.code ?? null]).reverse()).toEqual([
      ['operator', false, 'DROP_IN_NO_FLY'],
      ['operator', false, 'DROP_OUTSIDE_SEALED_ZONE'],
      ['operator', true, null],
    ]);
    expect(JSON.stringify(audit)).not.toMatch(/noodle|4417/);
    const t = await c.operator.post(`/api/requests/${id}/triage`, {});
    expect(t.status).toBe(201);
    expect(t.body.job.drop).toEqual(XINHUA);
    // A triaged request's drop point no longer moves.
    expect((await place(c.operator, XINHUA)).body.error.code).toBe('INVALID_STATE');
  });

  test('the policy can turn a confident match of a checked drop point into a job at once', async () => {
    expect((await c.operator.put('/api/intake/policy', { autoJob: true })).status).toBe(403);
    const p = await c.supervisor.put('/api/intake/policy', { autoJob: true, autoJobMinConfidence: 0.95 });
    expect(p.status).toBe(200);
    const sure = await withKey(createKey, 'POST', '/api/requests', { text: '滨河小区1号楼 面包和牛奶' });
    expect(sure.body.job).toMatchObject({ state: 'planned' });
    const job = await c.operator.get(`/api/deliveries/${sure.body.job.id}`);
    expect(job.body.drop).toEqual(RIVERSIDE_B1);
    const unsure = await withKey(createKey, 'POST', '/api/requests', { text: 'Rivresid Estaet, some bread' });
    expect(unsure.body.job).toBeUndefined();
    expect((await c.supervisor.get('/api/audit?action=request.triage')).body[0]).toMatchObject({ username: 'intake-policy', role: 'policy' });
    await c.supervisor.put('/api/intake/policy', { autoJob: false });
  });

  test('the status link: unguessable, no other data, rate-limited, gone after the grace period', async () => {
    const r = await withKey(createKey, 'POST', '/api/requests', { text: 'Riverside Estate west gate, medicine', contact: '13700000000' });
    const anon = (p: string) => new Client(svc.url).req('GET', p, undefined, { token: null });
    expect(r.body.statusToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await anon(`/api/status/${'A'.repeat(43)}`)).status).toBe(404);
    expect((await anon('/api/status/short')).status).toBe(404);
    const ok = await anon(`/api/status/${r.body.statusToken}`);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(ok.headers.get('content-security-policy')).toContain("script-src 'self'");
    // Rejected: the link answers until the grace period ends.
    await c.operator.post(`/api/requests/${r.body.id}/reject`, { reason: 'resident asked to cancel' });
    expect((await anon(`/api/status/${r.body.statusToken}`)).body.state).toBe('closed');
    await c.supervisor.put('/api/intake/policy', { statusGraceH: 0 });
    await new Promise((res) => setTimeout(res, 20));
    const gone = await anon(`/api/status/${r.body.statusToken}`);
    expect(gone.status).toBe(410);
    expect(gone.body.error.code).toBe('STATUS_EXPIRED');
    // Rate limit per address.
    await c.supervisor.put('/api/intake/policy', { statusPerMinute: 3 });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await anon(`/api/status/${r.body.statusToken}`)).status);
    expect(codes.slice(-2)).toEqual([429, 429]);
    await c.supervisor.put('/api/intake/policy', {});
  });

  test('personal data is purged after the retention period (admin, audited); merging still works on the keyed hash', async () => {
    const r = await withKey(createKey, 'POST', '/api/requests', { text: '花园小区1号楼 老人 药', contact: '13600000000' });
    // The request was received 40 days ago (retention 30 days).
    svc.store.db!.prepare('UPDATE intake_requests SET received_at = ? WHERE id = ?').run(new Date(Date.now() - 40 * 86_400_000).toISOString(), r.body.id);
    expect((await c.supervisor.post('/api/requests/purge', {})).status).toBe(403);
    const p = await c.admin.post('/api/requests/purge', {});
    expect(p.status).toBe(200);
    expect(p.body.purged).toBeGreaterThanOrEqual(1);
    const row = await c.admin.get(`/api/requests/${r.body.id}`);
    expect(row.body).toMatchObject({ text: null, contact: null, purgedAt: expect.any(String) });
    const audit = await c.admin.get('/api/audit?action=request.purge');
    expect(audit.body[0]).toMatchObject({ username: 'admin', outcome: { ok: true, ids: expect.arrayContaining([r.body.id]) } });
  });
});

describe('zones change', () => {
  test('the drop points are checked again and the catalogue versioned with the new zones', async () => {
    const zones = JSON.parse(fs.readFileSync(TEST_ZONES_FILE, 'utf8'));
    const [x, y] = [114.4025, 34.0678];
    const e = 0.0002;
    zones.features.push({ type: 'Feature', properties: { kind: 'no-fly', name: 'crane' }, geometry: { type: 'Polygon', coordinates: [[[x - e, y - e], [x + e, y - e], [x + e, y + e], [x - e, y + e], [x - e, y - e]]] } });
    const before = (await c.operator.get('/api/places')).body;
    const saved = await c.supervisor.put('/api/zones', zones);
    expect(saved.status).toBe(200);
    const cat = await waitFor(async () => {
      const r = await c.operator.get('/api/places');
      return r.body.version > before.version ? r.body : null;
    }, 30_000, 'the catalogue checked against the new zones');
    expect(cat.zonesVersion).toBeGreaterThan(before.zonesVersion);
    expect(cat.places).toEqual(before.places);
    expect(cat.checks['riverside-b2']).toMatchObject({ ok: false, code: 'DROP_IN_NO_FLY' });
    expect(cat.checks['riverside-gate'].ok).toBe(true);
    expect(cat.checks['garden-b1'].ok).toBe(true);
    const audit = await c.supervisor.get('/api/audit?action=places.recheck');
    expect(audit.body[0]).toMatchObject({ username: 'system', outcome: { ok: true, version: cat.version, failedDrops: expect.arrayContaining([{ id: 'riverside-b2', code: 'DROP_IN_NO_FLY' }]) } });
  });
});

describe('triage after the zones changed', () => {
  test('a drop point placed while its zone was sealed is checked again at triage: no job once the zone is no longer sealed', async () => {
    const r = await withKey(createKey, 'POST', '/api/requests', { text: 'insulin for the old man behind the school', contact: 'hotline 5520' });
    const id = r.body.id;
    expect((await c.operator.post(`/api/requests/${id}/drop`, { drop: XINHUA })).status).toBe(200);
    // A supervisor lifts the seal on Xinhua Block (the zone is removed from the map).
    const cur = (await c.supervisor.get('/api/zones')).body;
    const zones = cur.zones;
    const before = zones.features.length;
    zones.features = zones.features.filter((f: any) => !(f.properties?.kind === 'sealed-zone' && String(f.properties?.name).startsWith('Xinhua Block')));
    expect(zones.features.length).toBe(before - 1);
    expect((await c.supervisor.put('/api/zones', zones)).status).toBe(200);
    const jobsBefore = (await c.operator.get('/api/deliveries')).body.length;
    const t = await c.operator.post(`/api/requests/${id}/triage`, {});
    expect([t.status, t.body.error.code]).toEqual([422, 'DROP_OUTSIDE_SEALED_ZONE']);
    // Nothing was created, the request waits, the refusal is on record with the zones it was judged on.
    expect((await c.operator.get('/api/deliveries')).body.length).toBe(jobsBefore);
    expect((await c.operator.get(`/api/requests/${id}`)).body).toMatchObject({ state: 'new', drop: XINHUA });
    const audit = (await c.supervisor.get('/api/audit?action=request.triage')).body.find((a: any) => a.params.requestId === id);
    expect(audit).toMatchObject({ username: 'operator', pending: false, outcome: { ok: false, code: 'DROP_OUTSIDE_SEALED_ZONE', zonesVersion: cur.version + 1 } });
  });
});

describe('hostile input everywhere', () => {
  test('random bodies and queries to every intake, places and report route: never a 5xx (fast-check, bounded)', async () => {
    const routes: Array<[string, string]> = [
      ['POST', '/api/requests'], ['GET', '/api/requests'], ['GET', '/api/requests/R00001'], ['GET', '/api/requests/R00001/status'],
      ['POST', '/api/requests/R00001/triage'], ['POST', '/api/requests/R00002/reject'], ['GET', '/api/requests.csv'], ['GET', '/api/status/x'],
      ['GET', '/api/intake/keys'], ['POST', '/api/intake/keys'], ['POST', '/api/intake/keys/zzz/revoke'], ['GET', '/api/intake/policy'], ['PUT', '/api/intake/policy'],
      ['GET', '/api/places'], ['GET', '/api/places/history'], ['PUT', '/api/places'], ['POST', '/api/places/import'], ['POST', '/api/places/match'],
      ['GET', '/api/reports/operations'], ['GET', '/api/reports/operations.csv'],
    ];
    const json = fc.jsonValue({ maxDepth: 4 });
    const body = fc.oneof(
      json,
      fc.record({ text: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), json), contact: fc.oneof(fc.string(), json), placeId: fc.string(), drop: fc.tuple(fc.double(), fc.double()), lang: fc.string() }, { requiredKeys: [] }),
      fc.record({ format: fc.constantFrom('csv', 'geojson', 'x'), text: fc.string() }, { requiredKeys: [] }),
      fc.record({ places: fc.array(json, { maxLength: 5 }) }, { requiredKeys: [] }),
    );
    const query = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }).map((s) => `?from=${encodeURIComponent(s)}&to=${encodeURIComponent(s)}&table=${encodeURIComponent(s)}&state=${encodeURIComponent(s)}`), fc.constant('?from=2026-01-01&to=2026-01-03&tzOffsetMin=480&table=site'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), body, query, fc.constantFrom('admin', 'operator', 'trainer', 'supervisor', 'key'), async ([method, p], b, q, who) => {
        const client = who === 'key' ? new Client(svc.url) : c[who];
        if (who === 'key') client.token = fullKey;
        const r = await client.req(method, p + (method === 'GET' ? q : ''), method === 'GET' ? undefined : b);
        if (r.status >= 500) throw new Error(`${who} ${method} ${p}${q} ${JSON.stringify(b).slice(0, 200)} → ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }),
      { numRuns: 250, seed: 20261216 },
    );
  });
});
