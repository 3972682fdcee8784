// The control plane through the SDK: the quick start, listing, info, lifetime, errors.
import { Sandbox } from 'e2b';
import { withSandbox, expectError, until } from './util.mjs';

// E2B's quick start, unmodified.
export async function quickstart() {
  const sbx = await Sandbox.create();
  const out = { sandboxId: sbx.sandboxId };
  const r = await sbx.commands.run('echo hi');
  out.echo = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  const written = await sbx.files.write('/home/user/a.txt', 'x');
  out.written = { path: written.path, name: written.name, type: written.type };
  out.read = await sbx.files.read('/home/user/a.txt');
  const entries = await sbx.files.list('/home/user');
  out.list = entries.map((e) => ({ name: e.name, type: e.type, path: e.path, size: e.size }));
  const bg = await sbx.commands.run('sleep 0.3; echo done', { background: true });
  out.backgroundPid = bg.pid;
  const waited = await bg.wait();
  out.waited = { stdout: waited.stdout, exitCode: waited.exitCode };
  out.killed = await sbx.kill();
  out.runningAfterKill = await sbx.isRunning();
  return out;
}

// Sandbox.list() with a metadata filter, two at a time.
export async function listPagination({ tag }) {
  const created = [];
  for (let i = 0; i < 3; i++) created.push(await Sandbox.create({ metadata: { suite: tag, i: String(i) } }));
  const other = await Sandbox.create({ metadata: { suite: tag + '-other' } });
  try {
    const paginator = Sandbox.list({ query: { metadata: { suite: tag } }, limit: 2 });
    const pages = [];
    while (paginator.hasNext && pages.length < 5) {
      const items = await paginator.nextItems();
      pages.push(items.map((s) => ({ sandboxId: s.sandboxId, state: s.state, metadata: s.metadata,
                                      templateId: s.templateId, startedAt: s.startedAt, endAt: s.endAt })));
    }
    const one = Sandbox.list({ query: { metadata: { suite: tag, i: '1' } } });
    const onlyOne = await one.nextItems();
    return { created: created.map((s) => s.sandboxId), other: other.sandboxId, pages,
             onlyOne: onlyOne.map((s) => s.sandboxId) };
  } finally {
    for (const s of [...created, other]) await s.kill().catch(() => {});
  }
}

export async function infoTimeoutMetrics() {
  return withSandbox(async (sbx) => {
    const info = await sbx.getInfo();
    await sbx.setTimeout(600_000);
    const after = await sbx.getInfo();
    await sbx.commands.run('python3 -c "sum(range(3000000))"');
    // The sampler's first point of a sandbox comes one interval (1 s) after its baseline.
    const metrics = await until(async () => {
      const m = await sbx.getMetrics();
      return m.length ? m : null;
    }, 10_000) ?? [];
    return {
      info: { sandboxId: info.sandboxId, templateId: info.templateId, state: info.state,
              startedAt: info.startedAt, endAt: info.endAt, cpuCount: info.cpuCount,
              memoryMB: info.memoryMB, metadata: info.metadata },
      endAtAfter: after.endAt,
      metrics: metrics.map((m) => ({ cpuCount: m.cpuCount, cpuUsedPct: m.cpuUsedPct, memUsed: m.memUsed,
                                     memTotal: m.memTotal, diskUsed: m.diskUsed, diskTotal: m.diskTotal,
                                     timestamp: m.timestamp })),
      running: await sbx.isRunning(),
    };
  });
}

export async function unknownSandbox() {
  const id = 'nosuchsandbox0000';
  return {
    kill: await Sandbox.kill(id),
    connect: await expectError(() => Sandbox.connect(id)),
    info: await expectError(() => Sandbox.getInfo(id)),
    setTimeout: await expectError(() => Sandbox.setTimeout(id, 60_000)),
  };
}

export async function wrongKey() {
  return {
    create: await expectError(() => Sandbox.create()),
    list: await expectError(() => Sandbox.list().nextItems()),
  };
}

// Another tenant's sandbox is not found, on the control plane and through the gateway.
export async function otherTenant({ sandboxId }) {
  const out = {
    kill: await Sandbox.kill(sandboxId),
    connect: await expectError(() => Sandbox.connect(sandboxId)),
    info: await expectError(() => Sandbox.getInfo(sandboxId)),
  };
  const listed = await Sandbox.list().nextItems();
  out.listed = listed.map((s) => s.sandboxId);
  return out;
}

// Creates a sandbox for another scenario (of another process) and says its id.
export async function createOne({ metadata }) {
  const sbx = await Sandbox.create({ metadata: metadata ?? {} });
  return { sandboxId: sbx.sandboxId };
}

export async function killOne({ sandboxId }) {
  return { killed: await Sandbox.kill(sandboxId) };
}

// The envd access token that connect hands the SDK, for raw requests of a test.
export async function envdToken({ sandboxId }) {
  const sbx = await Sandbox.connect(sandboxId);
  return { token: sbx.envdAccessToken ?? null };
}
