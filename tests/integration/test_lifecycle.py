"""Lifecycles through the real daemon and the real CLI (docs/events.md): scripts run in order,
a failing script is retried up to max_retries times with every attempt recorded, a run that
uses up its retries fails and cleanup_on_error removes its sandbox."""
import json

from conftest import unique_id

# Fails on its first two runs in a sandbox, succeeds on the third (the count is a file in the
# sandbox, which every attempt of a run shares).
FLAKY = (
    "import os\n"
    "p = '/tmp/attempts'\n"
    "n = int(open(p).read()) if os.path.exists(p) else 0\n"
    "open(p, 'w').write(str(n + 1))\n"
    "print('attempt', n + 1)\n"
    "raise SystemExit(1 if n < 2 else 0)\n")


def events_of(daemon, sandbox_id):
    r = daemon.api("GET", "/v1/events?order=asc&limit=1000&sandbox_id=" + sandbox_id)
    assert r.status == 200, r
    return r.json["events"]


def test_lifecycle_retries_until_the_script_succeeds(daemon):
    sid = unique_id("lc")
    r = daemon.sbx_raw("lifecycle", "create", "--sandbox-id", sid, "--template", "python",
                       "--timeout", "120", "--max-retries", "3", "--retry-delay", "0.2",
                       "--monitor-interval", "0.5",
                       "--script", "print('Script 1')", "--script", FLAKY, timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    run = r.json
    assert run["success"] is True and run["state"] == "succeeded", run
    assert run["sandbox_id"] == sid and run["sandbox_removed"] is False
    first, second = run["scripts"]
    assert [a["status"] for a in first["attempts"]] == ["completed"]
    assert "Script 1" in first["attempts"][0]["stdout"]
    attempts = second["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == ["failed", "failed", "completed"]
    assert [a["exit_code"] for a in attempts] == [1, 1, 0]
    assert ["attempt %d" % (i + 1) in a["stdout"] for i, a in enumerate(attempts)] == [True] * 3
    assert all(a["execution_id"] for a in attempts)
    assert second["status"] == "succeeded"

    # Status by run id and by sandbox id show the same record.
    by_id = daemon.sbx_ok("lifecycle", "status", "--run-id", run["id"])
    assert by_id["state"] == "succeeded" and by_id["scripts"] == run["scripts"]
    by_sandbox = daemon.sbx_ok("lifecycle", "status", "--sandbox-id", sid)
    assert by_sandbox["id"] == run["id"]
    listed = daemon.sbx_ok("lifecycle", "list", "--sandbox-id", sid)
    assert [x["id"] for x in listed["runs"]] == [run["id"]]

    # The events of the run, in order.
    types = [e["type"] for e in events_of(daemon, sid)]
    assert types[0] == "sandbox_created"
    assert types.count("execution_started") == 4
    assert types.count("execution_failed") == 2
    assert types.count("execution_complete") == 2
    assert types[-1] == "on_completion"
    assert "on_cleanup" not in types

    # After a success the sandbox is kept so its files can be read.
    assert daemon.api("GET", "/v1/sandboxes/" + sid).json["state"] == "running"
    assert daemon.remove(sid).status == 200


def test_lifecycle_that_uses_up_its_retries_fails_and_is_cleaned_up(daemon):
    sid = unique_id("lc")
    r = daemon.sbx_raw("lifecycle", "create", "--sandbox-id", sid, "--timeout", "120",
                       "--max-retries", "1", "--retry-delay", "0.2", "--monitor-interval", "0",
                       "--cleanup-on-error", "true",
                       "--script", "print('Script 1')", "--script", FLAKY, timeout=180)
    assert r.returncode == 1, (r.stdout, r.stderr)
    run = r.json
    assert run["success"] is False and run["state"] == "failed", run
    assert "script 1 failed after 2 attempt(s)" in run["error"]
    attempts = run["scripts"][1]["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "failed"]
    assert [a["exit_code"] for a in attempts] == [1, 1]
    assert run["sandbox_removed"] is True
    assert daemon.api("GET", "/v1/sandboxes/" + sid).status == 404
    types = [e["type"] for e in events_of(daemon, sid)]
    assert types[-2:] == ["on_error", "on_cleanup"], types
    cleanup = events_of(daemon, sid)[-1]
    assert cleanup["data"]["run_id"] == run["id"] and cleanup["data"]["reason"] == "failed"


def test_lifecycle_detach_and_validation(daemon):
    sid = unique_id("lc")
    started = daemon.sbx_ok("lifecycle", "create", "--sandbox-id", sid, "--detach",
                            "--cleanup-on-error", "false", "--script", "print(1)")
    assert started["state"] == "running" and started["id"].startswith("run_")
    # No script: refused before anything starts.
    code, out = daemon.sbx("lifecycle", "create", "--sandbox-id", unique_id("lc"))
    assert code == 2 and out["error_code"] == "invalid_argument"
    # Unknown template: not_found from the daemon.
    r = daemon.api("POST", "/v1/lifecycles", {"template": "nope", "scripts": ["print(1)"]})
    assert r.status == 404, r
    r = daemon.api("POST", "/v1/lifecycles", {"scripts": ["print(1)"], "max_retries": -1})
    assert r.status == 400 and "max_retries" in r.json["error"]["message"], r
    assert daemon.api("GET", "/v1/lifecycles/run_000000000000").status == 404
    # Wait for the detached run, then remove its sandbox.
    import time
    deadline = time.time() + 60
    while time.time() < deadline:
        st = daemon.api("GET", "/v1/lifecycles/" + started["id"]).json
        if st["state"] != "running":
            break
        time.sleep(0.3)
    assert st["state"] == "succeeded", json.dumps(st)[:2000]
    daemon.remove(sid)
