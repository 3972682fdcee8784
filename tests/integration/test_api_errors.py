"""Hostile and mistaken requests against one real sandboxd on TCP with API keys: a gzip bomb,
oversized uploads, paths outside the sandbox, malformed JSON, fields of the wrong type, a wrong
key, an expired key and another tenant's sandbox id. Each gets its status, its error code and a
message that names what was wrong; after each, the daemon still answers /health and runs code.
"""
import gzip
import http.client
import os
import secrets
import socket
import string
import urllib.parse

import pytest

from conftest import Daemon, _stop_and_check, http_call, unique_id

LIMIT = 1 << 20  # --max-file-size; the request body limit is LIMIT + 1 MiB (src/daemon/main.cc)


class Ctx:
    pass


@pytest.fixture(scope="module")
def env():
    d = Daemon(["--listen", "127.0.0.1:0", "--max-file-size", str(LIMIT)]).start()
    c = Ctx()
    c.d = d
    c.key_a = d.sbx_ok("keys", "create", "--tenant", "errors-a", "--name", "a")
    c.key_b = d.sbx_ok("keys", "create", "--tenant", "errors-b", "--name", "b")["key"]
    c.sid = unique_id("ea")
    r = tcp(c, "POST", "/v1/sandboxes", key=c.key_a["key"],
            body={"template": "python", "sandbox_id": c.sid})
    assert r.status == 201, r
    d.note_cgroups(c.sid)
    yield c
    assert d.remove(c.sid).status == 200
    _stop_and_check(d)


def tcp(c, method, path, key=None, body=None, raw=None, headers=None):
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["X-API-Key"] = key
    return http_call(http.client.HTTPConnection("127.0.0.1", c.d.port, timeout=60), method,
                     path, body=body, raw=raw, headers=hdrs)


def files_path(sid, path):
    return "/v1/sandboxes/%s/files?path=%s" % (sid, urllib.parse.quote(path))


def assert_error(r, status, code, *fragments):
    assert r.status == status, r
    assert r.json and r.json.get("success") is False, r
    assert r.json["error"]["code"] == code, r
    for f in fragments:
        assert f in r.json["error"]["message"], (f, r.json)


@pytest.fixture
def serving(env):
    """After the test: the daemon is alive, answers /health and runs code in a sandbox."""
    yield env
    assert env.d.proc.poll() is None, "sandboxd exited: %r" % env.d.proc.returncode
    r = tcp(env, "GET", "/health")
    assert r.status == 200 and r.json["status"] == "ok", r
    token = secrets.token_hex(4)
    r = tcp(env, "POST", "/v1/sandboxes/%s/exec" % env.sid, key=env.key_a["key"],
            body={"language": "python", "code": "print('alive-%s')" % token})
    assert r.status == 200 and r.json["stdout"] == "alive-%s\n" % token, r


# ---- 1. a gzip bomb ----

def test_gzip_bomb(serving):
    c = serving
    bomb = gzip.compress(b"\0" * (64 << 20), 9)  # 64 MiB in about 64 KiB
    assert len(bomb) < LIMIT
    r = tcp(c, "PUT", files_path(c.sid, "/home/user/bomb"), key=c.key_a["key"], raw=bomb,
            headers={"Content-Encoding": "gzip"})
    assert_error(r, 413, "resource_exhausted", "decompressed body exceeds the limit of %d bytes"
                 % LIMIT, "E2B_MAX_FILE_SIZE")
    r = tcp(c, "GET", files_path(c.sid, "/home/user/bomb"), key=c.key_a["key"])
    assert_error(r, 404, "not_found", "/home/user/bomb")


# ---- 2. oversized uploads ----

def test_upload_over_the_file_size_limit(serving):
    c = serving
    r = tcp(c, "PUT", files_path(c.sid, "/home/user/big"), key=c.key_a["key"],
            raw=os.urandom(LIMIT + 1))
    assert_error(r, 413, "resource_exhausted",
                 "file of %d bytes exceeds the limit of %d bytes" % (LIMIT + 1, LIMIT))
    r = tcp(c, "GET", files_path(c.sid, "/home/user/big"), key=c.key_a["key"])
    assert r.status == 404, r


def test_upload_over_the_request_body_limit(serving):
    """A body over the HTTP limit is refused from its Content-Length alone, before it is sent
    (as a client waiting for 100-continue, e.g. curl, would see it)."""
    c = serving
    body_limit = LIMIT + (1 << 20)
    s = socket.create_connection(("127.0.0.1", c.d.port), timeout=30)
    try:
        s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Length: %d\r\n\r\n"
                   % (files_path(c.sid, "/home/user/huge"), c.key_a["key"], 8 * body_limit))
                  .encode() + b"x" * 4096)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), data[:500]
    assert b'"resource_exhausted"' in body, data[:500]
    assert b"request body exceeds %d bytes" % body_limit in body, data[:500]


