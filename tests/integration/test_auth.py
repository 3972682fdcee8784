"""API keys, tenants and rate limits through a real sandboxd on TCP (docs/auth.md, "HTTP
behaviour"): 401 for missing / wrong / expired / revoked keys, 404 for another tenant's
sandboxes, 429 with Retry-After and X-RateLimit-* headers, key management on the unix socket
only, `sbx --url ... --api-key ...`, and no plaintext key in the daemon's log or database.
"""
import glob
import http.client
import json
import os
import re
import secrets
import string
import tempfile

import pytest

from conftest import (HOST_TEMPLATES, SBX, Daemon, _stop_and_check, http_call, run_sbx,
                      unique_id)

NO_KEY_MSG = ("no API key given: send it in the X-API-Key header or as "
              "'Authorization: Bearer <key>'")
BASE62 = string.ascii_letters + string.digits

# Every plaintext key this module saw, for the log / database checks at the end.
PLAINTEXTS = []


def tcp(d, method, path, key=None, body=None, raw=None, headers=None, bearer=False, timeout=120):
    hdrs = dict(headers or {})
    if key is not None:
        if bearer:
            hdrs["Authorization"] = "Bearer " + key
        else:
            hdrs["X-API-Key"] = key
    return http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout), method,
                     path, body=body, raw=raw, headers=hdrs)


def new_key(d, tenant, name="test", **kw):
    """A key made with the CLI on the unix socket; returns the create answer."""
    args = ["keys", "create", "--tenant", tenant, "--name", name]
    if "ttl_days" in kw:
        args += ["--ttl-days", kw["ttl_days"]]
    out = d.sbx_ok(*args)
    assert re.fullmatch(r"sbx_[0-9A-Za-z]{40}", out["key"]), out
    assert re.fullmatch(r"key_[0-9a-f]{12}", out["id"]), out
    assert out["tenant"] == tenant and out["status"] == "active"
    assert "hash" not in out
    PLAINTEXTS.append(out["key"])
    return out


def assert_401(r, fragment):
    assert r.status == 401, r
    assert r.headers.get("www-authenticate") == 'Bearer realm="sandboxd"', r.headers
    assert r.json["success"] is False, r
    assert r.json["error"]["code"] == "unauthenticated", r
    assert fragment in r.json["error"]["message"], r.json


@pytest.fixture(scope="module")
def tcp_daemon():
    d = Daemon(["--listen", "127.0.0.1:0"]).start()
    assert d.port, "no port= in %r" % d.ready_line
    yield d
    check_no_plaintext(d)
    _stop_and_check(d)


def check_no_plaintext(d):
    log = d.log_text()
    for k in PLAINTEXTS:
        assert k not in log, "a plaintext API key is in the daemon log"
        assert k[4:] not in log
    for path in glob.glob(os.path.join(d.state_dir, "sandboxd.db*")):
        with open(path, "rb") as f:
            data = f.read()
        for k in PLAINTEXTS:
            assert k.encode() not in data, "a plaintext API key is in %s" % path


# ---- who may call ----

def test_health_is_open_and_everything_else_needs_a_key(tcp_daemon):
    d = tcp_daemon
    r = tcp(d, "GET", "/health")
    assert r.status == 200 and r.json["status"] == "ok", r
    for method, path in [("GET", "/v1/sandboxes"), ("POST", "/v1/sandboxes"),
                         ("GET", "/v1/templates"), ("GET", "/v1/executions"),
                         ("GET", "/v1/sandboxes/whatever"), ("GET", "/v1/no/such/route")]:
        assert_401(tcp(d, method, path), NO_KEY_MSG)
    # E2B control-plane paths answer in E2B's shape.
    r = tcp(d, "GET", "/sandboxes")
    assert r.status == 401 and r.json == {"code": 401, "message": NO_KEY_MSG}, r
    # The unix socket is the administrator's: no key needed.
    assert d.api("GET", "/v1/sandboxes").status == 200


