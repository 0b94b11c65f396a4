/** `dropline agent` from the sources, for tests that run the agent as its own process: the arguments are the agent's. */
import { main } from '../../../src/cli';

main(['agent', ...process.argv.slice(2)]).catch((e) => {
  process.stderr.write(`agent failed: ${e?.stack ?? e}\n`);
  process.exit(1);
});