def test_upload_over_the_request_body_limit_sent_whole(serving):
    """A client that sends the whole oversized body before reading (Python's http.client, the
    E2B SDKs) still gets the 413: the daemon reads and drops the rest before closing, instead of
    resetting the connection under the client's feet."""
    c = serving
    body_limit = LIMIT + (1 << 20)
    conn = http.client.HTTPConnection("127.0.0.1", c.d.port, timeout=60)
    try:
        conn.request("PUT", files_path(c.sid, "/home/user/huge"), body=b"x" * (3 * body_limit),
                     headers={"X-API-Key": c.key_a["key"]})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 413, (resp.status, body[:300])
    assert b"request body exceeds %d bytes" % body_limit in body, body[:300]
    r = tcp(c, "GET", "/health", key=c.key_a["key"])
    assert r.status == 200, r


# ---- 3. paths outside the sandbox ----

def test_paths_outside_the_sandbox_resolve_inside(serving):
    c = serving
    key = c.key_a["key"]
    secret = "host-only-" + secrets.token_hex(6)
    planted = os.path.join(c.d.tmp, "planted-" + secrets.token_hex(3))
    with open(planted, "w") as f:
        f.write(secret)
    try:
        r = tcp(c, "POST", "/v1/sandboxes/%s/exec" % c.sid, key=key, body={
            "language": "bash", "code": "ln -sfn / /home/user/hostroot && "
                                        "ln -sfn %s /home/user/planted" % planted})
        assert r.status == 200 and r.json["exit_code"] == 0, r
        for p in ["../../../../.." + planted, planted, "/home/user/hostroot" + planted,
                  "/home/user/planted", "/proc/1/root" + planted]:
            r = tcp(c, "GET", files_path(c.sid, p), key=key)
            assert secret.encode() not in r.body, (p, r)
            shown = p if p.startswith("/") else "/home/user/" + p  # relative to the home
            assert_error(r, 404, "not_found", "file '%s' not found" % shown)
        # ../ from the home directory is the sandbox's own /etc/passwd, never the host's.
        with open("/etc/passwd", "rb") as f:
            host_passwd = f.read()
        r = tcp(c, "GET", files_path(c.sid, "../../etc/passwd"), key=key)
        assert r.status in (200, 404), r
        assert r.body != host_passwd
        # Writes through ../ and through a symlink to / land inside the sandbox.
        for p in ["../../../../.." + planted, "/home/user/hostroot" + planted]:
            r = tcp(c, "PUT", files_path(c.sid, p), key=key, raw=b"overwritten")
            assert r.status in (200, 404), (p, r)
            if r.status == 404:  # the planted file's directory does not exist inside
                assert_error(r, 404, "not_found", p)
        with open(planted) as f:
            assert f.read() == secret, "the host file was written through the sandbox"
        name = "escaped-" + secrets.token_hex(4)
        r = tcp(c, "PUT", files_path(c.sid, "/home/user/hostroot/tmp/" + name), key=key,
                raw=b"inside")
        assert r.status == 200, r
        assert not os.path.exists("/tmp/" + name)
        r = tcp(c, "GET", files_path(c.sid, "/tmp/" + name), key=key)
        assert r.status == 200 and r.body == b"inside", r
    finally:
        os.unlink(planted)


# ---- 4. malformed JSON ----

