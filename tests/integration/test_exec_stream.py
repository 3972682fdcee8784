"""Streaming, stdin and background executions through a real sandboxd (docs/api.md,
"Streaming and background executions"): NDJSON and server-sent events as output arrives,
stdin, background executions waited on, streamed again from the start, fed input and killed,
tenants kept apart, and `sbx exec --stream` / `sbx execution ...`.

Timing checks measure when events arrive relative to each other (the first line well before
the result of code that sleeps between its lines); they never assert a speed.
"""
import http.client
import json
import os
import re
import subprocess
import time

import pytest

from conftest import SBX, Daemon, UnixHTTPConnection, _stop_and_check, http_call, unique_id

# Prints a line, sleeps, prints another: streamed, the first arrives about SLEEP_S before the end.
SLEEP_S = 2
TWO_LINES = ("import sys, time\n"
             "print('first', flush=True)\n"
             "sys.stderr.write('warn\\n'); sys.stderr.flush()\n"
             "time.sleep(%d)\n"
             "print('second')\n" % SLEEP_S)


@pytest.fixture(scope="module")
def d():
    dm = Daemon(["--listen", "127.0.0.1:0"]).start()
    assert dm.port, "no port= in %r" % dm.ready_line
    yield dm
    _stop_and_check(dm)


@pytest.fixture
def sid(d):
    s = d.create("python")
    yield s
    d.remove(s)


