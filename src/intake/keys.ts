/**
 * Per-partner API keys (role `intake`): `dlk_<id>_<secret>`, where the id is public (it names the
 * key in the audit) and the secret is 32 random bytes. Only sha256(secret) is stored: the secret is
 * shown once, when the key is made. A key carries scopes; anything else is refused.
 */
import crypto from 'crypto';
import { z } from 'zod';
import type { IntakeDb, PartnerKeyRow } from './db';

export const INTAKE_SCOPES = ['requests.create', 'requests.read'] as const;
export type IntakeScope = (typeof INTAKE_SCOPES)[number];

/** A new key as asked for (HTTP body and `dropline keys create`). */
export const KeyBody = z.object({ name: z.string().trim().min(1).max(100), scopes: z.array(z.enum(INTAKE_SCOPES)).min(1).max(2) }).strict();

const KEY_RE = /^dlk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export function isPartnerKeyText(s: string | null | undefined): boolean {
  return !!s && s.startsWith('dlk_');
}

export async function createPartnerKey(db: IntakeDb, name: string, scopes: IntakeScope[], by: string): Promise<{ key: string; row: PartnerKeyRow }> {
  const id = crypto.randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12).padEnd(12, '0');
  const secret = crypto.randomBytes(32).toString('base64url');
  const row = await db.addKey({ id, name, keyHash: sha256(secret), scopes: [...new Set(scopes)], createdBy: by });
  return { key: `dlk_${id}_${secret}`, row };
}

export type KeyCheck = { ok: true; key: PartnerKeyRow } | { ok: false; code: 'UNAUTHENTICATED'; message: string };

/** The key behind a presented secret, if it is well-formed, known, not revoked and its secret matches. */
export async function verifyPartnerKey(db: IntakeDb, presented: string): Promise<KeyCheck> {
  const bad: KeyCheck = { ok: false, code: 'UNAUTHENTICATED', message: 'unknown, malformed or revoked API key' };
  const m = KEY_RE.exec(presented);
  if (!m) return bad;
  const row = await db.getKey(m[1]);
  const want = Buffer.from(row?.keyHash ?? sha256('no such key'), 'hex');
  const got = Buffer.from(sha256(m[2]), 'hex');
  const same = crypto.timingSafeEqual(want, got);
  if (!row || !same || row.revokedAt) return bad;
  return { ok: true, key: row };
}

/** A partner key as it may be shown (never the hash). */
export function keyView(k: PartnerKeyRow) {
  return { id: k.id, name: k.name, role: 'intake', scopes: k.scopes, createdAt: k.createdAt, createdBy: k.createdBy, revokedAt: k.revokedAt, lastUsedAt: k.lastUsedAt };
}
