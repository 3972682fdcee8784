// Ports: getHost(port) and the requests a browser or a client would send to it.
import http from 'node:http';
import WebSocket from 'ws';
import { withSandbox, until, sleep } from './util.mjs';

// One HTTP GET to sandboxd's listener with the given headers; resolves {status, body}.
function get(base, path, headers) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function startServer(sbx, cmd, port) {
  await sbx.commands.run(cmd, { background: true, cwd: '/home/user' });
  // Ready when a plain connection to the port succeeds inside the sandbox.
  const ready = await until(async () => {
    const r = await sbx.commands.run(`python3 -c "import socket; socket.create_connection(('127.0.0.1', ${port}), 1)"`)
      .then(() => true, () => false);
    return r;
  }, 15_000);
  if (!ready) throw new Error(`nothing listens on ${port} in the sandbox`);
}

export async function httpServer() {
  return withSandbox(async (sbx) => {
    await sbx.files.write('/home/user/index.html', 'hello from the sandbox\n');
    await startServer(sbx, 'python3 -m http.server 8000 --bind 127.0.0.1', 8000);
    const host = sbx.getHost(8000);
    const base = process.env.E2B_SANDBOX_URL;
    const byHost = await get(base, '/index.html', { Host: host });
    const byHeader = await get(base, '/index.html', { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '8000' });
    const closed = await get(base, '/', { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '8001' });
    const noSandbox = await get(base, '/', { Host: `8000-nosuchsandbox.${host.split('.').slice(1).join('.')}` });
    return { host, sandboxId: sbx.sandboxId, byHost, byHeader, closed, noSandbox };
  });
}

const ECHO_SERVER = String.raw`
import base64, hashlib, socket, struct, threading
def serve(c):
    req = b''
    while b'\r\n\r\n' not in req:
        req += c.recv(4096)
    key = [l.split(b':', 1)[1].strip() for l in req.split(b'\r\n') if l.lower().startswith(b'sec-websocket-key')][0]
    acc = base64.b64encode(hashlib.sha1(key + b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest())
    c.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + acc + b'\r\n\r\n')
    while True:
        h = c.recv(2)
        if len(h) < 2: return
        op, n = h[0] & 15, h[1] & 127
        if n == 126: n = struct.unpack('>H', c.recv(2))[0]
        mask = c.recv(4)
        data = b''
        while len(data) < n: data += c.recv(n - len(data))
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        if op == 8: return
        reply = b'echo: ' + data
        c.sendall(bytes([0x81, len(reply)]) + reply)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 8765)); s.listen(8)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

export async function websocketEcho() {
  return withSandbox(async (sbx) => {
    await sbx.files.write('/home/user/ws_echo.py', ECHO_SERVER);
    await startServer(sbx, 'python3 /home/user/ws_echo.py', 8765);
    const base = new URL(process.env.E2B_SANDBOX_URL);
    const ws = new WebSocket(`ws://${base.host}/`, { headers: { Host: sbx.getHost(8765) } });
    const replies = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no WebSocket answer in 10 s')), 10_000);
      ws.on('open', () => { ws.send('one'); ws.send('two'); });
      ws.on('message', (m) => { replies.push(String(m)); if (replies.length === 2) { clearTimeout(timer); resolve(); } });
      ws.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
    ws.close();
    await sleep(50);
    return { replies };
  });
}