def test_wrong_and_malformed_keys(tcp_daemon):
    d = tcp_daemon
    unknown = "sbx_" + "".join(secrets.choice(BASE62) for _ in range(40))
    r = tcp(d, "GET", "/v1/sandboxes", key=unknown)
    assert_401(r, "API key not recognised")
    assert "sbx keys create" in r.json["error"]["message"]
    assert unknown[4:12] not in r.body.decode()
    r = tcp(d, "GET", "/v1/sandboxes", key="hunter2")
    assert_401(r, "malformed API key")
    assert b"hunter2" not in r.body
    r = tcp(d, "GET", "/v1/sandboxes", headers={"Authorization": "Basic dXNlcjo="})
    assert_401(r, "Bearer")
    good = new_key(d, "wrongkeys")
    r = tcp(d, "GET", "/v1/sandboxes", headers={"X-API-Key": good["key"],
                                                 "Authorization": "Bearer " + unknown})
    assert_401(r, "different keys")
    PLAINTEXTS.append(unknown)


def test_good_key_both_headers_and_ratelimit_headers(tcp_daemon):
    d = tcp_daemon
    k = new_key(d, "goodkey")
    for bearer in (False, True):
        r = tcp(d, "GET", "/v1/sandboxes", key=k["key"], bearer=bearer)
        assert r.status == 200, r
        assert r.json["sandboxes"] == [], r
        # host_templates.json: rateLimit enabled, 100 per minute.
        assert r.headers["x-ratelimit-limit"] == "100", r.headers
        assert int(r.headers["x-ratelimit-remaining"]) < 100
        assert re.fullmatch(r"\d+", r.headers["x-ratelimit-reset"])
        assert "retry-after" not in r.headers
    # The administrator is not rate limited: no headers.
    assert "x-ratelimit-limit" not in d.api("GET", "/v1/sandboxes").headers
    listed = d.sbx_ok("keys", "list", "--tenant", "goodkey")
    assert [x["id"] for x in listed["keys"]] == [k["id"]]
    assert all("key" not in x and "hash" not in x for x in listed["keys"])


def test_revoked_key(tcp_daemon):
    d = tcp_daemon
    k = new_key(d, "revoked")
    assert tcp(d, "GET", "/v1/sandboxes", key=k["key"]).status == 200
    out = d.sbx_ok("keys", "revoke", k["id"])
    assert out["status"] == "revoked" and out["revoked_at"], out
    r = tcp(d, "GET", "/v1/sandboxes", key=k["key"])
    assert_401(r, "API key %s was revoked at " % k["id"])
    # Idempotent.
    assert d.sbx_ok("keys", "revoke", k["id"])["revoked_at"] == out["revoked_at"]
    assert d.sbx("keys", "rotate", k["id"])[1]["error_code"] == "failed_precondition"


def test_expired_key_after_rotation_without_overlap(tcp_daemon):
    """A real expiry: rotating with --overlap-hours 0 ends the old key's life now."""
    d = tcp_daemon
    old = new_key(d, "rotation", ttl_days=1)
    assert tcp(d, "GET", "/v1/sandboxes", key=old["key"]).status == 200
    new = d.sbx_ok("keys", "rotate", old["id"], "--overlap-hours", "0")
    PLAINTEXTS.append(new["key"])
    assert new["rotated_from"] == old["id"] and new["key"] != old["key"]
    r = tcp(d, "GET", "/v1/sandboxes", key=old["key"])
    assert_401(r, "API key %s expired at " % old["id"])
    assert "sbx keys rotate %s" % old["id"] in r.json["error"]["message"]
    assert tcp(d, "GET", "/v1/sandboxes", key=new["key"]).status == 200
    # With an overlap the old key keeps working.
    newer = d.sbx_ok("keys", "rotate", new["id"], "--overlap-hours", "1")
    PLAINTEXTS.append(newer["key"])
    assert tcp(d, "GET", "/v1/sandboxes", key=new["key"]).status == 200
    assert tcp(d, "GET", "/v1/sandboxes", key=newer["key"]).status == 200
    statuses = {x["id"]: x["status"] for x in d.sbx_ok("keys", "list", "--tenant", "rotation")["keys"]}
    assert statuses == {old["id"]: "expired", new["id"]: "active", newer["id"]: "active"}


