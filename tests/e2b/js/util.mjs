// Small helpers shared by the scenarios.
import { Sandbox } from 'e2b';

// Runs fn(sandbox) on a fresh sandbox (the SDK's default template, "base") and kills it after,
// whatever happened.
export async function withSandbox(fn, opts = {}) {
  const sbx = await Sandbox.create(opts);
  try {
    return await fn(sbx);
  } finally {
    await sbx.kill().catch(() => {});
  }
}

// What an error says about itself, for assertions on the SDK's typed errors.
export function errorInfo(e) {
  return { name: e?.constructor?.name ?? typeof e, message: String(e?.message ?? e) };
}

export async function expectError(fn) {
  try {
    const value = await fn();
    return { threw: false, value };
  } catch (e) {
    return { threw: true, ...errorInfo(e) };
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls pred() every 100 ms until it is truthy or ms pass; returns its last value.
export async function until(pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v || Date.now() > end) return v;
    await sleep(100);
  }
}
