"""Isolation, seen from inside a sandbox and checked from the host: processes, files, writes,
network, privileges, pids/memory limits, seccomp and exec timeouts. Every probe runs real code in
a real sandbox (python3 comes from the host's /usr, the template's lower layer)."""
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import socketserver
import subprocess
import threading
import time

import pytest

from conftest import PROC_LIST, host_cmdlines, live_procs, proc_list

# Python prelude for the probes: raw system calls through ctypes, errno kept.
SYSCALL_PRELUDE = r'''
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *args):
    conv = []
    for a in args:
        if a is None or isinstance(a, bytes):
            conv.append(ctypes.c_char_p(a))
        else:
            conv.append(ctypes.c_long(a))
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *conv)
    return [r, ctypes.get_errno() if r == -1 else 0]
'''

# ---------------------------------------------------------------- (a) processes

def test_host_processes_are_invisible(daemon, sandbox):
    marker = "%d.%d" % (4000 + secrets.randbelow(1000), secrets.randbelow(1000))
    host_sleep = subprocess.Popen(["sleep", marker])
    try:
        procs, self_pid = proc_list(daemon, sandbox)
    finally:
        host_sleep.kill()
        host_sleep.wait()
    assert "1" in procs, "no pid 1 in the sandbox: %r" % procs
    comm1, cmd1, _ = procs["1"]
    assert "sbx-agent" in comm1 or "sbx-agent" in cmd1, "pid 1 is not the agent: %r" % procs["1"]
    assert str(self_pid) in procs and "python3" in procs[str(self_pid)][1]
    assert len(procs) <= 8, "too many processes visible: %r" % procs
    cmdlines = " | ".join(v[1] for v in procs.values())
    assert "sandboxd" not in cmdlines and "pytest" not in cmdlines, procs
    assert "sleep " + marker not in cmdlines, "a host process is visible: %r" % procs
    for host_pid in (os.getpid(), daemon.proc.pid, host_sleep.pid):
        if str(host_pid) in procs:
            assert procs[str(host_pid)][1] not in (host_cmdlines().get(host_pid), ""), (
                "host pid %d is visible in the sandbox: %r" % (host_pid, procs[str(host_pid)]))


# ---------------------------------------------------------------- (b) host files

def test_host_files_are_unreadable(daemon, sandbox):
    name = "sbx_secret_" + secrets.token_hex(6)
    secret = "SECRET-" + secrets.token_hex(24)
    state = os.path.realpath(daemon.state_dir)
    planted = [os.path.join("/root", name), os.path.join(state, name)]
    marker_dirs = [os.path.join(d, name) for d in ("/home", "/var", "/run")]
    try:
        for p in planted:
            with open(p, "w") as f:
                f.write(secret)
        for d in marker_dirs:
            os.mkdir(d)
            with open(os.path.join(d, "s.txt"), "w") as f:
                f.write(secret)
        candidates = [
            "/root/" + name,
            state + "/" + name,
            "/proc/1/root/root/" + name,
            "/proc/1/root" + state + "/" + name,
            "/proc/self/root/root/" + name,
            "../../../../../../../root/" + name,
            "/home/user/../../../root/" + name,
            "/proc/1/cwd/../../../root/" + name,
            "/proc/%d/root/root/%s" % (daemon.proc.pid, name),
            "/proc/%d/root/root/%s" % (os.getpid(), name),
        ] + [d + "/s.txt" for d in marker_dirs]
        code = r'''
import json, os
paths = %r
res = {}
for p in paths:
    try:
        with open(p, 'rb') as f:
            res[p] = 'READ:' + f.read().decode('utf-8', 'replace')
    except Exception as e:
        res[p] = 'ERR:' + type(e).__name__
listing = {}
for d in ('/home', '/var', '/run', '/root', '/'):
    try:
        listing[d] = sorted(os.listdir(d))
    except Exception as e:
        listing[d] = 'ERR:' + type(e).__name__
print(json.dumps({"res": res, "listing": listing, "state_exists": os.path.exists(%r)}))
''' % (candidates, state)
        for user in ("user", "root"):
            out = daemon.py_json(sandbox, code, user=user)
            for p, r in out["res"].items():
                assert secret not in r, "as %s, %s in the sandbox read a host secret" % (user, p)
                assert r.startswith("ERR:"), "as %s, %s is readable: %r" % (user, p, r)
            for d, entries in out["listing"].items():
                if d in ("/home", "/var", "/run"):
                    assert isinstance(entries, list), (d, entries)
                if isinstance(entries, list):  # /root is closed to the sandbox user
                    assert name not in entries, "host %s/%s is visible in the sandbox" % (d, name)
            for e in os.listdir("/home"):
                if e not in ("user", name):
                    assert e not in out["listing"]["/home"], "host /home/%s visible" % e
            assert out["state_exists"] is False, "the daemon's state dir exists in the sandbox"
    finally:
        for p in planted:
            if os.path.exists(p):
                os.unlink(p)
        for d in marker_dirs:
            shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- (c) writes stay inside

