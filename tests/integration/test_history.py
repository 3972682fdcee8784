"""Execution history (docs/api.md, GET /v1/executions; `sbx history`): newest first, filtered
by sandbox and status (unknown status: 400 naming the allowed ones), limited, a tenant's own
only; and the retention setting (--history-retention-days, --history-max-rows), applied at
start, which deletes old finished executions and logs how many.
"""
import http.client
import os
import sqlite3
import time

from conftest import SBX, Daemon, _stop_and_check, http_call, run_sbx, unique_id

GUIDE_FIELDS = ["timestamp", "command", "status", "exit_code", "execution_time"]
STATUSES = "running, completed, failed, timeout, oom, killed, error"


def history(d, query=""):
    r = d.api("GET", "/v1/executions" + query)
    assert r.status == 200, r
    assert r.json["count"] == len(r.json["executions"])
    return r.json["executions"]


def test_filters_by_status_and_sandbox_newest_first(daemon):
    a = daemon.create("python")
    b = daemon.create("python")
    try:
        daemon.exec_ok(a, "print('a1')")
        daemon.exec(a, "import sys; sys.exit(2)")
        daemon.exec(b, "raise SystemExit(5)")
        daemon.exec(b, "import time; time.sleep(10)", timeout=1)
        daemon.exec_ok(b, "print('b3')")

        mine = [e for e in history(daemon, "?limit=1000") if e["sandbox_id"] in (a, b)]
        assert [e["command"] for e in mine] == [
            "print('b3')", "import time; time.sleep(10)", "raise SystemExit(5)",
            "import sys; sys.exit(2)", "print('a1')"]
        assert [e["timestamp"] for e in mine] == sorted((e["timestamp"] for e in mine),
                                                        reverse=True)

        failed = history(daemon, "?status=failed")
        assert [(e["sandbox_id"], e["exit_code"]) for e in failed if e["sandbox_id"] in (a, b)] \
            == [(b, 5), (a, 2)]
        assert all(e["status"] == "failed" for e in failed)
        assert [e["command"] for e in history(daemon, "?status=failed&sandbox_id=" + a)] == [
            "import sys; sys.exit(2)"]
        timed_out = history(daemon, "?status=timeout&sandbox_id=" + b)
        assert len(timed_out) == 1 and timed_out[0]["execution_time"] >= 0.9, timed_out
        assert history(daemon, "?status=oom&sandbox_id=" + b) == []
        done = history(daemon, "?status=completed&sandbox_id=%s&limit=1" % b)
        assert [e["stdout"] for e in done] == ["b3\n"]
        assert len(history(daemon, "?sandbox_id=%s&limit=2" % b)) == 2

        # The CLI: the guide's shape, the same filters.
        out = daemon.sbx_ok("history", "--limit", "50", "--sandbox", b, "--status", "failed")
        assert out["count"] == 1, out
        rec = out["executions"][0]
        assert list(rec)[:5] == GUIDE_FIELDS, rec
        assert rec["command"] == "raise SystemExit(5)" and rec["exit_code"] == 5, rec
        assert rec["sandbox_id"] == b and rec["execution_id"].startswith("exec_"), rec
        raw = daemon.sbx_raw("history", "--limit", "2")
        assert raw.returncode == 0 and raw.json["count"] == 2, raw.stdout
        assert [e["command"] for e in raw.json["executions"]] == [
            "print('b3')", "import time; time.sleep(10)"]
    finally:
        daemon.remove(a)
        daemon.remove(b)


def test_bad_queries_are_refused(daemon):
    r = daemon.api("GET", "/v1/executions?status=exploded")
    assert r.status == 400, r
    assert r.json["error"]["code"] == "invalid_argument"
    msg = r.json["error"]["message"]
    assert "'exploded'" in msg and STATUSES in msg, msg
    for q in ("?limit=0", "?limit=1001", "?limit=ten", "?sandbox_id=BAD%20ID"):
        assert daemon.api("GET", "/v1/executions" + q).status == 400, q
    code, out = daemon.sbx("history", "--status", "exploded")
    assert code == 2 and out["error_code"] == "usage", out
    code, out = daemon.sbx("history", "--limit", "0")
    assert code == 2 and out["error_code"] == "usage", out
    code, out = daemon.sbx("history", "--sandbox", "no_such_box")
    assert code == 0 and out["count"] == 0, out


