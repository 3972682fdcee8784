// Pause and resume through the SDK, and what survives them.
import { Sandbox } from 'e2b';

const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i > /home/user/counter; sleep 0.1; done';

export async function startCounter() {
  const sbx = await Sandbox.create({ timeoutMs: 600_000 });
  const counter = await sbx.commands.run(COUNTER, { background: true, timeoutMs: 0 });
  await new Promise((r) => setTimeout(r, 700));
  const value = Number((await sbx.files.read('/home/user/counter')).trim());
  // Leave the command running (envd keeps a process whose client went away) and let this
  // script end: an open output stream would keep Node alive.
  await counter.disconnect();
  return { sandboxId: sbx.sandboxId, value };
}

export async function pause({ sandboxId }) {
  const sbx = await Sandbox.connect(sandboxId);
  const before = Number((await sbx.files.read('/home/user/counter')).trim());
  const paused = await sbx.pause();
  const pausedAgain = await Sandbox.pause(sandboxId);
  const info = await Sandbox.getInfo(sandboxId);
  const listed = await Sandbox.list({ query: { state: ['paused'] } }).nextItems();
  return { before, paused, pausedAgain, state: info.state,
           listedPaused: listed.some((s) => s.sandboxId === sandboxId), running: await sbx.isRunning() };
}

export async function resume({ sandboxId }) {
  const t0 = Date.now();
  const sbx = await Sandbox.connect(sandboxId);
  const resumeMs = Date.now() - t0;
  const first = Number((await sbx.files.read('/home/user/counter')).trim());
  await new Promise((r) => setTimeout(r, 700));
  const later = Number((await sbx.files.read('/home/user/counter')).trim());
  const info = await sbx.getInfo();
  return { first, later, state: info.state, resumeMs };
}
