"""Events and outgoing webhooks through the real daemon (docs/events.md): retries with the same
delivery id and verifiable signatures, at-least-once delivery across `kill -9`, the live event
stream with Last-Event-ID resume, and the `sbx webhooks` / `sbx events` verbs."""
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time

from conftest import _ACTIVE_DAEMONS, SBX, Daemon, UnixHTTPConnection, _stop_and_check, unique_id


class Receiver:
    """An HTTP receiver on 127.0.0.1 in a thread. `statuses` are answered in turn to the
    requests; after them every request gets 200. Every request is kept: (headers, body, status)."""

    def __init__(self, statuses=(), port=0):
        self.statuses = list(statuses)
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer.requests.append(({k.lower(): v for k, v in self.headers.items()},
                                           body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self):
        with self.lock:
            return list(self.requests)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def run_lifecycle(daemon, scripts, **fields):
    sid = unique_id("ev")
    body = dict(sandbox_id=sid, scripts=scripts, retry_delay=0.1, monitor_interval=0, **fields)
    r = daemon.api("POST", "/v1/lifecycles", body)
    assert r.status == 202, r
    run_id = r.json["id"]
    run = wait_for(lambda: (lambda j: j if j["state"] != "running" else None)(
        daemon.api("GET", "/v1/lifecycles/" + run_id).json), 60, "run " + run_id)
    return sid, run


def test_webhook_retried_until_200_delivers_once_with_one_id_and_a_valid_signature(daemon):
    rx = Receiver(statuses=[500, 500, 500])
    try:
        created = daemon.sbx_ok("webhooks", "create", "--url", rx.url, "--events", "on_completion",
                                "--description", "retry test")
        secret = created["secret"]
        assert secret.startswith("whsec_") and created["has_secret"] is True
        wid = created["id"]
        listed = daemon.sbx_ok("webhooks", "list")
        assert wid in [w["id"] for w in listed["webhooks"]]
        assert all("secret" not in w for w in listed["webhooks"])
        assert "secret" not in daemon.sbx_ok("webhooks", "show", wid)

        sid, run = run_lifecycle(daemon, ["print('hi')"])
        assert run["state"] == "succeeded"
        daemon.remove(sid)
        # Backoff with full jitter: the 4th attempt is at most 5 + 10 + 20 s after the first.
        wait_for(lambda: any(s == 200 for _, _, s in rx.snapshot()), 90, "a 200 delivery")
        time.sleep(1)
        reqs = rx.snapshot()
        assert [s for _, _, s in reqs] == [500, 500, 500, 200], [s for _, _, s in reqs]
        ids = {h["x-sandboxd-delivery"] for h, _, _ in reqs}
        assert len(ids) == 1, ids
        event_id = ids.pop()
        for headers, body, _ in reqs:
            payload = json.loads(body)
            assert payload["id"] == event_id and payload["type"] == "on_completion"
            assert payload["sandbox_id"] == sid and payload["data"]["run_id"] == run["id"]
            assert headers["x-sandboxd-event"] == "on_completion"
            ts = headers["x-sandboxd-timestamp"]
            want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-sandboxd-signature-256"], want)
            assert abs(int(ts) - time.time()) < 300
            gh = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-hub-signature-256"], gh)
        # A wrong secret does not verify.
        h, body, _ = reqs[-1]
        bad = "sha256=" + hmac.new(b"wrong", h["x-sandboxd-timestamp"].encode() + b"." + body,
                                   hashlib.sha256).hexdigest()
        assert bad != h["x-sandboxd-signature-256"]

        # The delivery log shows every attempt.
        d = daemon.sbx_ok("webhooks", "deliveries", wid)
        assert d["count"] == 1
        row = d["deliveries"][0]
        assert row["state"] == "delivered" and row["attempts"] == 4 and row["event_uid"] == event_id
        assert [a["status_code"] for a in row["log"]] == [500, 500, 500, 200]
        # Redelivery by hand sends it again with the same id.
        again = daemon.sbx_ok("webhooks", "redeliver", wid, str(row["id"]))
        assert again["state"] == "pending"
        wait_for(lambda: len(rx.snapshot()) == 5, 30, "the redelivery")
        assert rx.snapshot()[-1][0]["x-sandboxd-delivery"] == event_id
        stats = daemon.sbx_ok("webhooks", "stats")
        assert stats["delivered"] >= 2
        daemon.sbx_ok("webhooks", "disable", wid)
        assert daemon.sbx_ok("webhooks", "show", wid)["enabled"] is False
        daemon.sbx_ok("webhooks", "rm", wid)
        code, out = daemon.sbx("webhooks", "show", wid)
        assert code == 2 and out["error_code"] == "not_found"
    finally:
        rx.close()


def test_pending_deliveries_survive_kill_9_and_are_all_delivered_after_restart():
    port = free_port()  # nothing listens there yet: the receiver is down
    d1 = Daemon().start()
    try:
        created = d1.api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:%d/hook" % port,
                                                  "events": ["*"]})
        assert created.status == 201, created
        wid = created.json["id"]
        # A run that fails and cleans up: nothing is left running when the daemon dies.
        sid, run = run_lifecycle(d1, ["raise SystemExit(3)"], max_retries=0)
        assert run["state"] == "failed" and run["sandbox_removed"] is True
        events = d1.api("GET", "/v1/events?order=asc&limit=1000").json["events"]
        uids = {e["id"] for e in events}
        assert len(uids) >= 5  # sandbox_created, execution_started, execution_failed, on_error, on_cleanup
        wait_for(lambda: any(r["attempts"] >= 1 for r in d1.api(
            "GET", "/v1/webhooks/%s/deliveries" % wid).json["deliveries"]), 20, "a failed attempt")
        pending = d1.api("GET", "/v1/webhooks/%s/deliveries" % wid).json["deliveries"]
        assert all(r["state"] in ("pending", "in_flight") for r in pending), pending
    finally:
        d1.proc.kill()  # kill -9
        d1.proc.wait()
    assert d1.proc.returncode == -9

    rx = Receiver(port=port)
    d2 = Daemon()
    shutil.rmtree(d2.tmp, ignore_errors=True)
    d2.tmp, d2.state_dir, d2.socket = d1.tmp, d1.state_dir, d1.socket
    d2.log_path = os.path.join(d1.tmp, "sandboxd-restarted.log")
    try:
        d2.start()
        # Backoff after the first failed attempts is at most 5-10 s.
        wait_for(lambda: {h["x-sandboxd-delivery"] for h, _, s in rx.snapshot()} >= uids, 60,
                 "every event delivered after the restart")
        got = {h["x-sandboxd-delivery"] for h, _, _ in rx.snapshot()}
        assert got == uids | got and uids <= got
        rows = d2.api("GET", "/v1/webhooks/%s/deliveries?limit=1000" % wid).json["deliveries"]
        assert rows and all(r["state"] == "delivered" for r in rows), rows
    finally:
        rx.close()
        if d1 in _ACTIVE_DAEMONS:
            _ACTIVE_DAEMONS.remove(d1)
        d1._log.close()
        _stop_and_check(d2)


