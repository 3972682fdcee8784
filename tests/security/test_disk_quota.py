"""Finding 5 of the hardening review (issue 10): no disk or inode quota, a sandbox's user wrote
2 GiB into the host's disk. Each sandbox's writable layer now lives on a file system of its
own (a sparse ext4 image on a loop device, src/runtime/disk.h) whose size is the template's
`disk` and whose inode count is its `inodes`; the kernel answers ENOSPC past either, whoever
writes, sandbox root included.

Host free space is measured with statvfs of the file system that holds the state directory
(and so the images). Other processes on this machine write to it too, so the free-space checks
allow DISK_SLACK; the exact bound is the image's own allocation (st_blocks), which a sparse
file can never raise above its size, the quota.
"""
import errno
import json
import os
import re
import time

import pytest

from conftest import Daemon, _stop_and_check, mounts_under, unique_id

QUOTA_BYTES = 64 << 20
QUOTA_INODES = 4096
# Noise from other writers on the shared host disk during a test (builds, other tests' logs);
# the sandboxes below try to write 8x their quota, far beyond it.
DISK_SLACK = 48 << 20
TEMPLATES = {
    "templates": {
        "python": {"name": "quota test", "baseImage": "host", "cpus": 1, "memory": "512MB",
                   "timeout": 300, "disk": "64MB", "inodes": QUOTA_INODES},
        "big": {"name": "bigger disk", "baseImage": "host", "cpus": 1, "memory": "512MB",
                "timeout": 300, "disk": "128MB", "inodes": 8192},
    }
}

# Writes 1 MiB chunks to PATH until the kernel refuses (or 8x the quota went through), then
# reports the bytes written and the errno.
FILL = r'''
import errno, json, os
path = %r
written, err = 0, None
chunk = b"x" * (1 << 20)
try:
    with open(path, "wb") as f:
        while written < 8 * %d:
            f.write(chunk)
            f.flush()
            written += len(chunk)
        os.fsync(f.fileno())
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps({"written": written, "errno": err}))
'''


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def image_allocated(d, sid):
    return os.stat(os.path.join(d.sandbox_dir(sid), "disk.img")).st_blocks * 512


def loops_backed_under(path):
    """Loop devices whose backing file lies under path."""
    found = []
    for dev in os.listdir("/sys/block"):
        try:
            with open("/sys/block/%s/loop/backing_file" % dev) as f:
                backing = f.read().strip()
        except OSError:
            continue
        if backing.startswith(path + "/"):
            found.append((dev, backing))
    return found


def quota_daemon():
    d = Daemon()
    path = os.path.join(d.tmp, "templates.json")
    with open(path, "w") as f:
        json.dump(TEMPLATES, f)
    d.extra_args = ["--templates", path]
    return d


@pytest.fixture(scope="module")
def qd():
    d = quota_daemon().start()
    yield d
    _stop_and_check(d)


def fill(d, sid, path, user):
    return d.py_json(sid, FILL % (path, QUOTA_BYTES), user=user, timeout=120)


def test_writes_stop_at_the_disk_quota_as_user_and_as_root(qd):
    """The review's attack: the sandbox's user (then its root) writes far past the quota."""
    before = free_bytes(qd.state_dir)
    sid = qd.create("python")
    try:
        as_user = fill(qd, sid, "/home/user/big", "user")
        assert as_user["errno"] in ("ENOSPC", "EDQUOT"), as_user
        assert as_user["written"] <= QUOTA_BYTES, as_user
        # The shell's way too, as the user: dd stops with "No space left on device".
        dd = qd.exec(sid, "dd if=/dev/zero of=/tmp/dd bs=1M count=512", language="bash")
        assert dd["exit_code"] != 0 and "No space left" in dd["stderr"], dd
        # Root of the sandbox has no reserved blocks and no CAP_SYS_RESOURCE on the host.
        qd.exec_ok(sid, "import os; os.remove('/home/user/big'); os.remove('/tmp/dd')",
                   user="root")
        as_root = fill(qd, sid, "/root/big", "root")
        assert as_root["errno"] in ("ENOSPC", "EDQUOT"), as_root
        assert as_root["written"] <= QUOTA_BYTES, as_root
        falloc = qd.py_json(sid, r'''
import errno, json, os
fd = os.open("/root/fa", os.O_WRONLY | os.O_CREAT, 0o600)
try:
    os.posix_fallocate(fd, 0, 1 << 30)
    print(json.dumps({"errno": None}))
except OSError as e:
    print(json.dumps({"errno": errno.errorcode[e.errno]}))
''', user="root")
        assert falloc["errno"] in ("ENOSPC", "EDQUOT"), falloc
        # What the host paid: the image, never more than its size (the quota).
        assert image_allocated(qd, sid) <= QUOTA_BYTES
        assert before - free_bytes(qd.state_dir) <= QUOTA_BYTES + DISK_SLACK
    finally:
        assert qd.remove(sid).status == 200


