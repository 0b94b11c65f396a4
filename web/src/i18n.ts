/**
 * Every string the console shows goes through `t(key, vars)`. Dictionaries live in web/i18n/*.json,
 * one flat object per language; English is the fallback for a key missing in another language
 * (the unit tests keep both complete).
 */
import en from '../i18n/en.json';
import zhCN from '../i18n/zh-CN.json';

export type Lang = 'en' | 'zh-CN';
export const LANGS: Lang[] = ['en', 'zh-CN'];
export type Dictionary = Record<string, string>;

export const DICTIONARIES: Record<Lang, Dictionary> = { en, 'zh-CN': zhCN };

let current: Lang = 'en';
const listeners = new Set<(lang: Lang) => void>();

export function isLang(v: unknown): v is Lang {
  return v === 'en' || v === 'zh-CN';
}

/** Picks the console language: a stored choice, else the browser's preference (zh* → zh-CN), else English. */
export function detectLang(stored: string | null | undefined, navigatorLanguages: readonly string[] = []): Lang {
  if (isLang(stored)) return stored;
  for (const l of navigatorLanguages) {
    if (/^zh\b/i.test(l)) return 'zh-CN';
    if (/^en\b/i.test(l)) return 'en';
  }
  return 'en';
}

export function getLang(): Lang {
  return current;
}

export function setLang(lang: Lang): void {
  if (!isLang(lang)) throw Object.assign(new Error(`unknown language: ${String(lang)}`), { code: 'UNKNOWN_LANGUAGE' });
  if (lang === current) return;
  current = lang;
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn: (lang: Lang) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Translates `key` in the current language, replacing `{name}` with `vars.name`.
 * A key missing from every dictionary is returned as-is (visible, so it gets noticed).
 */
export function t(key: string, vars?: Record<string, string | number>, lang: Lang = current): string {
  const s = DICTIONARIES[lang][key] ?? DICTIONARIES.en[key] ?? key;
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}
