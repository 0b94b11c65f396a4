/**
 * Alerts retention (issue 13): the alerts table does not grow without bound. Against a real SQLite
 * file: acknowledged alerts older than the retention age go, and so do info/warning alerts nobody
 * acknowledged; an unacknowledged critical alert stays whatever its age; every prune is audited;
 * a service started on an old store prunes it at start.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { openStore } from '../../src/store';
import { pruneAlerts, startAlertRetention } from '../../src/alerts-retention';
import { startService } from '../../src/service';
import { Client } from './support/client';
import { TEST_ZONES_FILE } from '../support/zones';
import { seedTestUsers } from './support/users';

jest.setTimeout(60_000);

const DAY = 24 * 3600_000;
const NOW = Date.parse('2026-06-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

type Store = Awaited<ReturnType<typeof openStore>>;

/** Seven alerts of different ages, levels and acknowledgements (as of NOW). */
async function seed(store: Store): Promise<void> {
  const alert = (id: string, ageDays: number, level: 'info' | 'warning' | 'critical') =>
    store.insertAlert({ id, at: iso(NOW - ageDays * DAY), level, code: 'text', params: {}, text: `${id} said` });
  await alert('old-acked', 40, 'warning');
  await alert('old-acked-late', 40, 'critical'); // raised long ago, acknowledged only yesterday
  await alert('old-info', 40, 'info');
  await alert('old-warning', 40, 'warning');
  await alert('old-critical', 40, 'critical'); // never acknowledged: stays
  await alert('new-acked', 2, 'critical');
  await alert('new-info', 2, 'info');
  // Acknowledgements as they would have been stamped then (ackAlert stamps the real clock; an
  // acknowledged row can never change again).
  const ack = (id: string, by: string, ageDays: number) => store.db!.prepare('UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ?').run(iso(NOW - ageDays * DAY), by, id);
  ack('old-acked', 'op1', 39);
  ack('old-acked-late', 'op2', 1);
  ack('new-acked', 'op3', 1);
}

describe('pruneAlerts', () => {
  let dir: string;
  let store: Store;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-alerts-retention-'));
    store = await openStore({ dataDir: dir });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('old acknowledged and old unacknowledged info/warning alerts go; an unacknowledged critical one stays; audited', async () => {
    await seed(store);
    const r = await pruneAlerts(store, { maxAgeMs: 30 * DAY, now: () => NOW });
    expect(r).toEqual({ cutoff: iso(NOW - 30 * DAY), acknowledged: 1, unacknowledged: 2 });
    const left = (await store.listAlerts({ limit: 100 })).map((a) => a.id).sort();
    expect(left).toEqual(['new-acked', 'new-info', 'old-acked-late', 'old-critical']);
    // Still on every console until acknowledged.
    expect((await store.listAlerts({ unacked: true, levels: ['critical'] })).map((a) => a.id)).toEqual(['old-critical']);
    const audit = await store.queryAudit({ action: 'alerts.prune' });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'alerts.prune', params: { cutoff: iso(NOW - 30 * DAY), maxAgeMs: 30 * DAY }, outcome: { ok: true, acknowledged: 1, unacknowledged: 2 } });

    // Nothing more to prune: nothing removed, nothing audited.
    expect(await pruneAlerts(store, { maxAgeMs: 30 * DAY, now: () => NOW })).toMatchObject({ acknowledged: 0, unacknowledged: 0 });
    expect(await store.queryAudit({ action: 'alerts.prune' })).toHaveLength(1);
  });

  test('a large backlog goes in bounded passes until the table is within the policy', async () => {
    for (let i = 0; i < 2500; i++) await store.insertAlert({ id: `bulk-${i}`, at: iso(NOW - 60 * DAY), level: 'info', code: 'text', params: {}, text: 'x' });
    await store.insertAlert({ id: 'keep', at: iso(NOW - 60 * DAY), level: 'critical', code: 'text', params: {}, text: 'still open' });
    const r = startAlertRetention(store, { maxAgeMs: 30 * DAY, batch: 1000, intervalMs: 3600_000, now: () => NOW });
    try {
      const count = () => (store.db!.prepare('SELECT COUNT(*) AS n FROM alerts').get() as { n: number }).n;
      const end = Date.now() + 10_000;
      while (count() > 1 && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
      expect((await store.listAlerts({ limit: 10 })).map((a) => a.id)).toEqual(['keep']);
      const audit = await store.queryAudit({ action: 'alerts.prune' });
      expect(audit.map((a) => (a.outcome as { unacknowledged: number }).unacknowledged).sort()).toEqual([1000, 1000, 500]);
    } finally {
      r.stop();
    }
  });
});

describe('a service prunes at start', () => {
  test('an old acknowledged alert is gone after a restart with a short retention; an open critical one is shown', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-alerts-retention-svc-'));
    try {
      await seedTestUsers(dir);
      const store = await openStore({ dataDir: dir });
      await seed(store);
      await store.close();
      const svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: dir, logLevel: 'silent', alertRetentionMs: 7 * DAY });
      try {
        const sup = await new Client(svc.url).login('supervisor');
        const ids = ((await sup.get('/api/alerts?limit=100')).body as Array<{ id: string }>).map((a) => a.id).sort();
        // With a 7-day retention measured from now (2026-06-01 + …), every seeded non-critical or acknowledged alert older than 7 days went.
        expect(ids).toContain('old-critical');
        expect(ids).not.toContain('old-acked');
        expect(ids).not.toContain('old-info');
        expect(ids).not.toContain('old-warning');
        const audit = await sup.get('/api/audit?action=alerts.prune');
        expect(audit.status).toBe(200);
        expect(JSON.stringify(audit.body)).toMatch(/alerts\.prune/);
      } finally {
        await svc.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
