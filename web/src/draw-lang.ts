/** The zone editor's drawing toolbar (leaflet-geoman) in the console's language. */
import type L from 'leaflet';
import { getLang, t } from './i18n';

type PmLang = { pm?: { setLang?(lang: string, override?: object, fallback?: string): void } };

/** The toolbar's words the console gives (draw.<group>.<key> in web/i18n). */
export const DRAW_KEYS = {
  tooltips: ['placeMarker', 'placeMarkerTouch', 'firstVertex', 'continueLine', 'finishLine', 'finishPoly', 'finishRect', 'startCircle', 'finishCircle', 'placeCircleMarker'],
  actions: ['finish', 'cancel', 'removeLastVertex'],
  buttonTitles: ['drawPolyButton', 'drawRectButton', 'drawCircleMarkerButton', 'editButton', 'dragButton', 'deleteButton', 'snappingButton', 'pinningButton'],
} as const;

/** Puts the drawing toolbar in the console's language (geoman's own 'zh' and 'en', with our words over them). */
export function applyDrawLang(map: L.Map): void {
  const pm = (map as L.Map & PmLang).pm;
  if (!pm?.setLang) return;
  const words: Record<string, Record<string, string>> = {};
  for (const [group, keys] of Object.entries(DRAW_KEYS)) {
    words[group] = {};
    for (const k of keys) words[group][k] = t(`draw.${group}.${k}`);
  }
  pm.setLang(getLang() === 'zh-CN' ? 'zh' : 'en', words, 'en');
}
