"""Recovery after kill -9 of the daemon: running sandboxes are re-attached and usable, an
execution that was in flight is marked with what happened, and nothing leaks afterwards."""
import os
import threading
import time

from conftest import cgroup_dirs, mounts_under


def test_kill9_restart_reattaches_running_sandboxes(fresh_daemon):
    d = fresh_daemon
    a = d.create("python")
    b = d.create("minimal")
    d.exec_ok(a, "open('/tmp/kept', 'w').write('before the crash')")
    pid_a = d.init_pid(a)
    assert pid_a and os.path.exists("/proc/%d" % pid_a)

    # An execution in flight when the daemon dies.
    started = threading.Event()

    def long_exec():
        started.set()
        try:
            d.api("POST", "/v1/sandboxes/%s/exec" % b,
                  {"language": "python", "code": "import time; time.sleep(30)", "timeout": 60},
                  timeout=60)
        except Exception:
            pass  # the daemon dies under it

    t = threading.Thread(target=long_exec, daemon=True)
    t.start()
    started.wait(5)
    time.sleep(1.0)
    d.kill9()
    t.join(10)

    # The inits live on without the daemon.
    assert os.path.exists("/proc/%d" % pid_a), "sandbox init died with the daemon"
    d.start()

    for sid in (a, b):
        st = d.api("GET", "/v1/sandboxes/" + sid)
        assert st.status == 200, st
        assert st.json["state"] == "running", st.json
    out = d.exec_ok(a, "print(open('/tmp/kept').read())")
    assert out["stdout"] == "before the crash\n"
    assert d.exec_ok(b, "print(6 * 7)")["stdout"] == "42\n"
    assert d.init_pid(a) in (None, pid_a)  # no new init was launched for it
    assert any(e.get("sandbox_id") == a for e in d.log_events("reconcile.reattached"))

    hist = d.api("GET", "/v1/executions?sandbox_id=%s&limit=10" % b)
    assert hist.status == 200, hist
    interrupted = [e for e in hist.json["executions"] if "sleep(30)" in e["command"]]
    assert len(interrupted) == 1, hist.json
    assert interrupted[0]["status"] == "error"

    # Stop and cleanup of adopted sandboxes leave nothing behind.
    assert d.api("POST", "/v1/sandboxes/%s/stop" % a).status == 200
    assert d.api("DELETE", "/v1/sandboxes/" + a).status == 200
    assert d.api("DELETE", "/v1/sandboxes/" + b).status == 200
    deadline = time.time() + 5
    while time.time() < deadline and os.path.exists("/proc/%d" % pid_a):
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d/stat" % pid_a) or "Z" in open("/proc/%d/stat" % pid_a).read().split(")")[1][:3]
    assert not mounts_under(d.state_dir + "/sandboxes/" + a)
    assert not cgroup_dirs(a) and not cgroup_dirs(b)
    assert not os.path.exists(d.sandbox_dir(a))


def test_kill9_with_a_dead_init_marks_the_sandbox_stopped(fresh_daemon):
    d = fresh_daemon
    sid = d.create("python")
    pid = d.init_pid(sid)
    d.kill9()
    os.kill(pid, 9)  # the sandbox dies while no daemon watches it
    deadline = time.time() + 5
    while time.time() < deadline and os.path.exists("/proc/%d/status" % pid):
        try:
            if "zombie" in open("/proc/%d/status" % pid).read():
                break
        except OSError:
            break
        time.sleep(0.05)
    d.start()
    st = d.api("GET", "/v1/sandboxes/" + sid)
    assert st.status == 200
    assert st.json["state"] == "stopped", st.json
    assert "restarted" in st.json.get("reason", ""), st.json
    assert not cgroup_dirs(sid)
    assert d.api("DELETE", "/v1/sandboxes/" + sid).status == 200
