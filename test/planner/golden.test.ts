/**
 * Turf-style fixtures: each test/planner/in/NAME.geojson holds zones plus a `request` member; the
 * expected plan (or error) is test/planner/out/NAME.json, rewritten when REGEN=1.
 */
import * as fs from 'fs';
import * as path from 'path';
import { planDelivery } from '../../planner';

const IN = path.join(__dirname, 'in');
const OUT = path.join(__dirname, 'out');
const names = fs.readdirSync(IN).filter((f) => f.endsWith('.geojson')).map((f) => f.replace(/\.geojson$/, '')).sort();

describe('planner golden files', () => {
  test('there are fixtures', () => expect(names.length).toBeGreaterThanOrEqual(5));
  for (const name of names) {
    test(name, () => {
      const input = JSON.parse(fs.readFileSync(path.join(IN, `${name}.geojson`), 'utf8'));
      const { request, ...zones } = input;
      const result = JSON.parse(JSON.stringify(planDelivery(zones, request)));
      const outFile = path.join(OUT, `${name}.json`);
      if (process.env.REGEN === '1') fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
      const expected = JSON.parse(fs.readFileSync(outFile, 'utf8'));
      expect(result).toEqual(expected);
    });
  }
});
