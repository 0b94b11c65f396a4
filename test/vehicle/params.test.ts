import { common } from 'mavlink-mappings';
import { msg } from '../../src/mavlink/registry';
import { ParamClient, ParamType } from '../../src/vehicle/params';
import { Bench } from './harness';

/** A scripted ArduPilot-like parameter server. Unknown names get no reply at all. */
function paramPeer(b: Bench, table: Record<string, number>, drop: (index: number, pass: number) => boolean = () => false) {
  const names = Object.keys(table);
  let pass = 0;
  const value = (i: number) => msg(common.ParamValue, { paramId: names[i], paramValue: table[names[i]], paramType: ParamType.REAL32, paramCount: names.length, paramIndex: i });
  b.peer = (f) => {
    if (f.name === 'PARAM_REQUEST_LIST') {
      for (let i = 0; i < names.length; i++) if (!drop(i, pass)) b.reply(value(i));
      pass++;
    } else if (f.name === 'PARAM_REQUEST_READ') {
      const r = f.data as common.ParamRequestRead;
      const i = r.paramIndex >= 0 ? r.paramIndex : names.indexOf(r.paramId);
      if (i >= 0 && i < names.length) b.reply(value(i));
    } else if (f.name === 'PARAM_SET') {
      const s = f.data as common.ParamSet;
      const i = names.indexOf(s.paramId);
      if (i < 0) return;
      // WPNAV_SPEED is clamped to 2000 like a parameter with a range.
      table[s.paramId] = s.paramId === 'WPNAV_SPEED' ? Math.min(s.paramValue, 2000) : s.paramValue;
      b.reply(value(i));
    }
  };
}

function setup(table: Record<string, number>, drop?: (i: number, pass: number) => boolean) {
  const b = new Bench();
  const p = new ParamClient(b.deps());
  b.sink = (f) => p.handle(f);
  paramPeer(b, table, drop);
  return { b, p };
}

const TABLE = () => {
  const t: Record<string, number> = { FENCE_ENABLE: 0, FENCE_TYPE: 7, FENCE_RADIUS: 150, FS_GCS_ENABLE: 0, WPNAV_SPEED: 1000, RTL_ALT: 1500 };
  for (let i = 0; i < 100; i++) t[`TEST_P${i}`] = i * 0.5;
  return t;
};

