/** Offline base-map tiles served by the running service from an MBTiles file and from a folder. */
import fs from 'fs';
import os from 'os';
import path from 'path';
import Database from 'better-sqlite3';
import { startService } from '../../src/service';
import { TEST_ZONES_FILE } from '../support/zones';

const PNG_A = Buffer.from('89504e470d0a1a0a-tile-a', 'utf8');
const PNG_B = Buffer.from('89504e470d0a1a0a-tile-b', 'utf8');

function makeMbtiles(file: string): void {
  const db = new Database(file);
  db.exec('CREATE TABLE metadata (name TEXT, value TEXT); CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);');
  db.prepare('INSERT INTO metadata VALUES (?, ?)').run('format', 'png');
  // XYZ z=2 x=3 y=1 is TMS row 2^2 - 1 - 1 = 2.
  db.prepare('INSERT INTO tiles VALUES (?, ?, ?, ?)').run(2, 3, 2, PNG_A);
  db.close();
}

describe('offline tiles', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-tiles-'));

  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('from an MBTiles file: XYZ addresses map to TMS rows; missing → 404, bad address → 400', async () => {
    const file = path.join(tmp, 'city.mbtiles');
    makeMbtiles(file);
    const svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: path.join(tmp, 'd1'), tiles: file, logLevel: 'silent' });
    try {
      const ok = await fetch(`${svc.url}/tiles/2/3/1.png`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await ok.arrayBuffer())).toEqual(PNG_A);
      const missing = await fetch(`${svc.url}/tiles/2/3/2.png`);
      expect([missing.status, (await missing.json()).error.code]).toEqual([404, 'TILE_NOT_FOUND']);
      const bad = await fetch(`${svc.url}/tiles/2/9/1.png`);
      expect([bad.status, (await bad.json()).error.code]).toEqual([400, 'INVALID_TILE']);
    } finally {
      await svc.close();
    }
  });

  test('from a folder of XYZ tiles', async () => {
    const dir = path.join(tmp, 'xyz');
    fs.mkdirSync(path.join(dir, '5', '26'), { recursive: true });
    fs.writeFileSync(path.join(dir, '5', '26', '13.png'), PNG_B);
    const svc = await startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: path.join(tmp, 'd2'), tiles: dir, logLevel: 'silent' });
    try {
      const ok = await fetch(`${svc.url}/tiles/5/26/13.png`);
      expect(ok.status).toBe(200);
      expect(Buffer.from(await ok.arrayBuffer())).toEqual(PNG_B);
      expect((await fetch(`${svc.url}/tiles/5/26/14.png`)).status).toBe(404);
    } finally {
      await svc.close();
    }
  });

  test('a tiles path that does not exist, or a file that is not MBTiles, stops start-up with a typed error', async () => {
    await expect(startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: path.join(tmp, 'd3'), tiles: path.join(tmp, 'nope.mbtiles'), logLevel: 'silent' })).rejects.toMatchObject({ code: 'TILES_NOT_FOUND' });
    const junk = path.join(tmp, 'junk.mbtiles');
    fs.writeFileSync(junk, 'not sqlite');
    await expect(startService({ zonesFile: TEST_ZONES_FILE, port: 0, dataDir: path.join(tmp, 'd4'), tiles: junk, logLevel: 'silent' })).rejects.toMatchObject({ code: 'TILES_INVALID' });
  });
});
