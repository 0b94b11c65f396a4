/** Language, base layer and sound. The base-layer choice is kept in this browser (localStorage). */
import { h, replaceChildren } from '../dom';
import { getLang, LANGS, setLang, t, isLang } from '../i18n';
import type { Ctx } from '../context';
import { BASEMAP_PROVIDERS, isProvider, type BasemapConfig } from '../basemap';
import { setSoundEnabled, soundEnabled } from '../sound';

export const BASEMAP_STORAGE_KEY = 'dropline.basemap';

export class SettingsPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-settings' });

  constructor(ctx: Ctx, private readonly current: () => BasemapConfig, private readonly apply: (cfg: Partial<BasemapConfig> | null) => void) {
    ctx.store.on('lang', () => this.build());
    this.build();
  }

  build(): void {
    const cfg = this.current();
    const lang = h('select', { id: 'set-lang', 'data-testid': 'settings-lang' }, LANGS.map((l) => h('option', { value: l }, t(`lang.${l}`))));
    lang.value = getLang();
    lang.addEventListener('change', () => {
      if (isLang(lang.value)) setLang(lang.value);
    });
    const prov = h('select', { id: 'set-basemap', 'data-testid': 'settings-basemap' }, BASEMAP_PROVIDERS.map((p) => h('option', { value: p }, t(`basemap.${p}`))));
    prov.value = cfg.provider;
    const url = h('input', { id: 'set-url', type: 'text', 'data-testid': 'settings-basemap-url', value: cfg.url ?? '', placeholder: 'https://…/{z}/{x}/{y}.png' });
    const datum = h('select', { id: 'set-datum', 'data-testid': 'settings-datum' }, h('option', { value: 'wgs84' }, 'WGS-84'), h('option', { value: 'gcj02' }, 'GCJ-02'));
    datum.value = cfg.datum ?? 'wgs84';
    prov.addEventListener('change', () => {
      url.value = '';
      datum.value = prov.value === 'gcj02' ? 'gcj02' : 'wgs84';
    });
    const sound = h('input', { id: 'set-sound', type: 'checkbox', checked: soundEnabled() });
    sound.addEventListener('change', () => setSoundEnabled(sound.checked));
    replaceChildren(this.el,
      h('h3', null, t('tab.settings')),
      h('div', { class: 'field' }, h('label', { for: 'set-lang' }, t('settings.language')), lang),
      h('fieldset', null,
        h('legend', null, t('settings.basemap')),
        h('div', { class: 'field' }, h('label', { for: 'set-basemap' }, t('settings.provider')), prov),
        h('div', { class: 'field' }, h('label', { for: 'set-url' }, t('settings.url')), url),
        h('div', { class: 'field' }, h('label', { for: 'set-datum' }, t('settings.datum')), datum),
        h('p', { class: 'hint' }, t('settings.basemapHint')),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', class: 'primary', 'data-testid': 'settings-apply', onclick: () => {
            if (!isProvider(prov.value)) return;
            this.apply({ provider: prov.value, url: url.value.trim() || undefined, datum: datum.value === 'gcj02' ? 'gcj02' : 'wgs84' });
          } }, t('common.apply')),
          h('button', { type: 'button', 'data-testid': 'settings-reset', onclick: () => this.apply(null) }, t('settings.reset')))),
      h('div', { class: 'field' }, h('label', { for: 'set-sound', class: 'inline' }, sound, ' ', t('alerts.sound'))));
  }
}
