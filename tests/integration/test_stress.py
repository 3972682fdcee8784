"""Load: 50 concurrent clients create, execute in and remove sandboxes for 60 s over TCP with
API keys. No answer may be anything but 2xx or 429 (rate limit, creates in flight), every 429
is honoured (Retry-After) and retried, and afterwards nothing is left: no sandbox, mount,
cgroup or process. Prints the counts and latencies; asserts no time.

The rate limit is chosen so that the keys shared by the "hot" clients, which also poll the
status, run into it while the others do not; five clients per key also run into the cap of 4
creates in flight per key now and then (429 with Retry-After: 1). Ten tenants keep every tenant
under the cap of 20 running sandboxes (whose 429 has no Retry-After: it needs the user).
"""
import http.client
import json
import os
import secrets
import tempfile
import threading
import time

import pytest

from conftest import (HOST_TEMPLATES, Daemon, _stop_and_check, http_call,
                      instance_cgroup_children, leftover_processes, mounts_under)

CLIENTS = 50
KEYS = 10               # one tenant each, CLIENTS / KEYS clients per key
HOT_KEYS = 2            # their clients also poll the status: they meet the rate limit
HOT_STATUS_POLLS = 4
DURATION_S = 60
# After DURATION_S no new round starts; a round under way may finish until then (a refused
# delete waits for its Retry-After). Past it the run fails.
FINISH_BY_S = 85
REQUESTS_PER_MINUTE = 400


def _pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


class Load:
    """Counters shared by the client threads."""

    def __init__(self, d, t0):
        self.d = d
        self.t0 = t0
        self.lock = threading.Lock()
        self.requests = 0
        self.refused = {}          # 429 message prefix -> count
        self.latency = {}          # kind -> [seconds] of the 2xx answers
        self.failures = []         # anything but 2xx / 429, or a wrong result
        self.created = set()
        self.deleted = set()
        self.rounds = 0

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def call(self, key, kind, method, path, body=None):
        """One API call, repeated after each 429 once its Retry-After has passed. Returns the
        final answer, or None after a failure (recorded)."""
        while True:
            t = time.monotonic()
            try:
                r = http_call(http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=60),
                              method, path, body=body, headers={"X-API-Key": key})
            except Exception as e:  # no answer at all is a failure too
                self.fail("%s %s: %s: %s" % (method, path, type(e).__name__, e))
                return None
            dt = time.monotonic() - t
            with self.lock:
                self.requests += 1
            if r.status != 429:
                break
            msg = (r.json or {}).get("error", {}).get("message", "")
            with self.lock:
                k = msg.split(";")[0].split(" (")[0]
                self.refused[k] = self.refused.get(k, 0) + 1
            wait = float(r.headers.get("retry-after", "1"))
            if time.monotonic() + wait > self.t0 + FINISH_BY_S:
                self.fail("%s %s: still refused at the end (429 %s)" % (method, path, msg))
                return None
            time.sleep(wait)
        if not 200 <= r.status < 300:
            self.fail("%s %s: %d %s" % (method, path, r.status, r.body[:300]))
            return None
        with self.lock:
            self.latency.setdefault(kind, []).append(dt)
        return r


def _client(load, key, n, hot, stop_at):
    i = 0
    while time.monotonic() < stop_at and not load.failures:
        i += 1
        sid = "st%d_%d_%s" % (n, i, secrets.token_hex(3))
        r = load.call(key, "create", "POST", "/v1/sandboxes",
                      {"template": "python", "sandbox_id": sid})
        if r is None:
            return
        if r.status != 201 or r.json.get("sandbox_id") != sid:
            load.fail("create %s: %r" % (sid, r))
        with load.lock:
            load.created.add(sid)
        token = secrets.token_hex(4)
        if i % 2:
            body = {"language": "python", "code": "print('ok-' + '%s')" % token}
        else:
            body = {"language": "bash", "code": "echo ok-%s" % token}
        r = load.call(key, "exec", "POST", "/v1/sandboxes/%s/exec" % sid, body)
        if r is not None and (r.json.get("status") != "completed" or r.json.get("exit_code") != 0
                              or r.json.get("stdout") != "ok-%s\n" % token):
            load.fail("exec in %s: %s" % (sid, r.body[:500]))
        for _ in range(HOT_STATUS_POLLS if hot else 0):
            r = load.call(key, "status", "GET", "/v1/sandboxes/" + sid)
            if r is not None and r.json.get("state") != "running":
                load.fail("status of %s: %s" % (sid, r.body[:300]))
        r = load.call(key, "delete", "DELETE", "/v1/sandboxes/" + sid)
        if r is None:
            return
        with load.lock:
            load.deleted.add(sid)
            load.rounds += 1


