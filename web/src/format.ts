/** Metric units and local time, formatted for the console's current language. */
import { getLang, t } from './i18n';

function locale(): string {
  return getLang() === 'zh-CN' ? 'zh-CN' : 'en-GB';
}

/** 850 → "850 m", 1234 → "1.23 km". */
export function formatDistanceM(m: number | null | undefined): string {
  if (m == null || !Number.isFinite(m)) return '—';
  if (Math.abs(m) < 1000) return `${Math.round(m)} m`;
  return `${(m / 1000).toFixed(m < 10000 ? 2 : 1)} km`;
}

/** Seconds → "m:ss" (or "h:mm:ss"); negative values get a minus sign. */
export function formatDurationS(s: number | null | undefined): string {
  if (s == null || !Number.isFinite(s)) return '—';
  const neg = s < 0;
  let v = Math.round(Math.abs(s));
  const h = Math.floor(v / 3600);
  v -= h * 3600;
  const m = Math.floor(v / 60);
  const sec = v - m * 60;
  const body = h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
  return neg ? `-${body}` : body;
}

export function formatAltM(m: number | null | undefined): string {
  if (m == null || !Number.isFinite(m)) return '—';
  return `${m.toFixed(m < 10 && m > -10 ? 1 : 0)} m`;
}

export function formatSpeedMps(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  return `${v.toFixed(1)} m/s`;
}

export function formatPct(p: number | null | undefined): string {
  if (p == null || !Number.isFinite(p) || p < 0) return '—';
  return `${Math.round(p)}%`;
}

export function formatEnergyWh(wh: number | null | undefined): string {
  if (wh == null || !Number.isFinite(wh)) return '—';
  return `${wh.toFixed(wh < 100 ? 1 : 0)} Wh`;
}

/** A time of day in the browser's local time zone, 24-hour clock. */
export function formatTime(at: string | number | Date | null | undefined): string {
  if (at == null) return '—';
  const d = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(d);
}

/** Date and time in local time. */
export function formatDateTime(at: string | number | Date | null | undefined): string {
  if (at == null) return '—';
  const d = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(locale(), {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  }).format(d);
}

/**
 * Where a job stands against its promise: remaining seconds (negative when late) and the share of
 * the promise window used (0…1+).
 */
export function promiseStatus(createdAt: string, promiseBy: string, nowMs: number): { remainingS: number; used: number; late: boolean } {
  const c = Date.parse(createdAt);
  const p = Date.parse(promiseBy);
  const windowMs = Math.max(1, p - c);
  const remainingS = (p - nowMs) / 1000;
  return { remainingS, used: (nowMs - c) / windowMs, late: remainingS < 0 };
}

export function formatPromise(createdAt: string, promiseBy: string, nowMs: number): string {
  const st = promiseStatus(createdAt, promiseBy, nowMs);
  return st.late ? t('job.late', { d: formatDurationS(-st.remainingS) }) : t('job.left', { d: formatDurationS(st.remainingS) });
}

/** A flight mode as the operator reads it: translated where the console knows the mode, else as the autopilot names it. */
export function modeText(mode: string | null | undefined): string {
  if (!mode) return '—';
  const key = `mode.${mode}`;
  const s = t(key);
  return s === key ? mode : s;
}
