"""Nothing is left behind: after cleanup, after stop (files kept, everything else gone) and after
the daemon is stopped with SIGTERM while sandboxes run. Every check is first made while the
sandbox runs (so it is known to find the thing), then after."""
import os
import threading
import time

from conftest import cgroup_dirs, leftover_instance_cgroups, mounts_under, proc_list

def procs_in_cgroup(sandbox_id):
    """Host pids whose /proc/PID/cgroup puts them in the sandbox's cgroup."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % p) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            path = line.split(":", 2)[-1]
            parts = path.split("/")
            if sandbox_id in parts and any(x.startswith("sandboxd-") for x in parts):
                pids.append(int(p))
                break
    return pids


def start_time(pid):
    """Start time of a host process (to tell it from a later one reusing its pid), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


class Footprint:
    """What a running sandbox has on the host, recorded while it runs."""

    def __init__(self, daemon, sandbox_id):
        self.daemon = daemon
        self.id = sandbox_id
        self.dir = daemon.sandbox_dir(sandbox_id)
        self.pid = daemon.init_pid(sandbox_id)
        self.start = start_time(self.pid)
        assert self.start is not None, "init pid %d of %s is not alive" % (self.pid, sandbox_id)
        assert mounts_under(self.dir), "no mount under %s while it runs" % self.dir
        assert cgroup_dirs(sandbox_id), "no cgroup directory for %s while it runs" % sandbox_id
        assert self.pid in procs_in_cgroup(sandbox_id), "init %d not in its cgroup" % self.pid
        assert os.path.isdir(self.dir)

    def assert_runtime_gone(self):
        assert start_time(self.pid) != self.start, "init pid %d of %s still runs" % (
            self.pid, self.id)
        assert not procs_in_cgroup(self.id), "processes left in the cgroup of %s: %r" % (
            self.id, procs_in_cgroup(self.id))
        assert not mounts_under(self.dir), "mounts left: %r" % mounts_under(self.dir)
        assert not cgroup_dirs(self.id), "cgroup directories left: %r" % cgroup_dirs(self.id)

    def assert_all_gone(self):
        self.assert_runtime_gone()
        assert not os.path.exists(self.dir), "directory left: %s" % self.dir


def _long_exec(daemon, sandbox_id, holder):
    def run():
        try:
            holder["res"] = daemon.api("POST", "/v1/sandboxes/%s/exec" % sandbox_id,
                                       {"language": "sh", "code": "sleep 55", "timeout": 60},
                                       timeout=90)
        except Exception as e:  # the daemon may close the connection on shutdown
            holder["exc"] = e
    th = threading.Thread(target=run)
    th.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        procs, _ = proc_list(daemon, sandbox_id)
        if any(v[1] == "sleep 55" for v in procs.values()):
            return th
        time.sleep(0.1)
    raise AssertionError("sleep 55 never started in %s" % sandbox_id)


def test_cleanup_leaves_nothing(daemon):
    sid = daemon.create("python")
    daemon.exec_ok(sid, "open('/home/user/f.txt', 'w').write('x' * 100000)")
    fp = Footprint(daemon, sid)
    holder = {}
    th = _long_exec(daemon, sid, holder)
    t0 = time.monotonic()
    r = daemon.remove(sid)
    assert r.status == 200, r
    assert r.json.get("success") is True and r.json.get("cleaned_up") is True, r.json
    assert r.json.get("sandbox_id") == sid, r.json
    th.join(20)
    assert not th.is_alive(), "an exec running during cleanup did not return"
    assert time.monotonic() - t0 < 20
    fp.assert_all_gone()
    assert daemon.api("GET", "/v1/sandboxes/" + sid).status == 404
    sockets = os.listdir(os.path.join(daemon.state_dir, "a"))
    assert not sockets, "agent sockets left: %r" % sockets


def test_stop_ends_everything_but_files(daemon):
    sid = daemon.create("python")
    try:
        daemon.exec_ok(sid, "open('/home/user/keep.txt', 'w').write('kept')")
        fp = Footprint(daemon, sid)
        r = daemon.api("POST", "/v1/sandboxes/%s/stop" % sid)
        assert r.status == 200 and r.json["state"] == "stopped", r
        fp.assert_runtime_gone()
        assert daemon.read_upper_file(sid, "home/user/keep.txt") == "kept"
        r = daemon.api("POST", "/v1/sandboxes/%s/exec" % sid, {"code": "print(1)"})
        assert r.status == 409, r
        r = daemon.remove(sid)
        assert r.status == 200, r
        fp.assert_all_gone()
    finally:
        daemon.remove(sid)


def test_sigterm_with_running_sandboxes(fresh_daemon):
    d = fresh_daemon
    ids = [d.create("python"), d.create("minimal")]
    fps = []
    for sid in ids:
        d.exec_ok(sid, "open('/tmp/busy', 'w').write('1')")
        fps.append(Footprint(d, sid))
    holder = {}
    th = _long_exec(d, ids[0], holder)
    t0 = time.monotonic()
    rc = d.terminate()
    elapsed = time.monotonic() - t0
    th.join(20)
    assert rc == 0, "sandboxd exit status %r after SIGTERM (%.1fs)\nlog:\n%s" % (
        rc, elapsed, d.log_text()[-5000:])
    for fp in fps:
        fp.assert_all_gone()
    assert not mounts_under(d.state_dir), mounts_under(d.state_dir)
    assert os.listdir(os.path.join(d.state_dir, "sandboxes")) == []
    sockets = os.listdir(os.path.join(d.state_dir, "a"))
    assert not sockets, "agent sockets left: %r" % sockets
    assert d.instance_cgroups, "the daemon's cgroup directories were not found while it ran"
    left = leftover_instance_cgroups(d)
    assert not left, "sandboxd exited but left its own cgroup directories: %r" % left


def _wait_state(daemon, sid, want, timeout):
    deadline = time.monotonic() + timeout
    while True:
        st = daemon.api("GET", "/v1/sandboxes/" + sid).json
        if st.get("state") in want or time.monotonic() > deadline:
            return st
        time.sleep(0.1)


def test_lifetime_expiry_stops_the_sandbox(daemon):
    sid = daemon.create("python", timeout=2)
    try:
        daemon.exec_ok(sid, "open('/home/user/keep.txt', 'w').write('kept')")
        fp = Footprint(daemon, sid)
        t0 = time.monotonic()
        st = _wait_state(daemon, sid, ("stopped", "error"), 10)
        waited = time.monotonic() - t0
        assert st["state"] == "stopped", st
        assert waited < 5, "a 2 s lifetime ended after %.1fs" % waited
        fp.assert_runtime_gone()
        assert daemon.read_upper_file(sid, "home/user/keep.txt") == "kept"
        r = daemon.remove(sid)
        assert r.status == 200, r
        fp.assert_all_gone()
    finally:
        daemon.remove(sid)


def test_killed_init_is_noticed_and_cleaned(daemon):
    sid = daemon.create("python")
    try:
        fp = Footprint(daemon, sid)
        os.kill(fp.pid, 9)
        st = _wait_state(daemon, sid, ("stopped", "error"), 10)
        assert st["state"] in ("error", "stopped"), st
        fp.assert_runtime_gone()
        r = daemon.api("POST", "/v1/sandboxes/%s/exec" % sid, {"code": "print(1)"})
        assert r.status == 409, r
        assert daemon.api("GET", "/health").status == 200
        r = daemon.remove(sid)
        assert r.status == 200, r
        fp.assert_all_gone()
    finally:
        daemon.remove(sid)
