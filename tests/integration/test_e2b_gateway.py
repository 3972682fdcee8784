"""The E2B gateway (docs/e2b.md, "The envd gateway and ports"): envd traffic and traffic to
servers inside a sandbox, through sandboxd's TCP listener, as E2B's SDK sends it.

The sandbox is created with the v1 API; its envd access token is derived here as sandboxd
derives it: HMAC-SHA256(<state>/e2b-secret, "envd\\n<id>\\n<created_at_ms>"), hex.
"""
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import socket
import struct
import time
from urllib.parse import quote

import pytest

from conftest import Daemon, _stop_and_check, http_call

ENVD = 49983
NOT_FOUND_MSG = "The sandbox was not found"


@pytest.fixture(scope="module")
def gw():
    d = Daemon(["--listen", "127.0.0.1:0"]).start()
    assert d.port, d.ready_line
    yield d
    _stop_and_check(d)


def host_id():
    """A sandbox id the Host form can carry ([a-z0-9]+)."""
    return "gw" + secrets.token_hex(5)


def token(d, sid, kind="envd"):
    with open(os.path.join(d.state_dir, "e2b-secret")) as f:
        secret = f.read().strip()
    created = d.api("GET", "/v1/sandboxes/" + sid).json["created_at_ms"]
    msg = "%s\n%s\n%d" % (kind, sid, created)
    return hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()


def envd(d, method, path, sid=None, tok=None, body=None, raw=None, headers=None, port=ENVD,
         timeout=60):
    hdrs = {}
    if sid is not None:
        hdrs["E2b-Sandbox-Id"] = sid
        hdrs["E2b-Sandbox-Port"] = str(port)
    if tok is not None:
        hdrs["X-Access-Token"] = tok
    hdrs.update(headers or {})
    return http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout), method,
                     path, body=body, raw=raw, headers=hdrs)


def envelope(obj, flag=0):
    data = json.dumps(obj).encode()
    return bytes([flag]) + struct.pack(">I", len(data)) + data


def decode_envelopes(buf):
    """(list of (flag, json), rest) of a byte buffer."""
    out = []
    while len(buf) >= 5:
        n = struct.unpack(">I", buf[1:5])[0]
        if len(buf) < 5 + n:
            break
        out.append((buf[0], json.loads(buf[5:5 + n].decode())))
        buf = buf[5 + n:]
    return out, buf


def start(d, sid, tok, cmd, timeout=30, conn=None):
    """POST /process.Process/Start (on conn, default a new plain connection); yields (seconds
    since the request, flag, message) as the envelopes arrive."""
    conn = conn or http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    body = envelope({"process": {"cmd": "/bin/sh", "args": ["-c", cmd]}, "stdin": False})
    t0 = time.monotonic()
    conn.request("POST", "/process.Process/Start", body=body, headers={
        "E2b-Sandbox-Id": sid, "E2b-Sandbox-Port": str(ENVD), "X-Access-Token": tok,
        "Content-Type": "application/connect+json", "Connect-Protocol-Version": "1",
        "Keepalive-Ping-Interval": "50"})
    resp = conn.getresponse()
    assert resp.status == 200, (resp.status, resp.read())
    assert resp.getheader("content-type").startswith("application/connect+json")
    buf = b""
    try:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                return
            buf += chunk
            msgs, buf = decode_envelopes(buf)
            for flag, msg in msgs:
                yield time.monotonic() - t0, flag, msg
    finally:
        conn.close()


def run(d, sid, tok, cmd):
    """Runs cmd; returns (stdout bytes, end frame)."""
    out = b""
    end = None
    for _, flag, msg in start(d, sid, tok, cmd):
        if flag == 2:
            end = msg
        else:
            data = msg.get("event", {}).get("data", {})
            if "stdout" in data:
                out += base64.b64decode(data["stdout"])
    return out, end


@pytest.fixture(scope="module")
def box(gw):
    sid = host_id()
    gw.create("python", sandbox_id=sid)
    yield sid, token(gw, sid)
    gw.remove(sid)


# ---- envd ----