def open_stream(d, method, path, body=None, headers=None, timeout=60):
    """Starts a request on the unix socket and returns (connection, response) to read from."""
    conn = UnixHTTPConnection(d.socket, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    return conn, conn.getresponse()


def read_ndjson(resp):
    """[(arrival seconds since the call, event)] of an NDJSON response, read line by line."""
    t0 = time.monotonic()
    out = []
    while True:
        line = resp.readline()
        if not line:
            return out
        if line.strip():
            out.append((time.monotonic() - t0, json.loads(line)))


def ndjson(d, method, path, body=None, headers=None):
    conn, resp = open_stream(d, method, path, body, headers)
    try:
        assert resp.status == 200, (resp.status, resp.read())
        assert resp.getheader("Content-Type") == "application/x-ndjson"
        return read_ndjson(resp)
    finally:
        conn.close()


def events_of(timed):
    return [e for _, e in timed if e["type"] != "keepalive"]


def joined(events, stream):
    return "".join(e["data"] for e in events if e["type"] == stream)


def exec_path(sid):
    return "/v1/sandboxes/%s/exec" % sid


def start_background(d, sid, code, **fields):
    r = d.api("POST", exec_path(sid), dict(code=code, background=True, **fields))
    assert r.status == 202, r
    assert r.json["status"] == "running" and r.json["success"] is True, r.json
    assert re.fullmatch(r"exec_[0-9a-f]{16}", r.json["execution_id"]), r.json
    return r.json["execution_id"]


def history(d, sid):
    r = d.api("GET", "/v1/executions?sandbox_id=" + sid)
    assert r.status == 200, r
    return {e["execution_id"]: e for e in r.json["executions"]}


def test_ndjson_output_arrives_while_the_code_runs(d, sid):
    timed = ndjson(d, "POST", exec_path(sid), {"code": TWO_LINES, "stream": True})
    events = events_of(timed)
    assert events[0]["type"] == "start" and events[-1]["type"] == "result", events
    eid = events[0]["execution_id"]
    result = events[-1]
    assert result["status"] == "completed" and result["exit_code"] == 0, result
    assert result["execution_id"] == eid and result["sandbox_id"] == sid
    assert result["stdout"] == "first\nsecond\n" and result["stderr"] == "warn\n", result
    assert joined(events, "stdout") == result["stdout"]
    assert joined(events, "stderr") == result["stderr"]
    # When "first" arrived, compared with the result: the sleep lies between them.
    t_first = next(t for t, e in timed if e["type"] == "stdout" and "first" in e["data"])
    t_result = timed[-1][0]
    assert t_result - t_first >= SLEEP_S * 0.75, (
        "the first line arrived only %.2f s before the result: not streamed" % (t_result - t_first))
    # Recorded in history like any exec.
    rec = history(d, sid)[eid]
    assert rec["status"] == "completed" and rec["stdout"] == "first\nsecond\n", rec

    # Accept: application/x-ndjson asks for the same without "stream".
    events = events_of(ndjson(d, "POST", exec_path(sid), {"code": "print('via accept')"},
                              headers={"Accept": "application/x-ndjson"}))
    assert {e["type"] for e in events[1:-1]} == {"stdout"}, events
    assert events[0]["type"] == "start" and events[-1]["type"] == "result", events
    assert joined(events, "stdout") == events[-1]["stdout"] == "via accept\n"


def test_default_answer_is_unchanged(d, sid):
    r = d.api("POST", exec_path(sid), {"code": "print(6 * 7)"})
    assert r.status == 200 and r.headers["content-type"] == "application/json", r
    assert r.json["stdout"] == "42\n" and r.json["status"] == "completed", r.json
    for k in ("success", "sandbox_id", "execution_id", "language", "exit_code", "stderr",
              "execution_time"):
        assert k in r.json, (k, r.json)
    assert "type" not in r.json


def parse_sse(raw):
    """[(event, data JSON)] of a text/event-stream body (comments and retry lines skipped)."""
    out = []
    for block in raw.decode().split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if name:
            out.append((name, json.loads("\n".join(data))))
    return out


def test_server_sent_events(d, sid):
    conn, resp = open_stream(d, "POST", exec_path(sid), {"code": TWO_LINES},
                             headers={"Accept": "text/event-stream"})
    try:
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "text/event-stream"
        events = parse_sse(resp.read())
    finally:
        conn.close()
    names = [n for n, _ in events]
    assert names[0] == "start" and names[-1] == "result", names
    assert set(names) == {"start", "stdout", "stderr", "result"}, names
    for name, data in events:
        assert data["type"] == name
    result = events[-1][1]
    assert result["status"] == "completed" and result["stdout"] == "first\nsecond\n", result
    assert "".join(x["data"] for n, x in events if n == "stdout") == result["stdout"]


def test_stdin_is_written_then_closed(d, sid):
    code = "import sys\ndata = sys.stdin.read()\nprint(data.upper(), end='')\nprint(len(data))"
    res = d.exec_ok(sid, code, stdin="hello\nworld \u00e9\n")
    assert res["stdout"] == "HELLO\nWORLD \u00c9\n14\n", res
    # Streamed as well.
    events = events_of(ndjson(d, "POST", exec_path(sid),
                              {"code": code, "stdin": "abc", "stream": True}))
    assert events[-1]["stdout"] == "ABC3\n", events
    # Without "stdin" the code reads end-of-file at once, as before.
    res = d.exec_ok(sid, "import sys; print(repr(sys.stdin.read()))", timeout=10)
    assert res["stdout"] == "''\n", res


def test_background_wait_and_restream_from_the_start(d, sid):
    code = ("import sys, time\n"
            "for i in range(5):\n"
            "    print('out', i, flush=True)\n"
            "    sys.stderr.write('err %d\\n' % i); sys.stderr.flush()\n"
            "    time.sleep(0.3)\n"
            "print('x' * 100000)\n")
    eid = start_background(d, sid, code)
    # Streamed while it runs: from its start, whatever was printed before the stream began.
    live = events_of(ndjson(d, "GET", "/v1/executions/%s/stream" % eid))
    r = d.api("GET", "/v1/executions/%s/wait?timeout=60" % eid)
    assert r.status == 200, r
    result = r.json
    assert result["status"] == "completed" and result["execution_id"] == eid, result
    assert result["stdout"].startswith("out 0\nout 1\n") and result["stdout"].endswith("x" * 100000 + "\n")
    assert live[-1]["stdout"] == result["stdout"]
    assert joined(live, "stdout") == result["stdout"]
    assert joined(live, "stderr") == result["stderr"] == "".join("err %d\n" % i for i in range(5))
    # After the end: twice more, identical, and the same output as the live stream (whose
    # pieces were cut where it caught up with the code, so only their joins compare).
    again = events_of(ndjson(d, "GET", "/v1/executions/%s/stream" % eid))
    third = events_of(ndjson(d, "GET", "/v1/executions/%s/stream" % eid))
    assert again == third
    assert joined(again, "stdout") == result["stdout"]
    assert joined(again, "stderr") == result["stderr"]
    assert again[0] == live[0] and again[-1] == live[-1]
    # The record, and wait on a finished execution answers at once.
    show = d.api("GET", "/v1/executions/" + eid)
    assert show.status == 200 and show.json["execution"]["done"] is True, show
    assert show.json["execution"]["status"] == "completed"
    assert show.json["execution"]["stdout"] == result["stdout"]
    assert d.api("GET", "/v1/executions/%s/wait?timeout=0" % eid).json == result
    assert history(d, sid)[eid]["status"] == "completed"


def test_wait_times_out_with_408_while_running(d, sid):
    eid = start_background(d, sid, "import time; print('up', flush=True); time.sleep(30)")
    r = d.api("GET", "/v1/executions/%s/wait?timeout=1" % eid)
    assert r.status == 408, r
    assert r.json["status"] == "running" and r.json["error"]["code"] == "deadline_exceeded"
    show = d.api("GET", "/v1/executions/" + eid).json["execution"]
    assert show["done"] is False and show["status"] == "running", show
    assert history(d, sid)[eid]["status"] == "running"
    assert d.api("POST", "/v1/executions/%s/kill" % eid, {}).status == 200


def test_input_to_a_background_execution(d, sid):
    code = ("import sys\n"
            "for line in sys.stdin:\n"
            "    print(line.strip().upper(), flush=True)\n"
            "print('eof')\n")
    eid = start_background(d, sid, code, stdin="first\n", stdin_open=True)
    r = d.api("POST", "/v1/executions/%s/input" % eid, {"data": "second\n"})
    assert r.status == 200 and r.json["bytes"] == 7, r
    deadline = time.monotonic() + 20
    while "SECOND" not in d.api("GET", "/v1/executions/" + eid).json["execution"]["stdout"]:
        assert time.monotonic() < deadline, "input was not echoed"
        time.sleep(0.1)
    r = d.api("POST", "/v1/executions/%s/input" % eid, {"data": "third\n", "eof": True})
    assert r.status == 200 and r.json["eof"] is True, r
    res = d.api("GET", "/v1/executions/%s/wait?timeout=30" % eid).json
    assert res["status"] == "completed" and res["stdout"] == "FIRST\nSECOND\nTHIRD\neof\n", res
    # Once over: 409, naming why.
    r = d.api("POST", "/v1/executions/%s/input" % eid, {"data": "late\n"})
    assert r.status == 409 and "not running" in r.json["error"]["message"], r
    # An execution without a stdin pipe refuses input.
    eid = start_background(d, sid, "import time; time.sleep(20)")
    r = d.api("POST", "/v1/executions/%s/input" % eid, {"data": "x"})
    assert r.status == 409 and "stdin" in r.json["error"]["message"], r
    d.api("POST", "/v1/executions/%s/kill" % eid, {})


@pytest.mark.parametrize("signal,expect", [(None, 9), ("SIGTERM", 15)])
def test_kill_a_background_execution(d, sid, signal, expect):
    eid = start_background(d, sid, "import time\nprint('started', flush=True)\ntime.sleep(120)",
                           timeout=300)
    deadline = time.monotonic() + 20
    while "started" not in d.api("GET", "/v1/executions/" + eid).json["execution"]["stdout"]:
        assert time.monotonic() < deadline, "the execution did not start"
        time.sleep(0.1)
    t0 = time.monotonic()
    r = d.api("POST", "/v1/executions/%s/kill" % eid, {"signal": signal} if signal else {})
    assert r.status == 200 and r.json["done"] is True, r
    assert time.monotonic() - t0 < 10
    res = r.json["result"]
    assert res["status"] == "killed" and res["signal"] == expect, res
    assert res["reason"].startswith("killed by request"), res
    assert res["stdout"] == "started\n"
    rec = history(d, sid)[eid]
    assert rec["status"] == "killed", rec
    assert d.api("GET", "/v1/executions/%s/wait" % eid).json["status"] == "killed"
    r = d.api("POST", "/v1/executions/%s/kill" % eid, {})
    assert r.status == 409, r
    assert re.search("already finished|not running", r.json["error"]["message"]), r


def test_a_gone_client_does_not_stop_the_execution(d, sid):
    code = "import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b')"
    conn, resp = open_stream(d, "POST", exec_path(sid), {"code": code, "stream": True})
    start = json.loads(resp.readline())
    assert start["type"] == "start"
    conn.close()  # gone before the end
    r = d.api("GET", "/v1/executions/%s/wait?timeout=30" % start["execution_id"])
    assert r.status == 200 and r.json["status"] == "completed", r
    assert r.json["stdout"] == "a\nb\n"


def test_bad_requests(d, sid):
    cases = [
        ({"code": "1", "stream": True, "background": True}, "exclude each other"),
        ({"code": "1", "stdin": 5}, "request.stdin"),
        ({"code": "1", "stream": "yes"}, "request.stream"),
        ({"code": "1", "stdin_open": 1}, "request.stdin_open"),
        ({"code": "1", "bogus": 1}, "bogus"),
    ]
    for body, fragment in cases:
        r = d.api("POST", exec_path(sid), body)
        assert r.status == 400 and fragment in r.json["error"]["message"], (body, r)
    r = d.api("POST", exec_path(sid), {"code": "1", "stdin": "x" * (8 * 1024 * 1024 + 1)})
    assert r.status == 413, r
    eid = start_background(d, sid, "import time; time.sleep(20)")
    assert d.api("POST", "/v1/executions/%s/kill" % eid, {"signal": "SIGHUP"}).status == 400
    assert d.api("GET", "/v1/executions/%s/wait?timeout=abc" % eid).status == 400
    assert d.api("GET", "/v1/executions/%s/wait?timeout=99999" % eid).status == 400
    assert d.api("POST", "/v1/executions/%s/input" % eid, {}).status == 400
    assert d.api("POST", "/v1/executions/%s/input" % eid, {"data": 3}).status == 400
    assert d.api("DELETE", "/v1/executions/" + eid).status == 400
    assert d.api("POST", "/v1/executions/%s/kill" % eid, {}).status == 200
    for path in ("/v1/executions/exec_0000000000000000", "/v1/executions/nope/stream"):
        r = d.api("GET", path)
        assert r.status == 404 and "does not exist" in r.json["error"]["message"], r
    assert d.api("GET", "/v1/executions/" + "x" * 100).status == 400


def tcp(d, method, path, key, body=None, headers=None, timeout=60):
    hdrs = dict(headers or {})
    hdrs["X-API-Key"] = key
    return http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout), method,
                     path, body=body, headers=hdrs)


