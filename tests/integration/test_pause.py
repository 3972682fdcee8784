"""Pause and resume (docs/api.md): a paused sandbox's processes are frozen (no CPU, no progress)
and keep their state; calls that need its agent fail at once; it survives kill -9 of the
daemon; with on_timeout "pause" the lifetime pauses instead of stops, and paused time does not
count against the lifetime."""
import time

COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 0.1; done"


def start_counter(d, sid):
    r = d.api("POST", "/v1/sandboxes/%s/exec" % sid,
              {"language": "bash", "code": COUNTER, "timeout": 3600, "background": True})
    assert r.status == 202, r
    deadline = time.time() + 10
    while time.time() < deadline:
        if counter(d, sid) >= 3:
            return
        time.sleep(0.1)
    raise AssertionError("the counter did not start")


def counter(d, sid):
    out = d.exec(sid, "cat /tmp/c 2>/dev/null || echo 0", language="bash")
    return int(out["stdout"].strip() or 0)


def counter_from_upper(d, sid):
    # Read on the host side: exec is refused while paused.
    return int(d.read_upper_file(sid, "tmp/c").strip())


def cpu_seconds(d, sid):
    st = d.api("GET", "/v1/sandboxes/" + sid)
    assert st.status == 200, st
    return st.json["cpu_seconds"]


def test_pause_freezes_and_resume_continues(daemon):
    d = daemon
    sid = d.create("python")
    try:
        start_counter(d, sid)
        p = d.api("POST", "/v1/sandboxes/%s/pause" % sid)
        assert p.status == 200, p
        assert p.json["state"] == "paused" and "paused_at" in p.json

        frozen_at = counter_from_upper(d, sid)
        cpu0 = cpu_seconds(d, sid)
        time.sleep(1.5)
        assert counter_from_upper(d, sid) == frozen_at
        assert cpu_seconds(d, sid) - cpu0 < 0.01

        # Exec, files and a second pause fail at once with a clear error.
        t0 = time.time()
        ex = d.api("POST", "/v1/sandboxes/%s/exec" % sid, {"code": "print(1)"})
        assert time.time() - t0 < 2
        assert ex.status == 409, ex
        assert "is paused; resume it" in ex.json["error"]["message"]
        f = d.api("GET", "/v1/sandboxes/%s/files?path=/tmp/c" % sid)
        assert f.status == 409, f
        again = d.api("POST", "/v1/sandboxes/%s/pause" % sid)
        assert again.status == 409 and again.json["error"]["code"] == "already_exists", again
        assert d.api("GET", "/v1/sandboxes?state=paused").json["count"] >= 1

        r = d.api("POST", "/v1/sandboxes/%s/resume" % sid)
        assert r.status == 200, r
        assert r.json["state"] == "running" and r.json["resumed"] is True
        after = counter(d, sid)
        assert after >= frozen_at and after < frozen_at + 20  # it continued, not restarted
        time.sleep(0.5)
        assert counter(d, sid) > after
        noop = d.api("POST", "/v1/sandboxes/%s/resume" % sid)
        assert noop.status == 200 and noop.json["resumed"] is False, noop
    finally:
        d.remove(sid)


def test_pause_and_resume_errors(daemon):
    d = daemon
    assert d.api("POST", "/v1/sandboxes/no_such_sbx/pause").status == 404
    sid = d.create("python")
    try:
        bad = d.api("POST", "/v1/sandboxes/%s/resume" % sid, {"timeout": "x"})
        assert bad.status == 400 and "request.timeout" in bad.json["error"]["message"], bad
        assert d.api("POST", "/v1/sandboxes/%s/pause" % sid).status == 200
        assert d.api("POST", "/v1/sandboxes/%s/stop" % sid).status == 200
        st = d.api("GET", "/v1/sandboxes/" + sid).json
        assert st["state"] == "stopped", st
        res = d.api("POST", "/v1/sandboxes/%s/resume" % sid)
        assert res.status == 409 and "stopped" in res.json["error"]["message"], res
        p = d.api("POST", "/v1/sandboxes/%s/pause" % sid)
        assert p.status == 409 and "stopped" in p.json["error"]["message"], p
    finally:
        d.remove(sid)


def test_cli_pause_resume(daemon):
    d = daemon
    sid = d.create("python")
    try:
        out = d.sbx_ok("pause", "--sandbox-id", sid)
        assert out["state"] == "paused"
        out = d.sbx_ok("resume", "--sandbox-id", sid, "--timeout", "900")
        assert out["state"] == "running" and out["resumed"] is True
    finally:
        d.remove(sid)


def test_paused_sandbox_survives_kill9(fresh_daemon):
    d = fresh_daemon
    sid = d.create("python")
    start_counter(d, sid)
    assert d.api("POST", "/v1/sandboxes/%s/pause" % sid).status == 200
    frozen_at = counter_from_upper(d, sid)
    d.kill9()
    time.sleep(0.5)
    d.start()
    st = d.api("GET", "/v1/sandboxes/" + sid)
    assert st.status == 200 and st.json["state"] == "paused", st
    assert any(e.get("sandbox_id") == sid for e in d.log_events("reconcile.adopted_paused"))
    assert counter_from_upper(d, sid) == frozen_at
    assert d.api("POST", "/v1/sandboxes/%s/resume" % sid).status == 200
    after = counter(d, sid)
    assert frozen_at <= after < frozen_at + 20
    time.sleep(0.5)
    assert counter(d, sid) > after
    # Paused again, then a clean shutdown removes it (fresh_daemon checks nothing is left).
    assert d.api("POST", "/v1/sandboxes/%s/pause" % sid).status == 200


def test_lifetime_pauses_and_paused_time_does_not_count(daemon):
    d = daemon
    sid = d.create("python", timeout=3, on_timeout="pause")
    try:
        created = d.api("GET", "/v1/sandboxes/" + sid).json
        assert created["on_timeout"] == "pause"
        deadline = time.time() + 8
        state = "running"
        while time.time() < deadline and state == "running":
            time.sleep(0.2)
            state = d.api("GET", "/v1/sandboxes/" + sid).json["state"]
        assert state == "paused"  # not stopped
        r = d.api("POST", "/v1/sandboxes/%s/resume" % sid, {"timeout": 60})
        assert r.status == 200 and r.json["state"] == "running", r

        # A sandbox paused by hand for 2 s keeps the lifetime it had left.
        other = d.create("python", timeout=4, on_timeout="stop")
        try:
            assert d.api("POST", "/v1/sandboxes/%s/pause" % other).status == 200
            time.sleep(2.5)
            assert d.api("GET", "/v1/sandboxes/" + other).json["state"] == "paused"
            assert d.api("POST", "/v1/sandboxes/%s/resume" % other).status == 200
            time.sleep(1.0)  # 4 s of lifetime, < 3 s of it spent running
            assert d.api("GET", "/v1/sandboxes/" + other).json["state"] == "running"
        finally:
            d.remove(other)
    finally:
        d.remove(sid)
