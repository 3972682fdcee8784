"""The C++ client library (src/client/sandbox_client.h) against the real daemon, through the
example program built on it (examples/e2b_manager.cc -> build/bin/sbx-example): the guide's
flow -- create with a file, execute python, upload, execute the script, download and check,
history, extend, status, stop, cleanup -- over the unix socket and over TCP with an API key;
errors come back with the daemon's code and message.
"""
import hashlib
import json
import os
import subprocess


from conftest import BIN_DIR, Daemon, _stop_and_check, unique_id

EXAMPLE = os.path.join(BIN_DIR, "sbx-example")


def run_example(*args, timeout=180):
    assert os.access(EXAMPLE, os.X_OK), "no sbx-example at %s (build target sbx-example)" % EXAMPLE
    cp = subprocess.run([EXAMPLE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=timeout)
    try:
        out = json.loads(cp.stdout.decode())
    except ValueError:
        raise AssertionError("sbx-example did not print JSON: exit %d\nstdout: %r\nstderr: %r" % (
            cp.returncode, cp.stdout, cp.stderr))
    return cp.returncode, out


def check_flow(d, out, sid):
    assert out["success"] is True, json.dumps(out, indent=1)
    assert out["sandbox_id"] == sid
    c = out["create"]
    assert c["sandbox_id"] == sid and c["template"] == "python" and c["state"] == "running", c
    assert c["files_uploaded"] == 1 and c["env"] == {"CUSTOM_VAR": "value"}, c

    e = out["execute"]
    assert e["success"] is True and e["status"] == "completed" and e["exit_code"] == 0, e
    assert e["stdout"] == "3\n" and e["execution_id"].startswith("exec_"), e

    script = ("import json, os\n"
              "rows = open('/home/user/data/numbers.csv').read().split()[1:]\n"
              "report = {'count': len(rows), 'sum': sum(int(r) for r in rows),\n"
              "          'custom_var': os.environ.get('CUSTOM_VAR')}\n"
              "json.dump(report, open('/home/user/report.json', 'w'))\n"
              "print('report written')\n").encode()
    up = out["upload"]
    assert up["path"] == "/home/user/report.py" and up["size"] == len(script), up
    assert up["hash"] == hashlib.sha256(script).hexdigest(), up

    assert out["execute_script"]["stdout"] == "report written\n", out["execute_script"]
    f = out["execute_failing"]
    assert f["success"] is False and f["status"] == "failed" and f["exit_code"] == 3, f

    dl = out["download"]
    expected = {"count": 4, "sum": 10, "custom_var": "value"}
    assert dl["content"] == expected, dl
    assert dl["size"] == len(json.dumps(expected)), dl
    assert dl["hash"] == hashlib.sha256(json.dumps(expected).encode()).hexdigest(), dl

    # History: the guide's fields, newest first, the three executions of the flow.
    h = out["history"]
    assert [x["command"] for x in h] == [
        "import sys; sys.exit(3)", "exec(open('/home/user/report.py').read())",
        "import sys; print(sys.version_info[0])"], h
    assert [x["status"] for x in h] == ["failed", "completed", "completed"], h
    assert [x["exit_code"] for x in h] == [3, 0, 0], h
    assert all(set(x) == {"timestamp", "command", "status", "exit_code", "execution_time"}
               for x in h), h
    assert out["history_failed_count"] == 1

    ext = out["extend_timeout"]
    assert ext["timeout"] == 600 and ext["state"] == "running", ext
    st = out["status"]
    assert st["expires_at"] == ext["expires_at"] and st["timeout"] == 600, st
    assert st["uptime_seconds"] >= 0
    assert out["listed_running"] is True
    assert out["stop"]["state"] == "stopped" and out["stop"]["reason"] == "stopped by request"
    refused = out["execute_after_stop"]
    assert refused["error_code"] == "failed_precondition", refused
    assert refused["error"] == "sandbox '%s' is stopped, not running (stopped by request)" % sid
    assert out["cleanup"] == {"sandbox_id": sid, "cleaned_up": True}
    assert out["status_after_cleanup"] == {"error_code": "not_found"}

    # What the library did is what the daemon recorded.
    assert d.api("GET", "/v1/sandboxes/" + sid).status == 404
    rows = d.api("GET", "/v1/executions?sandbox_id=" + sid).json["executions"]
    assert [r["execution_id"] for r in rows][-1] == e["execution_id"]


def test_guide_flow_over_the_unix_socket(daemon):
    sid = unique_id("lib")
    code, out = run_example("--socket", daemon.socket, "--sandbox-id", sid)
    assert code == 0, json.dumps(out, indent=1)
    check_flow(daemon, out, sid)


def test_guide_flow_over_tcp_with_an_api_key():
    d = Daemon(["--listen", "127.0.0.1:0"]).start()
    try:
        key = d.sbx_ok("keys", "create", "--tenant", "lib_tenant")["key"]
        sid = unique_id("tcp")
        code, out = run_example("--url", "http://127.0.0.1:%d" % d.port, "--api-key", key,
                                "--sandbox-id", sid)
        assert code == 0, json.dumps(out, indent=1)
        check_flow(d, out, sid)
        # Without the key the daemon's 401 comes back as the error, code and message.
        code, out = run_example("--url", "http://127.0.0.1:%d" % d.port, "--api-key", "",
                                "--sandbox-id", unique_id("nokey"))
        assert code == 1 and out["step"] == "create", out
        assert out["error_code"] == "unauthenticated", out
        assert "no API key given" in out["error"], out
    finally:
        _stop_and_check(d)


def test_errors_carry_the_daemons_code_and_message(daemon):
    code, out = run_example("--socket", daemon.socket, "--template", "no_such_template",
                            "--sandbox-id", unique_id("bad"))
    assert code == 1, out
    assert out["success"] is False and out["step"] == "create", out
    assert out["error_code"] == "not_found", out
    assert "no_such_template" in out["error"], out
    assert "cleanup" not in out  # nothing was created

    # A sandbox id the daemon would refuse is refused by the library before any request.
    code, out = run_example("--socket", daemon.socket, "--sandbox-id", "Not/Valid")
    assert code == 1 and out["error_code"] == "invalid_argument", out

    # An id that is taken: already_exists, and the other sandbox is left alone.
    taken = daemon.create("python")
    try:
        code, out = run_example("--socket", daemon.socket, "--sandbox-id", taken)
        assert code == 1 and out["step"] == "create", out
        assert out["error_code"] == "already_exists", out
        assert daemon.api("GET", "/v1/sandboxes/" + taken).json["state"] == "running"
    finally:
        daemon.remove(taken)


def test_no_daemon_is_unavailable_with_what_to_do(tmp_path):
    code, out = run_example("--socket", str(tmp_path / "none.sock"), "--sandbox-id", "x1")
    assert code == 1 and out["error_code"] == "unavailable", out
    assert "sandboxd" in out["error"], out