def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_writes_stay_inside(daemon, sandbox):
    name = "sbx_w_" + secrets.token_hex(6)
    token = secrets.token_hex(20)
    thp = "/sys/kernel/mm/transparent_hugepage/enabled"
    with open(thp) as f:
        thp_current = re.search(r"\[(\w+)\]", f.read()).group(1)
    passwd_sha = _sha("/etc/passwd")
    hostname = socket.gethostname()
    code = r'''
import json, os
N, TOKEN = %r, %r
r = {}
def attempt(key, path, data, mode='w'):
    try:
        with open(path, mode) as f:
            f.write(data)
        r[key] = 'ok'
    except Exception as e:
        r[key] = '%%s:%%s' %% (type(e).__name__, getattr(e, 'errno', None))
N = N + '_' + str(os.getuid())
attempt('tmp', '/tmp/' + N, TOKEN)
attempt('home', '/home/user/' + N, TOKEN)
attempt('usr_bin', '/usr/bin/' + N, TOKEN)
attempt('etc_passwd', '/etc/passwd', 'evil:x:0:0::/:/bin/sh\n', 'a')
attempt('hostname', '/proc/sys/kernel/hostname', 'evil' + N[-6:])
attempt('drop_caches', '/proc/sys/vm/drop_caches', '1')
attempt('sys_thp', %r, %r)
attempt('sysrq', '/proc/sysrq-trigger', 'h')
print(json.dumps(r))
''' % (name, token, thp, thp_current)
    try:
        as_root = daemon.py_json(sandbox, code, user="root")
        as_user = daemon.py_json(sandbox, code, user="user")
        for who, r in (("root", as_root), ("user", as_user)):
            assert r["tmp"] == "ok" and r["home"] == "ok", (who, r)
            for key in ("usr_bin", "drop_caches", "sys_thp", "sysrq"):
                assert r[key] != "ok", "as sandbox %s, writing %s succeeded: %r" % (who, key, r)
        assert as_user["etc_passwd"] != "ok" and as_user["hostname"] != "ok", as_user

        # The host saw none of it (N_0 written as sandbox root, N_1000 as the sandbox user).
        names = [name + "_0", name + "_1000"]
        for n in names:
            for p in ("/tmp/" + n, "/usr/bin/" + n, "/home/user/" + n, "/root/" + n):
                assert not os.path.exists(p), "a sandbox write reached the host: %s" % p
        assert _sha("/etc/passwd") == passwd_sha, "host /etc/passwd changed"
        assert socket.gethostname() == hostname, "host hostname changed"
        with open(thp) as f:
            assert "[%s]" % thp_current in f.read()
        # ... while the sandbox's own layer holds them.
        for n in names:
            assert daemon.read_upper_file(sandbox, "home/user/" + n) == token

        # A second sandbox sees none of the first one's files.
        other = daemon.create("python")
        try:
            out = daemon.py_json(other, r'''
import json, os
names = %r
print(json.dumps({"tmp": any(os.path.exists('/tmp/' + n) for n in names),
                  "home": any(os.path.exists('/home/user/' + n) for n in names),
                  "passwd_evil": 'evil:' in open('/etc/passwd').read()}))
''' % names, user="root")
            assert out == {"tmp": False, "home": False, "passwd_evil": False}, out
        finally:
            daemon.remove(other)
    finally:
        for n in (name + "_0", name + "_1000"):
            for p in ("/tmp/" + n, "/usr/bin/" + n):
                if os.path.exists(p):
                    os.unlink(p)


# ---------------------------------------------------------------- (d) network

class _Banner(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"HOST-SERVICE")


def _host_ipv4s():
    out = subprocess.run(["ip", "-4", "-o", "addr"], stdout=subprocess.PIPE, check=True).stdout
    ips = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out.decode())
    return [ip for ip in ips if not ip.startswith("127.")]


