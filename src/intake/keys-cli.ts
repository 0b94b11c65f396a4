/**
 * `dropline keys create|list|revoke`: partner API keys from the command line, on the SQLite file
 * (--data DIR) or PostgreSQL (--store URL), as POST/GET /api/intake/keys and
 * POST /api/intake/keys/:id/revoke do over HTTP. The key is printed once, on stdout (only its
 * sha256 is stored); creating and revoking are audited (`intake.key.create`, `intake.key.revoke`)
 * under the operating-system account that ran the command (`cli:NAME`, role `cli`).
 */
import os from 'os';
import path from 'path';
import { parseArgs } from 'util';
import type { Store } from '../store';
import { IntakeDb } from './db';
import { SqliteExecutor } from './sql';
import { PgExecutor } from './pg-executor';
import { createPartnerKey, keyView, KeyBody, INTAKE_SCOPES } from './keys';

export const KEYS_USAGE =
  'usage: dropline keys create NAME --scope requests.create [--scope requests.read] | list | revoke ID   [--data DIR | --store URL]';

export interface KeysCliIo {
  out(s: string): void;
  err(s: string): void;
}

/** A mistake in what was asked: the CLI prints the message and exits 2. */
export class KeysCliError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');

function actor(): { username: string; role: string } {
  let name = 'unknown';
  try {
    name = os.userInfo().username || name;
  } catch {
    /* no passwd entry */
  }
  return { username: `cli:${oneLine(name).slice(0, 60)}`, role: 'cli' };
}

export async function keysCommand(argv: string[], o: { defaultDataDir: string; io?: KeysCliIo }): Promise<number> {
  const io = o.io ?? { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
  const { values, positionals } = parseArgs({
    args: argv,
    options: { scope: { type: 'string', multiple: true }, data: { type: 'string' }, store: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [verb, arg, ...extra] = positionals;
  if (!['create', 'list', 'revoke'].includes(verb) || (verb !== 'list' && !arg) || (verb === 'list' && arg) || extra.length) throw new KeysCliError('INVALID_ARGS', KEYS_USAGE);
  if (verb !== 'create' && values.scope) throw new KeysCliError('INVALID_ARGS', KEYS_USAGE);
  // Checked before the database is opened: nothing is written for a refused request.
  let body: { name: string; scopes: Array<(typeof INTAKE_SCOPES)[number]> } | undefined;
  if (verb === 'create') {
    const parsed = KeyBody.safeParse({ name: arg, scopes: values.scope ?? [] });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const what = issue?.path[0] === 'scopes' ? `--scope must name ${INTAKE_SCOPES.join(' and/or ')}` : 'NAME must be 1 to 100 characters';
      throw new KeysCliError('INVALID_ARGS', `${what}\n${KEYS_USAGE}`);
    }
    body = parsed.data;
  }
  // require, not import(): the entry point loads TypeScript through tsx's CommonJS hook only
  const { openStore } = require('../store') as typeof import('../store');
  const store: Store = await openStore({ dataDir: path.resolve(values.data ?? o.defaultDataDir), url: values.store });
  try {
    const db = new IntakeDb(store.db ? new SqliteExecutor(store.db) : new PgExecutor(store.pgPool!));
    const who = actor();
    if (verb === 'list') {
      for (const k of (await db.listKeys()).map(keyView)) {
        const state = k.revokedAt ? `revoked ${k.revokedAt}` : 'active';
        io.out(`${k.id}\t${oneLine(k.name)}\t${k.scopes.join(',')}\t${state}\tcreated ${k.createdAt} by ${oneLine(k.createdBy)}\tlast used ${k.lastUsedAt ?? 'never'}\n`);
      }
      return 0;
    }
    if (verb === 'create') {
      const k = await createPartnerKey(db, body!.name, body!.scopes, who.username);
      await store.audit({ ...who, action: 'intake.key.create', params: { keyId: k.row.id, name: body!.name, scopes: body!.scopes }, outcome: { ok: true }, address: null });
      io.out(`${k.key}\n`);
      io.err(`created partner key ${k.row.id} "${oneLine(k.row.name)}" (${k.row.scopes.join(', ')}): the key above is shown only this once; keep it secret\n`);
      return 0;
    }
    const id = arg.slice(0, 40);
    const ok = await db.revokeKey(id);
    await store.audit({ ...who, action: 'intake.key.revoke', params: { keyId: id }, outcome: ok ? { ok: true } : { ok: false, code: 'NOT_FOUND' }, address: null });
    if (!ok) throw new KeysCliError('NOT_FOUND', `no active key ${oneLine(id)}`);
    io.out(`revoked ${id}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
