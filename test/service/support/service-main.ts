/**
 * Runs the service in its own process for the durability test: options from the environment,
 * prints one JSON line `{"url": ..., "port": ...}` on stdout once listening.
 *   DL_DATA_DIR (required), DL_LINKS (comma-separated URIs), DL_PORT (default 0),
 *   DL_SIMS (built-in simulators, in processes of their own as `npm start` runs them), DL_SPEEDUP,
 *   DL_SIM_PARAMS (JSON object of simulator parameters)
 */
import { startService } from '../../../src/service';
import { TEST_ZONES_FILE } from '../../support/zones';
import { gcsHeartbeatHzFor } from '../../support/vehicles';
import { seedTestUsers } from './users';

async function main() {
  const dataDir = process.env.DL_DATA_DIR;
  if (!dataDir) throw new Error('DL_DATA_DIR is required');
  const links = (process.env.DL_LINKS ?? '').split(',').filter(Boolean);
  await seedTestUsers(dataDir);
  const sims = Number(process.env.DL_SIMS ?? 0);
  const simOpts = sims > 0 ? { simulators: sims, simProcesses: true, simSpeedup: Number(process.env.DL_SPEEDUP ?? 1), simParams: JSON.parse(process.env.DL_SIM_PARAMS ?? '{}'), demoUsers: false } : {};
  const svc = await startService({ zonesFile: TEST_ZONES_FILE, port: Number(process.env.DL_PORT ?? 0), dataDir, links, logLevel: process.env.DL_LOG_LEVEL ?? 'warn', heartbeatHz: gcsHeartbeatHzFor(10), ...simOpts });
  process.stdout.write(JSON.stringify({ url: svc.url, port: svc.port }) + '\n');
  const stop = () => void svc.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`service failed: ${e?.stack ?? e}\n`);
  process.exit(1);
});
