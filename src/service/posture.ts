/**
 * The deployment posture the service refuses to run without (UnsafeConfigError), checked before
 * anything listens.
 */
import { isLoopbackHost, isWildcardHost } from '../server/guards';
import type { ServiceOptions } from './options';

/** A configuration the service refuses to run with, and what to do instead. */
export class UnsafeConfigError extends Error {
  readonly code = 'UNSAFE_CONFIG';
}
/**
 * Deployment posture, checked before anything listens: demo accounts only in the demo shape; beyond
 * loopback only with TLS (or behind a proxy on loopback), named origins, and no default passwords.
 */
export function checkPosture(opts: ServiceOptions, host: string): void {
  const loopback = isLoopbackHost(host);
  const demoShape = (opts.links ?? []).length === 0 && !opts.bus && loopback;
  if (opts.demoUsers === true && !demoShape)
    throw new UnsafeConfigError('demo accounts (password = user name) are only for built-in simulators on a loopback address: drop --demo-users, or the vehicle links and --host');
  if (opts.trustProxy && !loopback) throw new UnsafeConfigError('--trust-proxy means a reverse proxy on this machine forwards to Dropline: listen on 127.0.0.1 (--host 127.0.0.1)');
  if (!loopback) {
    if (!(opts.tlsCert && opts.tlsKey)) throw new UnsafeConfigError(`listening on ${host} needs TLS: give --tls-cert and --tls-key, or listen on 127.0.0.1 behind a TLS reverse proxy with --trust-proxy`);
    if (isWildcardHost(host) && !(opts.allowedOrigins ?? []).length) throw new UnsafeConfigError(`listening on ${host || 'every address'} needs --origin https://NAME:PORT for each name the console is reached at`);
  }
  if ((opts.tlsCert && !opts.tlsKey) || (!opts.tlsCert && opts.tlsKey)) throw new UnsafeConfigError('--tls-cert and --tls-key go together');
}
