/**
 * What the server says, in the operator's language. The server answers with stable codes and
 * parameters (errors `{code, message, details}`, plan warnings `{code, message, details}`, preflight
 * checks `{name, ok, detail}`, alerts `{code, params, text}`, timeline events `{event, detail}`);
 * the console renders each from its dictionaries (web/i18n) and falls back to the server's English
 * text only for a code it does not know (test/web/messages.test.ts keeps every code the server can
 * send translated). Positions are always written lat, lon.
 */
import { getLang, t } from './i18n';
import { formatDurationS, modeText } from './format';
import type { FeatureCollection } from 'geojson';

type Params = Record<string, string | number>;

/** A key's translation, or null when no dictionary has it. */
export function tr(key: string, params?: Params): string | null {
  const s = t(key, params);
  return s === key ? null : s;
}

function num(v: unknown, digits = 0): string | number {
  return typeof v === 'number' && Number.isFinite(v) ? Number(v.toFixed(digits)) : typeof v === 'string' ? v : '—';
}

/** "34.061200, 114.392100" from [lon, lat]. */
export function latLonText(p: unknown): string {
  if (Array.isArray(p) && typeof p[0] === 'number' && typeof p[1] === 'number') return `${p[1].toFixed(6)}, ${p[0].toFixed(6)}`;
  return '—';
}

/** Rewrites "[lon, lat]" pairs in a server text as "lat, lon" (the console always speaks lat, lon). */
export function lonLatToLatLon(text: string): string {
  return text.replace(/\[(-?\d{1,3}\.\d+),\s*(-?\d{1,2}\.\d+)\]/g, (_m, lon: string, lat: string) => `${lat}, ${lon}`);
}

/** A zone's name by its index in today's zones (what planner messages refer to as "feature #n"). */
export type ZoneNamer = (featureIndex: number) => string | null;

export function zoneNamerFor(zones: FeatureCollection | null | undefined): ZoneNamer {
  return (i) => {
    const f = zones?.features?.[i];
    const n = f?.properties?.name;
    return typeof n === 'string' && n ? n : null;
  };
}

function zoneLabel(details: Record<string, unknown>, namer?: ZoneNamer): string {
  const name = typeof details.name === 'string' && details.name ? details.name : typeof details.featureIndex === 'number' ? namer?.(details.featureIndex) : null;
  if (name) return name;
  return typeof details.featureIndex === 'number' ? `#${details.featureIndex}` : '—';
}

/** Parameters of a planner error or warning's details, as the dictionaries name them. */
export function plannerParams(details: unknown, namer?: ZoneNamer): Params {
  const d = (details && typeof details === 'object' ? details : {}) as Record<string, unknown>;
  const p: Params = { zone: zoneLabel(d, namer) };
  for (const [k, v] of Object.entries(d)) if (typeof v === 'number' || typeof v === 'string') p[k] = typeof v === 'number' ? num(v, 1) : v;
  if (Array.isArray(d.drop)) p.at = latLonText(d.drop);
  if (Array.isArray(d.near)) p.at = latLonText(d.near);
  return p;
}

/** A plan warning: `{code, message, details}` (or a bare string from an older server). */
export function planWarningText(w: string | { code?: string; message?: string; details?: unknown }, namer?: ZoneNamer): string {
  if (typeof w === 'string') return lonLatToLatLon(w);
  if (w.code) {
    const s = tr(`warning.${w.code}`, plannerParams(w.details, namer));
    if (s) return s;
  }
  return lonLatToLatLon(w.message ?? w.code ?? '');
}

/** A planner refusal (POST /api/plans 422 PLAN_FAILED details = {code, message, details}). */
export function planErrorText(e: { code?: string; message?: string; details?: unknown } | null | undefined, namer?: ZoneNamer): string {
  if (!e) return '';
  if (e.code) {
    const s = tr(`planError.${e.code}`, plannerParams(e.details, namer));
    if (s) return s;
  }
  return lonLatToLatLon(e.message ?? e.code ?? '');
}

/** Server error `{code, message, details}`: the code's text in the user's language, with its parameters where known. */
export function serverErrorText(code: string, message: string | undefined, details?: unknown, namer?: ZoneNamer): string {
  if (code === 'PLAN_FAILED' && details && typeof details === 'object' && (details as { code?: string }).code) {
    return `${t('error.PLAN_FAILED')}: ${planErrorText(details as { code: string }, namer)}`;
  }
  const head = tr(`error.${code}`) ?? tr(`planError.${code}`, plannerParams(details, namer));
  if (!head) return `${code}: ${lonLatToLatLon(message ?? '')}`.trim();
  // English keeps the server's precise sentence; other languages the code's text (the sentence is English).
  return getLang() === 'en' && message ? `${head}: ${lonLatToLatLon(message)}` : head;
}

