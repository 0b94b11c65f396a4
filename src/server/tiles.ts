/**
 * Offline base-map tiles for the console's `offline` provider, served at /tiles/{z}/{x}/{y}.{ext}
 * from an MBTiles file (SQLite, TMS row order) or a folder of XYZ tiles. The console asks for
 * `tiles/{z}/{x}/{y}.png`; the answer carries the tile's real type (MBTiles metadata `format`).
 */
import fs from 'fs';
import path from 'path';
import express from 'express';
import Database from 'better-sqlite3';

const TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  pbf: 'application/x-protobuf',
};

export interface TileSource {
  /** The tile's bytes and content type, or null when there is none. */
  get(z: number, x: number, y: number): { data: Buffer; type: string } | null;
  close(): void;
}

export class TileSourceError extends Error {
  constructor(
    readonly code: 'TILES_NOT_FOUND' | 'TILES_INVALID',
    message: string,
  ) {
    super(message);
  }
}

/** Open an .mbtiles file (read-only) or a folder of {z}/{x}/{y}.{png,jpg,webp,pbf} tiles. */
export function openTileSource(source: string): TileSource {
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch {
    throw new TileSourceError('TILES_NOT_FOUND', `no tiles at ${source}`);
  }
  return st.isDirectory() ? folderSource(source) : mbtilesSource(source);
}

function folderSource(dir: string): TileSource {
  return {
    get(z, x, y) {
      for (const ext of Object.keys(TYPES)) {
        const f = path.join(dir, String(z), String(x), `${y}.${ext}`);
        try {
          return { data: fs.readFileSync(f), type: TYPES[ext] };
        } catch {
          // try the next extension
        }
      }
      return null;
    },
    close() {},
  };
}

function mbtilesSource(file: string): TileSource {
  let db: Database.Database;
  let type = TYPES.png;
  let stmt: Database.Statement<[number, number, number], { tile_data: Buffer }>;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const fmt = db.prepare<[], { value: string }>("SELECT value FROM metadata WHERE name = 'format'").get();
    if (fmt && TYPES[fmt.value]) type = TYPES[fmt.value];
    stmt = db.prepare('SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?');
  } catch (e) {
    throw new TileSourceError('TILES_INVALID', `${file} is not an MBTiles file: ${(e as Error).message}`);
  }
  return {
    get(z, x, y) {
      // MBTiles stores rows bottom-up (TMS); the map asks top-down (XYZ).
      const row = stmt.get(z, x, (1 << z) - 1 - y);
      return row ? { data: row.tile_data, type } : null;
    },
    close() {
      db.close();
    },
  };
}

/** GET /tiles/:z/:x/:y.:ext → the tile, 404 when absent, 400 for coordinates out of range. */
export function tilesRouter(source: TileSource): express.Router {
  const r = express.Router();
  r.get('/tiles/:z/:x/:file', (req, res) => {
    const m = /^(\d+)\.(png|jpe?g|webp|pbf)$/.exec(req.params.file);
    const z = Number(req.params.z);
    const x = Number(req.params.x);
    const y = m ? Number(m[1]) : NaN;
    const n = 2 ** z;
    if (!m || !Number.isInteger(z) || z < 0 || z > 24 || !Number.isInteger(x) || x < 0 || x >= n || y >= n) {
      res.status(400).json({ error: { code: 'INVALID_TILE', message: 'tile address must be /tiles/{z}/{x}/{y}.{png|jpg|webp|pbf} within the zoom level' } });
      return;
    }
    const t = source.get(z, x, y);
    if (!t) {
      res.status(404).json({ error: { code: 'TILE_NOT_FOUND', message: `no tile ${z}/${x}/${y}` } });
      return;
    }
    res.setHeader('content-type', t.type);
    res.setHeader('cache-control', 'public, max-age=86400');
    res.end(t.data);
  });
  return r;
}