def test_network_only_own_loopback(daemon, sandbox):
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    servers = [socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Banner),
               socketserver.ThreadingTCPServer(("0.0.0.0", 0), _Banner)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    lo_port = servers[0].server_address[1]
    any_port = servers[1].server_address[1]
    host_ips = _host_ipv4s()
    try:
        # Control: the services answer on the host.
        for host, port in [("127.0.0.1", lo_port)] + [(ip, any_port) for ip in host_ips]:
            with socket.create_connection((host, port), timeout=3) as c:
                assert c.recv(100) == b"HOST-SERVICE"
        code = r'''
import json, socket
r = {}
def tryconn(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        return 'connected:' + s.recv(100).decode('utf-8', 'replace')
    except Exception as e:
        return '%%s:%%s' %% (type(e).__name__, getattr(e, 'errno', None))
    finally:
        s.close()
r['host_lo'] = tryconn('127.0.0.1', %d)
r['host_lo_any'] = tryconn('127.0.0.1', %d)
r['host_ips'] = [tryconn(ip, %d) for ip in %r]
r['outside'] = tryconn('192.0.2.1', 80)
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen(1)
c = socket.create_connection(('127.0.0.1', srv.getsockname()[1]), timeout=3)
a, _ = srv.accept()
a.sendall(b'inside-ok')
r['own'] = c.recv(100).decode()
r['ifaces'] = sorted(n for _, n in socket.if_nameindex())
print(json.dumps(r))
''' % (lo_port, any_port, any_port, host_ips)
        out = daemon.py_json(sandbox, code)
        assert out["own"] == "inside-ok", out
        assert out["ifaces"] == ["lo"], out
        assert out["host_lo"].startswith("ConnectionRefusedError"), out
        assert out["host_lo_any"].startswith("ConnectionRefusedError"), out
        for r in out["host_ips"] + [out["outside"]]:
            assert not r.startswith("connected"), out
            assert r.startswith("OSError:%d" % errno.ENETUNREACH) or "Refused" in r, out
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


# ---------------------------------------------------------------- (e) not host root

PRIV_PROBE = SYSCALL_PRELUDE + r'''
st = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
r = {'uid': os.getuid(), 'gid': os.getgid(),
     'uid_map': open('/proc/self/uid_map').read(), 'gid_map': open('/proc/self/gid_map').read(),
     'capeff': int(st['CapEff'].strip(), 16), 'capprm': int(st['CapPrm'].strip(), 16),
     'capbnd': int(st['CapBnd'].strip(), 16)}
r['init_module'] = sc(175, None, 0, b'')
fd = os.open('/usr/bin/true', os.O_RDONLY)
r['finit_module'] = sc(313, fd, b'', 0)
os.close(fd)
os.makedirs('/tmp/mnt_probe', exist_ok=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
def mnt(src, dst, fstype, flags):
    ctypes.set_errno(0)
    rc = libc.mount(src, dst, fstype, flags, None)
    return [rc, ctypes.get_errno() if rc != 0 else 0]
r['mount_tmpfs'] = mnt(b'none', b'/tmp/mnt_probe', b'tmpfs', 0)
r['mount_bind'] = mnt(b'/usr', b'/tmp/mnt_probe', None, 4096)
r['mount_vda'] = mnt(b'/dev/vda', b'/tmp/mnt_probe', b'ext4', 1)
r['mount_proc'] = mnt(b'proc', b'/tmp/mnt_probe', b'proc', 0)
r['unshare_user'] = sc(272, 0x10000000)
r['mounted'] = any(l.split()[4] == '/tmp/mnt_probe' for l in open('/proc/self/mountinfo'))
print(json.dumps(r))
'''

CAP_SYS_MODULE = 16
CAP_SYS_ADMIN = 21


def _parse_map(text):
    rows = [tuple(int(x) for x in line.split()) for line in text.strip().splitlines()]
    assert rows, "empty id map"
    return rows


