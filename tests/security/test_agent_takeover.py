"""Root inside a sandbox must not take over its own agent (issue 10, finding 3).

The review's attack: pidfd_open(1) + pidfd_getfd gave sandbox root the agent's descriptors (a
writable one to its log file on the host, and its listening socket, which then answered
`sbx cp` downloads with forged content); making that socket non-blocking made the agent exit.
Now the agent is not dumpable (so no process of the sandbox passes the kernel's ptrace access
check on it, whatever its uid), pidfd_getfd is denied by seccomp, and its log is a pipe to the
daemon. Each attack below runs inside the sandbox, as its root and as its user.
"""
import ctypes
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import threading
import time

import pytest

USERS = ["root", "user"]


@pytest.fixture(scope="module")
def victim(daemon):
    sid = daemon.create("python")
    yield sid
    daemon.remove(sid)


def test_pidfd_getfd_on_the_agent_fails(daemon, victim, user):
    code = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
pidfd = os.pidfd_open(1)
out = {}
for fd in range(0, 8):
    r = libc.syscall(ctypes.c_long(438), ctypes.c_long(pidfd), ctypes.c_long(fd), ctypes.c_long(0))
    out[fd] = ctypes.get_errno() if r == -1 else "got fd %d" % r
print(json.dumps(out))
"""
    got = daemon.py_json(victim, code, user=user)
    assert set(got.values()) == {errno.EPERM}, "pidfd_getfd(1, fd) as %s: %s" % (user, got)


def probe_paths(daemon, sid, user, attempts):
    """Runs `attempts` (name -> python expression) inside; name -> errno (0: it worked)."""
    code = "import json, os\nout = {}\n"
    for name, expr in attempts.items():
        code += ("try:\n    %s\n    out[%r] = 0\nexcept OSError as e:\n    out[%r] = e.errno\n"
                 % (expr, name, name))
    code += "print(json.dumps(out))\n"
    return daemon.py_json(sid, code, user=user)


def test_proc_1_fd_cannot_be_opened(daemon, victim, user):
    """Neither opened nor read as links, nor their fdinfo. (Root may still list the numbers
    in /proc/1/fd: the directory is its own; what is behind them stays closed.)"""
    attempts = {}
    for fd in range(0, 4):  # /dev/null, the log pipe twice, the listening socket
        attempts["open_rdonly_%d" % fd] = "os.close(os.open('/proc/1/fd/%d', os.O_RDONLY))" % fd
        attempts["open_wr_%d" % fd] = "os.close(os.open('/proc/1/fd/%d', os.O_WRONLY))" % fd
        attempts["readlink_%d" % fd] = "os.readlink('/proc/1/fd/%d')" % fd
        attempts["fdinfo_%d" % fd] = "open('/proc/1/fdinfo/%d').read()" % fd
    got = probe_paths(daemon, victim, user, attempts)
    assert set(got.values()) == {errno.EACCES}, "as %s: %s" % (user, got)


def test_proc_1_mem_and_environ_are_unreadable(daemon, victim, user):
    got = probe_paths(daemon, victim, user, {
        "mem": "open('/proc/1/mem', 'rb').read(1)",
        "mem_write": "open('/proc/1/mem', 'r+b')",
        "environ": "open('/proc/1/environ', 'rb').read()",
        "maps": "open('/proc/1/maps').read()",
    })
    assert set(got.values()) == {errno.EACCES}, "as %s: %s" % (user, got)


def test_agent_is_not_dumpable(daemon, victim):
    """Sandbox root has the agent's uid and no CAP_SYS_PTRACE: the kernel's ptrace access check
    on the agent then fails only because the agent is not dumpable. Processes the agent starts
    are dumpable again (execve resets it), so debugging one's own programs still works."""
    code = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
status = dict(l.split(':', 1) for l in open('/proc/1/status').read().splitlines() if ':' in l)
me = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
out = {"agent_uid": status["Uid"].split()[1], "my_uid": os.geteuid(),
       "my_cap_sys_ptrace": bool(int(me["CapEff"].strip(), 16) & (1 << 19)),
       "my_dumpable": libc.prctl(3, 0, 0, 0, 0)}
for link in ("exe", "cwd", "root"):
    try:
        os.readlink('/proc/1/' + link); out[link] = 0
    except OSError as e:
        out[link] = e.errno
