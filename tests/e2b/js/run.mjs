// Runs one scenario of tests/e2b against sandboxd with E2B's own npm SDK, configured only by
// the environment (E2B_API_KEY, E2B_API_URL, E2B_SANDBOX_URL, E2B_DOMAIN), and prints what it
// observed as one JSON line for the Python test to check.
//   node run.mjs <scenario> ['<json args>']
import * as basics from './basics.mjs';
import * as streams from './streams.mjs';
import * as files from './files.mjs';
import * as network from './network.mjs';
import * as lifecycle from './lifecycle.mjs';

const scenarios = { ...basics, ...streams, ...files, ...network, ...lifecycle };
const [name, rawArgs] = process.argv.slice(2);
const fn = scenarios[name];
if (!fn) {
  console.error(`unknown scenario '${name}'; known: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
// Every scenario is bounded: the Python side also kills the process at its own timeout.
const guard = setTimeout(() => {
  console.error(`scenario ${name} did not finish within 120 s`);
  process.exit(3);
}, 120_000);
try {
  const out = await fn(rawArgs ? JSON.parse(rawArgs) : {});
  process.stdout.write(JSON.stringify(out ?? {}) + '\n');
} catch (e) {
  // An unexpected SDK error: its class and message are what the test prints.
  process.stdout.write(JSON.stringify({ uncaught: { name: e?.constructor?.name, message: String(e?.message ?? e) } }) + '\n');
  process.exitCode = 1;
} finally {
  clearTimeout(guard);
}
