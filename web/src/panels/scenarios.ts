/**
 * Training scenarios in the trainer's panel: chosen from a list (name and what it does), and, for
 * each simulated vehicle running one, where it stands — the time on the simulator's own clock, the
 * steps applied (when, on that clock), the next one, and whether it is running, done, failed or was
 * replaced by another. Progress is the simulator's (GET /api/sim: instances[].scenario), read every
 * second while a scenario runs; nothing here counts time by itself.
 */
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import { formatDurationS } from '../format';

/** A training scenario as GET /api/sim/scenarios lists it. */
export interface ScenarioInfo {
  name: string;
  description: string;
  steps?: Array<{ atS: number; note: string }>;
}

/** A scenario's progress on one simulated vehicle (sims/scenarios ScenarioProgress). */
export interface ScenarioProgress {
  name: string;
  simS: number;
  status: 'running' | 'done' | 'failed' | 'cancelled';
  steps: Array<{ n: number; atS: number; note: string; state: 'pending' | 'done' | 'failed'; appliedAtS?: number; error?: string }>;
}

export interface SimWithScenario {
  vehicleId: string;
  scenario?: ScenarioProgress | null;
}

/** How often progress is read while a scenario runs. */
const POLL_MS = 1000;

/** The translation of `key`, or the server's own text when the console has none (a scenario it does not know). */
function tOr(key: string, fallback: string): string {
  const s = t(key);
  return s === key ? fallback : s;
}

export const scenarioTitle = (name: string): string => tOr(`scenarioName.${name}`, name);
export const scenarioDescription = (sc: ScenarioInfo): string => tOr(`scenarioDesc.${sc.name}`, sc.description);
const stepNote = (name: string, st: { n: number; note: string }): string => tOr(`scenarioStep.${name}.${st.n}`, st.note);

export class ScenariosSection {
  readonly el = h('div', { class: 'scenarios', 'data-testid': 'scenarios' });
  private list: ScenarioInfo[] = [];
  private progress: SimWithScenario[] = [];
  private selected = '';
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly listEl = h('ul', { class: 'scenario-list', role: 'radiogroup', 'data-testid': 'scenario-list' });
  private readonly progressEl = h('div', { class: 'scenario-progress-box', 'data-testid': 'scenario-progress-box' });

  constructor(
    private readonly opts: {
      /** Asks the service to run a scenario (POST /api/sim/scenarios) and reloads. */
      run(name: string): Promise<void>;
      /** GET /api/sim (its instances carry their scenario's progress). */
      readSims(): Promise<SimWithScenario[]>;
    },
  ) {}

  /** The scenarios the service offers (GET /api/sim/scenarios). */
  setScenarios(list: ScenarioInfo[]): void {
    this.list = list.filter((x) => x && typeof x.name === 'string');
    if (this.selected && !this.list.some((x) => x.name === this.selected)) this.selected = '';
  }

  /** The simulated vehicles with their scenario's progress (GET /api/sim). */
  setSims(sims: SimWithScenario[]): void {
    this.progress = sims;
    this.renderProgress();
    this.schedule();
  }

