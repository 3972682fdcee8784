"""Finding 9 of the hardening review (issue 10): every daemon used the same host uid range,
so two daemons' sandboxes shared host uids, and nothing checked the range against
/etc/subuid. Each daemon now takes its own range (src/idrange): a free block of the
`sandboxd` entry of /etc/subuid and /etc/subgid, or --id-range; it refuses an overlap with
another user's entry or with another live daemon, and keeps its range across kill -9.

Refusals are checked on sandboxd itself (exit status, message) with subuid/subgid copies in a
temporary directory (--subuid-file, --subgid-file), never by editing /etc.
"""
import os
import subprocess
import tempfile
import threading
import time

from conftest import Daemon, HOST_TEMPLATES, SANDBOXD, _stop_and_check, cgroup_dirs

SLOT = 65536


def host_uids(cgroups):
    """{host pid: real uid} of the processes in these cgroup directories, seen from the host."""
    out = {}
    for path in cgroups:
        procs = os.path.join(path, "cgroup.procs")
        try:
            with open(procs) as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            out[pid] = int(line.split()[1])
            except OSError:
                pass
    return out


def refused(args, tmp):
    """Runs sandboxd that must refuse to start; returns its stderr."""
    cmd = [SANDBOXD, "--state-dir", os.path.join(tmp, "state"), "--socket",
           os.path.join(tmp, "api.sock"), "--templates", HOST_TEMPLATES] + args
    cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=60)
    err = cp.stderr.decode("utf-8", "replace")
    assert cp.returncode != 0, "sandboxd %s started (exit %d): %s" % (args, cp.returncode, err)
    assert "sandboxd ready" not in cp.stdout.decode("utf-8", "replace")
    return err


def test_two_daemons_never_share_host_uids():
    """Finding 9: two daemons' sandboxes, root and user processes alike, run as disjoint host
    uids, each inside its daemon's range."""
    a, b = Daemon().start(), Daemon().start()
    try:
        ra, rb = a.id_range(), b.id_range()
        assert ra[0] + ra[1] <= rb[0] or rb[0] + rb[1] <= ra[0], (ra, rb)
        sa, sb = a.create("python"), b.create("python")
        # A process of the sandbox's user in each, alive while the host looks.
        sleepers = [threading.Thread(target=d.exec_ok, args=(s, "import time; time.sleep(6)"),
                                     kwargs={"user": "user"}) for d, s in ((a, sa), (b, sb))]
        for t in sleepers:
            t.start()
        seen = {sa: {}, sb: {}}
        groups = {sid: cgroup_dirs(sid) for sid in seen}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
                len(set(v.values())) >= 2 for v in seen.values()):
            for sid in seen:
                seen[sid].update(host_uids(groups[sid]))
            time.sleep(0.2)
        for t in sleepers:
            t.join(60)
        uids_a, uids_b = set(seen[sa].values()), set(seen[sb].values())
        # Sandbox root (the agent) and the sandbox's user, in each.
        assert len(uids_a) >= 2 and len(uids_b) >= 2, seen
        assert not uids_a & uids_b, seen
        assert all(ra[0] <= u < ra[0] + ra[1] for u in uids_a), (ra, uids_a)
        assert all(rb[0] <= u < rb[0] + rb[1] for u in uids_b), (rb, uids_b)
        a.remove(sa)
        b.remove(sb)
    finally:
        for d in (a, b):
            _stop_and_check(d)


def test_overlap_with_another_users_subuid_entry_is_refused():
    """Finding 9: a range that overlaps another user's subordinate ids is refused, naming the
    entry and the file; both for a picked block and for --id-range."""
    with tempfile.TemporaryDirectory(prefix="sbxids", dir="/tmp") as tmp:
        subuid, subgid = os.path.join(tmp, "subuid"), os.path.join(tmp, "subgid")
        with open(subuid, "w") as f:
            f.write("sandboxd:268435456:2147483648\nalice:300000000:65536\n")
        with open(subgid, "w") as f:
            f.write("sandboxd:268435456:2147483648\n")
        files = ["--subuid-file", subuid, "--subgid-file", subgid]
        err = refused(files, tmp)
        assert "'alice:300000000:65536' (line 2) of %s" % subuid in err, err
        with open(subuid, "w") as f:
            f.write("sandboxd:268435456:2147483648\n")
        with open(subgid, "w") as f:
            f.write("bob:100000:65536\nsandboxd:268435456:2147483648\n")
        err = refused(files + ["--id-range", "131072:65536"], tmp)
        assert "'bob:100000:65536' (line 1) of %s" % subgid in err, err
        # No entry for the daemons' user at all: refused, pointing at setup.sh.
        with open(subuid, "w") as f:
            f.write("alice:100000:65536\n")
        err = refused(files, tmp)
        assert "no entry for 'sandboxd' in %s" % subuid in err and "setup.sh" in err, err


def test_second_daemon_on_an_overlapping_range_is_refused(fresh_daemon):
    """Finding 9: a daemon asking for ids of a live daemon's range is refused, naming that
    daemon's state dir and pid; so is a second daemon on the same state dir."""
    start, count = fresh_daemon.id_range()
    with tempfile.TemporaryDirectory(prefix="sbxids", dir="/tmp") as tmp:
        err = refused(["--id-range", "%d:%d" % (start + count - SLOT, 2 * SLOT)], tmp)
        assert "pid %d (state dir %s)" % (fresh_daemon.proc.pid, fresh_daemon.state_dir) in err, err
    with tempfile.TemporaryDirectory(prefix="sbxids", dir="/tmp") as tmp:
        cmd = [SANDBOXD, "--state-dir", fresh_daemon.state_dir, "--socket",
               os.path.join(tmp, "api.sock"), "--templates", HOST_TEMPLATES]
        cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        err = cp.stderr.decode()
        assert cp.returncode != 0, err
        assert "is in use by the running sandboxd pid %d" % fresh_daemon.proc.pid in err, err
    # The first daemon is unaffected.
    assert fresh_daemon.api("GET", "/v1/sandboxes").status == 200


def test_restart_after_kill9_keeps_the_range(fresh_daemon):
    """Finding 9: after kill -9 the daemon comes back on the same state dir with the same
    range (recorded in <state>/id-range), so its running sandbox is still its own; a
    different --id-range is refused while that sandbox exists."""
    d = fresh_daemon
    before = d.id_range()
    sid = d.create("python")
    init = d.init_pid(sid)
    d.kill9()
    d.start()
    assert d.id_range() == before
    ready = d.log_events("daemon.id_range")
    assert ready and ready[-1]["source"] == "recorded", ready
    assert d.exec_ok(sid, "print('alive')")["stdout"].strip() == "alive"
    with open("/proc/%d/status" % init) as f:
        uid = int([l for l in f if l.startswith("Uid:")][0].split()[1])
    assert before[0] <= uid < before[0] + before[1]
    d.kill9()
    with tempfile.TemporaryDirectory(prefix="sbxids", dir="/tmp") as tmp:
        other = before[0] + before[1]
        cmd = [SANDBOXD, "--state-dir", d.state_dir, "--socket", os.path.join(tmp, "api.sock"),
               "--templates", HOST_TEMPLATES, "--id-range", "%d:%d" % (other, before[1])]
        cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        err = cp.stderr.decode()
        assert cp.returncode != 0, err
        assert "recorded in %s/id-range" % d.state_dir in err, err
    d.start()
    assert d.id_range() == before
    assert d.remove(sid).status == 200