def test_health_is_open_and_other_calls_need_the_token(gw, box):
    sid, tok = box
    r = envd(gw, "GET", "/health", sid)
    assert r.status == 204, r
    for bad in (None, "0" * 64, tok[:-1]):
        r = envd(gw, "POST", "/process.Process/List", sid, bad, body={})
        assert r.status == 401, r
        assert r.json["code"] == 401 and "X-Access-Token" in r.json["message"], r
    r = envd(gw, "POST", "/process.Process/List", sid, tok, body={})
    assert r.status == 200, r
    assert "processes" in r.json or r.json == {}, r
    # The unix socket (the administrator) needs no token.
    conn_r = gw.api("POST", "/process.Process/List", body={},
                    headers={"E2b-Sandbox-Id": sid})
    assert conn_r.status == 200, conn_r


def test_start_streams_output_while_the_process_runs(gw, box):
    sid, tok = box
    seen = []
    end = None
    for t, flag, msg in start(gw, sid, tok, "echo one; sleep 1; echo two; sleep 1; echo three"):
        if flag == 2:
            end = msg
            continue
        data = msg.get("event", {}).get("data", {})
        if "stdout" in data:
            seen.append((t, base64.b64decode(data["stdout"])))
        if "end" in msg.get("event", {}):
            assert msg["event"]["end"].get("exitCode", 0) == 0, msg
    assert end == {}, end
    assert b"".join(s for _, s in seen) == b"one\ntwo\nthree\n"
    assert len(seen) == 3, seen
    # The first line arrived while the process still had two seconds to run.
    assert seen[0][0] < 1.5 and seen[-1][0] > 1.8, seen


