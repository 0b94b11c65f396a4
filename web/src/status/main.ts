/**
 * The resident's status page (/s/<token>): reads /api/status/<token> and shows the state in plain
 * words, the place and the predicted drop time, in Chinese or English. Everything is set as text
 * (textContent), never as HTML. No cookies are sent; the token never leaves this origin.
 */
import { t, type Lang, type StateCode } from './strings';

interface Status {
  reference: string;
  state: StateCode;
  lang: Lang;
  place: { zh: string | null; en: string | null } | null;
  building: { zh: string | null; en: string | null } | null;
  predictedDropAt: string | null;
  deliveredAt: string | null;
  updatedAt: string;
}

const root = document.getElementById('status')!;
const token = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() ?? '');
const asked = new URLSearchParams(location.search).get('lang');
let lang: Lang | null = asked === 'en' || asked === 'zh-CN' ? asked : null;
let last: { status?: Status; error?: string } = {};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function timeText(iso: string, l: Lang): string {
  const d = new Date(iso);
  return d.toLocaleTimeString(l === 'en' ? 'en-GB' : 'zh-CN', { hour: '2-digit', minute: '2-digit' });
}

function nameOf(n: { zh: string | null; en: string | null } | null, l: Lang): string {
  if (!n) return '';
  return (l === 'en' ? n.en ?? n.zh : n.zh ?? n.en) ?? '';
}

function render(): void {
  const l: Lang = lang ?? last.status?.lang ?? (navigator.language?.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en');
  document.documentElement.lang = l;
  document.title = `${t(l, 'title')} · Dropline`;
  const card = el('section', undefined, 'card');
  const langs = el('div', undefined, 'langs');
  for (const [code, label] of [['zh-CN', '中文'], ['en', 'English']] as const) {
    const b = el('button', label);
    b.type = 'button';
    b.setAttribute('aria-pressed', String(code === l));
    b.addEventListener('click', () => {
      lang = code;
      render();
    });
    langs.append(b);
  }
  card.append(el('h1', t(l, 'title')));
  if (last.error) {
    const key = `error.${last.error}`;
    card.append(el('p', t(l, key) === key ? t(l, 'error.other') : t(l, key), 'state problem'));
  } else if (last.status) {
    const s = last.status;
    const state = el('p', t(l, `state.${s.state}`), `state ${s.state}`);
    state.dataset.state = s.state;
    card.append(state);
    const dl = el('dl');
    const row = (k: string, v: string) => {
      if (!v) return;
      dl.append(el('dt', t(l, k)), el('dd', v));
    };
    row('reference', s.reference);
    row('place', [nameOf(s.place, l), nameOf(s.building, l)].filter(Boolean).join(' · '));
    if (s.deliveredAt) row('delivered', timeText(s.deliveredAt, l));
    else if (s.predictedDropAt) {
      const min = Math.max(1, Math.round((Date.parse(s.predictedDropAt) - Date.now()) / 60_000));
      row('predicted', `${timeText(s.predictedDropAt, l)} (${t(l, 'minutes', { n: min })})`);
    }
    row('updated', timeText(s.updatedAt, l));
    card.append(dl);
    card.append(el('p', t(l, 'refresh'), 'muted'));
  } else card.append(el('p', '…', 'muted'));
  root.replaceChildren(langs, card);
}

async function load(): Promise<void> {
  try {
    const r = await fetch(`/api/status/${encodeURIComponent(token)}`, { credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
    const body = await r.json().catch(() => null);
    last = r.ok && body ? { status: body as Status } : { error: String(body?.error?.code ?? 'other') };
  } catch {
    last = { error: 'other' };
  }
  render();
}

render();
void load();
setInterval(() => {
  if (last.error === 'NOT_FOUND' || last.error === 'STATUS_EXPIRED') return;
  void load();
}, 30_000);
