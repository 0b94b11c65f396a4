/**
 * Operator workflow: the job queue against the 15-minute promise; a new job from a click on the map
 * or typed coordinates; plan preview; dispatch with the preflight checklist; live progress; proof of drop.
 */
import { confirmDialog, h, replaceChildren, toast } from '../dom';
import { t } from '../i18n';
import { errorText, type Ctx } from '../context';
import { ApiError } from '../api';
import { formatDistanceM, formatDurationS, formatEnergyWh, formatPromise, formatTime, formatAltM, promiseStatus } from '../format';
import { parseLatLon } from '../geo';
import { TERMINAL_STATES, type Delivery, type PlanOk, type PlanWarning, type PreflightCheck, type Priority } from '../types';

const PRIORITY_RANK: Record<string, number> = { urgent: 0, high: 1, normal: 2 };

/** Queue order: open jobs first, then priority (urgent first), then oldest first. */
export function queueOrder(a: Delivery, b: Delivery): number {
  const ta = TERMINAL_STATES.includes(a.state) ? 1 : 0;
  const tb = TERMINAL_STATES.includes(b.state) ? 1 : 0;
  if (ta !== tb) return ta - tb;
  if (ta === 1) return Date.parse(b.createdAt) - Date.parse(a.createdAt);
  const pa = PRIORITY_RANK[a.priority] ?? 3;
  const pb = PRIORITY_RANK[b.priority] ?? 3;
  if (pa !== pb) return pa - pb;
  return Date.parse(a.createdAt) - Date.parse(b.createdAt);
}

/** The sealed zone's name, whether the server sends a name or {id, name}. */
export function zoneName(z: Delivery['sealedZone']): string {
  if (z == null) return '';
  if (typeof z === 'string') return z;
  return z.name ?? (z.id != null ? String(z.id) : '');
}

function warningText(w: PlanWarning): string {
  return typeof w === 'string' ? w : w.message ?? w.code ?? JSON.stringify(w);
}

export function planSummary(plan: PlanOk, testid = 'plan-summary'): HTMLElement {
  const reservePct = plan.energyWh > 0 && Number.isFinite(plan.reserveWh) ? Math.round((plan.reserveWh / (plan.energyWh + plan.reserveWh)) * 100) : null;
  const warnings = (plan.warnings ?? []).map(warningText);
  return h('div', { class: 'plan-summary', 'data-testid': testid },
    h('dl', { class: 'facts' },
      h('dt', null, t('plan.distance')), h('dd', { 'data-testid': 'plan-distance' }, formatDistanceM(plan.distanceM)),
      h('dt', null, t('plan.eta')), h('dd', { 'data-testid': 'plan-eta' }, formatDurationS(plan.durationS)),
      h('dt', null, t('plan.energy')), h('dd', null, formatEnergyWh(plan.energyWh)),
      h('dt', null, t('plan.reserve')), h('dd', { class: plan.reserveWh < 0 ? 'bad' : '' }, `${formatEnergyWh(plan.reserveWh)}${reservePct != null ? ` (${reservePct}%)` : ''}`)),
    warnings.length
      ? h('ul', { class: 'warnings', 'data-testid': 'plan-warnings' }, warnings.map((w) => h('li', null, '⚠ ', w)))
      : h('p', { class: 'muted', 'data-testid': 'plan-warnings' }, t('plan.noWarnings')));
}

export function checklist(checks: PreflightCheck[], ok: boolean | undefined): HTMLElement {
  return h('div', { class: 'preflight', 'data-testid': 'preflight' },
    h('p', { class: ok ? 'good' : 'bad', 'data-testid': 'preflight-result', 'data-ok': String(Boolean(ok)) }, ok ? t('preflight.pass') : t('preflight.fail')),
    h('ul', { class: 'checklist' }, checks.map((c) =>
      h('li', { class: c.ok ? 'good' : 'bad', 'data-testid': 'preflight-check', 'data-ok': String(c.ok), 'data-name': c.name },
        h('span', { class: 'mark', 'aria-hidden': 'true' }, c.ok ? '✔' : '✘'),
        h('span', { class: 'sr-only' }, c.ok ? t('common.ok') : t('common.failed')),
        h('b', null, c.name), c.detail ? h('span', { class: 'detail' }, ` — ${c.detail}`) : null))));
}