def read_sse(resp, want, timeout=60):
    """Reads server-sent events from an http.client response until want(events) is true."""
    events, cur = [], {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = resp.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line == "":
            if "data" in cur:
                ev = json.loads(cur["data"])
                ev["_sse_id"] = int(cur["id"])
                ev["_sse_event"] = cur.get("event")
                events.append(ev)
                if want(events):
                    return events
            cur = {}
        elif line.startswith(":"):
            continue
        else:
            k, _, v = line.partition(": ")
            cur[k] = v
    raise AssertionError("stream ended or timed out; got %r" % [e["type"] for e in events])


def open_stream(daemon, path, headers=None):
    conn = UnixHTTPConnection(daemon.socket, timeout=60)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    return conn, resp


def test_event_stream_shows_live_events_and_resumes_after_last_event_id(daemon):
    conn, resp = open_stream(daemon, "/v1/events/stream")
    try:
        sid, run = run_lifecycle(daemon, ["print(1)", "print(2)"], cleanup_on_error=True)
        daemon.remove(sid)
        live = read_sse(resp, lambda evs: any(e["type"] == "on_completion" and
                                              e["sandbox_id"] == sid for e in evs))
    finally:
        conn.close()
    mine = [e for e in live if e["sandbox_id"] == sid]
    assert [e["type"] for e in mine][0] == "sandbox_created"
    assert [e["_sse_id"] for e in mine] == sorted(e["_sse_id"] for e in mine)
    assert all(e["_sse_event"] == e["type"] and e["seq"] == e["_sse_id"] for e in mine)

    # Resume after the third event: the stream starts with the fourth, nothing lost or repeated.
    cut = mine[2]["_sse_id"]
    conn, resp = open_stream(daemon, "/v1/events/stream?sandbox_id=" + sid,
                             {"Last-Event-ID": str(cut)})
    try:
        resumed = read_sse(resp, lambda evs: evs[-1]["type"] == "on_completion")
    finally:
        conn.close()
    assert [e["_sse_id"] for e in resumed] == [e["_sse_id"] for e in mine[3:]]
    assert [e["id"] for e in resumed] == [e["id"] for e in mine[3:]]

    # The CLI: `sbx events --follow` prints live events as JSON lines and resumes with
    # --since-id; `sbx events` lists stored ones.
    p = subprocess.Popen([SBX, "--socket", daemon.socket, "events", "--follow",
                          "--sandbox-id", sid, "--since-id", str(cut), "--max-events", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    lines = out.decode().splitlines()
    first = json.loads(lines[0])
    assert first["seq"] == mine[3]["_sse_id"] and json.loads(lines[1])["seq"] == mine[4]["_sse_id"]
    summary = json.loads("\n".join(lines[2:]))
    assert summary["success"] is True and summary["events"] == 2
    assert summary["last_event_id"] == mine[4]["_sse_id"]

    # Follow from now: a new run's events appear while sbx is running.
    p = subprocess.Popen([SBX, "--socket", daemon.socket, "--compact", "events", "--follow",
                          "--type", "ON_COMPLETION", "--max-events", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    sid2, _ = run_lifecycle(daemon, ["print(3)"])
    daemon.remove(sid2)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    ev = json.loads(out.decode().splitlines()[0])
    assert ev["type"] == "on_completion" and ev["sandbox_id"] == sid2

    listed = daemon.sbx_ok("events", "--sandbox-id", sid, "--type", "execution_complete")
    assert listed["count"] == 2
    assert all(e["type"] == "execution_complete" for e in listed["events"])
    code, out = daemon.sbx("events", "--type", "no_such_type")
    assert code == 2 and out["error_code"] == "invalid_argument"


def test_plain_sandboxes_publish_created_execution_and_cleanup_events(daemon):
    sid = daemon.create("python")
    daemon.exec_ok(sid, "print(1)")
    r = daemon.exec(sid, "raise SystemExit(2)")
    assert r["exit_code"] == 2
    assert daemon.remove(sid).status == 200
    evs = wait_for(lambda: (lambda e: e if len(e) >= 6 else None)(daemon.api(
        "GET", "/v1/events?order=asc&sandbox_id=" + sid).json["events"]), 10, "6 events")
    assert [e["type"] for e in evs] == ["sandbox_created", "execution_started",
                                        "execution_complete", "execution_started",
                                        "execution_failed", "on_cleanup"]
    assert all(e["data"]["source"] == "sandbox" for e in evs)
    assert evs[4]["data"]["exit_code"] == 2 and evs[2]["data"]["execution_id"].startswith("exec_")
