/**
 * Tactical separation (src/delivery/separation.ts): the closest-approach prediction, and every alert
 * sentence the monitor writes is read into a code the consoles translate (with its level reviewed).
 */
import fs from 'fs';
import path from 'path';
import { closestApproach } from '../../src/delivery/separation';
import { classifyAlert } from '../../src/alerts';
import en from '../../web/i18n/en.json';
import zh from '../../web/i18n/zh-CN.json';

const T = (x: number, y: number, z: number, vx = 0, vy = 0, vz = 0) => ({ x, y, z, vx, vy, vz, atMs: 0 });

describe('closest approach', () => {
  it('head-on at 10 m/s each, 200 m apart: they meet in 10 s — seen with a 12 s look-ahead, not with 5 s', () => {
    const a = T(0, 0, 50, 10, 0), b = T(200, 0, 50, -10, 0);
    expect(closestApproach(a, b, 12)).toMatchObject({ nowH: 200, minH: 0, nowV: 0, minV: 0, closing: true });
    expect(closestApproach(a, b, 5).minH).toBeCloseTo(100, 6);
  });
  it('diverging: the closest is now; crossing tracks: the miss distance', () => {
    expect(closestApproach(T(0, 0, 50, -5, 0), T(100, 0, 50, 5, 0), 30)).toMatchObject({ nowH: 100, minH: 100, closing: false });
    // b crosses 40 m north of a, which stands still
    const c = closestApproach(T(0, 0, 50), T(-100, 40, 50, 10, 0), 30);
    expect(c.minH).toBeCloseTo(40, 6);
  });
  it('vertical: the least altitude difference over the look-ahead (a climb through the other counts as 0)', () => {
    expect(closestApproach(T(0, 0, 40), T(0, 0, 60), 10).minV).toBe(20);
    expect(closestApproach(T(0, 0, 40), T(0, 0, 60, 0, 0, -3), 10).minV).toBe(0);
    expect(closestApproach(T(0, 0, 40), T(0, 0, 60, 0, 0, 1), 10).minV).toBe(20);
  });
});

describe('separation alerts', () => {
  const src = fs.readFileSync(path.resolve(__dirname, '..', '..', 'src', 'delivery', 'separation.ts'), 'utf8');
  it('every sentence the monitor writes has a code and a translation', () => {
    const samples = [
      ['warning', 'Separation: sim0/1 and sim1/2 24 m apart at 3 m vertically (predicted 12 m); sim1/2 holds', 'separation.conflict'],
      ['critical', 'Separation: sim0/1 and sim1/2 24 m apart at 3 m vertically (predicted 12 m); neither can hold', 'separation.noHold'],
      ['critical', 'Separation: sim0/1 and sim1/2 24 m apart at 3 m vertically (predicted 0 m); both hold, operator action needed', 'separation.bothHold'],
      ['info', 'Separation restored: sim1/2 continues (52 m apart at 3 m vertically)', 'separation.restored'],
      ['critical', 'Separation: sim1/2 refused to hold (FAILED)', 'separation.refused'],
      ['warning', 'Separation: sim0/1 and sim1/2 380 m apart at 0 m vertically (predicted 0 m); sim1/2 climbs to 75 m', 'separation.climb'],
      ['critical', 'Separation: sim0/1 and sim1/2 200 m apart at 0 m vertically (predicted 4 m); no action keeps them apart, operator action needed', 'separation.unresolved'],
      ['critical', 'Separation: sim1/2 refused to climb (FAILED)', 'separation.climbRefused'],
    ] as const;
    // the monitor's templates are these sentences
    expect(src).toContain("`Separation: ${a} and ${b} ${nowH.toFixed(0)} m apart at ${nowV.toFixed(0)} m vertically (predicted ${Number.isFinite(predictedM) ? predictedM.toFixed(0) : '0'} m); ${what}`");
    for (const w of ["'neither can hold'", '`${act.vehicle} holds`', '`${act.vehicle} climbs to ${this.relAlt(act.vehicle, act.toZ).toFixed(0)} m`', "'no action keeps them apart, operator action needed'", '`Separation restored: ${id} continues (${why})`', '`Separation: ${id} refused to ${kind} (${ack.result})`']) expect(src).toContain(w);
    for (const [level, text, code] of samples) {
      const c = classifyAlert(level, text);
      expect(c.code).toBe(code);
      expect(c.level).toBe(level);
      expect((en as Record<string, string>)[`alert.${code}`]).toBeTruthy();
      expect((zh as Record<string, string>)[`alert.${code}`]).toBeTruthy();
    }
    expect(classifyAlert('warning', samples[0][1]).params).toMatchObject({ a: 'sim0/1', b: 'sim1/2', horizontalM: '24', verticalM: '3', predictedM: '12', vehicle: 'sim1/2' });
  });
});