def test_key_management_is_unix_socket_only(tcp_daemon):
    d = tcp_daemon
    k = new_key(d, "keymgmt")
    for method, path, body in [("GET", "/v1/keys", None),
                               ("POST", "/v1/keys", {"tenant": "keymgmt"}),
                               ("DELETE", "/v1/keys/" + k["id"], None),
                               ("POST", "/v1/keys/%s/rotate" % k["id"], {})]:
        r = tcp(d, method, path, key=k["key"], body=body)
        assert r.status == 403 and r.json["error"]["code"] == "permission_denied", r
        assert_401(tcp(d, method, path, body=body), NO_KEY_MSG)
    # The key still works (nothing was revoked or rotated over TCP).
    assert tcp(d, "GET", "/v1/sandboxes", key=k["key"]).status == 200
    r = run_sbx([SBX, "--url", "http://127.0.0.1:%d" % d.port, "--api-key", k["key"],
                 "keys", "list"])
    assert r.returncode == 2 and r.json["error_code"] == "permission_denied", r.stdout
    # Bad input on the socket.
    assert d.api("POST", "/v1/keys", {"tenant": "Not Valid"}).status == 400
    assert d.api("POST", "/v1/keys", {"tenant": "ok", "ttl_days": 0}).status == 400
    assert d.api("POST", "/v1/keys", {}).status == 400
    assert d.api("DELETE", "/v1/keys/key_000000000000").status == 404


# ---- tenants ----

def test_tenants_see_only_their_sandboxes(tcp_daemon):
    d = tcp_daemon
    a = new_key(d, "tenant-a")["key"]
    b = new_key(d, "tenant-b")["key"]
    sid = unique_id("ta")
    r = tcp(d, "POST", "/v1/sandboxes", key=a, body={"template": "python", "sandbox_id": sid})
    assert r.status == 201, r
    d.note_cgroups(sid)
    try:
        r = tcp(d, "POST", "/v1/sandboxes/%s/exec" % sid, key=a,
                body={"language": "python", "code": "print(6*7)"})
        assert r.status == 200 and r.json["stdout"] == "42\n", r
        r = tcp(d, "PUT", "/v1/sandboxes/%s/files?path=/tmp/a.txt" % sid, key=a, raw=b"tenant a")
        assert r.status == 200, r

        missing = unique_id("nosuch")

        def same_as_missing(method, path_fmt, **kw):
            theirs = tcp(d, method, path_fmt % sid, key=b, **kw)
            absent = tcp(d, method, path_fmt % missing, key=b, **kw)
            assert absent.status == 404, absent
            assert theirs.status == 404, (method, path_fmt, theirs)
            assert theirs.body.replace(sid.encode(), b"ID") == absent.body.replace(
                missing.encode(), b"ID"), (theirs, absent)

        same_as_missing("GET", "/v1/sandboxes/%s")
        same_as_missing("POST", "/v1/sandboxes/%s/exec",
                        body={"language": "python", "code": "print(1)"})
        same_as_missing("GET", "/v1/sandboxes/%s/files?path=/tmp/a.txt")
        same_as_missing("PUT", "/v1/sandboxes/%s/files?path=/tmp/b.txt", raw=b"evil")
        same_as_missing("POST", "/v1/sandboxes/%s/stop")
        same_as_missing("DELETE", "/v1/sandboxes/%s")

        # Lists: B sees nothing, A its own, the administrator everything.
        ids = lambda r: [s["sandbox_id"] for s in r.json["sandboxes"]]
        assert sid not in ids(tcp(d, "GET", "/v1/sandboxes", key=b))
        assert ids(tcp(d, "GET", "/v1/sandboxes", key=a)) == [sid]
        assert sid in ids(d.api("GET", "/v1/sandboxes"))
        # Execution history.
        r = tcp(d, "GET", "/v1/executions?sandbox_id=" + sid, key=b)
        assert r.status == 200 and r.json["executions"] == [], r
        r = tcp(d, "GET", "/v1/executions", key=b)
        assert r.status == 200 and r.json["executions"] == [], r
        r = tcp(d, "GET", "/v1/executions?sandbox_id=" + sid, key=a)
        assert [e["stdout"] for e in r.json["executions"]] == ["42\n"], r
        # The administrator's sandboxes are no tenant's.
        admin_sid = d.create("python")
        try:
            r = tcp(d, "GET", "/v1/sandboxes/" + admin_sid, key=a)
            assert r.status == 404, r
            assert admin_sid not in ids(tcp(d, "GET", "/v1/sandboxes", key=a))
        finally:
            d.remove(admin_sid)

        # Still A's and still running after B's attempts.
        r = tcp(d, "GET", "/v1/sandboxes/" + sid, key=a)
        assert r.status == 200 and r.json["state"] == "running", r
        r = tcp(d, "GET", "/v1/sandboxes/%s/files?path=/tmp/a.txt" % sid, key=a)
        assert r.status == 200 and r.body == b"tenant a", r
        r = tcp(d, "GET", "/v1/sandboxes/%s/files?path=/tmp/b.txt" % sid, key=a)
        assert r.status == 404, r
    finally:
        r = tcp(d, "DELETE", "/v1/sandboxes/" + sid, key=a)
        assert r.status == 200, r
    assert d.api("GET", "/v1/sandboxes/" + sid).status == 404


