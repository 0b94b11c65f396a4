/**
 * The selected vehicle's commissioning checklist: GET /api/vehicles/:id/setup shown as a checklist
 * grouped by what each parameter is for (failsafes, fence, release, battery), each line with the
 * parameter, the value the profile wants, the value the vehicle has, whether it is right and whether
 * it takes a reboot; the fence capacity and where it comes from. Supervisors and admins get one
 * "Apply" button (POST …/setup {apply: true}): a confirmation, the progress while the service sets,
 * reads back, reboots and measures, then the result. Every value from the vehicle is shown as text.
 */
import { confirmDialog, h, replaceChildren } from '../dom';
import { t } from '../i18n';
import { vehiclePath } from '../api';
import { errorText, type Ctx } from '../context';
import { preflightName } from '../messages';

interface SetupParam {
  name: string;
  want: number | null;
  have: number | null;
  ok: boolean;
  needsReboot: boolean;
  check: string;
  rule: string;
  error?: string;
}

interface SetupReport {
  vehicleId: string;
  autopilot: string;
  params: SetupParam[];
  fenceCapacity: { items: number; source: 'measured' | 'profile'; atLeast?: boolean; measuredAt?: string };
  ready: boolean;
}

interface ApplyResult extends SetupReport {
  applied?: Array<{ name: string; from: number | null; to: number; ok: boolean; error?: string }>;
  rebooted?: boolean;
  fenceMeasurement?: { ok?: boolean; code?: string; message?: string };
}

/** Order of the groups on the checklist (the checks the parameters belong to). */
const GROUPS = ['fs_gcs_enable', 'batt_fs_low_act', 'fs_ekf_action', 'fence_enable', 'fence_action', 'circle_fence_radius', 'release_mechanism', 'battery_match'];

/** Setting, reading back, a reboot (up to 2 min for the vehicle to return) and a fence search. */
const APPLY_TIMEOUT_MS = 300_000;

const value = (v: number | null | undefined) => (v === null || v === undefined ? '—' : String(Math.round(v * 1000) / 1000));

export class CommissioningPanel {
  readonly el = h('section', { class: 'commissioning', 'data-testid': 'setup-panel' });
  private vehicleId: string | null = null;
  private report: SetupReport | null = null;
  private result: ApplyResult | null = null;
  private error: string | null = null;
  private busy: 'reading' | 'applying' | null = null;
  private startedAt = 0;
  private ticker: ReturnType<typeof setInterval> | null = null;
  /** Bumped per vehicle: an answer for a vehicle no longer selected is dropped. */
  private generation = 0;

  constructor(private readonly ctx: Ctx) {
    ctx.store.on('lang', () => this.render());
    this.render();
  }

  private get canApply(): boolean {
    const role = this.ctx.store.me?.role;
    return role === 'admin' || role === 'supervisor';
  }

  /**
   * Called while the vehicles view is shown, with the selected vehicle: reads its setup when the
   * selection changed (parameter reads cost link time, so only for a vehicle someone looks at).
   * A running apply keeps its vehicle.
   */
  show(id: string | null): void {
    const want = id && !id.startsWith('replay-') ? id : null;
    if (want === this.vehicleId || this.busy === 'applying') return;
    this.select(want);
  }

  /** Show the checklist of a vehicle (null: none selected). Replays are not commissioned. */
  select(id: string | null): void {
    this.generation++;
    this.vehicleId = id && !id.startsWith('replay-') ? id : null;
    this.report = null;
    this.result = null;
    this.error = null;
    this.busy = null;
    this.render();
    if (this.vehicleId) void this.read();
  }

  async read(): Promise<void> {
    const id = this.vehicleId;
    if (!id) return;
    const gen = this.generation;
    this.busy = 'reading';
    this.error = null;
    this.render();
    try {
      const r = await this.ctx.api.get<SetupReport>(`${vehiclePath(id)}/setup`);
      if (gen !== this.generation) return;
      this.report = r;
    } catch (e) {
      if (gen !== this.generation) return;
      this.error = errorText(e);
    }
    this.busy = null;
    this.render();
  }

  private async apply(): Promise<void> {
    const id = this.vehicleId;
    const r = this.report;
    if (!id || !r || this.busy) return;
    const wrong = r.params.filter((p) => !p.ok).length;
    const reboot = r.params.some((p) => !p.ok && p.needsReboot);
    const ok = await confirmDialog({
      title: t('setup.confirmTitle', { v: id }),
      body: `${t('setup.confirmBody', { n: wrong })}${reboot ? ` ${t('setup.confirmReboot')}` : ''}`,
      confirmLabel: t('setup.apply'),
    });
    if (!ok || this.vehicleId !== id) return;
    const gen = this.generation;
    this.busy = 'applying';
    this.error = null;
    this.result = null;
    this.startedAt = Date.now();
    this.ticker = setInterval(() => this.renderStatus(), 1000);
    this.render();
    try {
      // Commissioning may reboot the vehicle and measure its fence: minutes, not the usual 20 s.
      const res = await this.ctx.api.request<ApplyResult>('POST', `${vehiclePath(id)}/setup`, { apply: true }, APPLY_TIMEOUT_MS);
      if (gen === this.generation) (this.result = res), (this.report = res);
    } catch (e) {
      if (gen === this.generation) {
        this.error = errorText(e);
        const rep = (e as { details?: { report?: ApplyResult } }).details?.report;
        if (rep && Array.isArray(rep.params)) (this.result = rep), (this.report = rep);
      }
    } finally {
      if (this.ticker) clearInterval(this.ticker);
      this.ticker = null;
      if (gen === this.generation) this.busy = null;
      this.render();
    }
  }

