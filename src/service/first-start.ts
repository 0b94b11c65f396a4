/**
 * The service's first start on an empty store: users (demo accounts in the demo shape, else the
 * first admin), the refusal to listen beyond loopback while accounts keep default passwords, and
 * the zones seeded from a file.
 */
import fs from 'fs';
import path from 'path';
import type { Logger } from 'pino';
import type { Store } from '../store';
import type { Auth } from '../auth';
import { DEFAULT_POLICY } from '../delivery';
import * as plannerModule from '../../planner';
import * as scenarios from '../../sims/scenarios';
import { isLoopbackHost } from '../server/guards';
import type { ServiceOptions } from './options';
import { UnsafeConfigError } from './posture';

export async function seedFirstStart(opts: ServiceOptions, host: string, store: Store, auth: Auth, log: Logger): Promise<void> {
  const demoShape = (opts.links ?? []).length === 0 && !opts.bus && isLoopbackHost(host);
  const seeded = await auth.seed({ demoUsers: opts.demoUsers ?? demoShape, adminPassword: opts.adminPassword ?? process.env.DROPLINE_ADMIN_PASSWORD });
  if (seeded.created.length) log.info({ users: seeded.created }, 'users created on first start');
  if (seeded.generatedAdminPassword) log.warn(`first admin created: username admin, password ${seeded.generatedAdminPassword} (shown once; it must be changed at the first login)`);
  if (!isLoopbackHost(host)) {
    const weak = await store.usersWithDefaultPasswords();
    if (weak.length)
      throw new UnsafeConfigError(
        `refusing to listen on ${host}: ${weak.map((u) => `${u.username} (${u.passwordState} password)`).join(', ')} ` +
          'still have default passwords. Set real ones (dropline users add NAME --role ROLE --replace, password on stdin) or disable them (dropline users disable NAME), then start again',
      );
  }
  if (!(await store.latestZones())) {
    const file = opts.zonesFile ?? scenarios.ZONES_FILE;
    const zones = JSON.parse(fs.readFileSync(file, 'utf8'));
    const v = plannerModule.validateZones(zones); // on start, before any vehicle link is up
    if (!v.ok) throw Object.assign(new Error(`seed zones ${file} invalid: ${v.error.message}`), { code: 'INVALID_ZONES' });
    await store.saveZones({ zones, policy: DEFAULT_POLICY as unknown as Record<string, unknown>, by: 'system', change: `seeded from ${path.basename(file)}` });
    log.info({ file }, 'zones seeded');
  }
}