print(json.dumps(out))
"""
    got = daemon.py_json(victim, code, user="root")
    assert got["agent_uid"] == "0" and got["my_uid"] == 0 and not got["my_cap_sys_ptrace"], got
    assert (got["exe"], got["cwd"], got["root"]) == (errno.EACCES,) * 3, got
    assert got["my_dumpable"] == 1, got


def test_agent_log_is_a_pipe_not_a_host_file(daemon, victim):
    """No agent.log on the host any more; the agent's stdout and stderr are a pipe whose only
    reader is the daemon."""
    assert not os.path.exists(os.path.join(daemon.sandbox_dir(victim), "agent.log"))
    pid = daemon.init_pid(victim)
    for fd in (1, 2):
        st = os.stat("/proc/%d/fd/%d" % (pid, fd))
        assert stat.S_ISFIFO(st.st_mode), "agent fd %d is %o, not a pipe" % (fd, st.st_mode)
    # Nothing in the sandbox can write into it (the attack grew the host file through fd 1).
    got = probe_paths(daemon, victim, "root", {
        "fd1": "os.write(os.open('/proc/1/fd/1', os.O_WRONLY), b'forged line\\n')",
        "fd2": "os.write(os.open('/proc/1/fd/2', os.O_WRONLY), b'forged line\\n')",
    })
    assert set(got.values()) == {errno.EACCES}, got
    assert "forged line" not in daemon.log_text()


def test_nonblocking_listening_socket_does_not_end_the_agent(daemon, victim):
    """The review made the agent's listening socket non-blocking and the agent exited. From
    inside that is no longer possible; here host root does it (pidfd_getfd from the host, the
    same open file description) and the agent keeps serving."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    pidfd = os.pidfd_open(daemon.init_pid(victim))
    try:
        fd = libc.syscall(ctypes.c_long(438), ctypes.c_long(pidfd), ctypes.c_long(3),
                          ctypes.c_long(0))
        assert fd >= 0, "pidfd_getfd from the host: errno %d" % ctypes.get_errno()
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        finally:
            os.close(fd)
    finally:
        os.close(pidfd)
    time.sleep(1.5)  # the agent's accept loop now sees EAGAIN
    for i in range(5):
        assert daemon.exec_ok(victim, "print(%d)" % i)["stdout"] == "%d\n" % i
    r = daemon.api("GET", "/v1/sandboxes/" + victim)
    assert r.status == 200 and r.json["state"] == "running", r
    assert not [e for e in daemon.log_events("serve_failed")], daemon.log_text()[-3000:]


def test_downloads_stay_genuine_after_the_attacks(daemon, victim, tmp_path):
    """After every attempt above, `sbx cp` still returns the sandbox's real content."""
    seed = secrets.randbelow(1 << 30)
    out = daemon.exec_ok(victim, "import hashlib, random; r = random.Random(%d); "
                                 "d = bytes(r.getrandbits(8) for _ in range(100000)); "
                                 "open('/tmp/genuine.bin', 'wb').write(d); "
                                 "print(hashlib.sha256(d).hexdigest())" % seed)
    inside = out["stdout"].strip()
    down = tmp_path / "genuine.bin"
    daemon.sbx_ok("cp", "%s:/tmp/genuine.bin" % victim, str(down))
    assert hashlib.sha256(down.read_bytes()).hexdigest() == inside
    assert daemon.exec_ok(victim, "print('still here')")["stdout"] == "still here\n"


def agent_lines(d, sid, needle):
    return [e for e in d.log_events("agent.log")
            if e.get("sandbox_id") == sid and needle in e.get("line", "")]


def wait_for(pred, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    return pred()


def test_agent_log_lines_reach_the_daemon_log(daemon, victim):
    assert wait_for(lambda: agent_lines(daemon, victim, "event=agent_started")), (
        daemon.log_text()[-3000:])
    daemon.exec_ok(victim, "print('hello')")
    lines = wait_for(lambda: agent_lines(daemon, victim, "event=process_started"))
    assert lines and lines[-1]["level"] == "info", lines


def test_agent_outlives_the_daemon_and_its_log_is_relayed_again(fresh_daemon):
    """kill -9 of the daemon closes the pipe's only reader: the agent must not die of SIGPIPE
    or block. After the restart the daemon takes a new read end of the same pipe; the lines
    written meanwhile are lost and the agent says how many (log_lines_dropped)."""
    d = fresh_daemon
    sid = d.create("python")
    pid = d.init_pid(sid)
    # An execution that ends while no daemon runs: the agent logs its end into a pipe that has
    # no reader.
    def run():
        try:
            d.api("POST", "/v1/sandboxes/%s/exec" % sid, {"language": "python", "timeout": 30,
                                                          "code": "import time; time.sleep(2)"},
                  timeout=30)
        except OSError:
            pass  # the daemon is killed under it

    t = threading.Thread(target=run)
    t.daemon = True
    t.start()
    assert wait_for(lambda: agent_lines(d, sid, "event=process_started"))
    d.kill9()
    t.join(10)
    time.sleep(3)  # the execution ends; the agent's lines about it meet EPIPE
    assert os.path.exists("/proc/%d" % pid), "the agent died with the daemon"
    d.start()
    assert wait_for(lambda: [e for e in d.log_events("reconcile.reattached")
                             if e.get("sandbox_id") == sid])
    assert not d.log_events("reconcile.agent_log_lost"), d.log_text()[-3000:]
    dropped = wait_for(lambda: agent_lines(d, sid, "event=log_lines_dropped"))
    assert dropped, d.log_text()[-3000:]
    assert d.exec_ok(sid, "print('after')")["stdout"] == "after\n"
    assert wait_for(lambda: len(agent_lines(d, sid, "event=process_started")) >= 2)
    d.remove(sid)


@pytest.fixture(params=USERS)
def user(request):
    return request.param