def test_a_tenant_sees_its_own_newest_executions_only():
    d = Daemon(["--listen", "127.0.0.1:0"]).start()
    try:
        keys = {t: d.sbx_ok("keys", "create", "--tenant", t)["key"] for t in ("team_a", "team_b")}

        def tcp(method, path, tenant, body=None):
            return http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=60),
                             method, path, body=body, headers={"X-API-Key": keys[tenant]})

        boxes = {}
        for t in keys:
            sid = unique_id(t[-1])
            assert tcp("POST", "/v1/sandboxes", t, {"template": "minimal",
                                                   "sandbox_id": sid}).status == 201
            d.note_cgroups(sid)
            boxes[t] = sid
        run = lambda t, code: tcp("POST", "/v1/sandboxes/%s/exec" % boxes[t], t,
                                  {"language": "sh", "code": code})
        assert run("team_a", "exit 1").status == 200
        for i in range(3):  # team_b's are all newer than team_a's
            assert run("team_b", "echo %d" % i).status == 200
        a = tcp("GET", "/v1/executions?limit=1", "team_a").json
        assert [e["command"] for e in a["executions"]] == ["exit 1"], a
        assert tcp("GET", "/v1/executions?status=completed", "team_a").json["count"] == 0
        b = tcp("GET", "/v1/executions?status=completed&limit=2", "team_b").json
        assert [e["command"] for e in b["executions"]] == ["echo 2", "echo 1"], b
        # Another tenant's sandbox as a filter shows nothing of it.
        other = tcp("GET", "/v1/executions?sandbox_id=" + boxes["team_b"], "team_a").json
        assert other["count"] == 0, other
        cli = run_sbx([SBX, "--url", "http://127.0.0.1:%d" % d.port, "--api-key",
                       keys["team_a"], "history"])
        assert cli.returncode == 0 and cli.json["count"] == 1, cli.stdout
        assert len(history(d)) == 4  # the administrator sees both
        for sid in boxes.values():
            d.remove(sid)
    finally:
        _stop_and_check(d)


def age_executions(d, commands, days):
    """Moves the start of the executions with these commands `days` into the past, in the
    database of the stopped daemon d."""
    db = sqlite3.connect(os.path.join(d.state_dir, "sandboxd.db"))
    try:
        old = int((time.time() - days * 86400) * 1000)
        for c in commands:
            cur = db.execute("UPDATE executions SET started_at=?, finished_at=? WHERE code=?",
                             (old, old + 10, c))
            assert cur.rowcount == 1, c
        db.commit()
    finally:
        db.close()


def pruned_lines(d):
    return [e for e in d.log_events("history.pruned")]


def test_retention_deletes_old_finished_executions_at_start(fresh_daemon):
    d = fresh_daemon
    sid = d.create("python")
    for i in range(5):
        d.exec_ok(sid, "print(%d)" % i)
    d.remove(sid)
    assert d.terminate() == 0

    # Default: 30 days. Two executions become 40 and 31 days old, one 29.
    age_executions(d, ["print(0)"], 40)
    age_executions(d, ["print(1)"], 31)
    age_executions(d, ["print(2)"], 29)
    d.start()
    assert [e["command"] for e in history(d)] == ["print(4)", "print(3)", "print(2)"]
    lines = pruned_lines(d)
    assert len(lines) == 1 and lines[0]["deleted"] == "2" and lines[0]["by_age"] == "2", lines
    assert lines[0]["older_than_days"] == "30", lines
    assert d.terminate() == 0

    # 0 keeps forever, whatever the age.
    age_executions(d, ["print(2)"], 400)
    d.extra_args = d.extra_args + ["--history-retention-days", "0"]
    d.start()
    assert len(history(d)) == 3
    assert len(pruned_lines(d)) == 1
    assert d.terminate() == 0

    # A cap on the number of rows keeps the newest.
    d.extra_args = d.extra_args + ["--history-max-rows", "1"]
    d.start()
    assert [e["command"] for e in history(d)] == ["print(4)"]
    last = pruned_lines(d)[-1]
    assert last["deleted"] == "2" and last["by_count"] == "2", last
    # `sbx history` agrees.
    assert [e["command"] for e in d.sbx_ok("history")["executions"]] == ["print(4)"]


def test_bad_retention_settings_refuse_to_start():
    d = Daemon(["--history-retention-days", "-1"])
    try:
        proc_failed = False
        try:
            d.start()
        except AssertionError as e:
            proc_failed = True
            assert "history-retention-days" in str(e), e
        assert proc_failed, "sandboxd started with --history-retention-days -1"
    finally:
        if d.proc and d.proc.poll() is None:
            _stop_and_check(d)
        else:
            d.close()