export class JobsPanel {
  readonly el = h('section', { class: 'panel', 'data-testid': 'panel-jobs' });
  private form: HTMLElement | null = null;
  private latIn!: HTMLInputElement;
  private lonIn!: HTMLInputElement;
  private coordIn!: HTMLInputElement;
  private prioIn!: HTMLSelectElement;
  private payloadIn!: HTMLInputElement;
  private massIn!: HTMLInputElement;
  private reqIn!: HTMLInputElement;
  private contactIn!: HTMLInputElement;
  private noteIn!: HTMLInputElement;
  private planBox = h('div', { class: 'plan-box' });
  private listEl = h('ol', { class: 'job-list', 'data-testid': 'job-list' });
  private detailEl = h('div', { class: 'job-detail-host' });
  private preflight = new Map<string, { vehicleId: string; ok: boolean; checks: PreflightCheck[] }>();
  private dispatchVehicle = new Map<string, string>();
  private busy = false;

  constructor(private readonly ctx: Ctx) {
    this.build();
    const s = ctx.store;
    s.on('deliveries', () => this.renderList());
    s.on('deliveries', () => this.renderDetail());
    s.on('selection', () => this.renderDetail());
    s.on('selection', () => this.renderList());
    s.on('vehicles', () => this.renderDetail());
    s.on('draft', () => this.syncDraft());
    s.on('tick', () => this.renderList());
    s.on('lang', () => {
      this.build();
    });
  }

