/**
 * A synthetic but realistic places catalogue: compounds named like Chinese residential compounds
 * (two characters + 小区/花园/家园/公寓/社区, English pinyin + Compound/Gardens/…), each with
 * buildings numbered from 1 and a gate drop point, laid out on a grid inside the demo district.
 * Deterministic for a given seed. Also labelled queries in Chinese and English (exact names, short
 * names, Chinese numerals, typos, homophones) and queries that name no place.
 */
import { pinyin } from 'pinyin-pro';
import type { Place } from '../../src/intake/places';

const FIRST = '新华东西南北金银春秋阳光和平幸福安康长乐明德锦绣翠竹青松碧桂嘉兴丰泰宏盛瑞祥鸿运富贵龙凤云海天星月湖江河山林园苑泉'.split('');
const SECOND = '苑华园庭居城府湾景坊苑轩阁里院邸庄岭堤塘'.split('');
const SUFFIX: Array<[string, string]> = [
  ['小区', 'Compound'],
  ['花园', 'Gardens'],
  ['家园', 'Estate'],
  ['公寓', 'Apartments'],
  ['社区', 'Community'],
];
/** Characters a resident may type for another one that sounds the same. */
export const HOMOPHONES: Record<string, string> = { 苑: '园', 华: '花', 新: '欣', 阳: '杨', 金: '今', 明: '鸣', 和: '河', 安: '岸', 东: '冬', 春: '纯', 林: '琳', 云: '芸', 星: '兴', 泰: '太', 丰: '峰' };

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
export const pinyinWord = (han: string) => (pinyin(han, { toneType: 'none', type: 'array' }) as string[]).join('');

export interface Compound {
  id: string;
  zh: string;
  core: string;
  en: string;
  enCore: string;
  buildings: number;
}

/** `compounds` compounds with `buildings` buildings each and one gate drop point: compounds × (buildings + 2) places. */
export function makeCatalogue(compounds: number, buildings = 3, seed = 7, origin: [number, number] = [114.376, 34.049]): { places: Place[]; compounds: Compound[] } {
  const r = rng(seed);
  const places: Place[] = [];
  const out: Compound[] = [];
  const usedCore = new Set<string>();
  const usedPinyin = new Set<string>();
  let guard = 0;
  while (out.length < compounds && guard++ < compounds * 200) {
    // Two characters; three for large catalogues (two alone give about a thousand names).
    const three = compounds > 200 && r() < 0.7;
    const core = FIRST[Math.floor(r() * FIRST.length)] + (three ? FIRST[Math.floor(r() * FIRST.length)] : '') + SECOND[Math.floor(r() * SECOND.length)];
    const py = pinyinWord(core);
    if (usedCore.has(core) || usedPinyin.has(py) || new Set(core).size < core.length) continue;
    usedCore.add(core);
    usedPinyin.add(py);
    const [zs, es] = SUFFIX[out.length % SUFFIX.length];
    const id = `c${String(out.length + 1).padStart(4, '0')}`;
    const zh = core + zs;
    const enCore = cap(py);
    const en = `${enCore} ${es}`;
    const i = out.length;
    const cols = Math.ceil(Math.sqrt(compounds));
    const lon = origin[0] + (i % cols) * (0.03 / cols);
    const lat = origin[1] + Math.floor(i / cols) * (0.02 / cols);
    places.push({ id, kind: 'compound', name: { zh, en }, aliases: [core] });
    for (let b = 1; b <= buildings; b++) places.push({ id: `${id}-b${b}`, kind: 'building', parentId: id, name: { zh: `${b}号楼`, en: `Building ${b}` }, number: b, drop: [lon + b * 0.0001, lat] });
    places.push({ id: `${id}-gate`, kind: 'drop-point', parentId: id, name: { zh: '东门', en: 'East gate' }, drop: [lon, lat + 0.0001] });
    out.push({ id, zh, core, en, enCore, buildings });
  }
  return { places, compounds: out };
}

export interface LabelledQuery {
  text: string;
  kind: string;
  /** Expected compound (null: names no place). */
  compoundId: string | null;
  buildingId?: string;
}

const CN_NUM = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九', '十'];

function typo(word: string, r: () => number): string {
  // Swap two adjacent letters inside the word (not the first).
  if (word.length < 5) return word;
  const i = 1 + Math.floor(r() * (word.length - 3));
  return word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2);
}

export function makeQueries(compounds: Compound[], seed = 11): LabelledQuery[] {
  const r = rng(seed);
  const q: LabelledQuery[] = [];
  for (const c of compounds) {
    const b = 1 + Math.floor(r() * c.buildings);
    const bid = `${c.id}-b${b}`;
    q.push({ kind: 'zh-exact', text: `我妈妈住在${c.zh}${b}号楼，需要降压药，谢谢`, compoundId: c.id, buildingId: bid });
    q.push({ kind: 'zh-numeral', text: `${c.core}${CN_NUM[b]}栋有位八十岁老人需要胰岛素`, compoundId: c.id, buildingId: bid });
    q.push({ kind: 'en-exact', text: `My grandmother lives at ${c.en}, building ${b}, and needs her insulin.`, compoundId: c.id, buildingId: bid });
    q.push({ kind: 'en-short', text: `${c.enCore.toLowerCase()} bldg ${b} - baby formula please`, compoundId: c.id, buildingId: bid });
    q.push({ kind: 'en-typo', text: `need medicine at ${typo(c.en.split(' ')[0], r)} ${c.en.split(' ')[1].toLowerCase()} block ${b}`, compoundId: c.id, buildingId: bid });
    q.push({ kind: 'en-short-typo', text: `${typo(c.enCore.toLowerCase(), r)} building ${b}, medicine for my dad`, compoundId: c.id, buildingId: bid });
    // One character of the full Chinese name mistyped as an unrelated one.
    const zhChars = [...c.zh];
    zhChars[1] = '口';
    q.push({ kind: 'zh-wrong-char', text: `${zhChars.join('')}${b}号楼要奶粉`, compoundId: c.id, buildingId: bid });
    const hc = [...c.core].findIndex((ch) => HOMOPHONES[ch]);
    if (hc >= 0) {
      const wrong = [...c.zh].map((ch, i) => (i === hc ? HOMOPHONES[ch] : ch)).join('');
      q.push({ kind: 'zh-homophone', text: `${wrong}${b}号楼 需要药`, compoundId: c.id, buildingId: bid });
    }
  }
  const none = [
    '请问今天还有配送吗？',
    '你好，我想问一下怎么登记',
    'Hello, is anyone there? I need help with groceries.',
    'When does the next delivery start?',
    '谢谢你们的辛苦工作！',
    'Please call me back about my order.',
    '我家的水管坏了',
    'Thank you for the delivery yesterday',
  ];
  for (const text of none) q.push({ kind: 'none', text, compoundId: null });
  return q;
}