  private statusEl = h('p', { class: 'muted', 'data-testid': 'setup-status', 'aria-live': 'polite' });

  private renderStatus(): void {
    let text = '';
    if (this.busy === 'reading') text = t('setup.reading');
    else if (this.busy === 'applying') text = t('setup.applying', { s: Math.round((Date.now() - this.startedAt) / 1000) });
    replaceChildren(this.statusEl, text);
  }

  render(): void {
    this.renderStatus();
    if (!this.vehicleId) {
      replaceChildren(this.el, h('h3', null, t('setup.title')), h('p', { class: 'muted', 'data-testid': 'setup-none' }, t('setup.noVehicle')));
      return;
    }
    const r = this.report;
    const head = h('div', { class: 'setup-head' },
      h('h3', null, t('setup.titleFor', { v: this.vehicleId })),
      h('button', { type: 'button', 'data-testid': 'setup-refresh', disabled: this.busy !== null, onclick: () => void this.read() }, t('setup.refresh')),
      this.canApply && r ? h('button', { type: 'button', class: 'primary', 'data-testid': 'setup-apply', disabled: this.busy !== null || r.ready, onclick: () => void this.apply() }, t('setup.apply')) : null);
    const summary = r
      ? h('p', { class: r.ready ? 'good' : 'bad', 'data-testid': 'setup-summary', 'data-ready': String(r.ready) },
          r.ready ? t('setup.ready') : t('setup.notReady', { n: r.params.filter((p) => !p.ok).length }))
      : null;
    const fence = r
      ? h('p', { 'data-testid': 'setup-fence' }, t('setup.fence', { items: `${r.fenceCapacity.atLeast ? '≥ ' : ''}${r.fenceCapacity.items}`, source: t(`setup.source.${r.fenceCapacity.source}`) }))
      : null;
    replaceChildren(this.el, head, this.statusEl, this.error ? h('p', { class: 'bad', role: 'alert', 'data-testid': 'setup-error' }, this.error) : null, summary, fence, r ? this.table(r) : null, this.resultEl());
  }

  private table(r: SetupReport): HTMLElement {
    const cols = ['setup.col.param', 'setup.col.want', 'setup.col.have', 'setup.col.ok', 'setup.col.reboot'];
    const groups = [...new Set([...GROUPS.filter((g) => r.params.some((p) => p.check === g)), ...r.params.map((p) => p.check)])];
    const body = h('tbody');
    for (const g of groups) {
      body.appendChild(h('tr', { class: 'setup-group', 'data-testid': 'setup-group', 'data-check': g }, h('th', { colspan: '5', scope: 'rowgroup' }, preflightName(g))));
      for (const p of r.params.filter((x) => x.check === g)) {
        body.appendChild(h('tr', { 'data-testid': 'setup-row', 'data-name': p.name, 'data-ok': String(p.ok), title: p.rule },
          h('td', null, p.name),
          h('td', null, value(p.want)),
          h('td', null, p.have === null ? h('span', { class: 'muted' }, p.error ?? t('setup.unread')) : value(p.have)),
          h('td', { class: p.ok ? 'good' : 'bad' }, p.ok ? `✓ ${t('setup.ok')}` : `✗ ${t('setup.wrong')}`),
          h('td', null, p.needsReboot ? t('setup.rebootYes') : '')));
      }
    }
    return h('table', { class: 'grid', 'data-testid': 'setup-table' }, h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, t(c))))), body);
  }

  private resultEl(): HTMLElement | null {
    const res = this.result;
    if (!res || !res.applied) return null;
    const failed = res.applied.filter((a) => !a.ok);
    return h('div', { class: 'setup-result', 'data-testid': 'setup-result' },
      h('p', { class: failed.length ? 'bad' : 'good' }, t('setup.applied', { n: res.applied.length - failed.length, total: res.applied.length }), res.rebooted ? ` ${t('setup.rebooted')}` : ''),
      res.applied.length
        ? h('ul', null, res.applied.map((a) => h('li', { class: a.ok ? '' : 'bad', 'data-testid': 'setup-applied' }, `${a.name}: ${value(a.from)} → ${value(a.to)}${a.ok ? '' : ` (${a.error ?? t('setup.wrong')})`}`)))
        : null,
      res.fenceMeasurement && res.fenceMeasurement.ok === false ? h('p', { class: 'bad' }, t('setup.fenceFailed', { code: res.fenceMeasurement.code ?? '' })) : null);
  }
}
