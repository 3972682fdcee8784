"""Sandbox lifetimes (docs/api.md, POST /v1/sandboxes/{id}/timeout): a sandbox is stopped when
its lifetime expires, with the reason recorded; `sbx extend` / the API set the remaining
lifetime from now, persisted across a daemon restart, refused with a clear 400 / 404 / 409 for
bad values, unknown, other tenants' and stopped sandboxes.
"""
import datetime
import http.client
import time

import pytest

from conftest import SBX, Daemon, _stop_and_check, http_call, run_sbx, unique_id

EXPIRED_REASON = "timeout: the sandbox lifetime expired"


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def wait_state(d, sid, state, within):
    deadline = time.time() + within
    while True:
        r = d.api("GET", "/v1/sandboxes/" + sid)
        assert r.status == 200, r
        if r.json["state"] == state or time.time() > deadline:
            return r.json
        time.sleep(0.2)


def test_extended_sandbox_outlives_its_first_lifetime_and_the_other_expires(daemon):
    extended = daemon.create("python", timeout=3)
    plain = daemon.create("python", timeout=3)
    try:
        before = time.time()
        out = daemon.sbx_ok("extend", "--sandbox-id", extended, "--timeout", "30")
        assert out["sandbox_id"] == extended and out["state"] == "running", out
        assert out["timeout"] == 30, out
        new_expiry = parse_time(out["expires_at"])
        assert before + 29 <= new_expiry <= time.time() + 31, (before, out)

        # The one not extended is stopped by the supervisor, with the reason recorded.
        gone = wait_state(daemon, plain, "stopped", within=10)
        assert gone["state"] == "stopped", gone
        assert gone["reason"] == EXPIRED_REASON, gone
        assert time.time() - before >= 2.5  # not before its lifetime was over
        refused = daemon.api("POST", "/v1/sandboxes/%s/exec" % plain,
                             {"language": "python", "code": "print(1)"})
        assert refused.status == 409, refused
        assert EXPIRED_REASON in refused.json["error"]["message"], refused.json
        stopped_lines = [e for e in daemon.log_events("sandbox.stopped")
                         if e.get("sandbox_id") == plain]
        assert stopped_lines and stopped_lines[-1]["reason"] == EXPIRED_REASON, stopped_lines
        events = daemon.api("GET", "/v1/events?type=on_timeout&sandbox_id=" + plain).json
        assert [e["data"].get("reason") for e in events["events"]] == ["lifetime expired"], events

        # Past 5 s, the extended one still runs code, and its status shows the new expiry.
        while time.time() - before < 5:
            time.sleep(0.2)
        st = daemon.sbx_ok("status", "--sandbox-id", extended)
        assert st["state"] == "running", st
        assert st["timeout"] == 30 and st["expires_at"] == out["expires_at"], (st, out)
        assert daemon.exec_ok(extended, "print('alive')")["stdout"] == "alive\n"

        # Extending it again moves the expiry to `timeout` seconds from now (it may shorten).
        again = daemon.api("POST", "/v1/sandboxes/%s/timeout" % extended, {"timeout": 2})
        assert again.status == 200, again
        assert parse_time(again.json["expires_at"]) < new_expiry
        assert wait_state(daemon, extended, "stopped", within=10)["reason"] == EXPIRED_REASON
        assert daemon.api("GET", "/v1/events?type=on_timeout&sandbox_id=" + extended).json[
            "count"] == 1
    finally:
        daemon.remove(extended)
        daemon.remove(plain)


@pytest.mark.parametrize("body,fragment", [
    ({"timeout": 0}, "from 1 to 2592000"),
    ({"timeout": -5}, "from 1 to 2592000"),
    ({"timeout": 1.5}, "whole number"),
    ({"timeout": "30"}, "whole number"),
    ({"timeout": 2592001}, "from 1 to 2592000"),
    ({"timeout": 1e300}, "from 1 to 2592000"),
    ({}, "request.timeout: required"),
    ({"timeout": 30, "seconds": 30}, "request.seconds: unknown field"),
    ([30], "expected a JSON object"),
])
def test_bad_timeouts_are_refused_naming_the_problem(daemon, sandbox, body, fragment):
    before = daemon.api("GET", "/v1/sandboxes/" + sandbox).json
    r = daemon.api("POST", "/v1/sandboxes/%s/timeout" % sandbox, body)
    assert r.status == 400, r
    assert r.json["error"]["code"] == "invalid_argument", r.json
    assert fragment in r.json["error"]["message"], r.json
    after = daemon.api("GET", "/v1/sandboxes/" + sandbox).json
    assert after["expires_at"] == before["expires_at"]


