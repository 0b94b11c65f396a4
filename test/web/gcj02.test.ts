import { gcj02ToWgs84, outOfChina, wgs84ToGcj02 } from '../../web/src/gcj02';

// Published reference pairs (wgsLat, wgsLon, gcjLat, gcjLon), as used by the eviltransform test suites.
const REFERENCE: Array<[string, number, number, number, number]> = [
  ['Shanghai', 31.1774276, 121.5272106, 31.17530398364597, 121.531541859215],
  ['Shenzhen', 22.543847, 113.912316, 22.540796131694766, 113.9171764808363],
  ['Beijing', 39.911954, 116.377817, 39.91334545536069, 116.38404722455657],
];

describe('WGS-84 → GCJ-02', () => {
  it.each(REFERENCE)('%s matches the reference to 1e-9°', (_name, wLat, wLon, gLat, gLon) => {
    const g = wgs84ToGcj02(wLat, wLon);
    expect(Math.abs(g.lat - gLat)).toBeLessThan(1e-9);
    expect(Math.abs(g.lon - gLon)).toBeLessThan(1e-9);
  });

  it('shifts the demo district (Fugou) by a few hundred metres, as GCJ-02 does', () => {
    const g = wgs84ToGcj02(34.06, 114.39);
    const dNorthM = (g.lat - 34.06) * 111320;
    const dEastM = (g.lon - 114.39) * 111320 * Math.cos((34.06 * Math.PI) / 180);
    const d = Math.hypot(dNorthM, dEastM);
    expect(d).toBeGreaterThan(100);
    expect(d).toBeLessThan(1000);
  });

  it('leaves points outside China unchanged', () => {
    expect(outOfChina(51.5, -0.12)).toBe(true);
    expect(wgs84ToGcj02(51.5, -0.12)).toEqual({ lat: 51.5, lon: -0.12 });
    expect(gcj02ToWgs84(-33.86, 151.2)).toEqual({ lat: -33.86, lon: 151.2 });
  });

  it('refuses NaN and out-of-range input with a typed error', () => {
    for (const [la, lo] of [[NaN, 114], [34, Infinity], [91, 114], [34, 181]]) {
      try {
        wgs84ToGcj02(la, lo);
        throw new Error('no error');
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
        expect((e as { code?: string }).code).toBe('INVALID_COORDINATE');
      }
    }
    expect(() => gcj02ToWgs84(NaN, 114)).toThrow(/out of range/);
  });
});

describe('GCJ-02 → WGS-84', () => {
  it.each(REFERENCE)('%s inverts the reference to 1e-8°', (_name, wLat, wLon, gLat, gLon) => {
    const w = gcj02ToWgs84(gLat, gLon);
    expect(Math.abs(w.lat - wLat)).toBeLessThan(1e-8);
    expect(Math.abs(w.lon - wLon)).toBeLessThan(1e-8);
  });

  it('round-trips a grid over China to better than 1 cm', () => {
    for (let lat = 18; lat <= 53; lat += 2.5) {
      for (let lon = 74; lon <= 134; lon += 3) {
        const g = wgs84ToGcj02(lat, lon);
        const w = gcj02ToWgs84(g.lat, g.lon);
        expect(Math.abs(w.lat - lat) * 111320).toBeLessThan(0.01);
        expect(Math.abs(w.lon - lon) * 111320).toBeLessThan(0.01);
      }
    }
  });
});
