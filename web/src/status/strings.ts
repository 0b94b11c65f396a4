/** The resident's status page in Chinese and English (plain words, no jargon). */
export type Lang = 'zh-CN' | 'en';
export type StateCode = 'received' | 'scheduled' | 'on-the-way' | 'delivered' | 'problem' | 'closed';

export const STRINGS: Record<Lang, Record<string, string>> = {
  'zh-CN': {
    title: '配送进度',
    reference: '编号',
    place: '地点',
    predicted: '预计送达',
    delivered: '送达时间',
    updated: '更新于',
    minutes: '约 {n} 分钟后',
    'state.received': '已收到您的请求，正在安排。',
    'state.scheduled': '已安排无人机配送，等待起飞。',
    'state.on-the-way': '无人机正在路上。',
    'state.delivered': '已送达投放点，请尽快取件。',
    'state.problem': '这次配送没有完成，工作人员会联系您。',
    'state.closed': '此请求已关闭。如仍需要帮助，请重新提交。',
    'error.NOT_FOUND': '这个链接无效。',
    'error.STATUS_EXPIRED': '这个链接已过期。',
    'error.TOO_MANY_REQUESTS': '请求太频繁，请一分钟后再试。',
    'error.other': '暂时无法查询，请稍后再试。',
    refresh: '页面每 30 秒自动更新。',
  },
  en: {
    title: 'Delivery status',
    reference: 'Reference',
    place: 'Place',
    predicted: 'Expected',
    delivered: 'Delivered at',
    updated: 'Updated',
    minutes: 'in about {n} min',
    'state.received': 'We have your request and are arranging it.',
    'state.scheduled': 'A drone delivery is scheduled and waiting to take off.',
    'state.on-the-way': 'The drone is on its way.',
    'state.delivered': 'Delivered to the drop point. Please collect it soon.',
    'state.problem': 'This delivery could not be completed. Staff will contact you.',
    'state.closed': 'This request is closed. If you still need help, please ask again.',
    'error.NOT_FOUND': 'This link is not valid.',
    'error.STATUS_EXPIRED': 'This link has expired.',
    'error.TOO_MANY_REQUESTS': 'Too many requests. Please try again in a minute.',
    'error.other': 'The status cannot be read right now. Please try again later.',
    refresh: 'This page updates itself every 30 seconds.',
  },
};

export function t(lang: Lang, key: string, params: Record<string, string | number> = {}): string {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ''));
}