describe('parameter protocol', () => {
  test('fetch all in one pass', async () => {
    const { b, p } = setup(TABLE());
    const r = await b.run(p.fetchAll());
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(Object.keys(r.params)).toHaveLength(106);
      expect(r.params.FENCE_RADIUS).toBe(150);
      expect(r.rerequested).toBe(0);
    }
    expect(b.names()).toEqual(['PARAM_REQUEST_LIST']);
    expect(b.sent[0].data).toMatchObject({ targetSystem: 1, targetComponent: 1 });
  });

  test('gaps are re-requested by index', async () => {
    const { b, p } = setup(TABLE(), (i, pass) => pass === 0 && (i % 7 === 3 || i === 105));
    const r = await b.run(p.fetchAll());
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(Object.keys(r.params)).toHaveLength(106);
      expect(r.rerequested).toBe(16);
    }
    const reads = b.sent.filter((f) => f.name === 'PARAM_REQUEST_READ').map((f) => (f.data as common.ParamRequestRead).paramIndex);
    expect(reads).toContain(3);
    expect(reads).toContain(105);
    expect(b.sent.filter((f) => f.name === 'PARAM_REQUEST_READ').every((f) => (f.data as common.ParamRequestRead).paramId === '')).toBe(true);
  });

  test('fetch all from a silent vehicle → TIMEOUT', async () => {
    const b = new Bench();
    const p = new ParamClient(b.deps());
    const r = await b.run(p.fetchAll());
    expect(r).toMatchObject({ ok: false, code: 'TIMEOUT' });
  });

  test('read one by name', async () => {
    const { b, p } = setup(TABLE());
    const r = await b.run(p.get('FENCE_TYPE'));
    expect(r).toEqual({ ok: true, value: 7 });
    expect(b.sent[0].data).toMatchObject({ paramId: 'FENCE_TYPE', paramIndex: -1 });
  });

  test('unknown name: no reply → TIMEOUT naming it; UNKNOWN_PARAM once the full list is known', async () => {
    const { b, p } = setup(TABLE());
    const r = await b.run(p.get('SYSID_MYGCS'));
    expect(r).toMatchObject({ ok: false, code: 'TIMEOUT' });
    if (!r.ok) expect(r.message).toContain('SYSID_MYGCS');
    expect(b.sent).toHaveLength(4);
    await b.run(p.fetchAll());
    const r2 = await b.run(p.set('SYSID_MYGCS', 255));
    expect(r2).toMatchObject({ ok: false, code: 'UNKNOWN_PARAM' });
    if (!r2.ok) expect(r2.message).toContain('SYSID_MYGCS');
  });

  test('set and confirm by PARAM_VALUE; a clamped value is FAILED with the actual value', async () => {
    const table = TABLE();
    const { b, p } = setup(table);
    const r = await b.run(p.set('FENCE_RADIUS', 800.5));
    expect(r).toEqual({ ok: true, value: 800.5 });
    expect(b.sent[0].data).toMatchObject({ paramId: 'FENCE_RADIUS', paramValue: 800.5, paramType: ParamType.REAL32, targetSystem: 1 });
    expect(table.FENCE_RADIUS).toBe(800.5);
    const r2 = await b.run(p.set('WPNAV_SPEED', 5000));
    expect(r2).toMatchObject({ ok: false, code: 'FAILED', details: { value: 2000 } });
    expect(b.sent.filter((f) => f.name === 'PARAM_SET')).toHaveLength(2);
  });

  test('a stale PARAM_VALUE arriving before the echo does not fail the set', async () => {
    const table = TABLE();
    const { b, p } = setup(table);
    const inner = b.peer;
    b.peer = (f) => {
      // The old value, still streaming from a list request, overtakes the confirmation.
      if (f.name === 'PARAM_SET') b.reply(msg(common.ParamValue, { paramId: 'RTL_ALT', paramValue: 1500, paramType: 9, paramCount: 106, paramIndex: 5 }));
      inner(f);
    };
    expect(await b.run(p.set('RTL_ALT', 2500))).toEqual({ ok: true, value: 2500 });
  });

  test('set with the first PARAM_SET lost is resent', async () => {
    const table = TABLE();
    const { b, p } = setup(table);
    const inner = b.peer;
    let n = 0;
    b.peer = (f) => {
      if (n++ > 0) inner(f);
    };
    const r = await b.run(p.set('RTL_ALT', 3000));
    expect(r).toEqual({ ok: true, value: 3000 });
    expect(b.names()).toEqual(['PARAM_SET', 'PARAM_SET']);
  });

  test('bad input → INVALID_INPUT; not connected → NOT_CONNECTED', async () => {
    const { p } = setup(TABLE());
    expect(await p.get('')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await p.get('A_NAME_LONGER_THAN_16')).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await p.set('RTL_ALT', NaN)).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    p.connected = () => false;
    expect(await p.get('RTL_ALT')).toMatchObject({ ok: false, code: 'NOT_CONNECTED' });
  });

  test('PX4 bytewise integer encoding', async () => {
    const b = new Bench();
    const p = new ParamClient(b.deps(), { bytewise: true });
    b.sink = (f) => p.handle(f);
    const f32 = new Float32Array(1);
    new Int32Array(f32.buffer)[0] = 1234567;
    b.peer = () => b.reply(msg(common.ParamValue, { paramId: 'MAV_SYS_ID', paramValue: f32[0], paramType: ParamType.INT32, paramCount: 1, paramIndex: 0 }));
    expect(await b.run(p.get('MAV_SYS_ID'))).toEqual({ ok: true, value: 1234567 });
  });
});
