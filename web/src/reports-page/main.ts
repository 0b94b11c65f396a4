/**
 * The operations report page (/reports): KPIs, charts (Chart.js, bundled with the console: no CDN),
 * tables per day, site, vehicle, compound and priority, failed/aborted jobs with reasons, and flight
 * hours and battery cycles per vehicle; CSV links for every table; printable (print styles hide the controls). All text
 * from the server is set with textContent.
 */
import { detectLang, setLang, t } from '../i18n';
import { Chart, BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend } from 'chart.js';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend);

interface GroupRow { key: string; jobs: number; delivered: number; withinPromise: number; withinPromiseShare: number | null; failed: number; aborted: number; medianS: number | null; p90S: number | null }
interface Report {
  from: string; to: string; tzOffsetMin: number;
  totals: GroupRow & { requests: number };
  by: Record<'day' | 'site' | 'vehicle' | 'compound' | 'priority', GroupRow[]>;
  requests: Array<{ day: string; requests: number; merged: number; triaged: number; rejected: number }>;
  failures: Array<{ id: string; state: string; priority: string; vehicleId: string | null; createdAt: string; code: string; reason: string }>;
  failureReasons: Array<{ state: string; code: string; count: number }>;
  vehicles: Array<{ vehicleId: string; flights: number; flightHours: number; endedFlights: number; batteryCycles: number }>;
}

const root = document.getElementById('report')!;
const charts: Chart[] = [];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string | number, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
const minutes = (s: number | null) => (s === null ? '–' : (s / 60).toFixed(1));
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
const today = () => new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 10);

function table(cols: string[], rows: Array<Array<string | number>>): HTMLTableElement {
  const t = el('table');
  const hr = el('tr');
  for (const c of cols) hr.append(el('th', c));
  t.append(el('thead'), el('tbody'));
  t.tHead!.append(hr);
  for (const r of rows) {
    const tr = el('tr');
    for (const v of r) tr.append(el('td', v));
    t.tBodies[0].append(tr);
  }
  return t;
}

function csvLink(q: URLSearchParams, tableName: string): HTMLAnchorElement {
  const a = el('a', 'CSV', 'csv');
  const p = new URLSearchParams(q);
  p.set('table', tableName);
  a.href = `/api/reports/operations.csv?${p}`;
  return a;
}

function section(title: string, q: URLSearchParams, tableName: string, node: HTMLElement): HTMLElement {
  const s = el('section');
  const h = el('h2', title);
  h.append(csvLink(q, tableName));
  s.append(h, node);
  return s;
}

function groupTable(rows: GroupRow[]): HTMLTableElement {
  return table(
    ['', 'jobs', 'delivered', 'within promise', 'share', 'median min', 'p90 min', 'failed', 'aborted'],
    rows.map((r) => [r.key, r.jobs, r.delivered, r.withinPromise, pct(r.withinPromiseShare), minutes(r.medianS), minutes(r.p90S), r.failed, r.aborted]),
  );
}

function chart(title: string, make: (canvas: HTMLCanvasElement) => Chart): HTMLElement {
  const box = el('div');
  box.append(el('h2', title));
  const wrap = el('div', undefined, 'chart');
  const canvas = el('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', title);
  wrap.append(canvas);
  box.append(wrap);
  queueMicrotask(() => charts.push(make(canvas)));
  return box;
}

/** Flight hours, ended flights and battery cycles (swaps recorded in the period) per vehicle, in the console's language. */
function vehiclesSection(r: Report, q: URLSearchParams): HTMLElement {
  const cols = ['vehicle', 'flights', 'flightHours', 'endedFlights', 'batteryCycles'].map((c) => t(`report.vehicles.${c}`));
  const rows = r.vehicles.map((v) => [v.vehicleId, v.flights, v.flightHours.toFixed(2), v.endedFlights, v.batteryCycles]);
  return section(t('report.vehicles.title'), q, 'vehicles', table(cols, rows));
}

