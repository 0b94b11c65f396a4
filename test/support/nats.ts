/**
 * NATS with JetStream for the bus tests: NATS_URL, or nats://127.0.0.1:4222. `natsSuite` runs a
 * suite when the server answers with JetStream on; otherwise one failing test when CI=true (.ci/run
 * starts nats-server), or a skipped suite with the reason printed.
 *
 * Each suite takes its own subject root (`natsTestRoot()`), so suites running at once on one server
 * (and a deployment's own `dropline.>` subjects) never see each other's frames or streams.
 */
import { execFileSync } from 'child_process';
import { randomBytes } from 'crypto';

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Why NATS cannot be used here, or null when it can (checked once, synchronously: INFO says jetstream). */
export function natsProblem(): string | null {
  const u = new URL(NATS_URL);
  const probe = `
    const s = require('net').connect(${Number(u.port || 4222)}, ${JSON.stringify(u.hostname)});
    let buf = '';
    const t = setTimeout(() => { console.log('no answer'); process.exit(1); }, 2000);
    s.on('error', (e) => { console.log(e.code || e.message); process.exit(1); });
    s.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\\r\\n');
      if (i < 0) return;
      clearTimeout(t);
      const info = JSON.parse(buf.slice(5, i));
      console.log(info.jetstream ? 'ok' : 'JetStream is off (nats-server -js)');
      process.exit(0);
    });`;
  try {
    const out = execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 5000 }).trim();
    return out === 'ok' ? null : out;
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e).trim() || 'no answer';
  }
}

let checked: string | null | undefined;

/** `describe` for tests that need NATS JetStream. */
export function natsSuite(name: string, fn: (url: string) => void): void {
  if (checked === undefined) checked = natsProblem();
  if (checked === null) {
    describe(name, () => fn(NATS_URL));
    return;
  }
  const why = `no NATS JetStream at ${NATS_URL} (${checked}). Start one: nats-server -js -a 127.0.0.1 -p 4222 (Debian package nats-server), or set NATS_URL`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs NATS JetStream', () => {
        throw new Error(`bus tests cannot run in CI: ${why}`);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`SKIPPED bus tests "${name}": ${why}`);
  describe.skip(name, () => {
    it('needs NATS JetStream', () => undefined);
  });
}

/** A subject root of this suite's own: `dltest<hex>`. */
export function natsTestRoot(): string {
  return `dltest${randomBytes(4).toString('hex')}`;
}
