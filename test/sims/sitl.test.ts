/**
 * ArduPilot SITL launcher without an arducopter binary: the command line the issue specifies, the
 * project's parameter file, availability detection, and the launcher's handling of a binary that
 * exits at once (a tiny shell script standing in for a broken install, not for SITL).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sitlArgs, writeProjectParmFile, sitlAvailable, startSitl, PROJECT_PARAMS } from '../../sims/sitl';
import { SimError } from '../../sims';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-sitl-test-'));
const saved = { ARDUPILOT_SITL: process.env.ARDUPILOT_SITL, ARDUPILOT_SITL_DEFAULTS: process.env.ARDUPILOT_SITL_DEFAULTS, FAKE_SITL_OUT: process.env.FAKE_SITL_OUT };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('sitlArgs', () => {
  const ports = { relayPort: 40001, observerPort: 40002 };
  test('--model quad --home LAT,LON,ALT,YAW --speedup N -I i --sysid S --defaults FILES; SITL connects out to loopback and listens on no TCP port', () => {
    expect(sitlArgs({ instance: 3, sysid: 4, speedup: 10, home: { lat: 34.06, lon: 114.39, altAmslM: 60 }, defaults: ['/ap/copter.parm', '/tmp/x/dropline.parm'], ...ports })).toEqual([
      '--model', 'quad', '--home', '34.06,114.39,60,0', '--speedup', '10', '-I', '3', '--sysid', '4',
      '--defaults', '/ap/copter.parm,/tmp/x/dropline.parm',
      '--serial0', 'tcpclient:127.0.0.1:40001', '--serial1', 'tcpclient:127.0.0.1:40002', '--serial2', 'none',
    ]);
  });
  test('udpOut goes on SERIAL2 as a UDP client; yaw is passed through; bad input is a SimError', () => {
    const args = sitlArgs({ instance: 0, sysid: 1, speedup: 1, home: { lat: 1, lon: 2, altAmslM: 3, yawDeg: 90 }, defaults: [], ...ports, udpOut: { host: '127.0.0.1', port: 14550 } });
    expect(args).toContain('1,2,3,90');
    expect(args.slice(-2)).toEqual(['--serial2', 'udpclient:127.0.0.1:14550']);
    expect(() => sitlArgs({ instance: -1, sysid: 1, speedup: 1, home: { lat: 1, lon: 2, altAmslM: 3 }, defaults: [], ...ports })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
    expect(() => sitlArgs({ instance: 0, sysid: 1, speedup: 1, home: { lat: 1, lon: 2, altAmslM: 3 }, defaults: ['/a,b.parm'], ...ports })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
    expect(() => sitlArgs({ instance: 0, sysid: 1, speedup: 1, home: { lat: 1, lon: 2, altAmslM: 3 }, defaults: [], relayPort: 0, observerPort: 1 })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
  });
  test('simAdsb: SERIAL1 left to SITL\'s ADS-B simulation (it takes SERIAL1 when SIM_ADSB_COUNT ≥ 0), the observer on SERIAL2; no room for udpOut', () => {
    const home = { lat: 1, lon: 2, altAmslM: 3 };
    expect(sitlArgs({ instance: 0, sysid: 1, speedup: 1, home, defaults: [], ...ports, simAdsb: true }).slice(-6)).toEqual(['--serial0', 'tcpclient:127.0.0.1:40001', '--serial1', 'sim:adsb', '--serial2', 'tcpclient:127.0.0.1:40002']);
    expect(() => sitlArgs({ instance: 0, sysid: 1, speedup: 1, home, defaults: [], ...ports, simAdsb: true, udpOut: { host: '127.0.0.1', port: 14550 } })).toThrow(expect.objectContaining({ code: 'SIM_INVALID_OPTION' }));
  });
});

describe('project parameter file', () => {
  test('failsafes on, gripper on SERVO9 (function 28), fence on with FENCE_TYPE 5; overrides win', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'parm-'));
    const file = writeProjectParmFile(dir, { FS_GCS_TIMEOUT: 8 });
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const p = Object.fromEntries(lines.map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    expect(p).toMatchObject({
      FS_GCS_ENABLE: 1, FS_GCS_TIMEOUT: 8, FS_EKF_ACTION: 1, BATT_FS_LOW_ACT: 2, BATT_FS_CRT_ACT: 1,
      GRIP_ENABLE: 1, GRIP_TYPE: 1, SERVO9_FUNCTION: 28, GRIP_GRAB: 1900, GRIP_RELEASE: 1100, GRIP_NEUTRAL: 1500,
      FENCE_ENABLE: 1, FENCE_TYPE: 5,
    });
    expect(PROJECT_PARAMS.FS_GCS_TIMEOUT).toBe(5);
    for (const l of lines) expect(l).toMatch(/^[A-Z0-9_]+ -?[\d.]+$/);
  });
});

describe('startSitl failure handling', () => {
  test('not available → SITL_NOT_AVAILABLE', async () => {
    delete process.env.ARDUPILOT_SITL;
    expect(sitlAvailable()).toBe(false);
    await expect(startSitl({ basePort: 0 })).rejects.toMatchObject({ code: 'SITL_NOT_AVAILABLE' });
  });

  test('an arducopter that exits at once → SITL_START_FAILED with what it printed; it got the issue\'s command line', async () => {
    const out = path.join(tmp, 'args.out');
    const bin = path.join(tmp, 'arducopter');
    fs.writeFileSync(bin, '#!/bin/sh\necho "$*" > "$FAKE_SITL_OUT"\necho "Vehicle model (quad) not found"\nexit 1\n', { mode: 0o755 });
    process.env.ARDUPILOT_SITL = bin;
    process.env.FAKE_SITL_OUT = out;
    process.env.ARDUPILOT_SITL_DEFAULTS = '/ap/copter.parm';
    expect(sitlAvailable()).toBe(true);
    let err: SimError | undefined;
    try {
      await startSitl({ basePort: 0, speedup: 5, sysidBase: 3 });
    } catch (e) {
      err = e as SimError;
    }
    expect(err).toBeInstanceOf(SimError);
    expect(err!.code).toBe('SITL_START_FAILED');
    expect(err!.message).toMatch(/exited with code 1/);
    expect(err!.message).toMatch(/Vehicle model \(quad\) not found/);
    const args = fs.readFileSync(out, 'utf8').trim();
    expect(args).toMatch(/^--model quad --home 34\.0603,114\.3942,60,0 --speedup 5 -I \d+ --sysid 3 --defaults \/ap\/copter\.parm,\S+\/dropline\.parm --serial0 tcpclient:127\.0\.0\.1:\d+ --serial1 tcpclient:127\.0\.0\.1:\d+ --serial2 none$/);
    const parm = /,(\S+\/dropline\.parm)/.exec(args)![1];
    expect(fs.existsSync(parm)).toBe(false); // scratch directory removed
  }, 30000);
});