def test_not_host_root(daemon, sandbox):
    outs = {u: daemon.py_json(sandbox, PRIV_PROBE, user=u) for u in ("root", "user")}
    assert outs["root"]["uid"] == 0 and outs["root"]["gid"] == 0
    assert outs["user"]["uid"] == 1000
    for who, r in outs.items():
        for key in ("uid_map", "gid_map"):
            for inside, outside, count in _parse_map(r[key]):
                assert not (outside <= 0 < outside + count), (
                    "%s: host id 0 is inside the sandbox's range: %r" % (key, r[key]))
        for key in ("capeff", "capprm"):
            for bit in (CAP_SYS_ADMIN, CAP_SYS_MODULE):
                assert not r[key] & (1 << bit), "%s has capability %d in %s" % (who, bit, key)
        assert r["init_module"] == [-1, errno.EPERM], (who, r)
        assert r["finit_module"] == [-1, errno.EPERM], (who, r)
        assert r["mount_tmpfs"] == [-1, errno.EPERM], (who, r)
        assert r["mount_bind"] == [-1, errno.EPERM], (who, r)
        assert r["mount_proc"] == [-1, errno.EPERM], (who, r)
        assert r["mount_vda"][0] == -1, (who, r)
        assert r["unshare_user"] == [-1, errno.EPERM], (who, r)
        assert r["mounted"] is False
    assert outs["user"]["capeff"] == 0, outs["user"]
    # Seen from the host, the sandbox's init runs as the mapped (non-zero) uid.
    root_host_uid = _parse_map(outs["root"]["uid_map"])[0][1]
    pid = daemon.init_pid(sandbox)
    with open("/proc/%d/status" % pid) as f:
        st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    host_uids = [int(x) for x in st["Uid"].split()]
    assert 0 not in host_uids, "the sandbox's init runs as host uid 0: %r" % host_uids
    assert root_host_uid != 0


# ---------------------------------------------------------------- (f) fork bomb

FORK_BOMB = r'''
import errno, json, os, time
# Fork until the sandbox has sat at its pids limit for a while: at least 5 s and at least 20
# failed forks (a loaded host forks slowly), at most 25 s. Children hold their pid until they
# are killed; failures are retried.
start = time.time()
soft, hard = start + 5, start + 25
kids, errnos, failures = [], set(), 0
while time.time() < hard and (time.time() < soft or failures < 20):
    try:
        pid = os.fork()
    except OSError as e:
        errnos.add(e.errno)
        failures += 1
        time.sleep(0.01)
        continue
    if pid == 0:
        time.sleep(35)
        os._exit(0)
    kids.append(pid)
for k in kids:
    try:
        os.kill(k, 9)
    except OSError:
        pass
for k in kids:
    try:
        os.waitpid(k, 0)
    except OSError:
        pass
print(json.dumps({"forked": len(kids), "errnos": sorted(errnos), "failures": failures}))
'''


def test_fork_bomb_hits_pids_limit(daemon):
    sid = daemon.create("minimal")
    try:
        limits = daemon.api("GET", "/v1/sandboxes/" + sid).json.get("limits", {})
        result = {}

        def bomb():
            t0 = time.monotonic()
            result["res"] = daemon.exec(sid, FORK_BOMB, timeout=40)
            result["elapsed"] = time.monotonic() - t0

        th = threading.Thread(target=bomb)
        th.start()
        worst = 0.0
        samples = 0
        while th.is_alive():
            t0 = time.monotonic()
            subprocess.run(["true"], check=True)
            worst = max(worst, time.monotonic() - t0)
            samples += 1
            time.sleep(0.2)
        th.join()
        res = result["res"]
        assert result["elapsed"] < 40, res
        assert samples >= 3, "the host was probed only %d times" % samples
        assert worst < 1.0, "host `true` took %.2fs during the fork bomb" % worst
        lines = [l for l in res["stdout"].splitlines() if l.startswith("{")]
        assert lines, "the bomb did not report: %s" % json.dumps(res)[:3000]
        out = json.loads(lines[-1])
        assert out["errnos"] == [errno.EAGAIN], "fork did not fail with EAGAIN: %r" % out
        assert out["failures"] > 10, out
        assert 10 < out["forked"] < 4096, out
        if limits.get("pids_max"):
            assert out["forked"] < limits["pids_max"], (out, limits)
        # Afterwards the sandbox answers and has few processes (the agent reaped them).
        deadline = time.monotonic() + 5
        while True:
            procs, _ = proc_list(daemon, sid)
            if len(procs) <= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(procs) <= 5, "processes left after the fork bomb: %d" % len(procs)
    finally:
        daemon.remove(sid)


# ---------------------------------------------------------------- (g) memory

