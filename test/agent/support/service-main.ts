/**
 * The service in its own process, taking its vehicles from the bus: options from the environment,
 * one JSON line `{"url": ..., "port": ...}` on stdout once listening.
 *   DL_DATA_DIR (required), DL_BUS (NATS URL), DL_BUS_PREFIX (subject root), DL_PORT (default 0),
 *   DL_STORE (postgres:// URL: the shared store instead of SQLite in DL_DATA_DIR),
 *   DL_LINKS (comma-separated vehicle link URIs the process holds itself, as `--link` does)
 */
import { startService } from '../../../src/service';
import { TEST_ZONES_FILE } from '../../support/zones';
import { seedTestUsers } from '../../service/support/users';

async function main() {
  const dataDir = process.env.DL_DATA_DIR;
  if (!dataDir) throw new Error('DL_DATA_DIR is required');
  await seedTestUsers(dataDir, process.env.DL_STORE);
  const svc = await startService({
    zonesFile: TEST_ZONES_FILE,
    port: Number(process.env.DL_PORT ?? 0),
    dataDir,
    store: process.env.DL_STORE,
    links: (process.env.DL_LINKS ?? '').split(',').filter(Boolean),
    bus: process.env.DL_BUS,
    busPrefix: process.env.DL_BUS_PREFIX,
    logLevel: process.env.DL_LOG_LEVEL ?? 'warn',
  });
  process.stdout.write(JSON.stringify({ url: svc.url, port: svc.port, node: svc.busVehicles?.node }) + '\n');
  const stop = () => void svc.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`service failed: ${e?.stack ?? e}\n`);
  process.exit(1);
});
