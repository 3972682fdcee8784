"""Monitoring through the real daemon (docs/monitoring.md): resource alerts delivered to a
loopback webhook receiver, CPU percent of a one-CPU quota, the per-sandbox and host metric
routes, tenant-free admin access, `sbx stats`, and `promtool check metrics` on GET /metrics.
"""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import SBX, Daemon, _stop_and_check, cgroup_dirs

# Host-based templates: "minimal" has a one-CPU quota and 512 MB, like the guide's.
TEMPLATES = {
    "templates": {
        "python": {"name": "Python (host base)", "baseImage": "host", "cpus": 2,
                   "memory": "2GB", "timeout": 300,
                   "features": ["file_upload", "file_download", "code_execution"]},
        "minimal": {"name": "Minimal (host base)", "baseImage": "host", "cpus": 1,
                    "memory": "512MB", "timeout": 300,
                    "features": ["file_upload", "file_download", "code_execution"]},
    },
    "monitoring": {"alertThresholds": {"cpuUsagePercent": 80, "memoryUsagePercent": 85,
                                       "diskUsagePercent": 90, "timeoutSeconds": 300}},
}

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every JSON body it gets."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with outer.lock:
                    outer.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def alerts(self, sandbox_id, metric):
        with self.lock:
            return [b for b in self.bodies
                    if b.get("type") == "on_alert" and b.get("sandbox_id") == sandbox_id
                    and (b.get("data") or {}).get("metric") == metric]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def mdaemon():
    tmp = tempfile.mkdtemp(prefix="sbxmon", dir="/tmp")
    path = os.path.join(tmp, "templates.json")
    with open(path, "w") as f:
        json.dump(TEMPLATES, f)
    d = Daemon(extra_args=["--templates", path]).start()
    yield d
    _stop_and_check(d)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def receiver(mdaemon):
    rcv = Receiver()
    r = mdaemon.api("POST", "/v1/webhooks",
                    {"kind": "generic", "url": rcv.url, "events": ["on_alert"],
                     "description": "test_monitoring receiver"})
    assert r.status in (200, 201), r
    yield rcv
    rcv.close()


