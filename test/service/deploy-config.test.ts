/**
 * The example deployment in deploy/ is what the README tells a county to install: its node
 * configuration files must be accepted by the service as they are, and its units must run the
 * commands the CLI has.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readConfig } from '../../src/cli';

const DEPLOY = path.join(__dirname, '..', '..', 'deploy');

describe('deploy/', () => {
  const nodeFiles = fs.readdirSync(DEPLOY).filter((f) => /^node-.*\.json$/.test(f));

  test('has a configuration for each of the two service nodes', () => {
    expect(nodeFiles.sort()).toEqual(['node-a.json', 'node-b.json']);
  });

  test.each(nodeFiles)('%s is accepted by the service and describes a shared, proxied node', (f) => {
    const c = readConfig(path.join(DEPLOY, f));
    // Shared state: PostgreSQL and the bus; no simulated vehicles on an operational node.
    expect(c.store).toMatch(/^postgres:\/\//);
    expect(c.bus).toMatch(/^nats:\/\//);
    expect(c.sims).toBe(0);
    // Loopback behind a TLS proxy on the same machine, with the console's public origin named.
    expect(c.host).toBe('127.0.0.1');
    expect(c.trustProxy).toBe(true);
    expect(c.origins!.length).toBeGreaterThan(0);
    for (const o of c.origins!) expect(o).toMatch(/^https:\/\//);
  });

  test('the units run the CLI the repository installs, and restart it', () => {
    const node = fs.readFileSync(path.join(DEPLOY, 'dropline-node.service'), 'utf8');
    const agent = fs.readFileSync(path.join(DEPLOY, 'dropline-agent@.service'), 'utf8');
    expect(node).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/dropline\/bin\/dropline\.js --config \/etc\/dropline\/node\.json$/m);
    expect(agent).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/dropline\/bin\/dropline\.js agent \$DROPLINE_AGENT_ARGS$/m);
    for (const unit of [node, agent]) expect(unit).toMatch(/^Restart=always$/m);
    // The agent's example arguments name what `dropline agent` requires.
    const env = fs.readFileSync(path.join(DEPLOY, 'agent-east.env'), 'utf8');
    const args = /^DROPLINE_AGENT_ARGS=(.*)$/m.exec(env)![1];
    for (const required of ['--site ', '--bus nats://', '--link ']) expect(args).toContain(required);
  });
});