def test_tenants_see_only_their_executions(d):
    keys = {}
    for tenant in ("alpha", "beta"):
        out = d.sbx_ok("keys", "create", "--tenant", tenant, "--name", "exec-stream")
        keys[tenant] = out["key"]
    sid = unique_id("ten")
    r = tcp(d, "POST", "/v1/sandboxes", keys["alpha"], {"template": "python", "sandbox_id": sid})
    assert r.status == 201, r
    try:
        r = tcp(d, "POST", exec_path(sid), keys["alpha"],
                {"code": "import time; print('mine', flush=True); time.sleep(60)",
                 "background": True})
        assert r.status == 202, r
        eid = r.json["execution_id"]
        deadline = time.monotonic() + 20
        while True:
            r = tcp(d, "GET", "/v1/executions/" + eid, keys["alpha"])
            assert r.status == 200, r
            if r.json["execution"]["stdout"] == "mine\n":
                break
            assert time.monotonic() < deadline, r
            time.sleep(0.1)
        for method, path, body in [("GET", "", None), ("GET", "/wait?timeout=0", None),
                                   ("GET", "/stream", None), ("POST", "/kill", {}),
                                   ("POST", "/input", {"data": "x"})]:
            r = tcp(d, method, "/v1/executions/" + eid + path, keys["beta"], body)
            assert r.status == 404, (path, r)
            assert "execution '%s' does not exist" % eid in r.json["error"]["message"], r
        # Beta cannot run code in alpha's sandbox either, streamed or not.
        r = tcp(d, "POST", exec_path(sid), keys["beta"], {"code": "1", "stream": True})
        assert r.status == 404, r
        # Alpha kills it; the kill is alpha's to make.
        r = tcp(d, "POST", "/v1/executions/%s/kill" % eid, keys["alpha"], {})
        assert r.status == 200 and r.json["status"] == "killed", r
        # Finished and read from history: still hidden from beta.
        r = tcp(d, "GET", "/v1/executions/%s/stream" % eid, keys["beta"])
        assert r.status == 404, r
        r = tcp(d, "GET", "/v1/executions/%s/stream" % eid, keys["alpha"])
        assert r.status == 200 and b'"mine\\n"' in r.body, r
    finally:
        tcp(d, "DELETE", "/v1/sandboxes/" + sid, keys["alpha"])


