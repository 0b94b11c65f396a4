/**
 * Matching requests against a catalogue of 200 places (40 compounds, 3 buildings and a gate each):
 * Chinese and English, exact and short names, Chinese numerals, typos and homophones, and texts
 * that name no place. Precision and recall of the compound, and accuracy of the building number.
 */
import { PlaceMatcher } from '../../src/intake/matcher';
import { validateCatalogue } from '../../src/intake/places';
import { makeCatalogue, makeQueries } from './fixture-places';
import { buildingNumber, normalizeText, chineseNumeral } from '../../src/intake/normalize';
import { suggestPriority } from '../../src/intake/priority';

const { places, compounds } = makeCatalogue(40, 3);
const matcher = new PlaceMatcher(places);
const queries = makeQueries(compounds);
/** A match below this confidence is shown as a candidate only: it does not count as an answer. */
const ANSWER = 0.5;

test('the fixture is a valid catalogue of 200 places', () => {
  expect(places).toHaveLength(200);
  expect(validateCatalogue(places).ok).toBe(true);
});

test('precision and recall of the compound over Chinese and English queries', () => {
  let answered = 0, correct = 0, positives = 0, found = 0, buildingsRight = 0, buildingsAsked = 0;
  const perKind: Record<string, { n: number; ok: number }> = {};
  const misses: string[] = [];
  for (const q of queries) {
    const m = matcher.match(q.text);
    const best = m.best && m.best.confidence >= ANSWER ? m.best : null;
    if (best) answered++;
    if (best && best.compoundId === q.compoundId) correct++;
    const k = (perKind[q.kind] ??= { n: 0, ok: 0 });
    k.n++;
    if (q.compoundId) {
      positives++;
      if (best?.compoundId === q.compoundId) (found++, k.ok++);
      else misses.push(`${q.kind}: ${q.text} → ${best?.compoundId ?? 'none'}`);
      if (q.buildingId) {
        buildingsAsked++;
        if (best?.buildingId === q.buildingId) buildingsRight++;
      }
    } else if (!best) k.ok++;
  }
  const precision = correct / answered;
  const recall = found / positives;
  const buildingAccuracy = buildingsRight / buildingsAsked;
  console.log(JSON.stringify({ queries: queries.length, precision, recall, buildingAccuracy, perKind, misses: misses.slice(0, 10) }, null, 1));
  expect(queries.length).toBeGreaterThan(290);
  expect(precision).toBeGreaterThanOrEqual(0.97);
  expect(recall).toBeGreaterThanOrEqual(0.95);
  expect(buildingAccuracy).toBeGreaterThanOrEqual(0.95);
  // Exact names in either language are always found, with their building.
  for (const kind of ['zh-exact', 'en-exact', 'zh-numeral']) expect(perKind[kind].ok).toBe(perKind[kind].n);
  // A text that names no place is not answered.
  expect(perKind.none.ok).toBe(perKind.none.n);
});

test('confidence falls from exact to pinyin to fuzzy; an exact name with its building is near 1', () => {
  const c = compounds[0];
  const exact = matcher.match(`${c.zh}2号楼`).best!;
  expect(exact).toMatchObject({ compoundId: c.id, buildingId: `${c.id}-b2`, placeId: `${c.id}-b2`, method: 'exact' });
  expect(exact.confidence).toBeGreaterThanOrEqual(0.95);
  expect(exact.drop).toEqual(places.find((p) => p.id === `${c.id}-b2`)!.drop);
  const gate = matcher.match(`${c.en} east gate`).best!;
  expect(gate).toMatchObject({ compoundId: c.id, dropPointId: `${c.id}-gate`, placeId: `${c.id}-gate` });
  const fuzzy = queries.find((q) => q.kind === 'en-typo' && matcher.match(q.text).best?.method === 'fuzzy')!;
  expect(matcher.match(fuzzy.text).best!.confidence).toBeLessThan(exact.confidence);
});

test('normalisation: full-width text, Chinese numerals, building numbers in both languages', () => {
  expect(normalizeText('ＸＩＮＹＵＡＮ　Compound，３号楼')).toBe(' xinyuan compound 3号楼 ');
  expect(chineseNumeral('十二')).toBe(12);
  expect(chineseNumeral('二十三')).toBe(23);
  expect(buildingNumber(normalizeText('新苑小区十二栋'))).toBe(12);
  expect(buildingNumber(normalizeText('Building #7, flat 302'))).toBe(7);
  expect(buildingNumber(normalizeText('bldg 15'))).toBe(15);
  expect(buildingNumber(normalizeText('need medicine'))).toBeUndefined();
});

test('suggested priority from medicine, elderly, infant and chronic words in Chinese and English', () => {
  expect(suggestPriority('90岁老人需要降压药')).toEqual({ priority: 'urgent', reasons: ['medicine', 'elderly'] });
  expect(suggestPriority('my grandma needs her insulin')).toEqual({ priority: 'urgent', reasons: ['medicine', 'elderly'] });
  expect(suggestPriority('宝宝的奶粉没有了')).toEqual({ priority: 'high', reasons: ['infant'] });
  expect(suggestPriority('dialysis patient, needs pills')).toEqual({ priority: 'urgent', reasons: ['medicine', 'chronic'] });
  expect(suggestPriority('需要一些药')).toEqual({ priority: 'high', reasons: ['medicine'] });
  expect(suggestPriority('a man of 85 years old alone')).toEqual({ priority: 'normal', reasons: ['elderly'] });
  expect(suggestPriority('vegetables and rice please')).toEqual({ priority: 'normal', reasons: [] });
});
