// Files: many at once, binary round trip, watch, stat-like calls.
import { createHash, randomBytes } from 'node:crypto';
import { FilesystemEventType } from 'e2b';
import { withSandbox, expectError, until } from './util.mjs';

export async function writeFifty() {
  return withSandbox(async (sbx) => {
    const items = Array.from({ length: 50 }, (_, i) => ({ path: `/home/user/many/f${i}.txt`, data: `file ${i}\n` }));
    const infos = await sbx.files.write(items);
    const listed = await sbx.files.list('/home/user/many');
    const r = await sbx.commands.run('cat /home/user/many/f7.txt /home/user/many/f49.txt');
    return { written: infos.length, listed: listed.length, cat: r.stdout };
  });
}

export async function binaryRoundTrip({ mib }) {
  return withSandbox(async (sbx) => {
    const data = randomBytes(mib << 20);
    const sent = createHash('sha256').update(data).digest('hex');
    const t0 = Date.now();
    await sbx.files.write('/home/user/blob.bin', data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    const back = await sbx.files.read('/home/user/blob.bin', { format: 'bytes' });
    const inSandbox = await sbx.commands.run('sha256sum /home/user/blob.bin');
    return { bytes: back.length, sent, received: createHash('sha256').update(back).digest('hex'),
             inSandbox: inSandbox.stdout.split(' ')[0], ms: Date.now() - t0 };
  });
}

export async function watchDir() {
  return withSandbox(async (sbx) => {
    await sbx.files.makeDir('/home/user/watched');
    const events = [];
    const handle = await sbx.files.watchDir('/home/user/watched', (e) => events.push({ name: e.name, type: e.type }));
    await sbx.commands.run('echo data > /home/user/watched/created.txt');
    const seen = await until(() => events.some((e) => e.name === 'created.txt' && e.type === FilesystemEventType.CREATE), 10_000);
    await handle.stop();
    return { sawCreate: Boolean(seen), events };
  });
}

export async function fsCalls() {
  return withSandbox(async (sbx) => {
    const out = {};
    out.existsBefore = await sbx.files.exists('/home/user/d/x.txt');
    out.makeDir = await sbx.files.makeDir('/home/user/d');
    out.makeDirAgain = await sbx.files.makeDir('/home/user/d');
    await sbx.files.write('/home/user/d/x.txt', 'hello');
    out.existsAfter = await sbx.files.exists('/home/user/d/x.txt');
    const info = await sbx.files.getInfo('/home/user/d/x.txt');
    out.info = { name: info.name, type: info.type, size: info.size, mode: info.mode,
                 permissions: info.permissions, owner: info.owner, modifiedTime: String(info.modifiedTime) };
    const moved = await sbx.files.rename('/home/user/d/x.txt', '/home/user/d/y.txt');
    out.renamed = moved.path;
    out.readMoved = await sbx.files.read('/home/user/d/y.txt');
    await sbx.files.remove('/home/user/d');
    out.existsRemoved = await sbx.files.exists('/home/user/d');
    out.readMissing = await expectError(() => sbx.files.read('/home/user/nope.txt'));
    out.listMissing = await expectError(() => sbx.files.list('/home/user/nope'));
    const url = await sbx.downloadUrl('/home/user/.profile').catch(() => null);
    out.downloadUrl = url;
    return out;
  });
}