// ------------------------------------------------------------------ preflight

/** Readable detail of a preflight check, parsed from the server's detail for the known shapes. */
const PREFLIGHT_DETAILS: Array<{ name: string; re: RegExp; key: string; names: string[] }> = [
  { name: 'link', re: /^last message (\d+) ms ago$/, key: 'preflight.d.linkAge', names: ['ms'] },
  { name: 'link', re: /^vehicle not connected$/, key: 'preflight.d.notConnected', names: [] },
  { name: 'gps_fix', re: /^fix type (\d+) \(need ≥ (\d+)\), (\d+) satellites$/, key: 'preflight.d.gps', names: ['fix', 'min', 'sats'] },
  { name: 'ekf', re: /^flags 0x([0-9a-f]+)(?:, missing 0x([0-9a-f]+))?(?:, forbidden 0x([0-9a-f]+) set)?$/, key: 'preflight.d.ekf', names: ['flags', 'missing', 'forbidden'] },
  { name: 'battery', re: /^(-?\d+(?:\.\d+)?)% \(need ≥ (\d+(?:\.\d+)?)%\), (\d+(?:\.\d+)?) V$/, key: 'preflight.d.battery', names: ['pct', 'min', 'v'] },
  { name: 'prearm', re: /^prearm checks pass$/, key: 'preflight.d.prearmOk', names: [] },
  { name: 'prearm', re: /^SYS_STATUS prearm health bit \(28\) clear$/, key: 'preflight.d.prearmFail', names: [] },
  { name: 'home', re: /^home (-?\d+\.\d+), (-?\d+\.\d+)$/, key: 'preflight.d.home', names: ['lat', 'lon'] },
  { name: 'disarmed', re: /^disarmed on the ground$/, key: 'preflight.d.disarmed', names: [] },
  { name: 'disarmed', re: /^vehicle is already armed$/, key: 'preflight.d.armed', names: [] },
  { name: '*', re: /^no ([A-Z_0-9]+) received$/, key: 'preflight.d.noMessage', names: ['msg'] },
  { name: '*', re: /^([A-Z_0-9]+) = (-?\d+)(?: \(.*\))?$/, key: 'preflight.d.param', names: ['param', 'value'] },
  { name: '*', re: /^parameter ([A-Z_0-9]+) not read.*$/, key: 'preflight.d.unread', names: ['param'] },
  { name: 'circle_fence_radius', re: /^FENCE_TYPE = (\d+): no circle fence$/, key: 'preflight.d.noCircle', names: ['type'] },
  { name: 'circle_fence_radius', re: /^FENCE_RADIUS (\d+(?:\.\d+)?) m vs route's farthest point (\d+) m from (home|launch) \+ margin (\d+(?:\.\d+)?) m$/, key: 'preflight.d.circle', names: ['radius', 'farthest', 'from', 'margin'] },
  { name: 'energy_reserve', re: /^needs (\d+(?:\.\d+)?) Wh \+ reserve (\d+(?:\.\d+)?) Wh, available (\d+(?:\.\d+)?) Wh \((\d+)% of (\d+(?:\.\d+)?) Wh\)$/, key: 'preflight.d.energy', names: ['need', 'reserve', 'avail', 'pct', 'cap'] },
  { name: 'energy_reserve', re: /^vehicle battery unknown: (.*); needs (\d+(?:\.\d+)?) Wh$/, key: 'preflight.d.energyUnknown', names: ['why', 'need'] },
  { name: 'energy_reserve', re: /^planner accepted (\d+(?:\.\d+)?) Wh \+ reserve (\d+(?:\.\d+)?) Wh against its profile$/, key: 'preflight.d.energyPlan', names: ['need', 'reserve'] },
  { name: '*', re: /^skipped by policy/, key: 'preflight.d.skipped', names: [] },
];

export function preflightDetailText(name: string, detail: string | undefined): string {
  if (!detail) return '';
  for (const p of PREFLIGHT_DETAILS) {
    if (p.name !== '*' && p.name !== name) continue;
    const m = detail.match(p.re);
    if (!m) continue;
    const params: Params = {};
    p.names.forEach((n, i) => (params[n] = m[i + 1] ?? ''));
    if (p.key === 'preflight.d.home') return t(p.key, { at: `${params.lat}, ${params.lon}` });
    if (p.key === 'preflight.d.ekf') return t(params.missing || params.forbidden ? 'preflight.d.ekfBad' : 'preflight.d.ekf', params);
    if (p.key === 'preflight.d.circle') params.from = t(`preflight.from.${params.from}`);
    return t(p.key, params);
  }
  return lonLatToLatLon(detail);
}

/** A preflight check's name and what it means, in plain words. */
export function preflightName(name: string): string {
  return tr(`preflight.check.${name}`) ?? name;
}

/** What to do about a failed check (ekf → "wait for the navigation filter to settle after boot"). */
export function preflightAdvice(name: string): string | null {
  return tr(`preflight.advice.${name}`);
}

// ------------------------------------------------------------------ jobs

/** Why a job was aborted, from the sentences the service writes; a person's own words are shown as written. */
export function abortReasonText(reason: string): string {
  let m = reason.match(/^aborted by (\S+)$/);
  if (m) return t('job.abortedBy', { by: m[1] });
  m = reason.match(/^(RTL|LAND) commanded by (\S+)$/);
  if (m) return t('job.abortedByCommand', { a: t(`cmd.${m[1].toLowerCase()}`), by: m[2] });
  return lonLatToLatLon(reason);
}

/** A job's payload description; the service's placeholder for none is shown as such. */
export function payloadText(description: string): string {
  return description === 'unspecified' ? t('job.payloadUnspecified') : description;
}

// ------------------------------------------------------------------ alerts

export interface AlertLike {
  level: string;
  text: string;
  code?: string;
  params?: Record<string, unknown>;
}

/** An alert in the user's language: from its code and parameters, else the server's text. */
export function alertText(a: AlertLike): string {
  if (a.code) {
    const p: Params = {};
    for (const [k, v] of Object.entries(a.params ?? {})) if (typeof v === 'string' || typeof v === 'number') p[k] = v;
    if (typeof p.mode === 'string') p.mode = modeText(p.mode);
    if (typeof p.from === 'string') p.from = modeText(p.from);
    if (typeof p.to === 'string') p.to = modeText(p.to);
    if (typeof a.params?.failureCode === 'string') p.reason = tr(`error.${a.params.failureCode}`) ?? String(a.params.failureCode);
    else if (typeof a.params?.reason === 'string') p.reason = abortReasonText(a.params.reason);
    if (typeof a.params?.action === 'string' && /^(RTL|LAND)$/.test(a.params.action)) p.action = t(`cmd.${a.params.action.toLowerCase()}`);
    else if (typeof a.params?.action === 'string' && a.code?.startsWith('traffic.')) p.action = tr(`traffic.action.${a.params.action}`) ?? a.params.action;
    // Preflight check names (what a job waits for) in plain words.
    if (typeof a.params?.checks === 'string') p.checks = a.params.checks.split(/,\s*/).map(preflightName).join(', ');
    if (typeof a.params?.statusCode === 'string') {
      const st = tr(`statustext.${a.params.statusCode}`);
      if (st) p.text = st;
    }
    const s = tr(`alert.${a.code}`, p);
    if (s) return s;
  }
  return lonLatToLatLon(a.text);
}

// ------------------------------------------------------------------ timeline

export interface TimelineLike {
  at: string;
  state?: string;
  event?: string;
  detail?: unknown;
}

/** A timeline entry's words: the state or event, and what it carried, translated where known. */
export function timelineText(e: TimelineLike): { head: string; rest: string } {
  const det = (e.detail && typeof e.detail === 'object' ? e.detail : {}) as Record<string, unknown>;
  const head = e.state ? t(`state.${e.state}`) : e.event ? tr(`timeline.${e.event}`) ?? e.event : '';
  let rest = '';
  if (e.event === 'operator-command' && typeof det.action === 'string') {
    const ack = (det.ack as { result?: string } | undefined)?.result;
    rest = t('timeline.commandDetail', { a: t(`cmd.${det.action}`), by: String(det.by ?? '—'), r: ack ? tr(`ack.${ack}`) ?? ack : '—' });
  } else if ((e.event === 'link-lost' || e.event === 'link-regained') && typeof det.reason === 'string') rest = tr(`timeline.gapReason.${det.reason}`) ?? det.reason;
  else if (typeof e.detail === 'string') rest = lonLatToLatLon(e.detail);
  else if (typeof det.code === 'string') rest = serverErrorText(det.code, typeof det.message === 'string' ? det.message : undefined, det.details);
  else if (typeof det.reason === 'string') rest = abortReasonText(det.reason);
  else if (e.state === 'requested' && det.priority) rest = t(`priority.${String(det.priority)}`);
  else if (typeof det.mode === 'string') rest = modeText(det.mode);
  else if (typeof det.altRelM === 'number') rest = `${det.altRelM.toFixed(1)} m`;
  else if (typeof det.durationS === 'number') rest = formatDurationS(det.durationS);
  return { head, rest };
}