def test_file_creation_stops_at_the_inode_quota(qd):
    sid = qd.create("python")
    try:
        out = qd.py_json(sid, r'''
import errno, json, os
os.makedirs("/home/user/many", exist_ok=True)
n, err = 0, None
try:
    while n < 4 * %d:
        open("/home/user/many/f%%d" %% n, "w").close()
        n += 1
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps({"created": n, "errno": err}))
''' % QUOTA_INODES, timeout=120)
        assert out["errno"] in ("ENOSPC", "EDQUOT"), out
        # mkfs rounds the inode count up to whole inode-table blocks per group (a few dozen).
        assert QUOTA_INODES // 2 < out["created"] <= QUOTA_INODES + 256, out
        # As root too (the same inodes).
        root = qd.exec(sid, "import os; open('/root/one_more', 'w')", user="root")
        assert root["exit_code"] != 0 and "No space left" in root["stderr"], root
    finally:
        assert qd.remove(sid).status == 200


def test_two_sandboxes_have_independent_quotas_and_cleanup_frees_the_space(qd):
    before = free_bytes(qd.state_dir)
    a = qd.create("python")
    b = qd.create("big")
    full_a = fill(qd, a, "/home/user/big", "user")
    assert full_a["errno"] in ("ENOSPC", "EDQUOT"), full_a
    # A is full; B still writes up to its own, larger quota.
    full_b = fill(qd, b, "/home/user/big", "user")
    assert full_b["errno"] in ("ENOSPC", "EDQUOT"), full_b
    assert QUOTA_BYTES < full_b["written"] <= 2 * QUOTA_BYTES, full_b
    assert image_allocated(qd, a) <= QUOTA_BYTES
    assert image_allocated(qd, b) <= 2 * QUOTA_BYTES
    filled = free_bytes(qd.state_dir)
    assert before - filled >= QUOTA_BYTES, "the writes did not reach the host disk?"
    assert qd.remove(a).status == 200
    assert qd.remove(b).status == 200
    assert not os.path.exists(qd.sandbox_dir(a)) and not os.path.exists(qd.sandbox_dir(b))
    assert not mounts_under(os.path.join(qd.state_dir, "sandboxes", a))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and before - free_bytes(qd.state_dir) > DISK_SLACK:
        time.sleep(0.2)
    assert before - free_bytes(qd.state_dir) <= DISK_SLACK


