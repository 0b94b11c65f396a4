/**
 * What a request's free text and contact may hold. Text is stored and shown as text, never as
 * markup; still, a request carrying markup, control or bidirectional-override characters, or
 * unpaired surrogates is refused (400), as no resident writes them and a partner that sends them is
 * broken or hostile.
 */
export const MAX_TEXT_CHARS = 2000;
export const MAX_CONTACT_CHARS = 200;

export type TextCheck = { ok: true; text: string } | { ok: false; code: 'TEXT_TOO_LONG' | 'HOSTILE_TEXT' | 'EMPTY_TEXT'; message: string };

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MARKUP = /<\s*\/?\s*[a-z!?][^>]*>|javascript\s*:|&#x?[0-9a-f]+;/i;

export function checkText(raw: string, what: string, max: number, allowEmpty = false): TextCheck {
  if ([...raw].length > max) return { ok: false, code: 'TEXT_TOO_LONG', message: `${what} is longer than ${max} characters` };
  if (CONTROL.test(raw)) return { ok: false, code: 'HOSTILE_TEXT', message: `${what} contains control characters` };
  if (BIDI.test(raw)) return { ok: false, code: 'HOSTILE_TEXT', message: `${what} contains bidirectional override characters` };
  if (LONE_SURROGATE.test(raw)) return { ok: false, code: 'HOSTILE_TEXT', message: `${what} is not valid Unicode text` };
  if (MARKUP.test(raw)) return { ok: false, code: 'HOSTILE_TEXT', message: `${what} contains markup` };
  const text = raw.normalize('NFC').trim();
  if (!allowEmpty && !text) return { ok: false, code: 'EMPTY_TEXT', message: `${what} is empty` };
  return { ok: true, text };
}

/** A contact reduced to what identifies it (digits of a phone number; else lower-case text without spaces). */
export function contactIdentity(contact: string): string {
  const c = contact.normalize('NFKC').toLowerCase().trim();
  const digits = c.replace(/\D/g, '');
  if (digits.length >= 7 && /^[\d\s()+\-.]+$/.test(c)) return `tel:${digits.slice(-11)}`;
  return c.replace(/\s+/g, '');
}

/** A contact shown masked: the last 4 characters kept (138****5678 → ********5678). */
export function maskContact(contact: string | null): string | null {
  if (!contact) return contact;
  const chars = [...contact];
  const keep = Math.min(4, Math.floor(chars.length / 3));
  return '*'.repeat(Math.max(0, chars.length - keep)) + chars.slice(chars.length - keep).join('');
}