def test_cli_exec_stream(d, sid):
    argv = [SBX, "--socket", d.socket, "exec", "--sandbox-id", sid, "--stream", "--code",
            TWO_LINES]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    first = p.stdout.readline()
    t_first = time.monotonic() - t0
    rest, err = p.communicate(timeout=60)
    t_end = time.monotonic() - t0
    assert p.returncode == 0, (p.returncode, first, rest, err)
    assert first == b"first\n" and rest == b"second\n", (first, rest)
    assert err == b"warn\n", err
    assert t_end - t_first >= SLEEP_S * 0.75, (
        "sbx printed the first line only %.2f s before it ended" % (t_end - t_first))

    # A failure: the code's stderr, then sbx's one line; exit status 1, no JSON.
    r = subprocess.run([SBX, "--socket", d.socket, "exec", "--sandbox-id", sid, "--stream",
                        "--code", "print('so far'); raise SystemExit(3)"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 1 and r.stdout == b"so far\n", r
    assert re.search(rb"sbx: execution exec_[0-9a-f]+ failed \(exit code 3\)", r.stderr), r.stderr

    # stdin from a flag.
    out = d.sbx_ok("exec", "--sandbox-id", sid, "--stdin", "piped",
                   "--code", "import sys; print(sys.stdin.read()[::-1])")
    assert out["stdout"] == "depip\n", out


def test_cli_background_and_execution_verbs(d, sid):
    out = d.sbx_ok("exec", "--sandbox-id", sid, "--background", "--code",
                   "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)")
    eid = out["execution_id"]
    assert out["status"] == "running"
    res = d.sbx_ok("execution", "wait", eid)
    assert res["status"] == "completed" and res["stdout"] == "0\n1\n2\n", res
    r = subprocess.run([SBX, "--socket", d.socket, "execution", "stream", eid],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0 and r.stdout == b"0\n1\n2\n", r
    shown = d.sbx_ok("execution", "show", eid)
    assert shown["execution"]["done"] is True

    out = d.sbx_ok("exec", "--sandbox-id", sid, "--background", "--stdin-open", "--code",
                   "import sys; print(sys.stdin.read().strip() + '!')")
    eid = out["execution_id"]
    d.sbx_ok("execution", "input", eid, "--data", "hey", "--eof")
    assert d.sbx_ok("execution", "wait", eid)["stdout"] == "hey!\n"

    out = d.sbx_ok("exec", "--sandbox-id", sid, "--background", "--code",
                   "import time; time.sleep(60)")
    eid = out["execution_id"]
    rc, res = d.sbx("execution", "wait", eid, "--timeout", "1")
    assert rc == 2 and res["error_code"] == "deadline_exceeded", res
    killed = d.sbx_ok("execution", "kill", eid, "--signal", "SIGTERM")
    assert killed["status"] == "killed", killed
    rc, res = d.sbx("execution", "wait", eid)
    assert rc == 1 and res["status"] == "killed", res
    rc, res = d.sbx("execution", "show", "exec_ffffffffffffffff")
    assert rc == 2 and res["error_code"] == "not_found", res


def test_shutdown_ends_running_executions_and_records_them(fresh_daemon):
    d = fresh_daemon
    sid = d.create("python")
    eid = start_background(d, sid, "import time\nprint('up', flush=True)\ntime.sleep(120)",
                           timeout=300)
    conn, resp = open_stream(d, "GET", "/v1/executions/%s/stream" % eid)
    assert json.loads(resp.readline())["type"] == "start"
    # Output may come in several chunks ("up", then "\n"): read until the whole line is there.
    seen = ""
    while seen != "up\n":
        ev = json.loads(resp.readline())
        assert ev["type"] == "stdout" and ("up\n").startswith(seen + ev["data"]), (seen, ev)
        seen += ev["data"]
    t0 = time.monotonic()
    assert d.terminate() == 0
    assert time.monotonic() - t0 < 20
    # The open stream got the end of the execution before the daemon went.
    rest = [json.loads(l) for l in resp.read().splitlines() if l.strip()]
    conn.close()
    assert rest and rest[-1]["type"] == "result", rest
    assert rest[-1]["status"] == "killed" and "sandbox ended" in rest[-1]["reason"], rest[-1]
    d.start()
    r = d.api("GET", "/v1/executions/%s/wait?timeout=0" % eid)
    assert r.status == 200 and r.json["status"] == "killed" and r.json["stdout"] == "up\n", r
