/**
 * Text normalisation for matching requests against the catalogue: full-width forms folded (NFKC),
 * lower case, punctuation to spaces, no spaces beside Chinese characters, Chinese numerals before a
 * building word turned into digits (三号楼 → 3号楼), padded with one space on each side.
 */
const HAN = /\p{Script=Han}/u;
const CN_DIGITS: Record<string, number> = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };

/** 一 … 九十九 (and 百 for 100–999) to a number; NaN when it is not such a numeral. */
export function chineseNumeral(s: string): number {
  if (!s) return NaN;
  let total = 0;
  let cur = 0;
  let seen = false;
  for (const ch of s) {
    if (ch in CN_DIGITS) {
      cur = CN_DIGITS[ch];
      seen = true;
    } else if (ch === '十') {
      total += (seen ? cur : 1) * 10;
      cur = 0;
      seen = false;
    } else if (ch === '百') {
      total += (seen ? cur : 1) * 100;
      cur = 0;
      seen = false;
    } else return NaN;
  }
  return total + cur;
}

export function normalizeText(s: string): string {
  let t = s.normalize('NFKC').toLowerCase();
  t = t.replace(/([零〇一二两三四五六七八九十百]+)(?=\s*(?:号楼|号|栋|幢|座|单元|期))/g, (m) => {
    const n = chineseNumeral(m);
    return Number.isFinite(n) ? String(n) : m;
  });
  t = t.replace(/[^\p{L}\p{N}]+/gu, ' ');
  t = t.replace(/\s+(?=\p{Script=Han})/gu, '').replace(/(?<=\p{Script=Han})\s+/gu, '');
  t = t.trim().replace(/\s+/g, ' ');
  return ` ${t} `;
}

export const isHan = (ch: string | undefined): boolean => !!ch && HAN.test(ch);
export const isWordChar = (ch: string | undefined): boolean => !!ch && /[a-z0-9]/.test(ch);

/** The building number a text names ("3号楼", "三栋", "building 3", "bldg #12", "#5"), if any. */
export function buildingNumber(normalized: string): number | undefined {
  const m =
    /(\d{1,4})(?:号楼|栋|幢|座|号)/.exec(normalized) ??
    /\b(?:building|bldg|block|blk|tower|house|no)\s?(\d{1,4})\b/.exec(normalized) ??
    /(?:楼|栋)(\d{1,4})\b/.exec(normalized);
  return m ? Number(m[1]) : undefined;
}

/** Words that say what kind of place a name is, not which one ("compound", "小区"). */
export const GENERIC_EN = /\s(?:compound|estate|garden|gardens|court|community|residence|residences|apartments|apartment|block|village|quarter)\s*$/;
export const GENERIC_ZH = /(?:小区|社区|公寓|大院|新村)$/;
