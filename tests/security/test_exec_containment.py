"""Finding 8 of the hardening review (issue 10): an exec timeout missed processes that left the
execution's session. A double-forked `setsid sleep` outlived the timeout while the result said
the whole process tree was killed.

Now every process an execution starts is born in the execution's own cgroup (nested in the
sandbox's delegated S/user), whatever it does with sessions and process groups, and the
timeout kills that cgroup. An execution that ends by itself keeps its background processes.
"""
import json
import secrets
import time

from conftest import wait_for

# Each test plants processes with a unique marker in their argv (the fraction of a sleep's
# duration), then looks for the marker in /proc of the sandbox from a second execution.
FIND = r'''
import json, os
found = []
for p in os.listdir('/proc'):
    if not p.isdigit():
        continue
    try:
        cmd = open('/proc/%s/cmdline' % p, 'rb').read().split(b'\0')
        state = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[0]
    except OSError:
        continue
    if any(c.endswith(b'.' + MARK.encode()) for c in cmd) and state != 'Z':
        found.append([int(p), [c.decode() for c in cmd if c]])
print(json.dumps(found))
'''


def find(daemon, sid, mark):
    return daemon.py_json(sid, "MARK = %r\n" % mark + FIND)


# Three ways out of the execution's session: a double fork with setsid(2) in python,
# `nohup ... &` from a shell, and `setsid -f`.
def detach_code(mark):
    return r'''
import os, subprocess, time
MARK = %r
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp('sleep', ['sleep', '1000.' + MARK])
    os._exit(0)
os.wait()
subprocess.run(['sh', '-c', 'nohup sleep 1001.%%s >/dev/null 2>&1 &' %% MARK], check=True)
subprocess.run(['setsid', '-f', 'sleep', '1002.' + MARK], check=True)
time.sleep(0.3)
n = 0
for p in os.listdir('/proc'):
    try:
        if p.isdigit() and open('/proc/%%s/cmdline' %% p).read().split('\0')[1].endswith('.' + MARK):
            n += 1
    except (OSError, IndexError):
        pass
print('detached', n, flush=True)
''' % mark


def test_timeout_kills_detached_processes(daemon):
    sid = daemon.create("python")
    try:
        mark = str(secrets.randbelow(10**9))
        res = daemon.exec(sid, detach_code(mark) + "time.sleep(60)\n", timeout=2)
        assert res["status"] == "timeout", json.dumps(res)
        assert "detached 3" in res["stdout"], json.dumps(res)
        # The kill is synchronous with the result; a short grace covers the last exits.
        deadline = time.monotonic() + 5
        left = find(daemon, sid, mark)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = find(daemon, sid, mark)
        assert left == [], "processes outlived the timeout: %r" % left
        # The reason says what the kill reached: every process of the execution's cgroup.
        assert "cgroup" in res["reason"], res["reason"]
        assert "still alive" not in res["reason"], res["reason"]
    finally:
        daemon.remove(sid)


def test_normal_end_keeps_background_processes(daemon):
    sid = daemon.create("python")
    try:
        mark = str(secrets.randbelow(10**9))
        res = daemon.exec_ok(sid, detach_code(mark), timeout=20)
        assert "detached 3" in res["stdout"], json.dumps(res)
        # Servers started with `&` outlive the execution that started them.
        procs = find(daemon, sid, mark)
        sleeps = sorted(p[1][1] for p in procs if p[1][0] == "sleep")
        assert sleeps == ["1000." + mark, "1001." + mark, "1002." + mark], procs
        time.sleep(1.5)
        assert len(find(daemon, sid, mark)) == 3
        # A later execution's timeout does not reach them either: each has its own cgroup.
        res = daemon.exec(sid, "import time; time.sleep(60)", timeout=1)
        assert res["status"] == "timeout"
        assert len(find(daemon, sid, mark)) == 3
    finally:
        daemon.remove(sid)


def test_kill_request_ends_detached_processes(daemon):
    sid = daemon.create("python")
    try:
        mark = str(secrets.randbelow(10**9))
        r = daemon.api("POST", "/v1/sandboxes/%s/exec" % sid,
                       dict(language="python", code=detach_code(mark) + "time.sleep(60)\n",
                            timeout=60, background=True))
        assert r.status == 202, r
        eid = r.json["execution_id"]
        wait_for(lambda: len(find(daemon, sid, mark)) == 3, 20, "three detached sleeps")
        k = daemon.api("POST", "/v1/executions/%s/kill" % eid, {"signal": "SIGKILL"})
        assert k.status in (200, 202), k
        w = daemon.api("GET", "/v1/executions/%s/wait?timeout=20" % eid)
        assert w.status == 200, w
        assert w.json["status"] == "killed", w.json
        wait_for(lambda: find(daemon, sid, mark) == [], 5, "no process with the marker")
    finally:
        daemon.remove(sid)
