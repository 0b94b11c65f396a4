/**
 * The strip that is always on screen: the selected vehicle (it follows the selected job, a click on a
 * drone or the vehicle list, and is highlighted on the map), its status since when, its job, and for
 * roles that may fly HOLD / RTL / LAND (and CONTINUE, RELEASE), each behind a confirmation that names
 * the vehicle, and each disabled with the reason when it cannot apply. Alt+H, Alt+R, Alt+L open the
 * same confirmations from the keyboard. Replays and vehicles the service no longer has are never
 * listed: they cannot be commanded.
 */
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import type { Ctx } from '../context';
import { formatAltM, formatPct, formatSpeedMps, modeText } from '../format';
import { commandVehicle, FlightControls, statusText, vehicleView } from '../flight';
import type { CommandAction } from '../vehicle-status';

/** Vehicles a command bar may list: live ones the service has, never a replay's stand-in. */
export function commandableIds(ids: readonly string[], fleetIds: Set<string> | null, isReplay: (id: string) => boolean): string[] {
  return ids.filter((id) => !id.startsWith('replay-') && !isReplay(id) && (fleetIds === null || fleetIds.has(id)));
}

export class CommandBar {
  readonly el = h('section', { class: 'command-bar', 'data-testid': 'command-bar' });
  private sel = h('select', { id: 'cmd-vehicle', 'data-testid': 'cmd-vehicle' });
  private info = h('span', { class: 'vinfo', 'data-testid': 'cmd-vehicle-info', 'aria-live': 'off' });
  private status = h('span', { class: 'vstatus', 'data-testid': 'cmd-status' });
  private jobEl = h('span', { class: 'vjob', 'data-testid': 'cmd-job' });
  private readonly controls: FlightControls | null;
  private lastIds = '';

  constructor(private readonly ctx: Ctx) {
    this.controls = ctx.caps.fly ? new FlightControls(ctx, 'cmd', { shortcuts: true }) : null;
    this.sel.addEventListener('change', () => ctx.store.selectVehicle(this.sel.value || null));
    ctx.store.on('selection', () => this.sync());
    ctx.store.on('vehicles', () => this.sync());
    ctx.store.on('deliveries', () => this.renderInfo());
    ctx.store.on('tick', () => this.renderInfo());
    ctx.store.on('link', () => this.renderInfo());
    ctx.store.on('lang', () => this.build());
    let pending = false;
    ctx.map.vehicles.onChange(() => {
      // Frames arrive up to 10 Hz per vehicle: the strip is refreshed at most 4 times a second.
      if (pending) return;
      pending = true;
      setTimeout(() => {
        pending = false;
        this.renderInfo();
      }, 250);
    });
    document.addEventListener('keydown', (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey || !ctx.caps.fly) return;
      const k = e.key.toLowerCase();
      const a: CommandAction | undefined = k === 'h' ? 'hold' : k === 'r' ? 'rtl' : k === 'l' ? 'land' : undefined;
      if (a) {
        e.preventDefault();
        const id = ctx.store.selectedVehicle;
        if (id) void commandVehicle(ctx, id, a);
      }
    });
    this.build();
  }

  private build(): void {
    this.el.setAttribute('aria-label', t('cmd.barLabel'));
    replaceChildren(this.el,
      h('label', { for: 'cmd-vehicle' }, t('cmd.vehicle')), this.sel, this.status, this.jobEl, this.info,
      this.controls ? this.controls.el : h('span', { class: 'muted', 'data-testid': 'cmd-readonly' }, t('cmd.readOnly')));
    this.lastIds = '';
    this.sync();
  }

  private ids(): string[] {
    const vl = this.ctx.map.vehicles;
    return commandableIds(vl.ids(), this.ctx.store.fleetIds, (id) => vl.get(id)?.frame.replay === true);
  }

  private sync(): void {
    const ids = this.ids();
    const key = ids.join('|');
    if (key !== this.lastIds) {
      this.lastIds = key;
      replaceChildren(this.sel, h('option', { value: '' }, t('cmd.noVehicle')), ids.map((id) => h('option', { value: id }, id)));
    }
    const selected = this.ctx.store.selectedVehicle;
    this.sel.value = selected && ids.includes(selected) ? selected : '';
    this.controls?.setVehicle(selected && ids.includes(selected) ? selected : null);
    this.renderInfo();
  }

  private renderInfo(): void {
    const id = this.ctx.store.selectedVehicle;
    const commandable = !!id && this.ids().includes(id);
    const v = commandable ? vehicleView(this.ctx, id) : undefined;
    this.controls?.refresh();
    if (!v) {
      this.status.textContent = '';
      this.status.removeAttribute('data-status');
      this.jobEl.textContent = '';
      this.info.textContent = id && commandable ? t('cmd.noData') : t('cmd.selectHint');
      this.info.className = 'vinfo muted';
      return;
    }
    const f = v.frame;
    this.status.className = `vstatus fstatus fstatus-${v.status}`;
    this.status.setAttribute('data-status', v.status);
    this.status.textContent = statusText(v);
    this.status.title = statusText(v);
    this.jobEl.textContent = v.job ? t('cmd.onJob', { id: v.job.id }) : t('cmd.noJob');
    this.jobEl.setAttribute('data-job', v.job?.id ?? '');
    this.info.className = `vinfo ${v.stale ? 'stale' : 'fresh'}`;
    this.info.setAttribute('data-stale', String(v.stale));
    this.info.title = this.info.textContent = [
      modeText(f.mode), f.armed ? t('vehicle.armed') : t('vehicle.disarmed'), `${t('vehicle.battery')} ${formatPct(f.batteryPct)}`,
      `${t('vehicle.alt')} ${formatAltM(f.altRelM)}`, formatSpeedMps(f.groundSpeedMps),
    ].filter(Boolean).join(' · ');
  }
}
