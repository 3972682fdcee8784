"""Finding 10 of the hardening review (issue 10): the agent's own threads counted against the
sandbox's pids limit, so a fork bomb or 128 executions made the agent unreachable and the
sandbox was reported as ended.

Now the user's processes live in S/user with the template's `pidsLimit`, and the agent in S
with a reserve of its own on top (kAgentPidsReserve in src/runtime/cgroup.h).
"""
import json
import time

import pytest

from conftest import Daemon, HOST_TEMPLATES, _stop_and_check, wait_for

# Small limits keep the bomb bounded and quick: 64 user tasks; 160 for 128 executions, which
# then leave the agent's ~260 threads no room in the user's budget.
TEMPLATES = {
    "templates": {
        "bomb": {"name": "bomb", "baseImage": "host", "cpus": 1, "memory": "1GB",
                 "timeout": 300, "pidsLimit": 64,
                 "features": ["file_upload", "file_download", "code_execution"]},
        "many": {"name": "many", "baseImage": "host", "cpus": 1, "memory": "1GB",
                 "timeout": 300, "pidsLimit": 160,
                 "features": ["file_upload", "file_download", "code_execution"]},
    }
}


@pytest.fixture(scope="module")
def pids_daemon(tmp_path_factory):
    with open(HOST_TEMPLATES) as f:
        config = json.load(f)  # the default template (python) must exist
    config["templates"].update(TEMPLATES["templates"])
    path = tmp_path_factory.mktemp("tpl") / "templates.json"
    path.write_text(json.dumps(config))
    d = Daemon(["--templates", str(path)]).start()
    yield d
    _stop_and_check(d)


BOMB = r'''
import errno, os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        if e.errno == errno.EAGAIN:
            break
        raise
    if pid == 0:
        time.sleep(1000)
        os._exit(0)
    n += 1
print('bomb holds', n, flush=True)
time.sleep(1000)
'''


def sandbox_state(d, sid):
    r = d.api("GET", "/v1/sandboxes/" + sid)
    assert r.status == 200, r
    return r.json.get("state") or r.json.get("status")


def test_fork_bomb_leaves_the_agent_reachable(pids_daemon):
    d = pids_daemon
    sid = d.create("bomb")
    try:
        r = d.api("POST", "/v1/sandboxes/%s/exec" % sid,
                  dict(language="python", code=BOMB, timeout=120, background=True))
        assert r.status == 202, r
        eid = r.json["execution_id"]

        def held():
            e = d.api("GET", "/v1/executions/" + eid).json["execution"]
            assert e["status"] == "running", e
            return "bomb holds" in e["stdout"]
        wait_for(held, 60, "the bomb to fill the pids limit")

        # The agent answers: the sandbox is running, health and a new execution work. The
        # execution's first process comes from the agent's reserve; its forks get EAGAIN,
        # because the user's budget is full.
        assert sandbox_state(d, sid) == "running"
        res = d.exec(sid, r'''
import errno, os
try:
    pid = os.fork()
except OSError as e:
    print('fork', errno.errorcode[e.errno])
else:
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    print('fork ok')
''', timeout=30)
        assert res["status"] == "completed", json.dumps(res)
        assert res["stdout"].strip() == "fork EAGAIN", json.dumps(res)
        assert sandbox_state(d, sid) == "running"

        # Killing the bomb's execution ends all its processes; then forks work again.
        k = d.api("POST", "/v1/executions/%s/kill" % eid, {"signal": "SIGKILL"})
        assert k.status in (200, 202), k
        w = d.api("GET", "/v1/executions/%s/wait?timeout=20" % eid)
        assert w.status == 200 and w.json["status"] == "killed", w
        res = d.exec_ok(sid, "import subprocess; subprocess.run(['true'], check=True); print('ok')",
                        timeout=30)
        assert res["stdout"].strip() == "ok"
        assert sandbox_state(d, sid) == "running"
    finally:
        d.remove(sid)


def test_128_executions_leave_the_agent_reachable(pids_daemon):
    d = pids_daemon
    sid = d.create("many")
    eids = []
    try:
        for i in range(128):
            r = d.api("POST", "/v1/sandboxes/%s/exec" % sid,
                      dict(language="bash", code="exec sleep 30", timeout=60, background=True))
            assert r.status == 202, "execution %d: %r" % (i, r)
            eids.append(r.json["execution_id"])

        def all_running():
            for eid in eids:
                e = d.api("GET", "/v1/executions/" + eid).json["execution"]
                assert e["status"] == "running", e
            return True
        time.sleep(2)
        all_running()
        # The agent still serves a file call and lists 128 processes; the sandbox runs on.
        r = d.api("GET", "/v1/sandboxes/%s/files?path=/etc/hostname" % sid)
        assert r.status == 200, r
        assert sandbox_state(d, sid) == "running"
        # The daemon's cap is 128 per sandbox: the next one is refused with 429, not a crash.
        r = d.api("POST", "/v1/sandboxes/%s/exec" % sid,
                  dict(language="python", code="print(1)", timeout=10))
        assert r.status == 429, r
        for eid in eids:
            d.api("POST", "/v1/executions/%s/kill" % eid, {"signal": "SIGKILL"})
        for eid in eids:
            w = d.api("GET", "/v1/executions/%s/wait?timeout=20" % eid)
            assert w.status == 200 and w.json["status"] == "killed", w
        res = d.exec_ok(sid, "print('after')", timeout=30)
        assert res["stdout"].strip() == "after"
        assert sandbox_state(d, sid) == "running"
    finally:
        d.remove(sid)