def test_quota_shows_in_the_api_and_metrics(qd):
    sid = qd.create("python")
    try:
        limits = qd.api("GET", "/v1/sandboxes/" + sid).json["limits"]
        assert limits["disk_bytes"] == QUOTA_BYTES and limits["inodes"] == QUOTA_INODES, limits
        qd.exec_ok(sid, "open('/home/user/ten', 'wb').write(b'x' * (10 << 20))")
        # Inside, df shows the sandbox's own disk.
        fs = qd.py_json(sid, "import os, json; s = os.statvfs('/'); "
                             "print(json.dumps([s.f_blocks * s.f_frsize, s.f_files]))")
        assert fs[0] <= QUOTA_BYTES and QUOTA_INODES <= fs[1] <= QUOTA_INODES + 256, fs
        deadline = time.monotonic() + 15
        text, cap = "", {}
        while time.monotonic() < deadline:
            text = qd.api("GET", "/metrics").body.decode()
            r = qd.api("GET", "/v1/sandboxes/%s/metrics/capture" % sid)
            cap = r.json if r.status == 200 else {}
            if ('sandboxd_sandbox_inodes{sandbox_id="%s"}' % sid) in text and \
                    cap.get("disk_used", 0) >= 10 << 20:
                break
            time.sleep(0.5)

        def gauge(name):
            m = re.search(r'^%s\{sandbox_id="%s"\} (\S+)$' % (name, sid), text, re.M)
            assert m, "no %s for %s in /metrics:\n%s" % (name, sid, text[-3000:])
            return float(m.group(1))

        limit = gauge("sandboxd_sandbox_disk_limit_bytes")
        assert QUOTA_BYTES * 0.8 < limit <= QUOTA_BYTES
        assert gauge("sandboxd_sandbox_disk_bytes") >= 10 << 20
        assert QUOTA_INODES <= gauge("sandboxd_sandbox_inodes_limit") <= QUOTA_INODES + 256
        assert gauge("sandboxd_sandbox_inodes") >= 1
        assert cap.get("disk_used", 0) >= 10 << 20, cap
        assert 15 <= cap["disk_percent"] <= 100, cap
        series = qd.api("GET", "/v1/sandboxes/%s/metrics" % sid).json
        points = series if isinstance(series, list) else series.get("metrics", [])
        assert points and points[-1]["diskTotal"] == limit, points[-1:]
        assert cap["disk_limit"] == limit, cap
        stats = qd.sbx_ok("stats", "--no-stream", "--json")
        mine = [s for s in stats["sandboxes"] if s["sandbox_id"] == sid]
        assert mine and mine[0]["disk_limit"] == limit, stats
    finally:
        assert qd.remove(sid).status == 200


def test_kill9_keeps_the_quota_and_sigterm_leaves_no_mount_or_loop_device():
    d = quota_daemon().start()
    try:
        sid = d.create("python")
        d.exec_ok(sid, "open('/home/user/kept', 'w').write('before the crash')")
        d.kill9()
        d.start()
        assert d.api("GET", "/v1/sandboxes/" + sid).json["state"] == "running"
        assert d.exec_ok(sid, "print(open('/home/user/kept').read())")["stdout"] == \
            "before the crash\n"
        full = fill(d, sid, "/home/user/big", "user")
        assert full["errno"] in ("ENOSPC", "EDQUOT") and full["written"] <= QUOTA_BYTES, full
        stopped = d.create("python")
        assert d.api("POST", "/v1/sandboxes/%s/stop" % stopped).status == 200
        # A stopped sandbox keeps its image, unmounted, and no loop device.
        assert os.path.exists(os.path.join(d.sandbox_dir(stopped), "disk.img"))
        assert not mounts_under(d.sandbox_dir(stopped))
        assert d.api("DELETE", "/v1/sandboxes/" + stopped).status == 200
        assert not [l for l in loops_backed_under(d.tmp) if stopped in l[1]]
    finally:
        tmp = os.path.realpath(d.tmp)
        rc = d.terminate()
        leaked_mounts = mounts_under(tmp)
        deadline = time.monotonic() + 5
        while loops_backed_under(tmp) and time.monotonic() < deadline:
            time.sleep(0.1)
        leaked_loops = loops_backed_under(tmp)
        d.close()
    assert rc == 0
    assert not leaked_mounts, leaked_mounts
    assert not leaked_loops, leaked_loops


def test_disk_quota_off_keeps_the_upper_layer_on_the_state_disk():
    d = quota_daemon()
    d.extra_args += ["--disk-quota", "off"]
    d.start()
    try:
        sid = d.create("python")
        assert not os.path.exists(os.path.join(d.sandbox_dir(sid), "disk.img"))
        assert os.path.isdir(os.path.join(d.sandbox_dir(sid), "upper"))
        assert "disk_bytes" not in d.api("GET", "/v1/sandboxes/" + sid).json["limits"]
        assert d.remove(sid).status == 200
    finally:
        _stop_and_check(d)


def test_bad_disk_quota_setting_refuses_to_start():
    d = quota_daemon()
    d.extra_args += ["--disk-quota", "maybe"]
    with pytest.raises(AssertionError):
        d.start()
    d.close()