@pytest.mark.parametrize("route", ["create", "exec"])
def test_malformed_json(serving, route):
    c = serving
    path = "/v1/sandboxes" if route == "create" else "/v1/sandboxes/%s/exec" % c.sid
    for raw in [b'{"template": "python",', b"{template: python}", b"\xff\xfe"]:
        r = tcp(c, "POST", path, key=c.key_a["key"], raw=raw,
                headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_argument", "request body: malformed JSON")
    r = tcp(c, "POST", path, key=c.key_a["key"], body=["template", "python"])
    assert_error(r, 400, "invalid_argument", "expected a JSON object, got array")


# ---- 5. a field of the wrong type ----

@pytest.mark.parametrize("route,body,fragment", [
    ("create", {"timeout": "ten"}, "request.timeout: expected a number, got string"),
    ("create", {"env": [1]}, "request.env: expected an object of strings, got array"),
    ("create", {"env": {"A": [1]}}, "request.env.A: expected a string, got array"),
    ("create", {"template": 3}, "request.template: expected a string, got number"),
    ("create", {"sandbox_id": {"a": 1}}, "request.sandbox_id: expected a string, got object"),
    ("create", {"colour": "red"}, "request: unknown field 'colour'"),
    ("exec", {"code": 5}, "request.code: expected a string, got number"),
    ("exec", {"code": "print(1)", "timeout": "ten"},
     "request.timeout: expected a number, got string"),
    ("exec", {"code": "print(1)", "user": False}, "request.user: expected a string, got boolean"),
])
def test_field_of_the_wrong_type(serving, route, body, fragment):
    c = serving
    path = "/v1/sandboxes" if route == "create" else "/v1/sandboxes/%s/exec" % c.sid
    r = tcp(c, "POST", path, key=c.key_a["key"], body=body)
    assert_error(r, 400, "invalid_argument", fragment)
    # Nothing was created.
    listed = tcp(c, "GET", "/v1/sandboxes", key=c.key_a["key"]).json["sandboxes"]
    assert [s["sandbox_id"] for s in listed] == [c.sid]


# ---- 6. a wrong key ----

def test_wrong_key(serving):
    c = serving
    base62 = string.ascii_letters + string.digits
    unknown = "sbx_" + "".join(secrets.choice(base62) for _ in range(40))
    r = tcp(c, "GET", "/v1/sandboxes/" + c.sid, key=unknown)
    assert_error(r, 401, "unauthenticated", "API key not recognised", "sbx keys create")
    assert unknown[4:].encode() not in r.body
    r = tcp(c, "GET", "/v1/sandboxes/" + c.sid, key="not-a-key")
    assert_error(r, 401, "unauthenticated", "malformed API key")
    r = tcp(c, "GET", "/v1/sandboxes/" + c.sid)
    assert_error(r, 401, "unauthenticated", "no API key given")


# ---- 7. an expired key ----

def test_expired_key(serving):
    """Rotation without overlap ends the old key's life now: a real expiry, not a revocation
    (keys live 1 to 3650 days; there is no shorter lifetime to wait out)."""
    c = serving
    old = c.d.sbx_ok("keys", "create", "--tenant", "errors-a", "--name", "expiring")
    assert tcp(c, "GET", "/v1/sandboxes/" + c.sid, key=old["key"]).status == 200
    new = c.d.sbx_ok("keys", "rotate", old["id"], "--overlap-hours", "0")
    r = tcp(c, "GET", "/v1/sandboxes/" + c.sid, key=old["key"])
    assert_error(r, 401, "unauthenticated", "API key %s expired at " % old["id"],
                 "sbx keys rotate %s" % old["id"])
    assert old["key"][4:].encode() not in r.body
    listed = {k["id"]: k["status"] for k in c.d.sbx_ok("keys", "list", "--tenant",
                                                      "errors-a")["keys"]}
    assert listed[old["id"]] == "expired" and listed[new["id"]] == "active", listed
    r = tcp(c, "GET", "/v1/sandboxes/" + c.sid, key=new["key"])
    assert r.status == 200 and r.json["state"] == "running", r


# ---- 8. another tenant's sandbox id ----

@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None),
    ("POST", "/exec", {"language": "python", "code": "print(1)"}),
    ("GET", "/files?path=/etc/hostname", None),
    ("PUT", "/files?path=/home/user/x", b"evil"),
    ("POST", "/stop", None),
    ("DELETE", "", None),
])
def test_another_tenants_sandbox(serving, method, suffix, body):
    c = serving
    kw = {"raw": body} if isinstance(body, bytes) else {"body": body}
    theirs = tcp(c, method, "/v1/sandboxes/" + c.sid + suffix, key=c.key_b, **kw)
    assert_error(theirs, 404, "not_found", "sandbox '%s' does not exist" % c.sid)
    missing = unique_id("none")
    absent = tcp(c, method, "/v1/sandboxes/" + missing + suffix, key=c.key_b, **kw)
    assert theirs.body.replace(c.sid.encode(), b"ID") == absent.body.replace(
        missing.encode(), b"ID"), (theirs, absent)
    # Still tenant a's, still running, untouched.
    r = tcp(c, "GET", "/v1/sandboxes/" + c.sid, key=c.key_a["key"])
    assert r.status == 200 and r.json["state"] == "running", r
    r = tcp(c, "GET", files_path(c.sid, "/home/user/x"), key=c.key_a["key"])
    assert r.status == 404, r