def test_memory_limit_oom(daemon):
    sid = daemon.create("minimal")
    try:
        sb = daemon.api("GET", "/v1/sandboxes/" + sid).json
        assert sb["limits"]["memory_bytes"] == 512 * 1024 * 1024, sb
        code = r'''
import sys
chunks = []
for i in range(24):
    chunks.append(b'x' * (64 << 20))
    sys.stderr.write('%d MiB\n' % ((i + 1) * 64))
    sys.stderr.flush()
print('survived', sum(map(len, chunks)))
'''
        res = daemon.exec(sid, code, timeout=60)
        assert res["status"] == "oom", "allocating 1.5 GB in 512 MB: %s" % json.dumps(res)[:3000]
        assert res["success"] is False
        assert "survived" not in res["stdout"]
        # The daemon and the sandbox survive.
        assert daemon.api("GET", "/health").status == 200
        assert daemon.api("GET", "/v1/sandboxes/" + sid).json["state"] == "running"
        assert daemon.exec_ok(sid, "print('still here')")["stdout"] == "still here\n"
        # A moderate allocation is fine.
        daemon.exec_ok(sid, "b = b'x' * (128 << 20); print(len(b))")
    finally:
        daemon.remove(sid)


# ---------------------------------------------------------------- (h) seccomp

SECCOMP_PROBE = SYSCALL_PRELUDE + r'''
st = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
r = {'seccomp': st.get('Seccomp', '').strip(), 'nnp': st.get('NoNewPrivs', '').strip()}
r['keyctl'] = sc(250, 0, -3, 1)
r['add_key'] = sc(248, b'user', b'sbxprobe', b'v', 1, -3)
r['bpf'] = sc(321, 0, None, 0)
r['perf_event_open'] = sc(298, None, 0, -1, -1, 0)
r['userfaultfd'] = sc(323, 1)
r['kexec_load'] = sc(246, 0, 0, None, 0)
print(json.dumps(r))
'''


def test_seccomp_blocks_dangerous_syscalls(daemon, sandbox):
    # Control: on the host these probes are not refused with EPERM, so an EPERM in the sandbox
    # comes from the sandbox's filter.
    host = json.loads(subprocess.run(
        ["/usr/bin/python3", "-c", SECCOMP_PROBE], stdout=subprocess.PIPE, check=True,
        preexec_fn=lambda: os.setresuid(65534, 65534, 65534)).stdout.decode().splitlines()[-1])
    for key in ("keyctl", "perf_event_open", "userfaultfd"):
        assert host[key][1] != errno.EPERM, "host control for %s: %r" % (key, host)
    for user in ("user", "root"):
        r = daemon.py_json(sandbox, SECCOMP_PROBE, user=user)
        assert r["seccomp"] == "2", "no seccomp filter (as %s): %r" % (user, r)
        assert r["nnp"] == "1", "no_new_privs not set (as %s): %r" % (user, r)
        for key in ("keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load"):
            assert r[key] == [-1, errno.EPERM], "%s as %s: %r" % (key, user, r[key])
    # The sandbox still works.
    assert daemon.exec_ok(sandbox, "print(2 + 2)")["stdout"] == "4\n"


# ---------------------------------------------------------------- (i) exec timeout

def test_exec_timeout_kills_process_tree(daemon, sandbox):
    code = ("sleep 301 & sleep 302 & "
            "python3 -c 'import os, time; os.setpgid(0, 0); time.sleep(303)' & "
            "wait")
    t0 = time.monotonic()
    rc, out = daemon.sbx("exec", "--sandbox-id", sandbox, "--language", "bash",
                         "--timeout", "2", "--code", code)
    elapsed = time.monotonic() - t0
    assert out["status"] == "timeout", out
    assert rc != 0 and out["success"] is False
    assert 1.9 <= elapsed < 8, "timeout 2 s returned after %.1fs" % elapsed
    procs, _ = proc_list(daemon, sandbox)
    left = [v for v in live_procs(procs).values()
            if "sleep 30" in v[1] or "time.sleep(303)" in v[1]]
    assert not left, "processes of the timed-out exec are still there: %r" % left
    # Nor are they alive on the host.
    host_left = [c for c in host_cmdlines().values()
                 if c in ("sleep 301", "sleep 302") or "time.sleep(303)" in c]
    assert not host_left, host_left
    assert daemon.exec_ok(sandbox, "print('next')")["stdout"] == "next\n"
