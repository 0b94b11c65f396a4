/**
 * Every code the server can send has a translation in every console language: error codes (HTTP
 * errors, job failures, the planner's refusals), plan warnings, preflight checks (and the details the
 * console reads), alert codes, timeline events, command acknowledgements, flight modes and audit
 * actions. The codes are read from the server's sources, so a new one without a translation fails here.
 * Then the renderings themselves: parameters, zone names, lat, lon.
 */
import fs from 'fs';
import path from 'path';
import { DICTIONARIES, LANGS, setLang } from '../../web/src/i18n';
import { PLAN_ERROR_CODES } from '../../planner/errors';
import { PREFLIGHT_CHECKS } from '../../src/delivery/policy';
import { ALERT_CODES } from '../../src/alerts';
import { modeNames } from '../../src/vehicle/command';
import { DRAW_KEYS } from '../../web/src/draw-lang';
import { alertText, lonLatToLatLon, planErrorText, planWarningText, preflightDetailText, serverErrorText, timelineText, zoneNamerFor } from '../../web/src/messages';

const ROOT = path.resolve(__dirname, '..', '..');

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : /\.(ts|js)$/.test(e.name) ? [path.join(dir, e.name)] : []));
}
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

/** Error codes in the server's sources: Fail(…), sendError(…), `code: '…'`, refusals of the live link, job failures, planner pool codes. */
function serverErrorCodes(): Set<string> {
  const files = [...walk(path.join(ROOT, 'src')), ...['telemetry/hub.ts', 'telemetry/replay.ts', 'telemetry/tlog.ts'].map((f) => path.join(ROOT, f))];
  const codes = new Set<string>();
  const patterns = [
    /Fail\(\s*[\w.?]+(?:\s*\?\?\s*\d+)?,\s*'([A-Z][A-Z_0-9]+)'/g,
    /sendError\(res,\s*\d+,\s*'([A-Z][A-Z_0-9]+)'/g,
    /code:\s*'([A-Z][A-Z_0-9]+)'/g,
    /refuse\(socket,\s*\d+,\s*'[^']*',\s*'([A-Z][A-Z_0-9]+)'/g,
    /closeBad\(c,\s*\d+,\s*'([A-Z][A-Z_0-9]+)'/g,
    /\bfail\([^,()]+,\s*'([A-Z][A-Z_0-9]+)'/g,
  ];
  for (const f of files) {
    const s = fs.readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of s.matchAll(re)) codes.add(m[1]);
    // Code unions: export type PlannerPoolErrorCode = 'PLANNER_BUSY' | …;
    for (const m of s.matchAll(/export type \w*(?:Error)?Code\s*=\s*([^;]+);/g)) for (const q of m[1].matchAll(/'([A-Z][A-Z_0-9]+)'/g)) codes.add(q[1]);
  }
  return codes;
}

/** Codes the planner gives: refusals (PLAN_ERROR_CODES, and `error: {code}` / `ok: false, code` in its modules) and warnings (the rest). */
function plannerCodes(): { errors: Set<string>; warnings: Set<string> } {
  const errors = new Set<string>(PLAN_ERROR_CODES);
  const all = new Set<string>();
  for (const f of walk(path.join(ROOT, 'planner'))) {
    if (f.includes('fixtures')) continue;
    const s = fs.readFileSync(f, 'utf8');
    for (const m of s.matchAll(/code:\s*'([A-Z][A-Z_0-9]+)'/g)) all.add(m[1]);
    for (const m of s.matchAll(/(?:error:\s*\{\s*|ok:\s*false,\s*)code:\s*'([A-Z][A-Z_0-9]+)'/g)) errors.add(m[1]);
    for (const m of s.matchAll(/code:\s*'([A-Z][A-Z_0-9]+)'(?:\s*\|\s*'([A-Z][A-Z_0-9]+)')+/g)) for (const q of m[0].matchAll(/'([A-Z][A-Z_0-9]+)'/g)) errors.add(q[1]);
  }
  return { errors, warnings: new Set([...all].filter((c) => !errors.has(c))) };
}

function missingIn(keys: string[]): string[] {
  const out: string[] = [];
  for (const lang of LANGS) for (const k of keys) if (!DICTIONARIES[lang][k]) out.push(`${lang}: ${k}`);
  return out;
}

describe('every code the server can send is translated', () => {
  it('error codes (HTTP errors, job failures, live-link refusals)', () => {
    const codes = [...serverErrorCodes()];
    expect(codes.length).toBeGreaterThan(50);
    for (const c of ['PLAN_FAILED', 'PREFLIGHT_FAILED', 'VEHICLE_REFUSED', 'FAILSAFE', 'VEHICLE_LOST', 'PLANNER_BUSY', 'TOO_MANY_VIEWERS']) expect(codes).toContain(c);
    expect(missingIn(codes.map((c) => `error.${c}`))).toEqual([]);
  });

  it("the planner's refusals and warnings", () => {
    const { errors, warnings: found } = plannerCodes();
    expect(missingIn(PLAN_ERROR_CODES.map((c) => `planError.${c}`))).toEqual([]);
    // Refusals outside PLAN_ERROR_CODES (KML conversion) reach the console as error codes.
    expect(missingIn([...errors].filter((c) => !(PLAN_ERROR_CODES as readonly string[]).includes(c)).map((c) => `error.${c}`))).toEqual([]);
    const warnings = [...found];
    expect(warnings).toEqual(expect.arrayContaining(['WINDING_NORMALISED', 'NO_RALLY_POINTS', 'DROP_OUTSIDE_SEALED_ZONE', 'FENCE_CORRIDOR_NARROWED']));
    expect(missingIn(warnings.map((c) => `warning.${c}`))).toEqual([]);
  });

  it('preflight checks (name and advice) and the details the console reads', () => {
    expect(missingIn(PREFLIGHT_CHECKS.flatMap((c) => [`preflight.check.${c}`, `preflight.advice.${c}`]))).toEqual([]);
    const keys = [...read('web/src/messages.ts').matchAll(/'(preflight\.(?:d|from)\.[a-zA-Z]+)'/g)].map((m) => m[1]);
    expect(keys.length).toBeGreaterThan(15);
    expect(missingIn(keys)).toEqual([]);
  });

  it('alerts, timeline events, acknowledgements, flight modes and audit actions', () => {
    expect(missingIn(ALERT_CODES.filter((c) => c !== 'text').map((c) => `alert.${c}`))).toEqual([]);
    // Timeline events written by the delivery manager and the modules it hands a host to (dispatcher, tracker, take-over, …).
    const deliverySources = fs.readdirSync(path.join(ROOT, 'src/delivery')).filter((f) => f.endsWith('.ts')).map((f) => read(`src/delivery/${f}`)).join('\n');
    const events = [...deliverySources.matchAll(/(?:this|h|host)\.event\([^,]+,\s*'([a-z-]+)'/g)].map((m) => m[1]);
    expect(events.length).toBeGreaterThan(10);
    expect(missingIn([...new Set(events)].map((e) => `timeline.${e}`))).toEqual([]);
    // Why a job's record has a gap (link-lost / link-regained), as src/delivery/link-gap.ts names the reasons.
    const gapReasons = [...read('src/delivery/link-gap.ts').match(/reason: ('[a-z-]+'(?:\s*\|\s*'[a-z-]+')*);/)![1].matchAll(/'([a-z-]+)'/g)].map((m) => m[1]);
    expect(gapReasons).toEqual(expect.arrayContaining(['link-lost', 'service-restarted', 'lease-regained']));
    expect(missingIn(gapReasons.map((r) => `timeline.gapReason.${r}`))).toEqual([]);
    const acks = [...read('src/fleet/types.ts').match(/export type CommandResultName =([^;]+);/)![1].matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
    expect(acks).toContain('ACCEPTED');
    expect(missingIn(acks.map((a) => `ack.${a}`))).toEqual([]);
    const modes = [...new Set([...modeNames('ardupilot'), ...modeNames('px4')])];
    expect(modes).toEqual(expect.arrayContaining(['AUTO', 'LOITER', 'RTL', 'LAND', 'AUTO.MISSION']));
    expect(missingIn(modes.map((m) => `mode.${m}`))).toEqual([]);
    // The API's routes (each resource's module) and the service's own audited actions.
    const routeModules = fs.readdirSync(path.join(ROOT, 'src/server/routes')).filter((f) => f.endsWith('.ts')).map((f) => read(`src/server/routes/${f}`)).join('\n');
    const serviceModules = fs.readdirSync(path.join(ROOT, 'src/service')).filter((f) => f.endsWith('.ts')).map((f) => read(`src/service/${f}`)).join('\n');
    const app = read('src/server/app.ts') + routeModules + read('src/service.ts') + serviceModules + read('src/alerts-retention.ts');
    const actions = new Set([...app.matchAll(/\b(?:audit|action):\s*'([a-z][a-z.-]+)'/g)].map((m) => m[1]));
    for (const m of app.matchAll(/audit:\s*`user\.\$\{verb\}`/g)) void m, actions.add('user.disable'), actions.add('user.enable');
    expect(actions).toContain('vehicle.command');
    expect(missingIn([...actions].map((a) => `audit.action.${a}`))).toEqual([]);
  });

  it('the drawing toolbar of the zone editor', () => {
    expect(missingIn(Object.entries(DRAW_KEYS).flatMap(([g, keys]) => keys.map((k) => `draw.${g}.${k}`)))).toEqual([]);
  });

  it('leave no English behind in Chinese for what the server sends', () => {
    const zh = DICTIONARIES['zh-CN'];
    const en = DICTIONARIES.en;
    const families = /^(error|planError|warning|preflight|alert|statustext|timeline|ack|audit\.action|fstatus|cmd\.why|ready|promise|draw)\./;
    const same = Object.keys(en).filter((k) => families.test(k) && en[k] === zh[k] && /[a-z]{3,}/.test(en[k].replace(/\{\w+\}/g, '')));
    expect(same).toEqual([]);
  });
});

describe('rendering the server\'s codes', () => {
  afterEach(() => setLang('en'));
  const zones = { type: 'FeatureCollection' as const, features: [{ type: 'Feature' as const, properties: { kind: 'operating-area', name: 'District' }, geometry: null as never }, { type: 'Feature' as const, properties: { kind: 'no-fly', name: 'Central Hospital helipad 中心医院停机坪' }, geometry: null as never }] };

  it("a planner refusal names the zone in the user's language", () => {
    const refusal = { code: 'DROP_IN_NO_FLY', message: 'the drop point is within …', details: { featureIndex: 1, name: 'Central Hospital helipad 中心医院停机坪', bufferRadiusM: 12 } };
    expect(planErrorText(refusal)).toBe('The drop point is in the no-fly zone Central Hospital helipad 中心医院停机坪 (with its safety margin).');
    setLang('zh-CN');
    expect(planErrorText(refusal)).toBe('投放点位于禁飞区 Central Hospital helipad 中心医院停机坪 内（含安全距离）。');
    // A warning that gives only the feature's index is named from today's zones.
    expect(planWarningText({ code: 'CRUISE_ALT_RAISED', message: '…', details: { featureIndex: 1, minAltM: 40 } }, zoneNamerFor(zones))).toBe('飞越 Central Hospital helipad 中心医院停机坪 时巡航高度提高到 40 m。');
    expect(planWarningText({ code: 'NEW_WARNING', message: 'near [114.3900000, 34.0600000]' })).toBe('near 34.0600000, 114.3900000');
  });

  it('errors: the code\'s words with the server\'s sentence in English, the words alone in Chinese; unknown codes shown as they are', () => {
    expect(serverErrorText('VEHICLE_REFUSED', 'hold: the vehicle answered DENIED')).toBe('The vehicle refused the command: hold: the vehicle answered DENIED');
    expect(serverErrorText('SOMETHING_NEW', 'x at [114.39, 34.06]')).toBe('SOMETHING_NEW: x at 34.06, 114.39');
    setLang('zh-CN');
    expect(serverErrorText('VEHICLE_REFUSED', 'hold: the vehicle answered DENIED')).toBe('无人机拒绝了指令');
    expect(serverErrorText('PLAN_FAILED', 'x', { code: 'UNREACHABLE', message: 'no safe path' })).toBe('无法规划安全航线: 没有到达投放点的安全航线：被禁飞区阻隔。');
  });

  it('preflight details are read into words; alerts and timeline entries from their codes', () => {
    setLang('zh-CN');
    expect(preflightDetailText('ekf', 'flags 0xa7, missing 0x298')).toBe('未收敛');
    expect(preflightDetailText('battery', '45% (need ≥ 60%), 15.10 V')).toBe('45%（需要 60%），15.10 V');
    expect(preflightDetailText('batt_fs_low_act', 'BATT_FS_LOW_ACT = 0 (no action on low battery)')).toBe('BATT_FS_LOW_ACT 为 0');
    expect(preflightDetailText('home', 'home 34.060000, 114.390000')).toBe('起始位置 34.060000, 114.390000');
    expect(alertText({ level: 'critical', text: 'Link to sim0/1 lost in flight', code: 'link.lostInFlight', params: { vehicle: 'sim0/1' } })).toBe('飞行中与 sim0/1 的链路中断。');
    expect(alertText({ level: 'info', text: 'sim0/1: GCS Failsafe Cleared', code: 'vehicle.statustext', params: { vehicle: 'sim0/1', text: 'GCS Failsafe Cleared', statusCode: 'gcsFailsafeCleared' } })).toBe('sim0/1：地面站失控保护已解除');
    expect(alertText({ level: 'warning', text: 'sim0/1: mode AUTO → RTL', code: 'vehicle.modeChange', params: { vehicle: 'sim0/1', from: 'AUTO', to: 'RTL' } })).toBe('sim0/1：模式 自动（任务） → 返航。');
    expect(timelineText({ at: '', event: 'operator-command', detail: { action: 'hold', by: 'operator', ack: { result: 'ACCEPTED' } } })).toEqual({ head: '指令', rest: 'operator 发出 悬停：已接受' });
    expect(timelineText({ at: '', event: 'link-lost', detail: { vehicleId: 'sim0/1', from: '', reason: 'lease-regained' } })).toEqual({ head: '链路中断', rest: '数据库不可达期间本节点失去了该任务的租约，之后重新接管了该任务（服务并未重启）' });
    setLang('en');
    expect(timelineText({ at: '', event: 'link-regained', detail: { vehicleId: 'sim0/1', from: '', reason: 'service-restarted', state: { mode: 'AUTO' } } }).rest).toMatch(/^the node running the job stopped following it \(it restarted, failed, or lost its database connection\)/);
    expect(lonLatToLatLon('near [114.4000000, 34.1000000]')).toBe('near 34.1000000, 114.4000000');
  });
});