  render(): void {
    const runBtn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'sim-scenario-start', disabled: !this.selected }, t('trainer.run'));
    replaceChildren(this.listEl, this.list.length ? this.list.map((sc) => {
      const id = `scenario-${sc.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const radio = h('input', { type: 'radio', name: 'scenario', id, value: sc.name, 'data-testid': 'scenario-radio' });
      radio.checked = sc.name === this.selected;
      radio.addEventListener('change', () => {
        if (!radio.checked) return;
        this.selected = sc.name;
        runBtn.disabled = false;
        for (const li of this.listEl.querySelectorAll('li')) li.classList.toggle('selected', li.getAttribute('data-name') === sc.name);
      });
      const steps = sc.steps?.length ?? 0;
      return h('li', { class: sc.name === this.selected ? 'selected' : '', 'data-testid': 'scenario-item', 'data-name': sc.name },
        radio,
        h('label', { for: id },
          h('span', null, h('strong', { 'data-testid': 'scenario-name' }, scenarioTitle(sc.name)), steps ? h('span', { class: 'muted' }, ` · ${t('trainer.scenarioSteps', { n: steps })}`) : null),
          h('span', { class: 'hint', 'data-testid': 'scenario-description' }, scenarioDescription(sc))));
    }) : [h('li', { class: 'muted' }, t('trainer.noScenarios'))]);
    const form = h('form', { class: 'scenario-form', onsubmit: (e: Event) => {
      e.preventDefault();
      const name = this.selected;
      if (!name) return;
      void this.opts.run(name);
    } }, h('fieldset', null, h('legend', null, t('trainer.scenario')), this.listEl), h('div', { class: 'buttons' }, runBtn));
    replaceChildren(this.el, form, this.progressEl);
    this.renderProgress();
  }

  private renderProgress(): void {
    const running = this.progress.filter((s) => s.scenario);
    if (!running.length) return void replaceChildren(this.progressEl, h('p', { class: 'muted', 'data-testid': 'scenario-none' }, t('trainer.scenarioNone')));
    replaceChildren(this.progressEl, running.map((s) => this.progressCard(s.vehicleId, s.scenario!)));
  }

  private progressCard(vehicleId: string, p: ScenarioProgress): HTMLElement {
    const steps = Array.isArray(p.steps) ? p.steps : [];
    const applied = steps.filter((x) => x.state !== 'pending');
    const last = applied.reduce<(typeof steps)[number] | null>((m, x) => (!m || (x.appliedAtS ?? 0) >= (m.appliedAtS ?? 0) ? x : m), null);
    const next = p.status === 'running' ? steps.find((x) => x.state === 'pending') : undefined;
    const lines: HTMLElement[] = [
      h('p', { 'data-testid': 'scenario-head' },
        h('strong', null, `${vehicleId} · ${scenarioTitle(p.name)}`), ' ',
        h('span', { class: `badge scenario-${p.status}`, 'data-testid': 'scenario-status' }, t(`trainer.scenarioStatus.${p.status}`)), ' ',
        h('span', { class: 'mono', 'data-testid': 'scenario-time' }, t('trainer.scenarioTime', { time: formatDurationS(p.simS) }))),
      h('p', { 'data-testid': 'scenario-current' }, last
        ? t('trainer.scenarioAt', { k: applied.length, n: steps.length, note: stepNote(p.name, last), at: formatDurationS(last.appliedAtS ?? last.atS) })
        : t('trainer.scenarioNoStep', { n: steps.length })),
    ];
    if (next) lines.push(h('p', { 'data-testid': 'scenario-next' }, t('trainer.scenarioNext', { note: stepNote(p.name, next), at: formatDurationS(next.atS) })));
    const ol = h('ol', { class: 'scenario-steps' }, steps.map((x) => h('li', { 'data-testid': 'scenario-step', 'data-state': x.state, title: x.error ?? '' },
      h('span', { class: 'mono' }, formatDurationS(x.atS)), ' ', stepNote(p.name, x), ' · ',
      h('span', { class: x.state === 'failed' ? 'bad' : x.state === 'done' ? 'good' : 'muted' },
        x.state === 'pending' ? t('trainer.stepPending') : x.state === 'failed' ? t('trainer.stepFailed') : t('trainer.stepDone', { at: formatDurationS(x.appliedAtS ?? x.atS) })))));
    return h('div', { class: 'scenario-progress', 'data-testid': 'scenario-progress', 'data-vehicle': vehicleId, 'data-name': p.name, 'data-status': p.status, 'data-sim-s': String(p.simS) }, ...lines, ol);
  }

  /** Reads progress again in a second while any scenario runs. */
  private schedule(): void {
    if (this.timer || !this.progress.some((s) => s.scenario?.status === 'running')) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.el.isConnected) return;
      this.opts.readSims().then((sims) => this.setSims(sims), () => this.schedule());
    }, POLL_MS);
  }
}
