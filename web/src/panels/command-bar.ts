/**
 * The strip that is always on screen: the selected vehicle's state and, for roles that may fly,
 * HOLD / RTL / LAND (and CONTINUE, RELEASE), each behind a confirmation. Alt+H, Alt+R, Alt+L open the
 * same confirmations from the keyboard.
 */
import { confirmDialog, h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { vehiclePath } from '../api';
import { formatAltM, formatPct, formatSpeedMps } from '../format';

type Action = 'hold' | 'rtl' | 'land' | 'continue' | 'release';

export class CommandBar {
  readonly el = h('section', { class: 'command-bar', 'data-testid': 'command-bar' });
  private sel = h('select', { id: 'cmd-vehicle', 'data-testid': 'cmd-vehicle' });
  private info = h('span', { class: 'vinfo', 'data-testid': 'cmd-vehicle-info', 'aria-live': 'off' });
  private buttons = h('span', { class: 'cmd-buttons' });
  private lastIds = '';

  constructor(private readonly ctx: Ctx) {
    this.sel.addEventListener('change', () => {
      ctx.store.selectedVehicle = this.sel.value || null;
      ctx.store.emit('selection');
    });
    ctx.store.on('selection', () => this.sync());
    ctx.store.on('vehicles', () => this.sync());
    ctx.store.on('tick', () => this.renderInfo());
    ctx.store.on('link', () => this.renderInfo());
    ctx.store.on('lang', () => this.build());
    ctx.map.vehicles.onChange(() => this.renderInfo());
    document.addEventListener('keydown', (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey || !ctx.caps.fly) return;
      const k = e.key.toLowerCase();
      const a: Action | undefined = k === 'h' ? 'hold' : k === 'r' ? 'rtl' : k === 'l' ? 'land' : undefined;
      if (a) {
        e.preventDefault();
        void this.command(a);
      }
    });
    this.build();
  }

  private build(): void {
    const caps = this.ctx.caps;
    this.el.setAttribute('aria-label', t('cmd.barLabel'));
    const btn = (a: Action, cls: string, key?: string) =>
      h('button', { type: 'button', class: `cmd ${cls}`, 'data-testid': `cmd-${a}`, title: key ? `Alt+${key}` : undefined, 'aria-keyshortcuts': key ? `Alt+${key}` : undefined, onclick: () => void this.command(a) }, t(`cmd.${a}`));
    replaceChildren(this.buttons,
      caps.fly ? [btn('hold', 'warn', 'H'), btn('rtl', 'warn', 'R'), btn('land', 'danger', 'L'), btn('continue', ''), btn('release', '')] : h('span', { class: 'muted', 'data-testid': 'cmd-readonly' }, t('cmd.readOnly')));
    replaceChildren(this.el, h('label', { for: 'cmd-vehicle' }, t('cmd.vehicle')), this.sel, this.info, this.buttons);
    this.lastIds = '';
    this.sync();
  }

  private sync(): void {
    const ids = this.ctx.map.vehicles.ids();
    const key = ids.join('|');
    if (key !== this.lastIds) {
      this.lastIds = key;
      replaceChildren(this.sel, h('option', { value: '' }, t('cmd.noVehicle')), ids.map((id) => h('option', { value: id }, id)));
    }
    this.sel.value = this.ctx.store.selectedVehicle ?? '';
    this.renderInfo();
  }

  private renderInfo(): void {
    const id = this.ctx.store.selectedVehicle;
    const v = id ? this.ctx.map.vehicles.get(id) : undefined;
    for (const b of this.buttons.querySelectorAll('button')) (b as HTMLButtonElement).disabled = !v;
    if (!v) {
      this.info.textContent = id ? t('cmd.noData') : t('cmd.selectHint');
      this.info.className = 'vinfo muted';
      return;
    }
    const f = v.frame;
    this.info.className = `vinfo ${v.stale ? 'stale' : 'fresh'}`;
    this.info.setAttribute('data-stale', String(v.stale));
    this.info.textContent = [
      f.mode, f.armed ? t('vehicle.armed') : t('vehicle.disarmed'), `${t('vehicle.battery')} ${formatPct(f.batteryPct)}`,
      `${t('vehicle.alt')} ${formatAltM(f.altRelM)}`, formatSpeedMps(f.groundSpeedMps), v.stale ? `${t('vehicle.stale')} (${Math.round(v.ageMs / 1000)} s)` : '',
    ].filter(Boolean).join(' · ');
  }

  async command(action: Action): Promise<void> {
    const id = this.ctx.store.selectedVehicle;
    if (!id) {
      toast(t('cmd.selectHint'), 'error');
      return;
    }
    const ok = await confirmDialog({
      title: t(`cmd.confirm.${action}`, { v: id }),
      body: t(`cmd.confirmBody.${action}`),
      confirmLabel: t(`cmd.${action}`),
      danger: action === 'land' || action === 'release',
    });
    if (!ok) return;
    try {
      const r = await this.ctx.api.post<{ ok: boolean; result?: { result?: string } }>(`${vehiclePath(id)}/commands`, { action, confirm: true });
      const res = r?.result?.result ?? (r?.ok ? 'ACCEPTED' : 'FAILED');
      toast(t('cmd.sent', { a: t(`cmd.${action}`), v: id, r: res }), r?.ok === false ? 'error' : 'info');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }
}
