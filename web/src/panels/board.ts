/**
 * The supervisor's board: every open job and every flying drone on one screen, worst first (late,
 * then at risk, then on time), with the job's state, its drone's status since when, and the promise:
 * time left and what the job still needs. A click opens the job.
 */
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import type { Ctx } from '../context';
import { formatDurationS, modeText } from '../format';
import { promiseView, type Outlook } from '../promise';
import { statusChip, vehicleView } from '../flight';
import { isAirborne } from '../vehicle-status';
import { TERMINAL_STATES } from '../types';
import { promiseLine, zoneName } from './jobs';

const OUTLOOK_RANK: Record<Outlook, number> = { late: 0, 'at-risk': 1, 'on-time': 2 };

export class BoardPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-board' });
  private summary = h('p', { class: 'board-summary', 'data-testid': 'board-summary' });
  private body = h('tbody');
  private flights = h('tbody');
  visible = false;

  constructor(private readonly ctx: Ctx, private readonly openJob: (id: string) => void) {
    ctx.store.on('lang', () => this.build());
    ctx.store.on('tick', () => this.render());
    ctx.store.on('deliveries', () => this.render());
    this.build();
  }

  private build(): void {
    const th = (k: string) => h('th', { scope: 'col' }, t(k));
    replaceChildren(this.el,
      h('h3', null, t('board.title')),
      this.summary,
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid board', 'data-testid': 'board-table' },
        h('thead', null, h('tr', null, th('board.job'), th('board.state'), th('board.vehicle'), th('board.promise'))), this.body)),
      h('h4', null, t('board.flightsWithoutJob')),
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid', 'data-testid': 'board-flights' },
        h('thead', null, h('tr', null, th('board.vehicle'), th('vehicle.mode'), th('board.status'))), this.flights)));
    this.render();
  }

  render(): void {
    if (!this.visible) return;
    const now = Date.now();
    const open = [...this.ctx.store.deliveries.values()].filter((d) => !TERMINAL_STATES.includes(d.state)).map((d) => ({ d, pv: promiseView(d, now) }));
    open.sort((a, b) => OUTLOOK_RANK[a.pv.outlook] - OUTLOOK_RANK[b.pv.outlook] || a.pv.leftS - b.pv.leftS);
    const count = (o: Outlook) => open.filter((x) => x.pv.outlook === o).length;
    this.summary.textContent = t('board.summary', { open: open.length, late: count('late'), risk: count('at-risk') });
    replaceChildren(this.body, open.length ? open.map(({ d, pv }) => {
      const v = d.vehicleId ? vehicleView(this.ctx, d.vehicleId) : undefined;
      return h('tr', { class: `outlook-${pv.outlook}`, 'data-testid': 'board-row', 'data-id': d.id, 'data-outlook': pv.outlook },
        h('td', null, h('button', { type: 'button', class: 'link', onclick: () => this.openJob(d.id) }, d.id), ' ', h('span', { class: `badge prio-${d.priority}` }, t(`priority.${d.priority}`)), h('div', { class: 'muted' }, zoneName(d.sealedZone))),
        h('td', null, t(`state.${d.state}`)),
        h('td', null, d.vehicleId ?? '—', v ? h('div', null, statusChip(v, 'board-vehicle-status')) : null),
        h('td', null, promiseLine(pv, 'board-promise')));
    }) : h('tr', null, h('td', { colspan: '4', class: 'muted' }, t('job.none'))));
    // Drones in the air that fly no job (after an abort, or commanded by hand).
    const loose = this.ctx.map.vehicles.ids().map((id) => vehicleView(this.ctx, id)).filter((v): v is NonNullable<typeof v> => !!v && !v.job && !v.frame.replay && isAirborne(v.frame));
    replaceChildren(this.flights, loose.length ? loose.map((v) => h('tr', { 'data-testid': 'board-flight', 'data-id': v.id },
      h('td', null, h('button', { type: 'button', class: 'link', onclick: () => this.ctx.store.selectVehicle(v.id) }, v.id)),
      h('td', null, modeText(v.frame.mode)),
      h('td', null, statusChip(v, 'board-flight-status'), ' ', formatDurationS((now - v.sinceMs) / 1000)))) : h('tr', null, h('td', { colspan: '3', class: 'muted' }, t('board.noLooseFlights'))));
  }
}
