/**
 * Alert codes and severities (src/alerts.ts): every sentence the dispatcher can write is read into a
 * code the consoles translate, and severities are reviewed (a "... Cleared" message is info).
 */
import fs from 'fs';
import path from 'path';
import { ALERT_CODES, STATUSTEXT_CODES, classifyAlert, statusTextAlert } from '../../src/alerts';
import en from '../../web/i18n/en.json';
import zh from '../../web/i18n/zh-CN.json';

/** The delivery manager and the modules it hands its alert() to (separation and traffic send their own codes). */
const DELIVERY_DIR = path.resolve(__dirname, '..', '..', 'src', 'delivery');
const DISPATCHER_FILES = ['index.ts', 'dispatcher.ts', 'tracker.ts', 'takeover.ts', 'jobs.ts', 'watch.ts', 'continuity.ts'];

/** Every `this.alert(level, `template`, …)` of the dispatcher, its ${…} filled with sample words. */
function dispatcherAlerts(): Array<{ level: 'info' | 'warning' | 'critical'; text: string; template: string }> {
  const src = DISPATCHER_FILES.map((f) => fs.readFileSync(path.join(DELIVERY_DIR, f), 'utf8')).join('\n');
  const out: Array<{ level: 'info' | 'warning' | 'critical'; text: string; template: string }> = [];
  for (const m of src.matchAll(/(?:this|h)\.alert\('(info|warning|critical)',\s*`([^`]*)`/g)) {
    let n = 0;
    const text = m[2].replace(/\$\{([^}]*)\}/g, (_x, expr: string) => {
      n++;
      if (/toUpperCase/.test(expr)) return 'RTL';
      if (/code/.test(expr)) return 'FAILSAFE';
      if (/mode/i.test(expr)) return 'LAND';
      if (/priority/.test(expr)) return 'urgent';
      if (/promiseBy/.test(expr)) return '2026-01-01T00:15:00.000Z';
      if (/breachType|lastMissionCurrent/.test(expr)) return '4';
      if (/username/.test(expr)) return 'operator';
      if (/vehicleId|s\.id/.test(expr)) return 'sim0/1';
      return `x${n}`;
    });
    out.push({ level: m[1] as 'info', text, template: m[2] });
  }
  return out;
}

describe('alert codes', () => {
  it('know every sentence the dispatcher writes', () => {
    const all = dispatcherAlerts();
    expect(all.length).toBeGreaterThanOrEqual(12);
    const unknown = all.filter((a) => classifyAlert(a.level, a.text, { vehicleCommitted: true }).code === 'text').map((a) => a.template);
    expect(unknown).toEqual([]);
  });

  it('are translated in every console language, with the same parameters', () => {
    const dicts: Record<string, Record<string, string>> = { en, 'zh-CN': zh };
    const missing: string[] = [];
    for (const code of ALERT_CODES) {
      if (code === 'text') continue;
      for (const [lang, d] of Object.entries(dicts)) if (!d[`alert.${code}`]) missing.push(`${lang}: alert.${code}`);
    }
    expect(missing).toEqual([]);
  });

  it('carry their parameters', () => {
    expect(classifyAlert('critical', 'Link to sim1/2 lost in flight')).toEqual({ level: 'critical', code: 'link.lostInFlight', params: { vehicle: 'sim1/2' } });
    expect(classifyAlert('warning', 'Delivery D00003 aborted: RTL commanded by operator')).toEqual({ level: 'warning', code: 'delivery.abortedByCommand', params: { id: 'D00003', action: 'RTL', by: 'operator' } });
    expect(classifyAlert('critical', 'Delivery D00004 failed: FAILSAFE: vehicle switched to RTL before the drop', { vehicleCommitted: true })).toMatchObject({ level: 'critical', code: 'delivery.failed', params: { id: 'D00004', failureCode: 'FAILSAFE' } });
    expect(classifyAlert('warning', 'something new')).toEqual({ level: 'warning', code: 'text', params: {} });
  });

  it('review severities: a job that failed before any vehicle was committed is a warning; regained links and completions are info', () => {
    expect(classifyAlert('critical', 'Delivery D00001 failed: PLAN_FAILED: no safe path', { vehicleCommitted: false }).level).toBe('warning');
    expect(classifyAlert('critical', 'Delivery D00001 failed: VEHICLE_LOST: silent 60 s', { vehicleCommitted: true }).level).toBe('critical');
    expect(classifyAlert('warning', 'Link to sim0/1 regained').level).toBe('info');
  });
});

describe('vehicle STATUSTEXT alerts', () => {
  it('"GCS Failsafe Cleared" is info, "GCS Failsafe" critical, warnings stay warnings; below warning nothing', () => {
    expect(statusTextAlert('sim0/1', 2, 'GCS Failsafe Cleared')).toMatchObject({ level: 'info', code: 'vehicle.statustext', params: { vehicle: 'sim0/1', text: 'GCS Failsafe Cleared', statusCode: 'gcsFailsafeCleared' } });
    expect(statusTextAlert('sim0/1', 2, 'GCS Failsafe')).toMatchObject({ level: 'critical', params: { statusCode: 'gcsFailsafe' } });
    // ArduCopter announces its GCS failsafe at WARNING (4); out of reach of its ground station is critical all the same.
    expect(statusTextAlert('sim0/1', 4, 'GCS Failsafe')).toMatchObject({ level: 'critical', params: { statusCode: 'gcsFailsafe' } });
    expect(statusTextAlert('sim0/1', 4, 'GCS Failsafe - Continuing Pilot Control')).toMatchObject({ level: 'critical', params: { statusCode: 'gcsFailsafeContinuingPilot' } });
    expect(statusTextAlert('sim0/1', 4, 'GCS Failsafe - Continuing Auto Mode')).toMatchObject({ level: 'critical', params: { statusCode: 'gcsFailsafeContinuingAuto' } });
    expect(statusTextAlert('sim0/1', 4, 'GCS + Battery Failsafe - Continuing Landing')).toMatchObject({ level: 'critical', params: { statusCode: 'gcsFailsafeContinuingLanding' } });
    expect(statusTextAlert('sim0/1', 4, 'GCS Failsafe - Disarming')).toMatchObject({ level: 'warning', params: { statusCode: 'gcsFailsafeDisarming' } });
    expect(statusTextAlert('sim0/1', 4, 'GCS Failsafe Cleared')).toMatchObject({ level: 'info', params: { statusCode: 'gcsFailsafeCleared' } });
    expect(statusTextAlert('sim0/1', 4, 'PreArm: Need 3D Fix')).toMatchObject({ level: 'warning', params: { statusCode: 'prearm' } });
    expect(statusTextAlert('sim0/1', 0, 'EKF Failsafe Cleared')?.level).toBe('info');
    expect(statusTextAlert('sim0/1', 3, 'Radio Failsafe Cleared')?.level).toBe('info');
    expect(statusTextAlert('sim0/1', 6, 'Flight plan received')).toBeNull();
    expect(statusTextAlert('sim0/1', 1, 'Crash: Disarming')).toMatchObject({ level: 'critical', text: 'sim0/1: Crash: Disarming' });
  });

  it('every STATUSTEXT the consoles translate is translated', () => {
    for (const c of STATUSTEXT_CODES.map((s) => s.code)) expect(`${c}:${Boolean((en as Record<string, string>)[`statustext.${c}`])}:${Boolean((zh as Record<string, string>)[`statustext.${c}`])}`).toBe(`${c}:true:true`);
  });
});
