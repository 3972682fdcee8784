// E2B's npm SDK against sandboxd, beside sandboxd's own v1 API on the same daemon, in one run
// (docs/benchmarks.md, "E2B SDK through the gateway"). Prints figures; asserts no time.
//   node bench/e2b_sdk.mjs [runs]        (bench/e2b_sdk.sh starts a daemon and sets the env)
// Environment: E2B_API_KEY, E2B_API_URL, E2B_SANDBOX_URL (as for the SDK), SBX_TEMPLATE.
import http from 'node:http';
import { randomBytes } from 'node:crypto';

const { Sandbox } = await import(new URL('../tests/e2b/node_modules/e2b/dist/index.mjs', import.meta.url));
const runs = Number(process.argv[2] || 100);
const api = new URL(process.env.E2B_API_URL);
const key = process.env.E2B_API_KEY;
const template = process.env.SBX_TEMPLATE || 'python';
const agent = new http.Agent({ keepAlive: true });

// One v1 API call over TCP with the same key and a kept-alive connection, as the SDK has.
function v1(method, path, body, raw) {
  const data = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: api.hostname, port: api.port, method, path, agent,
      headers: { 'X-API-Key': key, ...(data ? { 'Content-Length': data.length } : {}),
                 ...(raw ? { 'Content-Type': 'application/octet-stream' } : { 'Content-Type': 'application/json' }) } },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        if (res.statusCode >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${buf.toString().slice(0, 300)}`));
        else resolve(buf);
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(2)} ms  p99 ${pct(xs, 99).toFixed(2)} ms  (n=${xs.length})`;

async function createThenFirstCommand() {
  const sdk = [], rest = [];
  for (let i = 0; i < runs; i++) {
    let t0 = process.hrtime.bigint();
    const sbx = await Sandbox.create(template);
    await sbx.commands.run('true');
    sdk.push(ms(t0));
    await sbx.kill();

    t0 = process.hrtime.bigint();
    const created = JSON.parse(await v1('POST', '/v1/sandboxes', { template }));
    await v1('POST', `/v1/sandboxes/${created.sandbox_id}/exec`, { language: 'bash', code: 'true' });
    rest.push(ms(t0));
    await v1('DELETE', `/v1/sandboxes/${created.sandbox_id}`);
  }
  console.log(`create -> first command 'true'   SDK ${fmt(sdk)}`);
  console.log(`                                 v1  ${fmt(rest)}`);
  console.log(`  vs E2B's published cloud median of 440 ms: ${(440 / pct(sdk, 50)).toFixed(0)}x faster at p50`);
}

async function commandRoundTrip(sbx, v1id) {
  const sdk = [], rest = [];
  for (let i = 0; i < runs; i++) {
    let t0 = process.hrtime.bigint();
    await sbx.commands.run('true');
    sdk.push(ms(t0));
    t0 = process.hrtime.bigint();
    await v1('POST', `/v1/sandboxes/${v1id}/exec`, { language: 'bash', code: 'true' });
    rest.push(ms(t0));
  }
  console.log(`command round trip 'true'        SDK ${fmt(sdk)}`);
  console.log(`                                 v1  ${fmt(rest)}`);
}

async function fileThroughput(sbx, v1id) {
  const mib = 32;
  const data = randomBytes(mib << 20);
  const rounds = 5;
  const rate = (bytes, t) => (bytes / (1 << 20)) / (t / 1000);
  let up = 0, down = 0, v1up = 0, v1down = 0;
  for (let i = 0; i < rounds; i++) {
    let t0 = process.hrtime.bigint();
    await sbx.files.write('/home/user/bench.bin', data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    up += ms(t0);
    t0 = process.hrtime.bigint();
    const back = await sbx.files.read('/home/user/bench.bin', { format: 'bytes' });
    down += ms(t0);
    if (back.length !== data.length) throw new Error('short read through the gateway');
    t0 = process.hrtime.bigint();
    await v1('PUT', `/v1/sandboxes/${v1id}/files?path=/home/user/bench.bin`, undefined, data);
    v1up += ms(t0);
    t0 = process.hrtime.bigint();
    const got = await v1('GET', `/v1/sandboxes/${v1id}/files?path=/home/user/bench.bin`);
    v1down += ms(t0);
    if (got.length !== data.length) throw new Error('short read through v1');
  }
  const total = rounds * data.length;
  console.log(`files ${mib} MiB random, ${rounds} rounds  SDK write ${rate(total, up).toFixed(0)} MiB/s  read ${rate(total, down).toFixed(0)} MiB/s`);
  console.log(`                                 v1  write ${rate(total, v1up).toFixed(0)} MiB/s  read ${rate(total, v1down).toFixed(0)} MiB/s`);
}

console.log(`E2B SDK 2.51.0 vs v1 API, template ${template}, ${runs} runs, node ${process.version}`);
await createThenFirstCommand();
const sbx = await Sandbox.create(template);
const created = JSON.parse(await v1('POST', '/v1/sandboxes', { template }));
try {
  await commandRoundTrip(sbx, created.sandbox_id);
  await fileThroughput(sbx, created.sandbox_id);
} finally {
  await sbx.kill().catch(() => {});
  await v1('DELETE', `/v1/sandboxes/${created.sandbox_id}`).catch(() => {});
  agent.destroy();
}
