/**
 * A small hyperscript helper and the confirmation dialog. Every text the console shows (and above all
 * text from users, imported files and vehicles) becomes a DOM text node here: the console never builds
 * HTML from strings.
 */
import { t } from './i18n';

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** h('button', {class: 'x', 'data-testid': 'y', onclick: fn}, 'text') */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
      else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
      else if (k === 'checked' && 'checked' in el) (el as HTMLInputElement).checked = Boolean(v);
      // Through the CSSOM, not a style attribute: the Content-Security-Policy governs style attributes.
      else if (k === 'style') el.style.cssText = String(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(typeof c === 'object' ? JSON.stringify(c) : String(c)));
  }
}

/**
 * Content for a Leaflet tooltip or popup: a span holding `text` as text. Leaflet writes a string
 * content into the page as HTML, so data (zone names, ids) is always handed over as an element.
 */
export function textSpan(text: string, className?: string): HTMLSpanElement {
  const el = document.createElement('span');
  if (className) el.className = className;
  el.textContent = text;
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replaceChildren(el: Element, ...children: Child[]): void {
  clear(el);
  append(el, children);
}

/**
 * Modal confirmation. Resolves true on confirm, false on cancel or Escape. Focus starts on Cancel so a
 * stray Enter never commands a vehicle.
 */
export function confirmDialog(opts: { title: string; body?: string; confirmLabel?: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    const prevFocus = document.activeElement as HTMLElement | null;
    const cancel = h('button', { type: 'button', 'data-testid': 'confirm-cancel' }, t('common.cancel'));
    const ok = h('button', { type: 'button', class: opts.danger ? 'danger' : 'primary', 'data-testid': 'confirm-ok' }, opts.confirmLabel ?? t('common.confirm'));
    const box = h('div', { class: 'dialog', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'confirm-title', 'data-testid': 'confirm-dialog' },
      h('h2', { id: 'confirm-title' }, opts.title),
      opts.body ? h('p', null, opts.body) : null,
      h('div', { class: 'dialog-buttons' }, cancel, ok));
    const backdrop = h('div', { class: 'backdrop' }, box);
    const done = (v: boolean) => {
      document.removeEventListener('keydown', onKey, true);
      backdrop.remove();
      prevFocus?.focus?.();
      resolve(v);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        done(false);
      } else if (e.key === 'Tab') {
        e.preventDefault();
        (document.activeElement === ok ? cancel : ok).focus();
      }
    };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    document.addEventListener('keydown', onKey, true);
    document.body.appendChild(backdrop);
    cancel.focus();
  });
}

/** A short-lived message at the bottom of the screen. */
export function toast(text: string, level: 'info' | 'error' = 'info'): void {
  let host = document.getElementById('toasts');
  if (!host) {
    host = h('div', { id: 'toasts', 'aria-live': 'polite' });
    document.body.appendChild(host);
  }
  const el = h('div', { class: `toast ${level}`, 'data-testid': level === 'error' ? 'toast-error' : 'toast' }, text);
  host.appendChild(el);
  setTimeout(() => el.remove(), level === 'error' ? 8000 : 4000);
}