@pytest.fixture(scope="module")
def stress_daemon():
    with open(HOST_TEMPLATES) as f:
        cfg = json.load(f)
    cfg["security"] = {"rateLimit": {"enabled": True, "requestsPerMinute": REQUESTS_PER_MINUTE,
                                     "requestsPerHour": 100000}}
    fd, path = tempfile.mkstemp(prefix="sbxst", suffix=".json", dir="/tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f)
    # info logs one line per request and sandbox event: tens of thousands here.
    try:
        d = Daemon(["--templates", path, "--listen", "127.0.0.1:0", "--log-level", "warn"]).start()
        assert d.port, d.ready_line
        yield d
        _stop_and_check(d)
    finally:
        os.unlink(path)


def test_50_clients_for_60_seconds(stress_daemon):
    d = stress_daemon
    keys = [d.sbx_ok("keys", "create", "--tenant", "stress%d" % k, "--name", "load")["key"]
            for k in range(KEYS)]
    # The daemon's sandboxd-* cgroup directories, for the checks at the end, which are shown
    # here to find a running sandbox.
    probe = d.create("minimal")
    assert d.instance_cgroups, "no cgroup directory found for %s" % probe
    dirs = [c for c in instance_cgroup_children(d) if c.endswith("/" + probe)]
    assert dirs, instance_cgroup_children(d)
    with open(os.path.join(dirs[0], "cgroup.procs")) as f:
        pids = [int(x) for x in f.read().split()]
    assert pids and set(pids) <= set(leftover_processes(d)), (pids, leftover_processes(d))
    assert len(mounts_under(d.sandbox_dir(probe))) >= 1
    assert d.remove(probe).status == 200
    assert not leftover_processes(d) and not instance_cgroup_children(d)

    t0 = time.monotonic()
    load = Load(d, t0)
    threads = []
    for n in range(CLIENTS):
        k = n % KEYS
        th = threading.Thread(target=_client, args=(load, keys[k], n, k < HOT_KEYS,
                                                    t0 + DURATION_S), daemon=True)
        th.start()
        threads.append(th)
    for th in threads:
        th.join(max(0.1, t0 + FINISH_BY_S + 5 - time.monotonic()))
    elapsed = time.monotonic() - t0
    alive = sum(th.is_alive() for th in threads)

    refused = sum(load.refused.values())
    print("\nstress: %d clients, %d keys (%d hot, %d requests/min/key), %.1f s" % (
        CLIENTS, KEYS, HOT_KEYS, REQUESTS_PER_MINUTE, elapsed))
    print("  rounds (create+exec+delete): %d, requests: %d (%.1f/s), 429: %d" % (
        load.rounds, load.requests, load.requests / elapsed, refused))
    for msg, n in sorted(load.refused.items()):
        print("    429 x %d: %s" % (n, msg))
    for kind in ("create", "exec", "status", "delete"):
        lat = load.latency.get(kind, [])
        print("  %-6s n=%5d  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms" % (
            kind, len(lat), _pct(lat, 50) * 1e3, _pct(lat, 99) * 1e3,
            (max(lat) if lat else float("nan")) * 1e3))

    assert alive == 0, "%d clients did not finish within %d s" % (alive, FINISH_BY_S + 5)
    assert not load.failures, "%d failures, first ones:\n%s" % (
        len(load.failures), "\n".join(load.failures[:20]))
    assert load.rounds >= CLIENTS, "only %d rounds in %.0f s" % (load.rounds, elapsed)
    assert load.created == load.deleted, "created but not deleted: %r" % sorted(
        load.created - load.deleted)[:20]
    assert refused > 0, "no 429 at all: the limits were not exercised"
    assert refused < load.requests / 2, "most requests were refused: %d of %d" % (
        refused, load.requests)

    # Nothing is left behind, while the daemon still runs.
    r = d.api("GET", "/v1/sandboxes")
    assert r.status == 200 and r.json["sandboxes"] == [], r
    sandboxes = os.path.join(d.state_dir, "sandboxes")
    assert os.listdir(sandboxes) == [], os.listdir(sandboxes)[:20]
    left = [m for m in mounts_under(sandboxes) if m != os.path.realpath(sandboxes)]
    assert not left, "mounts left: %r" % left[:20]
    assert not instance_cgroup_children(d), instance_cgroup_children(d)[:20]
    assert not os.listdir(os.path.join(d.state_dir, "a")), "agent sockets left"
    procs = leftover_processes(d)
    assert not procs, "processes left: %r" % procs

    # The daemon still answers, and serves a whole round.
    r = http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=30), "GET", "/health")
    assert r.status == 200 and r.json["status"] == "ok" and r.json["sandboxes_running"] == 0, r
    after = Load(d, time.monotonic())
    _client(after, keys[-1], 99, False, time.monotonic() + 0.001)
    assert not after.failures and after.rounds == 1, after.failures
