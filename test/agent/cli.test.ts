/** `dropline agent` on the command line: --help, and one-line errors with exit code 2 before anything connects. */
import { spawnSync } from 'child_process';
import path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const run = (...args: string[]) => spawnSync('npx', ['tsx', path.join(ROOT, 'test/agent/support/agent-main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

test('--help says what the agent does and lists every option', () => {
  const r = run('--help');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^Usage: dropline agent --link URI/);
  for (const o of ['--link', '--bus', '--site', '--heartbeat-hz', '--grace', '--gcs-sysid', '--bus-prefix', '--tlog-max-age', '--tlog-max-bytes', '--no-tlog', '--log-level']) expect(r.stdout).toContain(o);
  expect(r.stdout).toMatch(/default 20/);
});

test('bad arguments: one line on stderr, exit 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bus', 'nats://127.0.0.1:4222', '--site', 'a'], /at least one --link/],
    [['--link', 'tcp:127.0.0.1:5760', '--site', 'a'], /needs --bus/],
    [['--link', 'tcp:127.0.0.1:5760', '--bus', 'nats://127.0.0.1:4222', '--site', 'a.b'], /site must be/],
    [['--link', 'tcpx:127.0.0.1:5760', '--bus', 'nats://127.0.0.1:4222', '--site', 'a'], /invalid link URI/],
    [['--link', 'tcp:127.0.0.1:5760', '--bus', 'http://127.0.0.1', '--site', 'a'], /invalid bus URL/],
    [['--link', 'tcp:127.0.0.1:5760', '--bus', 'nats://127.0.0.1:1', '--site', 'a'], /cannot reach the bus/],
    [['--link', 'tcp:127.0.0.1:5760', '--bus', 'nats://127.0.0.1:4222', '--site', 'a', '--grace=-1'], /--grace must be/],
  ];
  for (const [args, want] of cases) {
    const r = run(...args);
    expect({ args, status: r.status }).toEqual({ args, status: 2 });
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(want);
  }
}, 120_000);
