import fs from 'fs';
import path from 'path';
import { FAULT_PRESETS } from '../../web/src/panels/trainer';
import { DICTIONARIES, LANGS, detectLang, getLang, onLangChange, setLang, t } from '../../web/src/i18n';
import { SCENARIOS } from '../../sims/scenarios';

const SRC = path.resolve(__dirname, '..', '..', 'web', 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

const placeholders = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort().join(',');

describe('i18n dictionaries', () => {
  const en = DICTIONARIES.en;
  const zh = DICTIONARIES['zh-CN'];

  it('have the same keys, none empty', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const lang of LANGS) for (const [k, v] of Object.entries(DICTIONARIES[lang])) expect(`${lang}:${k}:${v.trim().length > 0}`).toBe(`${lang}:${k}:true`);
  });

  it('use the same placeholders in both languages', () => {
    for (const k of Object.keys(en)) expect(`${k} ${placeholders(zh[k])}`).toBe(`${k} ${placeholders(en[k])}`);
  });

  it('translate Chinese strings into Chinese (no English left behind in UI labels)', () => {
    const same = Object.keys(en).filter((k) => en[k] === zh[k] && /[a-z]{4,}/.test(en[k]) && !k.startsWith('lang.'));
    expect(same).toEqual([]);
  });

  it('know every key the sources use literally', () => {
    const used = new Set<string>();
    for (const f of sources(SRC)) {
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/\bt\('([^']+)'/g)) used.add(m[1]);
      // keys passed to form-row helpers: row('id', 'job.lat', …) and column lists
      for (const m of text.matchAll(/'((?:job|vehicle|audit)\.[a-zA-Z]+)'/g)) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(100);
    const missing = [...used].filter((k) => en[k] === undefined);
    expect(missing).toEqual([]);
  });

  it('know every key of the families built at run time', () => {
    const families: Record<string, string[]> = {
      state: ['requested', 'planned', 'approved', 'uploading', 'ready', 'in-flight', 'delivered', 'returning', 'completed', 'failed', 'aborted'],
      priority: ['urgent', 'high', 'normal'],
      role: ['admin', 'operator', 'supervisor', 'trainer'],
      'zone.kind': ['operating-area', 'sealed-zone', 'no-fly', 'launch-site', 'rally-point'],
      link: ['connecting', 'live', 'stale', 'offline'],
      basemap: ['osm', 'gcj02', 'offline', 'none'],
      'basemap.health': ['none', 'loading', 'ok', 'fallback'],
      cmd: ['hold', 'rtl', 'land', 'continue', 'release'],
      'cmd.confirm': ['hold', 'rtl', 'land', 'continue', 'release'],
      'cmd.confirmBody': ['hold', 'rtl', 'land', 'continue', 'release'],
      tab: ['jobs', 'vehicles', 'alerts', 'zones', 'audit', 'trainer', 'settings'],
      'alerts.level': ['info', 'warning', 'critical'],
      fault: Object.keys(FAULT_PRESETS),
      simKind: ['builtin', 'arducopter-sitl', 'px4-sitl'],
      lang: ['en', 'zh-CN'],
    };
    const missing: string[] = [];
    for (const [fam, names] of Object.entries(families)) for (const n of names) if (en[`${fam}.${n}`] === undefined) missing.push(`${fam}.${n}`);
    expect(missing).toEqual([]);
  });

  it('name, describe and narrate every training scenario the simulators run, in step with their English text', () => {
    const missing: string[] = [];
    const stale: string[] = [];
    for (const sc of Object.values(SCENARIOS)) {
      for (const k of [`scenarioName.${sc.name}`, `scenarioDesc.${sc.name}`]) if (en[k] === undefined) missing.push(k);
      if (en[`scenarioDesc.${sc.name}`] !== undefined && en[`scenarioDesc.${sc.name}`] !== sc.description) stale.push(`scenarioDesc.${sc.name}`);
      sc.steps.forEach((st, n) => {
        const k = `scenarioStep.${sc.name}.${n}`;
        if (en[k] === undefined) missing.push(k);
        else if (en[k] !== st.note) stale.push(k);
      });
    }
    expect(missing).toEqual([]);
    expect(stale).toEqual([]);
    for (const st of ['running', 'done', 'failed', 'cancelled']) expect(en[`trainer.scenarioStatus.${st}`]).toBeDefined();
  });
});

describe('t()', () => {
  afterEach(() => setLang('en'));

  it('interpolates and switches language, notifying listeners', () => {
    expect(t('job.left', { d: '3:00' })).toBe('3:00 left');
    const seen: string[] = [];
    const off = onLangChange((l) => seen.push(l));
    setLang('zh-CN');
    expect(getLang()).toBe('zh-CN');
    expect(t('job.left', { d: '3:00' })).toBe('剩余 3:00');
    expect(t('cmd.hold')).toBe('悬停');
    off();
    setLang('en');
    expect(seen).toEqual(['zh-CN']);
  });

  it('shows an unknown key as itself and leaves unknown placeholders', () => {
    expect(t('no.such.key')).toBe('no.such.key');
    expect(t('job.left', { x: 1 })).toBe('{d} left');
  });

  it('refuses an unknown language with a typed error', () => {
    expect(() => setLang('fr' as never)).toThrow(expect.objectContaining({ code: 'UNKNOWN_LANGUAGE' }));
  });

  it('detects the language from the stored choice, then the browser', () => {
    expect(detectLang('zh-CN', ['en-GB'])).toBe('zh-CN');
    expect(detectLang(null, ['zh-TW', 'en'])).toBe('zh-CN');
    expect(detectLang('xx', ['de-DE', 'en-US'])).toBe('en');
    expect(detectLang(undefined, [])).toBe('en');
  });
});
