// Commands: streamed output, stdin, signals, exit codes, PTY, list and connect.
import { CommandExitError } from 'e2b';
import { withSandbox, expectError, until, sleep } from './util.mjs';

// Three lines 200 ms apart arrive as three callbacks while the command runs.
export async function onStdout() {
  return withSandbox(async (sbx) => {
    const t0 = Date.now();
    const calls = [];
    const r = await sbx.commands.run('for i in 1 2 3; do echo line$i; sleep 0.2; done', {
      onStdout: (data) => calls.push({ data, ms: Date.now() - t0 }),
    });
    return { calls, stdout: r.stdout, totalMs: Date.now() - t0 };
  });
}

export async function stdinToCat() {
  return withSandbox(async (sbx) => {
    const seen = [];
    const h = await sbx.commands.run('cat', { background: true, stdin: true, onStdout: (d) => seen.push(d) });
    await sbx.commands.sendStdin(h.pid, 'hello from stdin\n');
    const echoed = await until(() => seen.join('').includes('hello from stdin'), 10_000);
    await sbx.commands.closeStdin(h.pid);
    const done = await h.wait();
    return { echoed: Boolean(echoed), stdout: done.stdout, exitCode: done.exitCode };
  });
}

export async function killBackground() {
  return withSandbox(async (sbx) => {
    const h = await sbx.commands.run('sleep 600', { background: true });
    const before = (await sbx.commands.list()).map((p) => p.pid);
    const killed = await h.kill();
    const waited = await expectError(() => h.wait());
    const after = await until(async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid), 10_000);
    const again = await sbx.commands.kill(h.pid);
    return { pid: h.pid, listedBefore: before.includes(h.pid), killed, waited, goneFromList: Boolean(after),
             killAgain: again };
  });
}

export async function exitCode() {
  return withSandbox(async (sbx) => {
    try {
      await sbx.commands.run('echo out; echo err >&2; exit 3');
      return { threw: false };
    } catch (e) {
      return { threw: true, isCommandExitError: e instanceof CommandExitError, exitCode: e.exitCode,
               stdout: e.stdout, stderr: e.stderr, name: e.constructor.name };
    }
  });
}

export async function pty() {
  return withSandbox(async (sbx) => {
    const chunks = [];
    const dec = new TextDecoder();
    const term = await sbx.pty.create({ cols: 100, rows: 30, onData: (d) => chunks.push(dec.decode(d)) });
    await sbx.pty.resize(term.pid, { cols: 120, rows: 40 });
    await sbx.pty.sendInput(term.pid, new TextEncoder().encode('tty; stty size; echo END-$((40+2))\n'));
    const ok = await until(() => chunks.join('').includes('END-42'), 15_000);
    const out = chunks.join('');
    await sbx.pty.kill(term.pid);
    return { sawEnd: Boolean(ok), tty: (out.match(/\/dev\/pts\/\d+/) || [null])[0],
             size: (out.match(/\b40 120\b/) || [null])[0] };
  });
}

// commands.connect to a running command: its later output and its end.
export async function connectCommand() {
  return withSandbox(async (sbx) => {
    const h = await sbx.commands.run('sleep 0.5; echo late', { background: true });
    await h.disconnect();
    const seen = [];
    const again = await sbx.commands.connect(h.pid, { onStdout: (d) => seen.push(d) });
    const done = await again.wait();
    const missing = await expectError(() => sbx.commands.connect(999999));
    return { stdout: done.stdout, exitCode: done.exitCode, seen: seen.join(''), missing };
  });
}

// The sandbox-wide envVars of create reach commands started through the gateway.
export async function envVars() {
  return withSandbox(async (sbx) => {
    const r = await sbx.commands.run('echo "$SANDBOX_WIDE-$PER_CMD"', { envs: { PER_CMD: 'cmd' } });
    const cwd = await sbx.commands.run('pwd', { cwd: '/tmp' });
    const root = await sbx.commands.run('id -u', { user: 'root' });
    await sleep(0);
    return { stdout: r.stdout, cwd: cwd.stdout, rootUid: root.stdout };
  }, { envs: { SANDBOX_WIDE: 'wide' } });
}