function render(r: Report, q: URLSearchParams): HTMLElement[] {
  const t = r.totals;
  const kpis = el('div', undefined, 'kpis');
  const kpi = (label: string, v: string | number) => {
    const d = el('div', undefined, 'kpi');
    d.append(el('b', v), el('span', label));
    kpis.append(d);
  };
  kpi('requests', t.requests);
  kpi('jobs', t.jobs);
  kpi('delivered', t.delivered);
  kpi('within promise', pct(t.withinPromiseShare));
  kpi('request → drop, median min', minutes(t.medianS));
  kpi('request → drop, p90 min', minutes(t.p90S));
  kpi('failed', t.failed);
  kpi('aborted', t.aborted);
  const chartsBox = el('div', undefined, 'charts');
  const days = r.by.day.map((d) => d.key);
  chartsBox.append(
    chart('Jobs and deliveries per day', (c) => new Chart(c, { type: 'bar', data: { labels: days, datasets: [{ label: 'jobs', data: r.by.day.map((d) => d.jobs), backgroundColor: '#8c959f' }, { label: 'delivered', data: r.by.day.map((d) => d.delivered), backgroundColor: '#1a7f37' }] }, options: { animation: false, maintainAspectRatio: false } })),
    chart('Share within the promise per day', (c) => new Chart(c, { type: 'line', data: { labels: days, datasets: [{ label: '%', data: r.by.day.map((d) => (d.withinPromiseShare === null ? null : d.withinPromiseShare * 100)), borderColor: '#0969da' }] }, options: { animation: false, maintainAspectRatio: false, scales: { y: { min: 0, max: 100 } } } })),
    chart('Request → drop by priority (min)', (c) => new Chart(c, { type: 'bar', data: { labels: r.by.priority.map((p) => p.key), datasets: [{ label: 'median', data: r.by.priority.map((p) => (p.medianS ?? 0) / 60), backgroundColor: '#0969da' }, { label: 'p90', data: r.by.priority.map((p) => (p.p90S ?? 0) / 60), backgroundColor: '#bf8700' }] }, options: { animation: false, maintainAspectRatio: false } })),
    chart('Flight hours per vehicle', (c) => new Chart(c, { type: 'bar', data: { labels: r.vehicles.map((v) => v.vehicleId), datasets: [{ label: 'hours', data: r.vehicles.map((v) => v.flightHours), backgroundColor: '#8250df' }] }, options: { animation: false, maintainAspectRatio: false } })),
  );
  return [
    kpis,
    chartsBox,
    section('Requests per day', q, 'requests', table(['day', 'requests', 'merged', 'triaged', 'rejected'], r.requests.map((x) => [x.day, x.requests, x.merged, x.triaged, x.rejected]))),
    section('Per day', q, 'day', groupTable(r.by.day)),
    section('Per launch site', q, 'site', groupTable(r.by.site)),
    section('Per vehicle', q, 'vehicle', groupTable(r.by.vehicle)),
    section('Per compound', q, 'compound', groupTable(r.by.compound)),
    section('Per priority', q, 'priority', groupTable(r.by.priority)),
    vehiclesSection(r, q),
    section('Failed and aborted jobs', q, 'failures', table(['job', 'state', 'priority', 'vehicle', 'created', 'code', 'reason'], r.failures.map((f) => [f.id, f.state, f.priority, f.vehicleId ?? '', f.createdAt, f.code, f.reason]))),
    section('Failure reasons', q, 'failures', table(['state', 'code', 'jobs'], r.failureReasons.map((f) => [f.state, f.code, f.count]))),
  ];
}

async function load(q: URLSearchParams, out: HTMLElement): Promise<void> {
  for (const c of charts.splice(0)) c.destroy();
  out.replaceChildren(el('p', '…'));
  const res = await fetch(`/api/reports/operations?${q}`, { credentials: 'same-origin', cache: 'no-store' });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const p = el('p', `${body?.error?.code ?? res.status}: ${body?.error?.message ?? ''}`, 'error');
    if (res.status === 401) {
      const a = el('a', ' → log in');
      a.href = '/';
      p.append(a);
    }
    return out.replaceChildren(p);
  }
  out.replaceChildren(...render(body as Report, q));
}

function main(): void {
  // The console's language (its stored choice, else the browser's) for the strings that have one.
  let stored: string | null = null;
  try {
    stored = localStorage.getItem('dropline.lang');
  } catch {
    /* storage unavailable */
  }
  setLang(detectLang(stored, navigator.languages ?? [navigator.language]));
  const params = new URLSearchParams(location.search);
  const form = el('form');
  const field = (label: string, name: string, type: string, value: string) => {
    const l = el('label', label);
    const i = el('input');
    i.name = name;
    i.type = type;
    i.value = value;
    l.append(i);
    form.append(l);
    return i;
  };
  const from = field('from', 'from', 'date', params.get('from') ?? today());
  const to = field('to', 'to', 'date', params.get('to') ?? from.value);
  const tz = field('UTC offset (min)', 'tzOffsetMin', 'number', params.get('tzOffsetMin') ?? String(-new Date().getTimezoneOffset()));
  const go = el('button', 'Show');
  go.type = 'submit';
  const print = el('button', 'Print');
  print.type = 'button';
  print.addEventListener('click', () => window.print());
  form.append(go, print);
  const out = el('div');
  const run = () => {
    const q = new URLSearchParams({ from: from.value, to: to.value || from.value, tzOffsetMin: tz.value || '0' });
    history.replaceState(null, '', `?${q}`);
    void load(q, out);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  root.replaceChildren(el('h1', 'Operations report'), form, out);
  run();
}

main();