def test_unknown_and_stopped_sandboxes(daemon):
    r = daemon.api("POST", "/v1/sandboxes/no_such_box/timeout", {"timeout": 30})
    assert r.status == 404 and r.json["error"]["code"] == "not_found", r
    r = daemon.api("POST", "/v1/sandboxes/BAD%20ID/timeout", {"timeout": 30})
    assert r.status == 400, r
    code, out = daemon.sbx("extend", "--sandbox-id", "no_such_box", "--timeout", "30")
    assert code == 2 and out["error_code"] == "not_found", out
    code, out = daemon.sbx("extend", "--sandbox-id", "x", "--timeout", "0")
    assert code == 2 and out["error_code"] == "usage", out

    sid = daemon.create("minimal")
    try:
        daemon.sbx_ok("stop", "--sandbox-id", sid)
        r = daemon.api("POST", "/v1/sandboxes/%s/timeout" % sid, {"timeout": 30})
        assert r.status == 409 and r.json["error"]["code"] == "failed_precondition", r
        assert "not running" in r.json["error"]["message"], r.json
        assert daemon.api("GET", "/v1/sandboxes/%s/timeout" % sid).status in (400, 405)
    finally:
        daemon.remove(sid)


def test_extension_survives_a_daemon_crash(fresh_daemon):
    d = fresh_daemon
    sid = d.create("python", timeout=300)
    ext = d.sbx_ok("extend", "--sandbox-id", sid, "--timeout", "7200")
    d.kill9()
    d.start()
    st = d.sbx_ok("status", "--sandbox-id", sid)
    assert st["state"] == "running", st
    assert st["timeout"] == 7200 and st["expires_at"] == ext["expires_at"], (st, ext)
    # ... and an extension of the re-attached sandbox is stored as well.
    d.sbx_ok("extend", "--sandbox-id", sid, "--timeout", "2")
    assert wait_state(d, sid, "stopped", within=10)["reason"] == EXPIRED_REASON
    d.remove(sid)


def test_another_tenants_sandbox_is_not_found():
    d = Daemon(["--listen", "127.0.0.1:0"]).start()
    try:
        key_a = d.sbx_ok("keys", "create", "--tenant", "team_a")["key"]
        key_b = d.sbx_ok("keys", "create", "--tenant", "team_b")["key"]

        def tcp(method, path, key, body=None):
            return http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=60),
                             method, path, body=body, headers={"X-API-Key": key})

        sid = unique_id()
        r = tcp("POST", "/v1/sandboxes", key_a, {"template": "minimal", "sandbox_id": sid})
        assert r.status == 201, r
        d.note_cgroups(sid)
        denied = tcp("POST", "/v1/sandboxes/%s/timeout" % sid, key_b, {"timeout": 600})
        assert denied.status == 404, denied
        assert denied.json["error"]["message"] == "sandbox '%s' does not exist" % sid
        ok = tcp("POST", "/v1/sandboxes/%s/timeout" % sid, key_a, {"timeout": 600})
        assert ok.status == 200 and ok.json["timeout"] == 600, ok
        # The CLI over TCP with the owner's key.
        cli = run_sbx([SBX, "--url", "http://127.0.0.1:%d" % d.port, "--api-key", key_a,
                       "extend", "--sandbox-id", sid, "--timeout", "900"])
        assert cli.returncode == 0 and cli.json["timeout"] == 900, (cli.stdout, cli.stderr)
        cli = run_sbx([SBX, "--url", "http://127.0.0.1:%d" % d.port, "--api-key", key_b,
                       "extend", "--sandbox-id", sid, "--timeout", "900"])
        assert cli.returncode == 2 and cli.json["error_code"] == "not_found", cli.stdout
        d.remove(sid)
    finally:
        _stop_and_check(d)