def test_cli_over_tcp_with_api_key(tcp_daemon):
    d = tcp_daemon
    k = new_key(d, "cli")["key"]
    url = "http://127.0.0.1:%d" % d.port
    sid = unique_id("cli")

    def sbx(*args):
        return run_sbx([SBX, "--url", url, "--api-key", k] + [str(a) for a in args])

    r = sbx("create", "--template", "python", "--sandbox-id", sid)
    assert r.returncode == 0 and r.json["sandbox_id"] == sid, (r.stdout, r.stderr)
    d.note_cgroups(sid)
    try:
        r = sbx("exec", "--sandbox-id", sid, "--code", "print('hi from cli')")
        assert r.returncode == 0 and r.json["stdout"] == "hi from cli\n", r.stdout
        # The environment variable works as well.
        cp = __import__("subprocess").run(
            [SBX, "--url", url, "status", "--sandbox-id", sid],
            env=dict(os.environ, SANDBOXD_API_KEY=k), capture_output=True)
        assert cp.returncode == 0 and json.loads(cp.stdout)["state"] == "running", cp.stdout
        # Without a key: 401 with the CLI's hint.
        r = run_sbx([SBX, "--url", url, "status", "--sandbox-id", sid])
        assert r.returncode == 2 and r.json["error_code"] == "unauthenticated", r.stdout
        assert "--api-key" in r.json["error"]
    finally:
        r = sbx("cleanup", "--sandbox-id", sid)
        assert r.returncode == 0, (r.stdout, r.stderr)
    assert d.api("GET", "/v1/sandboxes/" + sid).status == 404


# ---- rate limits ----

@pytest.fixture(scope="module")
def limited_daemon():
    with open(HOST_TEMPLATES) as f:
        cfg = json.load(f)
    cfg.setdefault("security", {})["rateLimit"] = {
        "enabled": True, "requestsPerMinute": 5, "requestsPerHour": 1000}
    fd, path = tempfile.mkstemp(prefix="sbxrl", suffix=".json", dir="/tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f)
    d = Daemon(["--templates", path, "--listen", "127.0.0.1:0"]).start()
    yield d
    check_no_plaintext(d)
    _stop_and_check(d)
    os.unlink(path)


def test_rate_limit_per_key(limited_daemon):
    d = limited_daemon
    k = new_key(d, "limited")["key"]
    for i in range(5):
        r = tcp(d, "GET", "/v1/sandboxes", key=k)
        assert r.status == 200, (i, r)
        assert r.headers["x-ratelimit-limit"] == "5"
        assert r.headers["x-ratelimit-remaining"] == str(4 - i), (i, r.headers)
        assert "retry-after" not in r.headers
    r = tcp(d, "GET", "/v1/sandboxes", key=k)
    assert r.status == 429, r
    assert re.fullmatch(r"\d+", r.headers["retry-after"]), r.headers
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["x-ratelimit-limit"] == "5"
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert re.fullmatch(r"\d+", r.headers["x-ratelimit-reset"])
    assert r.json["error"]["code"] == "resource_exhausted", r
    assert r.json["error"]["message"].startswith(
        "rate limit exceeded: at most 5 requests per minute per API key; retry in "), r.json
    # Still refused (a refused request does not count, but the window is full).
    assert tcp(d, "GET", "/v1/sandboxes/x", key=k).status == 429
    # The daemon keeps serving: another key, /health, the unix socket.
    other = new_key(d, "limited")["key"]
    r = tcp(d, "GET", "/v1/sandboxes", key=other)
    assert r.status == 200 and r.headers["x-ratelimit-remaining"] == "4", r
    assert tcp(d, "GET", "/health").status == 200
    assert d.api("GET", "/v1/sandboxes").status == 200
    # A bad key is 401, not 429: authentication comes first.
    assert tcp(d, "GET", "/v1/sandboxes", key="sbx_" + "A" * 40).status == 401
