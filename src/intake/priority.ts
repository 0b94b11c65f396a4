/**
 * Suggested priority from the words of a request (Chinese and English): medicine for an elderly
 * person, an infant or a chronic illness is urgent; medicine alone, an infant or a chronic illness
 * is high; anything else normal. Only a suggestion: the operator decides at triage.
 */
import type { Priority } from '../delivery/types';

export type PriorityReason = 'medicine' | 'elderly' | 'infant' | 'chronic';

const WORDS: Record<PriorityReason, { zh: string[]; en: RegExp }> = {
  medicine: {
    zh: ['药', '胰岛素', '处方', '吸入器', '针剂', '硝酸甘油', '速效救心丸', '降压', '降糖', '抗凝'],
    en: /\b(medicine|medicines|medication|medications|meds|drug|drugs|pills?|tablets?|insulin|prescription|inhaler|nitroglycerin|antibiotics?)\b/,
  },
  elderly: {
    zh: ['老人', '老年', '高龄', '奶奶', '爷爷', '外婆', '外公', '姥姥', '姥爷', '老太', '老伯', '独居'],
    en: /\b(elderly|old (?:man|woman|lady|person|people)|aged|grandma|grandmother|grandpa|grandfather|senior|pensioner)\b/,
  },
  infant: {
    zh: ['婴儿', '宝宝', '新生儿', '奶粉', '幼儿', '孕妇', '尿不湿'],
    en: /\b(infant|infants|baby|babies|newborn|toddler|formula|diapers?|nappies|pregnant)\b/,
  },
  chronic: {
    zh: ['慢性', '糖尿病', '高血压', '透析', '癌', '化疗', '哮喘', '心脏病', '癫痫', '肾病'],
    en: /\b(chronic|diabetes|diabetic|dialysis|hypertension|cancer|chemo(?:therapy)?|asthma|heart (?:disease|condition)|epilepsy|kidney)\b/,
  },
};

/** Ages of 70 and more ("92岁", "aged 85", "85-year-old") count as elderly. */
const AGE = /(\d{2,3})\s*(?:岁|周岁|years? old|-year-old|yo\b)/;

export function suggestPriority(text: string): { priority: Priority; reasons: PriorityReason[] } {
  const t = text.normalize('NFKC').toLowerCase();
  const reasons: PriorityReason[] = [];
  for (const r of Object.keys(WORDS) as PriorityReason[]) {
    if (WORDS[r].zh.some((w) => t.includes(w)) || WORDS[r].en.test(t)) reasons.push(r);
  }
  const age = AGE.exec(t);
  if (age && Number(age[1]) >= 70 && !reasons.includes('elderly')) reasons.push('elderly');
  const med = reasons.includes('medicine');
  const vulnerable = reasons.some((r) => r !== 'medicine');
  const priority: Priority = med && vulnerable ? 'urgent' : med || reasons.includes('infant') || reasons.includes('chronic') ? 'high' : 'normal';
  return { priority, reasons };
}
