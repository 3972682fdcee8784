"""Two sandboxes of one daemon are isolated from each other: files, processes, id ranges,
hostnames."""
import json
import secrets
import threading
import time

import pytest

from conftest import proc_list


@pytest.fixture
def pair(daemon):
    a = daemon.create("python")
    b = daemon.create("python")
    yield a, b
    daemon.remove(a)
    daemon.remove(b)


def test_files_are_private(daemon, pair):
    a, b = pair
    token_a, token_b = secrets.token_hex(16), secrets.token_hex(16)
    write = ("import os\nfor p in ('/home/user/shared_name.txt', '/tmp/shared_name.txt'):\n"
             "    open(p, 'w').write(%r)\n")
    daemon.exec_ok(a, write % token_a)
    # B does not see A's files at the same paths...
    out = daemon.py_json(b, "import json, os; print(json.dumps([os.path.exists(p) for p in "
                            "('/home/user/shared_name.txt', '/tmp/shared_name.txt')]))")
    assert out == [False, False], "B sees A's files"
    # ... and writing them in B leaves A's untouched.
    daemon.exec_ok(b, write % token_b)
    read = ("import json; print(json.dumps([open(p).read() for p in "
            "('/home/user/shared_name.txt', '/tmp/shared_name.txt')]))")
    assert daemon.py_json(a, read) == [token_a, token_a]
    assert daemon.py_json(b, read) == [token_b, token_b]
    # Through the file API as well.
    r = daemon.api("GET", "/v1/sandboxes/%s/files?path=/home/user/shared_name.txt" % a)
    assert r.status == 200 and r.body == token_a.encode()
    r = daemon.api("GET", "/v1/sandboxes/%s/files?path=/home/user/shared_name.txt" % b)
    assert r.status == 200 and r.body == token_b.encode()


def test_processes_are_private(daemon, pair):
    a, b = pair
    holder = {}

    def long_exec():
        holder["res"] = daemon.exec(a, "sleep 77", language="sh", timeout=6)

    th = threading.Thread(target=long_exec)
    th.start()
    try:
        # Wait until A really runs it (control), then look from B.
        deadline = time.monotonic() + 5
        seen_in_a = False
        while time.monotonic() < deadline and not seen_in_a:
            procs_a, _ = proc_list(daemon, a)
            seen_in_a = any(v[1] == "sleep 77" for v in procs_a.values())
            if not seen_in_a:
                time.sleep(0.1)
        assert seen_in_a, "sleep 77 never appeared in A: %r" % procs_a
        procs_b, _ = proc_list(daemon, b)
        assert not any("sleep" in v[1] for v in procs_b.values()), (
            "A's process is visible in B: %r" % procs_b)
        assert len(procs_b) <= 8, procs_b
    finally:
        th.join(30)
    assert holder["res"]["status"] == "timeout", holder["res"]


def test_id_maps_and_hostnames_differ(daemon, pair):
    a, b = pair
    code = ("import json, socket; print(json.dumps({'uid_map': open('/proc/self/uid_map').read(),"
            " 'gid_map': open('/proc/self/gid_map').read(), 'host': socket.gethostname()}))")
    ra, rb = daemon.py_json(a, code), daemon.py_json(b, code)
    assert ra["host"] == a and rb["host"] == b, (ra, rb)
    for key in ("uid_map", "gid_map"):
        assert ra[key] != rb[key], "same %s in both sandboxes: %r" % (key, ra[key])
        rows_a = [tuple(map(int, l.split())) for l in ra[key].strip().splitlines()]
        rows_b = [tuple(map(int, l.split())) for l in rb[key].strip().splitlines()]
        for _, oa, ca in rows_a:
            for _, ob, cb in rows_b:
                assert oa + ca <= ob or ob + cb <= oa, (
                    "host %s ranges overlap: %r vs %r" % (key, ra[key], rb[key]))
