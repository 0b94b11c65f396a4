/**
 * PX4 SITL launcher without a PX4 build: command line, environment and rc overrides, availability
 * detection, and the launcher's own failure handling, using tiny shell scripts in place of `px4` that
 * exit with an error or never answer (they test the launcher, they do not pretend to be PX4).
 * The launcher against real PX4 SITL is in px4-sitl.sitl.test.ts.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { px4SitlCommand, px4SitlPaths, px4SitlAvailable, startPx4Sitl, PX4_PROJECT_PARAMS } from '../../sims/px4-sitl';
import { SimError } from '../../sims';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-px4-test-'));
const savedEnv = { PX4_SITL: process.env.PX4_SITL, FAKE_PX4_OUT: process.env.FAKE_PX4_OUT };

/** A fake px4_sitl_default build: <root>/bin/px4 (the given script) and <root>/etc. */
function fakeBuild(name: string, script: string, withEtc = true): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  if (withEtc) fs.mkdirSync(path.join(root, 'etc', 'init.d-posix'), { recursive: true });
  const bin = path.join(root, 'bin', 'px4');
  fs.writeFileSync(bin, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return bin;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterEach(() => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('px4SitlCommand', () => {
  const base = {
    bin: '/opt/px4/build/px4_sitl_default/bin/px4',
    etcDir: '/opt/px4/build/px4_sitl_default/etc',
    instance: 2,
    workDir: '/tmp/w2',
    home: { lat: 34.0603, lon: 114.3942, altAmslM: 60 },
    speedup: 10,
    sysid: 3,
    gcsRemotePort: 40123,
    params: { NAV_DLL_ACT: 2, GF_ACTION: 3 },
    baseEnv: { PATH: '/usr/bin:/bin', HOME: '/home/x' },
  };

  test('runs px4 -d -i I -w WORKDIR ETC_DIR with the SIH quadcopter environment', () => {
    const spec = px4SitlCommand(base);
    expect(spec.command).toBe(base.bin);
    expect(spec.args).toEqual(['-d', '-i', '2', '-w', '/tmp/w2', base.etcDir]);
    expect(spec.env).toMatchObject({
      PX4_SIMULATOR: 'sihsim',
      PX4_SIM_MODEL: 'sihsim_quadx',
      PX4_SYS_AUTOSTART: '10040',
      PX4_HOME_LAT: '34.0603',
      PX4_HOME_LON: '114.3942',
      PX4_HOME_ALT: '60',
      PX4_SIM_SPEED_FACTOR: '10',
      HOME: '/home/x',
    });
    expect(spec.rcDir).toBe('/tmp/w2/rc');
    expect(spec.env.PATH).toBe('/tmp/w2/rc:/usr/bin:/bin');
  });

  test('the GCS link listens on 18570+I and sends to the launcher port on 127.0.0.1, not 14550, broadcast off', () => {
    const spec = px4SitlCommand(base);
    const mav = spec.files['px4-rc.mavlink'];
    expect(mav).toContain('mavlink start -x -u 18572 -r 4000000 -t 127.0.0.1 -o 40123');
    expect(mav).not.toContain('14550');
    expect(mav.match(/mavlink start/g)).toHaveLength(1);
    expect(mav.split('\n').find((l) => l.startsWith('mavlink start'))).not.toMatch(/ -p\b/);
    expect(Object.keys(spec.files)).toEqual(['px4-rc.mavlink']);
  });

  test('sysid and parameters go where rcS applies them: PX4_PARAM_<NAME> in the environment', () => {
    const spec = px4SitlCommand({ ...base, baseEnv: { PATH: '/bin', PX4_PARAM_COM_ARM_WO_GPS: '2' } });
    expect(spec.env).toMatchObject({ PX4_PARAM_MAV_SYS_ID: '3', PX4_PARAM_NAV_DLL_ACT: '2', PX4_PARAM_GF_ACTION: '3' });
    // Nothing reaches PX4 from the caller's environment but what the launcher was given.
    expect(spec.env.PX4_PARAM_COM_ARM_WO_GPS).toBeUndefined();
    expect(Object.keys(spec.env).filter((k) => k.startsWith('PX4_PARAM_')).sort()).toEqual(['PX4_PARAM_GF_ACTION', 'PX4_PARAM_MAV_SYS_ID', 'PX4_PARAM_NAV_DLL_ACT']);
  });

  test("the caller's sysid wins over a MAV_SYS_ID in params", () => {
    expect(px4SitlCommand({ ...base, params: { MAV_SYS_ID: 9 } }).env.PX4_PARAM_MAV_SYS_ID).toBe('3');
  });

  test('speedup 1 sets no speed factor, even when the caller environment has one', () => {
    const spec = px4SitlCommand({ ...base, speedup: 1, baseEnv: { PATH: '/bin', PX4_SIM_SPEED_FACTOR: '5' } });
    expect(spec.env.PX4_SIM_SPEED_FACTOR).toBeUndefined();
  });

  test('does not mutate its input', () => {
    const input = JSON.parse(JSON.stringify(base));
    px4SitlCommand(input);
    expect(input).toEqual(base);
  });

  test.each([
    [{ params: { 'NAV_DLL_ACT; rm -rf /': 1 } }, /invalid PX4 parameter name/],
    [{ params: { NAV_DLL_ACT: Number.NaN } }, /finite number/],
    [{ instance: -1 }, /instance/],
    [{ gcsRemotePort: 0 }, /gcsRemotePort/],
    [{ sysid: 255 }, /sysid/],
  ])('bad input %j → SIM_INVALID_OPTION', (patch, message) => {
    let err: unknown;
    try {
      px4SitlCommand({ ...base, ...(patch as object) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SimError);
    expect((err as SimError).code).toBe('SIM_INVALID_OPTION');
    expect((err as SimError).message).toMatch(message);
  });

  test('project parameters are PX4 names', () => {
    for (const k of Object.keys(PX4_PROJECT_PARAMS)) expect(k).toMatch(/^(NAV|COM|GF|PD|PWM|BAT1)_/);
  });
});

describe('PX4 SITL availability', () => {
  test('unset, not executable, missing etc, and a complete build', () => {
    delete process.env.PX4_SITL;
    expect(px4SitlAvailable()).toBe(false);
    expect(px4SitlPaths()).toEqual({ ok: false, message: expect.stringMatching(/PX4_SITL is not set/) });

    const notExec = path.join(tmp, 'not-exec');
    fs.writeFileSync(notExec, 'x', { mode: 0o644 });
    process.env.PX4_SITL = notExec;
    expect(px4SitlAvailable()).toBe(false);

    process.env.PX4_SITL = fakeBuild('no-etc', 'exit 0', false);
    expect(px4SitlAvailable()).toBe(false);
    expect(px4SitlPaths()).toEqual({ ok: false, message: expect.stringMatching(/etc folder beside bin/) });

    const bin = fakeBuild('complete', 'exit 0');
    process.env.PX4_SITL = bin;
    expect(px4SitlAvailable()).toBe(true);
    expect(px4SitlPaths()).toEqual({ ok: true, bin, etcDir: path.join(tmp, 'complete', 'etc') });
  });

  test('startPx4Sitl without PX4_SITL → SITL_NOT_AVAILABLE', async () => {
    delete process.env.PX4_SITL;
    await expect(startPx4Sitl({ basePort: 0 })).rejects.toMatchObject({ name: 'SimError', code: 'SITL_NOT_AVAILABLE' });
  });

  test('startPx4Sitl with the ArduPilot personality or udpOut → SIM_INVALID_OPTION', async () => {
    process.env.PX4_SITL = fakeBuild('complete2', 'exit 0');
    await expect(startPx4Sitl({ personality: 'ardupilot' })).rejects.toMatchObject({ code: 'SIM_INVALID_OPTION' });
    await expect(startPx4Sitl({ udpOut: '127.0.0.1:14550' })).rejects.toMatchObject({ code: 'SIM_INVALID_OPTION' });
  });
});

describe('PX4 SITL launcher failure handling', () => {
  test('a px4 that exits early → SITL_START_FAILED with its output; it got the right command, env and rc files; scratch dir removed', async () => {
    const out = path.join(tmp, 'early.out');
    process.env.FAKE_PX4_OUT = out;
    process.env.PX4_SITL = fakeBuild(
      'early',
      [
        'rc="$(echo "$PATH" | cut -d: -f1)"',
        '{ echo "cwd=$PWD"; echo "args=$*"; echo "model=$PX4_SIM_MODEL sim=$PX4_SIMULATOR autostart=$PX4_SYS_AUTOSTART"; echo "home=$PX4_HOME_LAT,$PX4_HOME_LON,$PX4_HOME_ALT"; echo "speed=$PX4_SIM_SPEED_FACTOR"; echo "rc=$rc"; cat "$rc/px4-rc.mavlink"; env | grep "^PX4_PARAM_" | sort; } > "$FAKE_PX4_OUT"',
        'echo "ERROR [init] Unknown model sihsim_quadx"',
        'exit 1',
      ].join('\n'),
    );
    let err: SimError | undefined;
    try {
      await startPx4Sitl({ basePort: 0, speedup: 10, sysidBase: 7, homes: [{ lat: 34.07, lon: 114.4, altAmslM: 55 }], readyTimeoutMs: 20000 });
    } catch (e) {
      err = e as SimError;
    }
    expect(err).toBeInstanceOf(SimError);
    expect(err!.code).toBe('SITL_START_FAILED');
    expect(err!.message).toMatch(/exited with code 1/);
    expect(err!.message).toMatch(/Unknown model sihsim_quadx/);

    const rec = fs.readFileSync(out, 'utf8');
    const cwd = /^cwd=(.*)$/m.exec(rec)![1];
    const instance = Number(/ -i (\d+) /.exec(rec)![1]);
    expect(rec).toMatch(new RegExp(`^args=-d -i ${instance} -w ${cwd} ${path.join(tmp, 'early', 'etc')}$`, 'm'));
    expect(rec).toMatch(/^model=sihsim_quadx sim=sihsim autostart=10040$/m);
    expect(rec).toMatch(/^home=34.07,114.4,55$/m);
    expect(rec).toMatch(/^speed=10$/m);
    expect(rec).toMatch(new RegExp(`^rc=${cwd}/rc$`, 'm'));
    expect(rec).toMatch(new RegExp(`mavlink start -x -u ${18570 + instance} -r 4000000 -t 127\\.0\\.0\\.1 -o \\d+`));
    expect(rec).toMatch(/^PX4_PARAM_MAV_SYS_ID=7$/m);
    expect(rec).toMatch(/^PX4_PARAM_NAV_DLL_ACT=2$/m);
    expect(fs.existsSync(cwd)).toBe(false);
  }, 30000);

  test('a px4 that never answers → SITL_START_FAILED after readyTimeoutMs; its whole process group is ended', async () => {
    const out = path.join(tmp, 'silent.out');
    process.env.FAKE_PX4_OUT = out;
    process.env.PX4_SITL = fakeBuild('silent', ['sleep 60 &', 'echo "$$ $! $PWD" > "$FAKE_PX4_OUT"', 'echo "INFO [px4] startup script running"', 'wait'].join('\n'));
    const t0 = Date.now();
    await expect(startPx4Sitl({ basePort: 0, readyTimeoutMs: 1500 })).rejects.toMatchObject({
      code: 'SITL_START_FAILED',
      message: expect.stringMatching(/sent no HEARTBEAT \(sysid 1\) on UDP \d+ within 1500 ms[\s\S]*startup script running/),
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    const [shPid, sleepPid, cwd] = fs.readFileSync(out, 'utf8').trim().split(' ');
    await until(() => !alive(Number(shPid)) && !alive(Number(sleepPid)), 10000, 'the fake px4 and its child to end');
    expect(fs.existsSync(cwd)).toBe(false);
  }, 30000);
});