def wait_for(pred, timeout, interval=0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def run_in_background(d, sid, code, timeout):
    box = {}

    def go():
        try:
            box["result"] = d.exec(sid, code, timeout=timeout)
        except Exception as e:  # noqa: BLE001 -- reported by the test
            box["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def boost_cpu_weight(sandbox_id):
    """Gives the sandbox's cgroup and its daemon's parent cgroup the largest CPU weight, so
    that other work on a busy test host (parallel compilers) cannot keep a spinning sandbox
    below its quota: the sampler's figure is then about the quota alone. Returns what to undo."""
    changed = []
    for d in cgroup_dirs(sandbox_id):
        for path in (os.path.dirname(d), d):
            for name, value in (("cpu.shares", "262144"), ("cpu.weight", "10000")):
                f = os.path.join(path, name)
                if os.path.exists(f):
                    with open(f) as fh:
                        old = fh.read().strip()
                    with open(f, "w") as fh:
                        fh.write(value)
                    changed.append((f, old))
    return changed


def undo(changed):
    for f, old in reversed(changed):
        try:
            with open(f, "w") as fh:
                fh.write(old)
        except OSError:
            pass


def capture(d, sid):
    r = d.api("GET", "/v1/sandboxes/%s/metrics/capture" % sid)
    return r.json if r.status == 200 else None


def test_memory_alert_raised_and_resolved_once_each_via_webhook(mdaemon, receiver):
    sid = mdaemon.create("minimal")
    try:
        # 90 % of 512 MB touched, held for a few seconds, then freed by exiting.
        code = ("import time\n"
                "b = bytearray(int(512 * 1024 * 1024 * 0.90))\n"
                "for i in range(0, len(b), 4096): b[i] = 1\n"
                "print('allocated', flush=True)\n"
                "time.sleep(6)\n")
        t, box = run_in_background(mdaemon, sid, code, timeout=60)
        raised = wait_for(lambda: [b for b in receiver.alerts(sid, "memory")
                                   if b["data"].get("state") == "raised"], 40)
        assert raised, "no raised memory alert reached the receiver; got %r\ncapture %r" % (
            receiver.bodies, capture(mdaemon, sid))
        assert raised[0]["data"]["value"] >= 85, raised
        assert raised[0]["data"]["threshold"] == 85
        t.join(90)
        assert "error" not in box, box
        assert box["result"]["status"] == "completed", box["result"]
        resolved = wait_for(lambda: [b for b in receiver.alerts(sid, "memory")
                                     if b["data"].get("state") == "resolved"], 40)
        assert resolved, "no resolved memory alert; got %r" % receiver.alerts(sid, "memory")
        assert resolved[0]["data"]["value"] < 80, resolved
        time.sleep(3)  # nothing more may come
        mem = receiver.alerts(sid, "memory")
        assert [b["data"]["state"] for b in mem] == ["raised", "resolved"], mem
        # The same two are in the event log and counted in the Prometheus registry.
        r = mdaemon.api("GET", "/v1/events?type=on_alert&sandbox_id=%s&order=asc" % sid)
        assert r.status == 200, r
        states = [e["data"]["state"] for e in r.json["events"] if e["data"].get("metric") == "memory"]
        assert states == ["raised", "resolved"], r.json
        text = mdaemon.api("GET", "/metrics").body.decode()
        assert 'sandboxd_alerts_total{metric="memory",state="raised"}' in text
        assert 'sandboxd_webhook_deliveries_total{kind="on_alert",outcome="delivered"}' in text
    finally:
        mdaemon.remove(sid)


def test_cpu_percent_of_one_cpu_quota_busy_and_idle(mdaemon):
    busy = mdaemon.create("minimal")
    idle = mdaemon.create("minimal")
    boosted = boost_cpu_weight(busy)
    try:
        t, box = run_in_background(
            mdaemon, busy, "import time\nend = time.time() + 12\nwhile time.time() < end: pass\n",
            timeout=60)
        time.sleep(8)
        pts_busy = mdaemon.api("GET", "/v1/sandboxes/%s/metrics" % busy)
        pts_idle = mdaemon.api("GET", "/sandboxes/%s/metrics" % idle)  # E2B's path
        t.join(90)
        assert pts_busy.status == 200 and pts_idle.status == 200, (pts_busy, pts_idle)
        busy_pct = [p["cpuUsedPct"] for p in pts_busy.json]
        idle_pct = [p["cpuUsedPct"] for p in pts_idle.json]
        assert len(busy_pct) >= 3 and len(idle_pct) >= 3, (busy_pct, idle_pct)
        # The latest points while spinning (the first may straddle the start of the loop).
        assert max(busy_pct[-4:]) >= 80, busy_pct
        assert max(idle_pct) <= 10, idle_pct
        p = pts_busy.json[-1]
        assert p["cpuCount"] == 1 and p["memTotal"] == 512 * 1024 * 1024, p
        for key in ("timestamp", "timestampUnix", "memUsed", "memCache", "diskUsed", "diskTotal"):
            assert key in p, p
        # start/end (unix seconds) select a window.
        ts = p["timestampUnix"]
        r = mdaemon.api("GET", "/v1/sandboxes/%s/metrics?start=%d&end=%d" % (busy, ts, ts + 1))
        got = [q["timestampUnix"] for q in r.json or []]
        assert r.status == 200 and ts in got and all(ts <= g <= ts + 1 for g in got), r
        r = mdaemon.api("GET", "/v1/sandboxes/%s/metrics?start=%d" % (busy, ts + 3600))
        assert r.status == 200 and r.json == [], r
        assert mdaemon.api("GET", "/v1/sandboxes/%s/metrics?start=x" % busy).status == 400
        s = mdaemon.api("GET", "/v1/sandboxes/%s/metrics/summary" % busy)
        assert s.status == 200 and s.json["cpu_max"] >= 80 and s.json["samples"] >= 3, s
        c = capture(mdaemon, idle)
        assert c and c["cpu_count"] == 1 and c["memory_limit"] == 512 * 1024 * 1024, c
        # sbx stats: one table, and the JSON overview.
        # (The table is the one sbx output that is not JSON, so not through sbx_raw.)
        out = subprocess.run([SBX, "--socket", mdaemon.socket, "stats", "--no-stream"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "SANDBOX ID" in out.stdout and busy in out.stdout and idle in out.stdout, out.stdout
        assert "(host)" in out.stdout and "/ 512MiB" in out.stdout, out.stdout
        js = mdaemon.sbx_raw("stats", "--no-stream", "--json")
        assert js.returncode == 0 and js.json["success"] is True, js.stdout
        assert {busy, idle} <= {s["sandbox_id"] for s in js.json["sandboxes"]}, js.json
        assert js.json["host"]["memory_limit"] > 0
    finally:
        undo(boosted)
        mdaemon.remove(busy)
        mdaemon.remove(idle)
    # After DELETE the sandbox's series is gone.
    assert mdaemon.api("GET", "/v1/sandboxes/%s/metrics" % busy).status == 404


def test_host_metrics_and_stats(mdaemon):
    time.sleep(1.5)
    c = mdaemon.api("GET", "/v1/host/metrics/capture")
    assert c.status == 200 and c.json["memory_limit"] > 0 and 0 <= c.json["cpu_percent"] <= 100, c
    s = mdaemon.api("GET", "/v1/host/metrics/summary")
    assert s.status == 200 and s.json["samples"] >= 1, s
    h = mdaemon.api("GET", "/v1/host/metrics")
    assert h.status == 200 and isinstance(h.json, list) and h.json, h
    st = mdaemon.api("GET", "/v1/stats")
    assert st.status == 200 and "sandboxes" in st.json and st.json["interval_ms"] > 0, st
    assert mdaemon.api("GET", "/v1/sandboxes/no_such_box/metrics").status == 404
    assert mdaemon.api("POST", "/metrics").status == 400


def test_promtool_check_metrics(mdaemon):
    sid = mdaemon.create("minimal")
    try:
        mdaemon.exec_ok(sid, "print(1)")
        time.sleep(2.5)  # per-sandbox gauges after the baseline round
        r = mdaemon.api("GET", "/metrics")
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
        text = r.body.decode()
        for needle in ('sandboxd_sandboxes{state="running"} 1',
                       'sandboxd_sandbox_creates_total{template="minimal",outcome="ok"}',
                       'sandboxd_executions_total{language="python",status="completed"}',
                       'sandboxd_http_requests_total{',
                       'sandboxd_sandbox_cpu_percent{sandbox_id="%s"}' % sid,
                       'sandboxd_host_cpus'):
            assert needle in text, (needle, text[:4000])
        assert os.access(PROMTOOL, os.X_OK), "promtool missing (scripts/setup.sh installs prometheus)"
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=r.body, capture_output=True,
                           timeout=60)
        assert p.returncode == 0, (p.stdout, p.stderr)
    finally:
        mdaemon.remove(sid)
