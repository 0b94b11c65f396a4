/** `dropline --sitl PATH [--sitl-defaults FILES] [--px4-sitl PATH]`: files that are not there are the user's error (exit 2, one line). */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { main } from '../../src/cli';

let stderr: string[];
let spy: jest.SpyInstance;
beforeEach(() => {
  stderr = [];
  process.exitCode = undefined;
  spy = jest.spyOn(process.stderr, 'write').mockImplementation(((s: string) => (stderr.push(String(s)), true)) as any);
});
afterEach(() => {
  spy.mockRestore();
  process.exitCode = undefined;
});

test('a SITL binary that does not exist, is not executable, or defaults without --sitl: exit 2 naming the flag', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropline-cli-sitl-'));
  const plain = path.join(dir, 'arducopter');
  fs.writeFileSync(plain, 'not a program');
  fs.chmodSync(plain, 0o644);
  try {
    await main(['--sitl', path.join(dir, 'missing'), '--port', '0', '--data', dir]);
    expect(process.exitCode).toBe(2);
    expect(stderr.join('')).toMatch(/--sitl .*missing: not an executable file/);
    stderr.length = 0;
    await main(['--px4-sitl', plain, '--port', '0', '--data', dir]);
    expect(stderr.join('')).toMatch(/--px4-sitl .*arducopter: not an executable file/);
    stderr.length = 0;
    await main(['--sitl-defaults', plain, '--port', '0', '--data', dir]);
    expect(stderr.join('')).toMatch(/--sitl-defaults needs --sitl/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