  private build(): void {
    const keep = this.form ? this.readForm() : null;
    const { caps } = this.ctx;
    this.form = null;
    if (caps.createJobs) {
      this.latIn = h('input', { id: 'job-lat', type: 'number', step: 'any', inputmode: 'decimal', 'data-testid': 'job-drop-lat', required: true });
      this.lonIn = h('input', { id: 'job-lon', type: 'number', step: 'any', inputmode: 'decimal', 'data-testid': 'job-drop-lon', required: true });
      this.coordIn = h('input', { id: 'job-coord', type: 'text', placeholder: '34.0612, 114.3921', 'data-testid': 'job-drop-text', 'aria-describedby': 'job-hint' });
      this.coordIn.addEventListener('change', () => {
        const p = parseLatLon(this.coordIn.value);
        if (!p) {
          toast(t('job.badCoord'), 'error');
          return;
        }
        this.setDrop([p.lon, p.lat]);
      });
      const onEdit = () => {
        const lat = Number(this.latIn.value);
        const lon = Number(this.lonIn.value);
        if (this.latIn.value && this.lonIn.value && Number.isFinite(lat) && Number.isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) this.setDrop([lon, lat], false);
      };
      this.latIn.addEventListener('change', onEdit);
      this.lonIn.addEventListener('change', onEdit);
      this.prioIn = h('select', { id: 'job-prio', 'data-testid': 'job-priority' }, (['urgent', 'high', 'normal'] as Priority[]).map((p) => h('option', { value: p }, t(`priority.${p}`))));
      this.prioIn.value = 'normal';
      this.payloadIn = h('input', { id: 'job-payload', type: 'text', 'data-testid': 'job-payload', placeholder: t('job.payloadPh') });
      this.massIn = h('input', { id: 'job-mass', type: 'number', step: '0.1', min: '0', 'data-testid': 'job-mass' });
      this.reqIn = h('input', { id: 'job-req', type: 'text', 'data-testid': 'job-requester' });
      this.contactIn = h('input', { id: 'job-contact', type: 'text', 'data-testid': 'job-contact' });
      this.noteIn = h('input', { id: 'job-note', type: 'text', 'data-testid': 'job-note' });
      const row = (id: string, key: string, input: HTMLElement) => h('div', { class: 'field' }, h('label', { for: id }, t(key)), input);
      this.form = h('form', { class: 'job-form', 'data-testid': 'job-new-form', novalidate: true },
        h('h3', null, t('job.new')),
        h('p', { id: 'job-hint', class: 'hint' }, t('job.hint')),
        h('div', { class: 'grid2' }, row('job-lat', 'job.lat', this.latIn), row('job-lon', 'job.lon', this.lonIn)),
        row('job-coord', 'job.coordText', this.coordIn),
        h('div', { class: 'grid2' }, row('job-prio', 'job.priority', this.prioIn), row('job-mass', 'job.massKg', this.massIn)),
        row('job-payload', 'job.payload', this.payloadIn),
        h('div', { class: 'grid2' }, row('job-req', 'job.requester', this.reqIn), row('job-contact', 'job.contact', this.contactIn)),
        row('job-note', 'job.note', this.noteIn),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', 'data-testid': 'btn-plan-preview', onclick: () => void this.preview() }, t('job.preview')),
          h('button', { type: 'submit', class: 'primary', 'data-testid': 'btn-create-job' }, t('job.create')),
          h('button', { type: 'button', 'data-testid': 'btn-clear-job', onclick: () => this.clearDraft() }, t('common.clear'))),
        this.planBox);
      this.form.addEventListener('submit', (e) => {
        e.preventDefault();
        void this.create();
      });
      if (keep) this.writeForm(keep);
    }
    replaceChildren(this.el,
      this.form,
      h('h3', null, t('job.queue')),
      this.listEl,
      this.detailEl);
    this.syncDraft();
    this.renderList();
    this.renderDetail();
  }

  private readForm() {
    return { lat: this.latIn?.value, lon: this.lonIn?.value, prio: this.prioIn?.value, payload: this.payloadIn?.value, mass: this.massIn?.value, req: this.reqIn?.value, contact: this.contactIn?.value, note: this.noteIn?.value };
  }

  private writeForm(v: ReturnType<JobsPanel['readForm']>): void {
    this.latIn.value = v.lat ?? '';
    this.lonIn.value = v.lon ?? '';
    this.prioIn.value = v.prio || 'normal';
    this.payloadIn.value = v.payload ?? '';
    this.massIn.value = v.mass ?? '';
    this.reqIn.value = v.req ?? '';
    this.contactIn.value = v.contact ?? '';
    this.noteIn.value = v.note ?? '';
  }

  /** Called by the app when the map is clicked (operators and admins). */
  setDrop(drop: [number, number], fillInputs = true): void {
    const s = this.ctx.store;
    s.draft = { drop: [Number(drop[0].toFixed(7)), Number(drop[1].toFixed(7))], plan: null, planError: null };
    if (fillInputs && this.latIn) {
      this.latIn.value = s.draft.drop![1].toFixed(6);
      this.lonIn.value = s.draft.drop![0].toFixed(6);
    }
    s.emit('draft');
  }

  private clearDraft(): void {
    this.ctx.store.draft = { drop: null, plan: null, planError: null };
    if (this.form) (this.form as HTMLFormElement).reset();
    this.ctx.store.emit('draft');
  }

  private syncDraft(): void {
    const d = this.ctx.store.draft;
    this.ctx.map.setDraft(d.drop);
    if (d.plan) this.ctx.map.setPlan(d.plan);
    else this.showSelectedPlan();
    if (!this.form) return;
    if (d.plan) replaceChildren(this.planBox, h('h4', null, t('plan.preview')), planSummary(d.plan));
    else if (d.planError) replaceChildren(this.planBox, h('p', { class: 'bad', 'data-testid': 'plan-error', role: 'alert' }, d.planError));
    else replaceChildren(this.planBox);
  }

  private showSelectedPlan(): void {
    const sel = this.ctx.store.selectedDelivery ? this.ctx.store.deliveries.get(this.ctx.store.selectedDelivery) : undefined;
    this.ctx.map.setPlan(sel?.plan && (sel.plan as { ok?: boolean }).ok !== false ? (sel.plan as PlanOk) : null);
  }

  private dropFromInputs(): [number, number] | null {
    const lat = Number(this.latIn.value);
    const lon = Number(this.lonIn.value);
    if (!this.latIn.value || !this.lonIn.value || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
    return [lon, lat];
  }

  private async preview(): Promise<void> {
    const drop = this.dropFromInputs();
    const s = this.ctx.store;
    if (!drop) {
      s.draft = { drop: null, plan: null, planError: t('job.badCoord') };
      s.emit('draft');
      return;
    }
    const payload = this.massIn.value ? { massKg: Number(this.massIn.value) } : undefined;
    try {
      const plan = await this.ctx.api.post<PlanOk | { ok: false; error: { code: string; message: string } }>('/api/plans', { drop, ...(payload ? { payload } : {}) });
      if ((plan as { ok: boolean }).ok === false) {
        const err = (plan as { error: { code: string; message: string } }).error;
        s.draft = { drop, plan: null, planError: `${err.code}: ${err.message}` };
      } else s.draft = { drop, plan: plan as PlanOk, planError: null };
    } catch (e) {
      const d = (e as ApiError).details as { code?: string; message?: string } | undefined;
      s.draft = { drop, plan: null, planError: d?.message ? `${d.code ?? (e as ApiError).code}: ${d.message}` : errorText(e) };
    }
    s.emit('draft');
  }

  private async create(): Promise<void> {
    if (this.busy) return;
    const drop = this.dropFromInputs();
    if (!drop) {
      toast(t('job.badCoord'), 'error');
      return;
    }
    const body: Record<string, unknown> = { drop, priority: this.prioIn.value };
    const desc = this.payloadIn.value.trim();
    const mass = this.massIn.value ? Number(this.massIn.value) : undefined;
    if (desc || mass != null) body.payload = { description: desc || t('job.payloadDefault'), ...(mass != null ? { massKg: mass } : {}) };
    if (this.reqIn.value.trim()) body.requester = { name: this.reqIn.value.trim(), ...(this.contactIn.value.trim() ? { contact: this.contactIn.value.trim() } : {}) };
    if (this.noteIn.value.trim()) body.note = this.noteIn.value.trim();
    this.busy = true;
    try {
      const d = await this.ctx.api.post<Delivery>('/api/deliveries', body);
      this.ctx.store.deliveries.set(d.id, d);
      this.ctx.store.selectedDelivery = d.id;
      this.clearDraft();
      toast(t('job.created', { id: d.id }));
      this.ctx.store.emit('deliveries');
      this.ctx.store.emit('selection');
    } catch (e) {
      toast(errorText(e), 'error');
      this.ctx.store.draft = { ...this.ctx.store.draft, planError: errorText(e) };
      this.ctx.store.emit('draft');
    } finally {
      this.busy = false;
    }
  }

  private renderList(): void {
    const now = Date.now();
    const list = [...this.ctx.store.deliveries.values()].sort(queueOrder);
    const open = list.filter((d) => !TERMINAL_STATES.includes(d.state));
    const done = list.filter((d) => TERMINAL_STATES.includes(d.state)).slice(0, 15);
    const row = (d: Delivery) => {
      const st = promiseStatus(d.createdAt, d.promiseBy, now);
      const terminal = TERMINAL_STATES.includes(d.state);
      const sel = this.ctx.store.selectedDelivery === d.id;
      return h('li', null,
        h('button', {
          type: 'button', class: `job-row ${sel ? 'selected' : ''} prio-${d.priority} ${!terminal && st.late ? 'late' : ''}`,
          'data-testid': 'job-row', 'data-id': d.id, 'data-state': d.state, 'aria-pressed': String(sel),
          onclick: () => {
            this.ctx.store.selectedDelivery = d.id;
            this.ctx.store.emit('selection');
            if (Array.isArray(d.drop)) this.ctx.map.panTo(d.drop[1], d.drop[0]);
          },
        },
        h('span', { class: `badge prio-${d.priority}` }, t(`priority.${d.priority}`)),
        h('span', { class: 'job-id' }, d.id),
        h('span', { class: `state state-${d.state}`, 'data-testid': 'job-row-state' }, t(`state.${d.state}`)),
        h('span', { class: 'zone' }, zoneName(d.sealedZone)),
        terminal ? h('span', { class: 'muted' }, formatTime(d.createdAt))
          : h('span', { class: 'promise' },
            h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${Math.min(100, Math.max(0, st.used * 100)).toFixed(0)}%` })),
            formatPromise(d.createdAt, d.promiseBy, now))));
    };
    replaceChildren(this.listEl,
      open.length ? open.map(row) : h('li', { class: 'muted' }, t('job.none')),
      done.length ? h('li', { class: 'divider' }, t('job.finished')) : null,
      done.map(row));
  }

  private renderDetail(): void {
    const id = this.ctx.store.selectedDelivery;
    const d = id ? this.ctx.store.deliveries.get(id) : undefined;
    if (!this.ctx.store.draft.plan) this.showSelectedPlan();
    this.ctx.map.setDeliveries([...this.ctx.store.deliveries.values()].filter((x) => !TERMINAL_STATES.includes(x.state) || x.id === id), id);
    if (!d) {
      replaceChildren(this.detailEl);
      return;
    }
    const { caps } = this.ctx;
    const terminal = TERMINAL_STATES.includes(d.state);
    const pf = this.preflight.get(d.id);
    const vehicleIds = this.ctx.map.vehicles.ids().filter((v) => !this.ctx.map.vehicles.get(v)?.frame.replay);
    const chosen = this.dispatchVehicle.get(d.id) ?? vehicleIds.find((v) => !this.ctx.map.vehicles.get(v)?.stale) ?? vehicleIds[0] ?? '';
    const vSel = h('select', { id: 'dispatch-vehicle', 'data-testid': 'dispatch-vehicle' }, vehicleIds.map((v) => h('option', { value: v }, `${v}${this.ctx.map.vehicles.get(v)?.stale ? ` (${t('vehicle.stale')})` : ''}`)));
    vSel.value = chosen;
    vSel.addEventListener('change', () => this.dispatchVehicle.set(d.id, vSel.value));
    const canDispatch = caps.dispatch && (d.state === 'planned' || d.state === 'approved' || d.state === 'requested' || d.state === 'ready');
    const p = d.progress;
    replaceChildren(this.detailEl, h('div', { class: 'job-detail', 'data-testid': 'job-detail', 'data-id': d.id },
      h('h3', null, t('job.detail', { id: d.id })),
      h('p', null, h('span', { class: `state big state-${d.state}`, 'data-testid': 'job-state', 'data-state': d.state }, t(`state.${d.state}`)),
        ' ', h('span', { class: `badge prio-${d.priority}` }, t(`priority.${d.priority}`)),
        d.vehicleId ? h('span', null, ' · ', t('job.vehicle'), ' ', h('b', { 'data-testid': 'job-vehicle' }, d.vehicleId)) : null),
      h('dl', { class: 'facts' },
        h('dt', null, t('job.drop')), h('dd', null, Array.isArray(d.drop) ? `${d.drop[1].toFixed(6)}, ${d.drop[0].toFixed(6)}` : '—'),
        zoneName(d.sealedZone) ? [h('dt', null, t('job.zone')), h('dd', { 'data-testid': 'job-zone' }, zoneName(d.sealedZone))] : null,
        h('dt', null, t('job.createdAt')), h('dd', null, formatTime(d.createdAt)),
        h('dt', null, t('job.promise')), h('dd', null, `${formatTime(d.promiseBy)}${terminal ? '' : ` (${formatPromise(d.createdAt, d.promiseBy, Date.now())})`}`),
        d.payload?.description ? [h('dt', null, t('job.payload')), h('dd', null, `${d.payload.description}${d.payload.massKg != null ? ` (${d.payload.massKg} kg)` : ''}`)] : null,
        d.requester?.name ? [h('dt', null, t('job.requester')), h('dd', null, `${d.requester.name}${d.requester.contact ? ` · ${d.requester.contact}` : ''}`)] : null),
      p && !terminal ? h('div', { class: 'progress', 'data-testid': 'job-progress' },
        h('h4', null, t('job.progress')),
        h('dl', { class: 'facts' },
          h('dt', null, t('job.leg')), h('dd', null, p.leg != null ? String(p.leg) : '—'),
          h('dt', null, t('job.toDrop')), h('dd', null, formatDistanceM(p.distanceToDropM)),
          h('dt', null, t('job.eta')), h('dd', null, formatDurationS(p.etaS)))) : null,
      d.plan && (d.plan as { ok?: boolean }).ok !== false ? [h('h4', null, t('plan.title')), planSummary(d.plan as PlanOk, 'job-plan-summary')] : null,
      d.proofOfDrop ? h('div', { class: 'proof good', 'data-testid': 'proof-of-drop' },
        h('h4', null, t('job.proof')),
        h('p', null, t('job.proofText', { time: formatTime(d.proofOfDrop.at), lat: d.proofOfDrop.lat.toFixed(6), lon: d.proofOfDrop.lon.toFixed(6), alt: formatAltM(d.proofOfDrop.altRelM), pwm: d.proofOfDrop.servoPwm ?? '—' }))) : null,
      d.failure ? h('p', { class: 'bad', role: 'alert', 'data-testid': 'job-failure' }, `${d.failure.code}: ${d.failure.message}`) : null,
      d.waiting && !terminal ? h('p', { class: 'warn', 'data-testid': 'job-waiting' }, t('job.waiting', { vehicle: d.waiting.vehicleId, checks: d.waiting.checks.join(', '), until: formatTime(d.waiting.until) })) : null,
      canDispatch ? h('div', { class: 'dispatch' },
        h('h4', null, t('job.dispatch')),
        h('div', { class: 'field' }, h('label', { for: 'dispatch-vehicle' }, t('job.vehicle')), vSel),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', 'data-testid': 'btn-preflight', onclick: () => void this.runPreflight(d.id, vSel.value) }, t('job.preflight')),
          h('button', { type: 'button', class: 'primary', 'data-testid': 'btn-dispatch', disabled: !vSel.value, onclick: () => void this.dispatch(d.id, vSel.value) }, t('job.dispatchBtn'))),
        pf ? [h('p', { class: 'muted' }, t('preflight.for', { v: pf.vehicleId })), checklist(pf.checks, pf.ok)] : null) : null,
      !canDispatch && d.preflight ? [h('h4', null, t('job.preflight')), checklist(d.preflight.checks ?? [], d.preflight.ok)] : null,
      h('div', { class: 'buttons' },
        caps.approve && (d.state === 'planned' || d.state === 'requested') ? h('button', { type: 'button', 'data-testid': 'btn-approve', onclick: () => void this.action(d.id, 'approve') }, t('job.approve')) : null,
        caps.dispatch && !terminal ? h('button', { type: 'button', class: 'danger-outline', 'data-testid': 'btn-abort', onclick: () => void this.abort(d.id) }, t('job.abort')) : null),
      d.timeline?.length ? h('details', { class: 'timeline', open: true },
        h('summary', null, t('job.timeline')),
        h('ol', { 'data-testid': 'job-timeline' }, d.timeline.slice(-30).map((e) => h('li', null, h('time', null, formatTime(e.at)), ' ', h('b', null, e.state ? t(`state.${e.state}`) : e.event ?? ''), e.detail != null ? ` ${typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)}` : '')))) : null));
  }

  private async runPreflight(id: string, vehicleId: string): Promise<void> {
    if (!vehicleId) return;
    try {
      const r = await this.ctx.api.get<{ ok: boolean; checks: PreflightCheck[] }>(`/api/deliveries/${encodeURIComponent(id)}/preflight?vehicleId=${encodeURIComponent(vehicleId)}`);
      this.preflight.set(id, { vehicleId, ok: r.ok, checks: r.checks ?? [] });
    } catch (e) {
      toast(errorText(e), 'error');
    }
    this.renderDetail();
  }

  private async dispatch(id: string, vehicleId: string): Promise<void> {
    if (!vehicleId || this.busy) return;
    this.busy = true;
    try {
      const d = await this.ctx.api.post<Delivery>(`/api/deliveries/${encodeURIComponent(id)}/dispatch`, { vehicleId });
      if (d && d.id) this.ctx.store.deliveries.set(d.id, d);
      toast(t('job.dispatched', { id, v: vehicleId }));
    } catch (e) {
      const det = (e as ApiError).details as { checks?: PreflightCheck[] } | PreflightCheck[] | undefined;
      const checks = Array.isArray(det) ? det : det?.checks;
      if (Array.isArray(checks)) this.preflight.set(id, { vehicleId, ok: false, checks });
      toast(errorText(e), 'error');
    } finally {
      this.busy = false;
    }
    this.ctx.store.emit('deliveries');
  }

  private async action(id: string, what: 'approve'): Promise<void> {
    try {
      const d = await this.ctx.api.post<Delivery>(`/api/deliveries/${encodeURIComponent(id)}/${what}`, {});
      if (d && d.id) this.ctx.store.deliveries.set(d.id, d);
      this.ctx.store.emit('deliveries');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  private async abort(id: string): Promise<void> {
    if (!(await confirmDialog({ title: t('job.abortConfirm', { id }), body: t('job.abortBody'), confirmLabel: t('job.abort'), danger: true }))) return;
    try {
      const d = await this.ctx.api.post<Delivery>(`/api/deliveries/${encodeURIComponent(id)}/abort`, { reason: 'operator abort' });
      if (d && d.id) this.ctx.store.deliveries.set(d.id, d);
      this.ctx.store.emit('deliveries');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }
}
