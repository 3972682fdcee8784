"""Errors: every failing sbx command prints {"success": false, "error": "..."} naming the thing
that is wrong and exits non-zero; misuse of the HTTP API gets a JSON error with the right
status, and the daemon keeps serving."""
import os

from conftest import SBX, run_sbx, unique_id


def _assert_cli_error(rc, out, *names):
    assert rc != 0, "exit status 0 for a failure: %r" % out
    assert out["success"] is False, out
    assert isinstance(out.get("error"), str) and out["error"], out
    for n in names:
        assert n in out["error"], "error message does not name %r: %r" % (n, out["error"])


def _assert_api_error(r, status, code=None):
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert r.json is not None, "error body is not JSON: %r" % r.body
    assert r.json.get("success") is False, r.json
    err = r.json.get("error")
    assert isinstance(err, dict) and err.get("message"), r.json
    if code:
        assert err.get("code") == code, r.json
    return err["message"]


def _assert_still_serving(daemon):
    r = daemon.api("GET", "/health")
    assert r.status == 200 and r.json["status"] == "ok", r


def test_unknown_sandbox(daemon):
    sid = unique_id("nosuch")
    rc, out = daemon.sbx("exec", "--sandbox-id", sid, "--code", "print(1)")
    _assert_cli_error(rc, out, sid)
    assert out.get("error_code") == "not_found", out
    for verb in ("status", "stop", "cleanup"):
        rc, out = daemon.sbx(verb, "--sandbox-id", sid)
        _assert_cli_error(rc, out, sid)


def test_unknown_template(daemon):
    sid = unique_id("tpl")
    rc, out = daemon.sbx("create", "--template", "no_such_template", "--sandbox-id", sid)
    _assert_cli_error(rc, out, "no_such_template")
    assert out.get("error_code") == "not_found", out
    # Nothing was created.
    rc, out = daemon.sbx("status", "--sandbox-id", sid)
    assert rc != 0 and out["success"] is False
    assert not os.path.exists(daemon.sandbox_dir(sid))


def test_duplicate_id(daemon):
    sid = unique_id("dup")
    try:
        daemon.sbx_ok("create", "--template", "python", "--sandbox-id", sid)
        rc, out = daemon.sbx("create", "--template", "minimal", "--sandbox-id", sid)
        _assert_cli_error(rc, out, sid)
        assert out.get("error_code") == "already_exists", out
        # The first sandbox is untouched.
        st = daemon.sbx_ok("status", "--sandbox-id", sid)
        assert st["state"] == "running" and st["template"] == "python"
        assert daemon.sbx_ok("exec", "--sandbox-id", sid, "--code", "print(5)")["stdout"] == "5\n"
    finally:
        daemon.remove(sid)


def test_bad_id(daemon):
    rc, out = daemon.sbx("create", "--template", "python", "--sandbox-id", "Bad-Id!")
    _assert_cli_error(rc, out, "Bad-Id!")
    rc, out = daemon.sbx("exec", "--sandbox-id", "Bad-Id!", "--code", "print(1)")
    _assert_cli_error(rc, out, "Bad-Id!")
    # The daemon refuses it as well (not only the CLI).
    r = daemon.api("POST", "/v1/sandboxes", {"template": "python", "sandbox_id": "Bad-Id!"})
    msg = _assert_api_error(r, 400, "invalid_argument")
    assert "Bad-Id!" in msg


def test_daemon_not_running(tmp_path):
    missing = str(tmp_path / "nodaemon" / "api.sock")
    r = run_sbx([SBX, "--socket", missing, "status"])
    _assert_cli_error(r.returncode, r.json, missing)
    assert r.stderr.strip(), "a failure also says something on stderr"
    r = run_sbx([SBX, "--socket", missing, "create", "--template", "python"])
    _assert_cli_error(r.returncode, r.json, missing)


def test_api_malformed_json(daemon):
    r = daemon.api("POST", "/v1/sandboxes", raw=b'{"template": "python",',
                   headers={"Content-Type": "application/json"})
    _assert_api_error(r, 400, "invalid_argument")
    r = daemon.api("POST", "/v1/sandboxes", raw=b"[1, 2]",
                   headers={"Content-Type": "application/json"})
    _assert_api_error(r, 400, "invalid_argument")
    _assert_still_serving(daemon)


def test_api_unknown_field(daemon):
    sid = unique_id("uf")
    r = daemon.api("POST", "/v1/sandboxes",
                   {"template": "python", "sandbox_id": sid, "bogus_field_x": 1})
    msg = _assert_api_error(r, 400, "invalid_argument")
    assert "bogus_field_x" in msg
    assert daemon.api("GET", "/v1/sandboxes/" + sid).status == 404
    # The same in an exec request.
    sid = daemon.create("python")
    try:
        r = daemon.api("POST", "/v1/sandboxes/%s/exec" % sid,
                       {"code": "print(1)", "langauge": "python"})
        msg = _assert_api_error(r, 400, "invalid_argument")
        assert "langauge" in msg
    finally:
        daemon.remove(sid)
    _assert_still_serving(daemon)


def test_api_unknown_route(daemon):
    r = daemon.api("GET", "/v1/no_such_route")
    _assert_api_error(r, 404)
    # Outside /v1 the paths are E2B's (docs/e2b.md): an unknown one is E2B's 404 shape.
    r = daemon.api("GET", "/v3/no_such_route")
    assert r.status == 404 and r.json["code"] == 404 and r.json["message"], r
    sid = unique_id("nr")
    r = daemon.api("GET", "/v1/sandboxes/" + sid)
    msg = _assert_api_error(r, 404, "not_found")
    assert sid in msg
    _assert_still_serving(daemon)


def test_api_exec_missing_code(daemon, sandbox):
    r = daemon.api("POST", "/v1/sandboxes/%s/exec" % sandbox, {"language": "python"})
    msg = _assert_api_error(r, 400, "invalid_argument")
    assert "code" in msg
    r = daemon.api("POST", "/v1/sandboxes/%s/exec" % sandbox,
                   {"language": "cobol", "code": "x"})
    msg = _assert_api_error(r, 400, "invalid_argument")
    assert "cobol" in msg
    _assert_still_serving(daemon)