def test_keep_alive_across_gateway_requests(gw, box):
    sid, tok = box
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    try:
        hdrs = {"E2b-Sandbox-Id": sid, "X-Access-Token": tok}
        for _ in range(3):
            conn.request("GET", "/health", headers=hdrs)
            r = conn.getresponse()
            r.read()
            assert r.status == 204
        conn.request("POST", "/process.Process/List", body=b"{}",
                      headers=dict(hdrs, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        assert r.status == 200, r.read()
        r.read()
        # sandboxd's own API on the same connection after gateway requests.
        conn.request("GET", "/health")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
    finally:
        conn.close()


def multipart(path, data, boundary="----formdata-undici-0123456789"):
    head = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
            'Content-Type: application/octet-stream\r\n\r\n' % (boundary, path)).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    return head + data + tail, "multipart/form-data; boundary=" + boundary


def chunks(data, size=100_000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_files_upload_chunked_multipart_and_download(gw, box):
    sid, tok = box
    data = os.urandom(3 << 20) + b"end"
    body, ctype = multipart("/tmp/gw.bin", data)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
    conn.request("POST", "/files?path=/tmp/gw.bin", body=chunks(body), encode_chunked=True,
                 headers={"E2b-Sandbox-Id": sid, "X-Access-Token": tok, "Content-Type": ctype})
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    assert r.status == 200, payload
    entries = json.loads(payload)
    assert entries and entries[0]["path"] == "/tmp/gw.bin", entries
    r = envd(gw, "GET", "/files?path=/tmp/gw.bin", sid, tok)
    assert r.status == 200, r
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(data).hexdigest()
    # Without the token: 401; a missing file: the agent's 404 comes through.
    assert envd(gw, "GET", "/files?path=/tmp/gw.bin", sid).status == 401
    r = envd(gw, "GET", "/files?path=/tmp/none.bin", sid, tok)
    assert r.status == 404, r


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_large_upload_and_download_are_never_held_whole(gw, box):
    sid, tok = box
    size = 96 << 20
    block = os.urandom(1 << 20)
    want = hashlib.sha256(block * 96).hexdigest()
    before = peak_rss_kib(gw.proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=120)
    conn.request("POST", "/files?path=/tmp/big.bin", body=(block for _ in range(96)),
                 encode_chunked=True, headers={"E2b-Sandbox-Id": sid, "X-Access-Token": tok,
                                               "Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    assert r.status == 200, r.read()
    r.read()
    conn.request("GET", "/files?path=/tmp/big.bin",
                 headers={"E2b-Sandbox-Id": sid, "X-Access-Token": tok})
    r = conn.getresponse()
    assert r.status == 200
    h, n = hashlib.sha256(), 0
    while True:
        piece = r.read(1 << 20)
        if not piece:
            break
        h.update(piece)
        n += len(piece)
    conn.close()
    assert n == size and h.hexdigest() == want
    # 96 MiB each way; the daemon's peak grew by far less than one copy of it.
    grown_mib = (peak_rss_kib(gw.proc.pid) - before) / 1024
    assert grown_mib < 16, grown_mib
    run(gw, sid, tok, "rm -f /tmp/big.bin")


def signed(path, op, tok, user="", exp=None):
    raw = "%s:%s:%s:%s" % (path, op, user, tok)
    if exp is not None:
        raw += ":%d" % exp
    sig = "v1_" + base64.b64encode(hashlib.sha256(raw.encode()).digest()).decode().rstrip("=")
    q = "path=%s&signature=%s" % (quote(path, safe=""), quote(sig, safe=""))  # as URL does
    if user:
        q += "&username=" + user
    if exp is not None:
        q += "&signature_expiration=%d" % exp
    return "/files?" + q


def test_signed_file_urls(gw, box):
    sid, tok = box
    assert envd(gw, "POST", "/files?path=/tmp/signed.txt", sid, tok, raw=b"signed!",
                headers={"Content-Type": "application/octet-stream"}).status == 200
    # Single-URL mode (E2B_SANDBOX_URL): no sandbox header, the signature finds the sandbox.
    r = envd(gw, "GET", signed("/tmp/signed.txt", "read", tok))
    assert r.status == 200 and r.body == b"signed!", r
    r = envd(gw, "GET", signed("/tmp/signed.txt", "read", tok, exp=int(time.time()) + 60), sid)
    assert r.status == 200 and r.body == b"signed!", r
    r = envd(gw, "POST", signed("/tmp/signed2.txt", "write", tok), raw=b"up",
             headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, r
    # Expired, another operation, another path, a wrong token: 401.
    for url, method in [(signed("/tmp/signed.txt", "read", tok, exp=int(time.time()) - 5), "GET"),
                        (signed("/tmp/signed.txt", "write", tok), "GET"),
                        (signed("/tmp/other.txt", "read", tok).replace("other", "signed"), "GET"),
                        (signed("/tmp/signed.txt", "read", "x" * 64), "GET")]:
        r = envd(gw, method, url)
        assert r.status == 401 and r.json["code"] == 401, (url, r)
        r = envd(gw, method, url, sid)
        assert r.status == 401, (url, r)


# ---- routing and bad input ----

def test_unknown_sandbox_is_502_by_header_and_by_host(gw, box):
    sid, tok = box
    for name in ("nosuchbox", "../../etc", "x" * 300, "Ünïcode"):
        r = envd(gw, "GET", "/health", name.encode("utf-8").decode("latin-1"))
        assert r.status == 502, r
        assert r.json["code"] == 502 and r.json["message"] == NOT_FOUND_MSG, r
    r = envd(gw, "GET", "/health", "nosuchbox")
    assert r.json == {"sandboxId": "nosuchbox", "message": NOT_FOUND_MSG, "code": 502}
    r = envd(gw, "GET", "/health", headers={"Host": "49983-nosuchbox.sandbox.test"})
    assert r.status == 502 and r.json["sandboxId"] == "nosuchbox", r
    # The Host form reaches the real sandbox, with the listener's port or without.
    for host in ("49983-%s.sandbox.test" % sid, "49983-%s.sandbox.test:%d" % (sid, gw.port)):
        r = envd(gw, "POST", "/process.Process/List", tok=tok, body={}, headers={"Host": host})
        assert r.status == 200, (host, r)
    # Malformed routing headers: a clear 400, and the daemon serves on.
    for port in ("abc", "0", "65536", "-1", "4 9983", "9" * 40):
        r = envd(gw, "GET", "/health", sid, port=port)
        assert r.status == 400 and "E2b-Sandbox-Port" in r.json["message"], (port, r)
    r = envd(gw, "GET", "/health", headers={"Host": "99999-%s.sandbox.test" % sid})
    assert r.status == 400, r
    # Hosts that are not the form are sandboxd's own API.
    for host in ("localhost", "127.0.0.1:1", "49983-.x", "-abc.x", "[::1]:5", "a" * 300,
                 "49983-ABC_def.x", "49983-abc"):
        r = envd(gw, "GET", "/health", headers={"Host": host})
        assert r.status == 200 and r.json["status"] == "ok", (host, r)
    assert envd(gw, "GET", "/health", sid).status == 204


def test_a_stopped_sandbox_is_502(gw):
    sid = host_id()
    gw.create("python", sandbox_id=sid)
    tok = token(gw, sid)
    assert envd(gw, "GET", "/health", sid).status == 204
    assert gw.api("POST", "/v1/sandboxes/%s/stop" % sid).status == 200
    r = envd(gw, "POST", "/process.Process/List", sid, tok, body={})
    assert r.status == 502 and r.json["message"] == NOT_FOUND_MSG, r
    gw.remove(sid)
    assert envd(gw, "GET", "/health", sid).status == 502


def test_api_keys_of_the_tenant_and_of_others(gw):
    from test_auth import new_key
    a = new_key(gw, "gwtenanta")
    b = new_key(gw, "gwtenantb")
    sid = host_id()
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=120)
    r = http_call(conn, "POST", "/v1/sandboxes", body={"template": "python", "sandbox_id": sid},
                  headers={"X-API-Key": a["key"]})
    assert r.status == 201, r
    try:
        # The owner's key stands for the token; another tenant's sees no sandbox.
        r = envd(gw, "POST", "/process.Process/List", sid, body={},
                 headers={"X-API-Key": a["key"]})
        assert r.status == 200, r
        r = envd(gw, "POST", "/process.Process/List", sid, token(gw, sid), body={},
                 headers={"X-API-Key": b["key"]})
        assert r.status == 502 and r.json["message"] == NOT_FOUND_MSG, r
        r = envd(gw, "POST", "/process.Process/List", sid, body={},
                 headers={"X-API-Key": "sbx_" + "0" * 40})
        assert r.status == 401, r
    finally:
        gw.remove(sid)


def test_malformed_and_oversized_envelopes(gw, box):
    sid, tok = box
    hdrs = {"Content-Type": "application/connect+json", "Connect-Protocol-Version": "1"}
    good = envelope({"process": {"cmd": "/bin/true"}})
    cases = [
        b"\x00\x00\x00",                                  # a cut header
        b"\x00\x7f\xff\xff\xff" + b"{}",                  # announces 2 GiB
        b"\x01" + good[1:],                               # compressed: refused
        good[:-3],                                        # shorter than announced
        b"\x00\x00\x00\x00\x05not j",                     # not JSON
    ]
    for body in cases:
        r = envd(gw, "POST", "/process.Process/Start", sid, tok, raw=body, headers=hdrs)
        assert r.status in (200, 400), (body[:20], r)
        if r.status == 200:
            msgs, rest = decode_envelopes(r.body)
            assert msgs and msgs[-1][0] == 2 and "error" in msgs[-1][1], (body[:20], r)
    # 17 MiB in one envelope (the agent takes 16): an error, streamed in and never held whole.
    big = b"\x00" + struct.pack(">I", 17 << 20)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
    try:
        conn.request("POST", "/process.Process/Start",
                     body=[big] + [b"x" * (1 << 20)] * 17, encode_chunked=True,
                     headers=dict(hdrs, **{"E2b-Sandbox-Id": sid, "X-Access-Token": tok}))
        r = conn.getresponse()
        payload = r.read()
        assert r.status in (200, 400, 413), (r.status, payload[:300])
        if r.status == 200:
            msgs, _ = decode_envelopes(payload)
            assert msgs[-1][0] == 2 and "error" in msgs[-1][1], payload[:300]
    except (ConnectionError, http.client.HTTPException):
        pass  # the agent may close while the body still comes; the daemon must live on
    finally:
        conn.close()
    out, end = run(gw, sid, tok, "echo still here")
    assert out == b"still here\n" and end == {}, (out, end)


def test_a_client_that_vanishes_mid_stream_leaves_the_process_running(gw, box):
    sid, tok = box
    marker = "/tmp/vanish-%s" % secrets.token_hex(3)
    def cut_starts():
        return sum(1 for l in gw.log_text().splitlines() if "gateway.request" in l and
                   "path=/process.Process/Start" in l and "status=499" in l)

    before = cut_starts()
    gen = start(gw, sid, tok, "echo go; sleep 2; touch %s" % marker)
    t, flag, msg = next(gen)  # the start event
    gen.close()  # the client goes away while the process is quiet
    # The relay notices at once (not at the agent's next keepalive, 50 s on): its log line.
    deadline = time.monotonic() + 1.5
    while cut_starts() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cut_starts() == before + 1, "the relay of a vanished client did not end"
    time.sleep(2.5)
    out, _ = run(gw, sid, tok, "test -e %s && echo kept" % marker)
    assert out == b"kept\n"


def test_a_sandbox_stopped_mid_stream_cuts_the_stream(gw):
    sid = host_id()
    gw.create("python", sandbox_id=sid)
    tok = token(gw, sid)
    gen = start(gw, sid, tok, "echo started; sleep 60", timeout=30)
    t0 = time.monotonic()
    frames = []
    try:
        for _, flag, msg in gen:
            frames.append((flag, msg))
            data = msg.get("event", {}).get("data", {})
            if base64.b64decode(data.get("stdout", "")) == b"started\n":
                assert gw.api("POST", "/v1/sandboxes/%s/stop" % sid).status == 200
    except (http.client.HTTPException, ConnectionError):
        pass  # a cut chunked body
    # Cut (no end-of-stream frame: the client never sees a finished stream) and soon.
    assert time.monotonic() - t0 < 20
    assert all(flag != 2 for flag, _ in frames), frames
    assert envd(gw, "GET", "/health", sid).status == 502
    assert envd(gw, "GET", "/health").status == 200
    gw.remove(sid)


def test_an_http10_client_gets_the_stream_without_chunks(gw, box):
    sid, tok = box
    body = envelope({"process": {"cmd": "/bin/echo", "args": ["ten"]}})
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        s.sendall(b"POST /process.Process/Start HTTP/1.0\r\nE2b-Sandbox-Id: " + sid.encode() +
                  b"\r\nX-Access-Token: " + tok.encode() +
                  b"\r\nContent-Type: application/connect+json\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\n\r\n" + body)
        raw = b""
        while True:
            part = s.recv(65536)
            if not part:
                break  # the body ends with the close
            raw += part
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 200", head) and b"chunked" not in head.lower(), head
    msgs, rest = decode_envelopes(payload)
    assert rest == b"" and msgs[-1] == (2, {}), msgs
    out = b"".join(base64.b64decode(m["event"]["data"]["stdout"]) for f, m in msgs
                   if f == 0 and "data" in m.get("event", {}))
    assert out == b"ten\n"


def test_huge_headers_and_garbage_on_a_gateway_request(gw, box):
    sid, tok = box
    r = envd(gw, "GET", "/health", sid, headers={"X-Big": "a" * (70 << 10)})
    assert r.status == 431, r
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(b"POST /process.Process/List HTTP/1.1\r\nE2b-Sandbox-Id: " + sid.encode() +
                  b"\r\nX-Access-Token: " + tok.encode() +
                  b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400"), answer
    assert envd(gw, "GET", "/health", sid).status == 204


def test_metrics_and_log_lines(gw, box):
    sid, tok = box
    r = envd(gw, "GET", "/health", sid)
    assert r.status == 204
    m = gw.api("GET", "/metrics")
    text = m.body.decode()
    assert re.search(r'sandboxd_gateway_requests_total\{kind="envd",status="204"\} \d+', text)
    lines = [l for l in gw.log_text().splitlines() if "gateway.request" in l]
    assert any(("sandbox_id=%s" % sid) in l and "request_id=req_" in l for l in lines), lines[-3:]


# ---- ports ----

def test_http_server_inside_the_sandbox(gw, box):
    sid, tok = box
    gen = start(gw, sid, tok, "mkdir -p /tmp/www && echo hello-port > /tmp/www/index.txt && "
                "cd /tmp/www && exec python3 -m http.server 8123 --bind 127.0.0.1", timeout=60)
    next(gen)
    try:
        r = None
        for _ in range(50):
            r = envd(gw, "GET", "/index.txt", sid, port=8123)
            if r.status == 200:
                break
            time.sleep(0.1)
        assert r.status == 200 and r.body == b"hello-port\n", r
        r = envd(gw, "GET", "/index.txt", headers={"Host": "8123-%s.sandbox.test" % sid})
        assert r.status == 200 and r.body == b"hello-port\n", r
        r = envd(gw, "GET", "/", sid, port=8124)
        assert r.status == 502 and "port 8124" in r.json["message"], r
        assert "nothing listens" in r.json["message"], r
        text = gw.api("GET", "/metrics").body.decode()
        assert re.search(r'sandboxd_gateway_requests_total\{kind="port",status="200"\} \d+', text)
    finally:
        gen.close()
        run(gw, sid, tok, "pkill -f 'http.server 8123' || true")


HEADER_ECHO = r'''
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 8126), H).serve_forever()
'''


@contextlib.contextmanager
def serving(d, sid, tok, script, name):
    """Runs a python script inside the sandbox (uploaded and started through the gateway) for
    the block's duration."""
    path = "/tmp/%s.py" % name
    assert envd(d, "POST", "/files?path=" + path, sid, tok, raw=script.encode(),
                headers={"Content-Type": "application/octet-stream"}).status == 200
    gen = start(d, sid, tok, "exec python3 " + path, timeout=60)
    next(gen)
    try:
        yield
    finally:
        gen.close()
        run(d, sid, tok, "pkill -f %s || true" % path)


def test_port_traffic_keeps_host_and_loses_credentials(gw, box):
    sid, tok = box
    with serving(gw, sid, tok, HEADER_ECHO, "echo"):
        host = "8126-%s.sandbox.test:%d" % (sid, gw.port)
        for _ in range(50):
            r = envd(gw, "GET", "/", headers={"Host": host, "X-Access-Token": tok,
                                              "E2B-Traffic-Access-Token": "t" * 64,
                                              "X-Other": "kept"})
            if r.status == 200:
                break
            time.sleep(0.1)
        assert r.status == 200, r
        seen = {k.lower(): v for k, v in r.json.items()}
        assert seen["host"] == host and seen["x-other"] == "kept", seen
        assert "x-access-token" not in seen and "e2b-traffic-access-token" not in seen, seen


WS_SERVER = r'''
import base64, hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8765)); s.listen(4); print("ready", flush=True)
while True:
    c, _ = s.accept(); data = b""
    while b"\r\n\r\n" not in data: data += c.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in data.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    while True:
        h = c.recv(2)
        if len(h) < 2: break
        n = h[1] & 0x7f; mask = c.recv(4); p = b""
        while len(p) < n: p += c.recv(n - len(p))
        p = bytes(b ^ mask[i % 4] for i, b in enumerate(p))
        c.sendall(bytes([0x81, len(p)]) + p)
    c.close()
'''


def ws_frame(msg):
    """A masked text frame (clients mask), for payloads under 126 bytes."""
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(msg)]) + mask + bytes(x ^ mask[i % 4] for i, x in enumerate(msg))


def ws_connect(connect, sid, seconds=10):
    """A WebSocket handshake to port 8765 of sid by the Host form, on a new socket from
    connect(), retried until the server inside answers 101 (it may still be starting)."""
    deadline = time.monotonic() + seconds
    while True:
        s = connect()
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /echo HTTP/1.1\r\nHost: 8765-%s.sandbox.test\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (sid, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            part = s.recv(4096)
            if not part:
                break
            head += part
        if head.startswith(b"HTTP/1.1 101"):
            return s
        s.close()
        assert time.monotonic() < deadline, head
        time.sleep(0.2)


def test_websocket_echo_inside_the_sandbox(gw, box):
    sid, tok = box
    with serving(gw, sid, tok, WS_SERVER, "ws"):
        s = ws_connect(lambda: socket.create_connection(("127.0.0.1", gw.port), timeout=10), sid)
        for msg in (b"hi", b"through sandboxd"):
            s.sendall(ws_frame(msg))
            frame = b""
            while len(frame) < 2 + len(msg):
                frame += s.recv(4096)
            assert frame == bytes([0x81, len(msg)]) + msg
        s.close()
    text = gw.api("GET", "/metrics").body.decode()
    assert re.search(r'sandboxd_gateway_requests_total\{kind="websocket",status="101"\} \d+', text)




# ---- limits and shutdown ----

def test_in_flight_limits_and_shutdown_with_open_streams():
    d = Daemon(["--listen", "127.0.0.1:0", "--max-requests-per-key", "3",
                "--gateway-max-requests-per-sandbox", "2"]).start()
    try:
        a, b = host_id(), host_id()
        d.create("python", sandbox_id=a)
        d.create("python", sandbox_id=b)
        ta, tb = token(d, a), token(d, b)
        streams = [start(d, a, ta, "echo up; sleep 100"), start(d, a, ta, "echo up; sleep 100")]
        for s in streams:
            next(s)
        r = envd(d, "GET", "/health", a)
        assert r.status == 429 and "sandbox " + a in r.json["message"], r
        assert r.headers.get("retry-after") == "1"
        streams.append(start(d, b, tb, "echo up; sleep 100"))
        next(streams[-1])
        r = envd(d, "GET", "/health", b)
        assert r.status == 429 and "127.0.0.1" in r.body.decode(), r
        # The address's keyless slots are full for the daemon's own /health too; the
        # administrator's socket is never capped.
        assert envd(d, "GET", "/health").status == 429
        assert d.api("GET", "/health").status == 200
        # SIGTERM with three streams open: the relays end with the server, not with sleep 100.
        t0 = time.monotonic()
        rc = d.terminate(timeout=20)
        assert rc == 0 and time.monotonic() - t0 < 15, (rc, time.monotonic() - t0)
        for s in streams:
            s.close()
    finally:
        if d.proc.poll() is None:
            _stop_and_check(d)
        else:
            d.close()


# ---- TLS ----

from test_tls import pki, tls_args, ca_context  # noqa: E402,F401  (the pki fixture)


def test_streams_and_websockets_over_tls(pki):
    import ssl
    d = Daemon(tls_args(pki["cert"], pki["key"])).start()
    try:
        sid = host_id()
        d.create("python", sandbox_id=sid)
        tok = token(d, sid)
        ctx = ca_context(pki)

        def tls_conn():
            return http.client.HTTPSConnection("127.0.0.1", d.port, timeout=30, context=ctx)

        outs = []
        for t, flag, msg in start(d, sid, tok, "echo a; sleep 1; echo b", conn=tls_conn()):
            data = msg.get("event", {}).get("data", {})
            if "stdout" in data:
                outs.append((t, base64.b64decode(data["stdout"])))
        assert [o for _, o in outs] == [b"a\n", b"b\n"] and outs[0][0] < 0.9, outs
        # A WebSocket echo over TLS: two frames in two TLS records sent back to back (the
        # second waits decrypted in OpenSSL's buffer, where poll(2) cannot see it).
        conn = tls_conn()
        conn.request("POST", "/files?path=/tmp/ws.py", body=WS_SERVER.encode(), headers={
            "E2b-Sandbox-Id": sid, "X-Access-Token": tok,
            "Content-Type": "application/octet-stream"})
        assert conn.getresponse().status == 200
        conn.close()
        # Start the server through the gateway over TLS, then talk WebSocket over TLS.
        bg = tls_conn()
        bg.request("POST", "/process.Process/Start",
                   body=envelope({"process": {"cmd": "python3", "args": ["/tmp/ws.py"]}}),
                   headers={"E2b-Sandbox-Id": sid, "X-Access-Token": tok,
                            "Content-Type": "application/connect+json"})
        bg_resp = bg.getresponse()
        assert bg_resp.status == 200
        s = ws_connect(lambda: ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", d.port), timeout=10),
            server_hostname="127.0.0.1"), sid)
        msgs = [b"first", b"second"]
        for msg in msgs:
            s.sendall(ws_frame(msg))
        want = b"".join(bytes([0x81, len(m)]) + m for m in msgs)
        got = b""
        while len(got) < len(want):
            part = s.recv(4096)
            assert part, got
            got += part
        assert got == want
        s.close()
        bg.close()
    finally:
        _stop_and_check(d)
