"""E2B's control plane (docs/e2b.md, "The control plane"): create, list, get, timeout,
connect, kill, metrics and templates in E2B's REST shapes, over TCP with a sandboxd API key,
as E2B's SDK sends them (plain HTTP here; the SDK itself runs in tests/e2b)."""
import http.client
import json
import re
import time
from urllib.parse import quote

import pytest

from conftest import Daemon, _stop_and_check, http_call
from test_e2b_gateway import run as envd_run

SEMVER = re.compile(r"\d+\.\d+\.\d+")
HEX64 = re.compile(r"[0-9a-f]{64}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture(scope="module")
def d():
    dm = Daemon(["--listen", "127.0.0.1:0"]).start()
    assert dm.port, dm.ready_line
    yield dm
    _stop_and_check(dm)


def new_key(d, tenant):
    return d.sbx_ok("keys", "create", "--tenant", tenant, "--name", "e2b")["key"]


@pytest.fixture(scope="module")
def key(d):
    return new_key(d, "alpha")


def call(d, method, path, key=None, body=None, raw=None, headers=None):
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["X-API-Key"] = key
    return http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=120), method, path,
                     body=body, raw=raw, headers=hdrs)


def create(d, key, **body):
    body.setdefault("templateID", "base")
    r = call(d, "POST", "/v2/sandboxes", key, body)
    assert r.status == 201, r
    return r.json


def kill(d, key, sid):
    r = call(d, "DELETE", "/sandboxes/" + sid, key)
    assert r.status in (204, 404), r


def assert_e2b_error(r, status, fragment=""):
    assert r.status == status, r
    assert set(r.json) == {"code", "message"} and r.json["code"] == status, r
    assert fragment in r.json["message"], r


def test_create_v2_answers_a_sandbox(d, key):
    s = create(d, key, timeout=120, metadata={"team": "a"}, envVars={"FOO": "bar baz"})
    try:
        assert re.fullmatch(r"i[a-z0-9]{19}", s["sandboxID"]), s
        assert s["templateID"] == "python"  # `base` is an alias of python
        assert s["clientID"] == "sandboxd"
        assert SEMVER.fullmatch(s["envdVersion"]) and s["envdVersion"] == "0.6.4", s
        assert HEX64.fullmatch(s["envdAccessToken"]), s
        assert s["domain"] is None and s["trafficAccessToken"] is None, s
        # The sandbox has the create's lifetime, metadata and env.
        v1 = d.api("GET", "/v1/sandboxes/" + s["sandboxID"]).json
        assert v1["state"] == "running", v1
        assert v1["timeout"] == 120 and v1["metadata"] == {"team": "a"}, v1
        out = d.exec_ok(s["sandboxID"], "import os; print(os.environ['FOO'])")
        assert out["stdout"] == "bar baz\n", out
        # Processes the SDK starts through the gateway get envVars too, with the returned token.
        stdout, end = envd_run(d, s["sandboxID"], s["envdAccessToken"], 'printf %s "$FOO"')
        assert stdout == b"bar baz", (stdout, end)
    finally:
        kill(d, key, s["sandboxID"])


def test_legacy_create_and_defaults(d, key):
    r = call(d, "POST", "/sandboxes", key, {"templateID": "minimal", "secure": True,
                                             "allow_internet_access": False,
                                             "network": {"allowOut": ["x"]}, "unknown": 1})
    assert r.status == 201, r
    sid = r.json["sandboxID"]
    try:
        v1 = d.api("GET", "/v1/sandboxes/" + sid).json
        assert v1["template"] == "minimal" and v1["timeout"] == 300, v1
    finally:
        kill(d, key, sid)


@pytest.mark.parametrize("body,status,fragment", [
    ({}, 400, "templateID"),
    ({"templateID": "nope"}, 404, "template 'nope' does not exist"),
    ({"templateID": "base", "timeout": 1.5}, 400, "timeout"),
    ({"templateID": "base", "envVars": {"A": 1}}, 400, "envVars.A"),
])
def test_create_refusals_in_e2b_shape(d, key, body, status, fragment):
    assert_e2b_error(call(d, "POST", "/v2/sandboxes", key, body), status, fragment)


def test_malformed_json_is_400_in_e2b_shape(d, key):
    r = call(d, "POST", "/v2/sandboxes", key, raw=b"{not json",
             headers={"Content-Type": "application/json"})
    assert_e2b_error(r, 400)


def test_get_timeout_delete(d, key):
    s = create(d, key, metadata={"k": "v"})
    sid = s["sandboxID"]
    r = call(d, "GET", "/sandboxes/" + sid, key)
    assert r.status == 200, r
    info = r.json
    assert info["sandboxID"] == sid and info["state"] == "running", info
    assert info["envdAccessToken"] == s["envdAccessToken"]
    assert info["cpuCount"] == 2 and info["memoryMB"] == 2048, info
    assert info["metadata"] == {"k": "v"} and info["envdVersion"] == "0.6.4"
    assert RFC3339.fullmatch(info["startedAt"]) and RFC3339.fullmatch(info["endAt"]), info

    r = call(d, "POST", "/sandboxes/%s/timeout" % sid, key, {"timeout": 3600})
    assert r.status == 204 and r.body == b"", r
    assert d.api("GET", "/v1/sandboxes/" + sid).json["timeout"] == 3600
    assert_e2b_error(call(d, "POST", "/sandboxes/%s/timeout" % sid, key, {}), 400, "timeout")

    r = call(d, "DELETE", "/sandboxes/" + sid, key)
    assert r.status == 204 and r.body == b"", r
    assert_e2b_error(call(d, "DELETE", "/sandboxes/" + sid, key), 404)
    assert_e2b_error(call(d, "GET", "/sandboxes/" + sid, key), 404)
    assert_e2b_error(call(d, "POST", "/sandboxes/%s/timeout" % sid, key, {"timeout": 5}), 404)
    assert_e2b_error(call(d, "DELETE", "/sandboxes/NOT-AN-ID", key), 404)


def test_connect_extends_never_shortens(d, key):
    sid = create(d, key, timeout=600)["sandboxID"]
    try:
        before = d.api("GET", "/v1/sandboxes/" + sid).json["expires_at"]
        for path in ("/sandboxes/%s/connect", "/v2/sandboxes/%s/connect"):
            r = call(d, "POST", path % sid, key, {"timeout": 60})
            assert r.status == 200 and r.json["sandboxID"] == sid, r
            assert HEX64.fullmatch(r.json["envdAccessToken"]), r
        assert d.api("GET", "/v1/sandboxes/" + sid).json["expires_at"] == before
        r = call(d, "POST", "/v2/sandboxes/%s/connect" % sid, key, {"timeout": 7200})
        assert r.status == 200, r
        assert d.api("GET", "/v1/sandboxes/" + sid).json["timeout"] == 7200
        assert_e2b_error(call(d, "POST", "/v2/sandboxes/nosuchbox/connect", key, {}), 404)
    finally:
        kill(d, key, sid)


def test_list_filters_and_pages(d, key):
    ids = [create(d, key, metadata={"grp": "lst", "n": str(i)})["sandboxID"] for i in range(3)]
    try:
        r = call(d, "GET", "/v2/sandboxes?metadata=" + quote("grp=lst"), key)
        assert r.status == 200 and "x-next-token" not in r.headers, r
        assert sorted(x["sandboxID"] for x in r.json) == sorted(ids), r.json
        one = r.json[0]
        assert one["state"] == "running" and one["clientID"] == "sandboxd", one
        for field in ("startedAt", "endAt"):
            assert RFC3339.fullmatch(one[field]), one
        assert one["cpuCount"] == 2 and one["memoryMB"] == 2048 and "diskSizeMB" in one
        r = call(d, "GET", "/sandboxes?metadata=" + quote("grp=lst&n=1"), key)
        assert [x["sandboxID"] for x in r.json] == [ids[1]], r.json
        r = call(d, "GET", "/v2/sandboxes?state=paused&metadata=" + quote("grp=lst"), key)
        assert r.status == 200 and r.json == [], r
        # Pages of two: every sandbox once, the token on all pages but the last.
        seen, token = [], None
        for _ in range(5):
            path = "/v2/sandboxes?limit=2&metadata=" + quote("grp=lst")
            if token:
                path += "&nextToken=" + token
            r = call(d, "GET", path, key)
            assert r.status == 200 and len(r.json) <= 2, r
            seen += [x["sandboxID"] for x in r.json]
            token = r.headers.get("x-next-token")
            if not token:
                break
        assert sorted(seen) == sorted(ids), seen
        assert_e2b_error(call(d, "GET", "/v2/sandboxes?limit=0", key), 400, "limit")
        assert_e2b_error(call(d, "GET", "/v2/sandboxes?state=dead", key), 400, "state")
        assert_e2b_error(call(d, "GET", "/v2/sandboxes?nextToken=zz", key), 400, "nextToken")
        # The administrator (unix socket) sees them too.
        admin = d.api("GET", "/v2/sandboxes?metadata=" + quote("grp=lst"))
        assert sorted(x["sandboxID"] for x in admin.json) == sorted(ids), admin
    finally:
        for sid in ids:
            kill(d, key, sid)


def test_tenants_see_only_their_own(d, key):
    other = new_key(d, "beta")
    sid = create(d, key, metadata={"grp": "ten"})["sandboxID"]
    try:
        assert_e2b_error(call(d, "GET", "/sandboxes/" + sid, other), 404)
        assert_e2b_error(call(d, "DELETE", "/sandboxes/" + sid, other), 404)
        assert_e2b_error(call(d, "POST", "/sandboxes/%s/timeout" % sid, other, {"timeout": 9}), 404)
        assert_e2b_error(call(d, "POST", "/v2/sandboxes/%s/connect" % sid, other, {}), 404)
        assert_e2b_error(call(d, "GET", "/sandboxes/%s/metrics" % sid, other), 404)
        r = call(d, "GET", "/v2/sandboxes", other)
        assert r.status == 200 and sid not in [x["sandboxID"] for x in r.json], r
        assert d.api("GET", "/v1/sandboxes/" + sid).json["state"] == "running"
    finally:
        kill(d, key, sid)


def test_auth_errors_in_e2b_shape(d):
    r = call(d, "GET", "/v2/sandboxes")
    assert_e2b_error(r, 401, "no API key")
    r = call(d, "POST", "/v2/sandboxes", "sbx_" + "A" * 40, {"templateID": "base"})
    assert_e2b_error(r, 401)
    r = call(d, "DELETE", "/sandboxes/x", "garbage")
    assert_e2b_error(r, 401)
    # v1 keeps its own shape.
    r = call(d, "GET", "/v1/sandboxes")
    assert r.status == 401 and r.json["success"] is False, r


def test_unknown_route_and_method(d, key):
    assert_e2b_error(call(d, "GET", "/no/such/route", key), 404)
    assert_e2b_error(call(d, "PUT", "/v2/sandboxes", key, {}), 400)


def test_metrics(d, key):
    sid = create(d, key)["sandboxID"]
    try:
        deadline = time.monotonic() + 30
        points = []
        while time.monotonic() < deadline and not points:
            r = call(d, "GET", "/sandboxes/%s/metrics" % sid, key)
            assert r.status == 200, r
            points = r.json
            if not points:
                time.sleep(1)
        assert points, "no metric sample within 30 s"
        p = points[-1]
        for field in ("timestamp", "timestampUnix", "cpuCount", "cpuUsedPct", "memUsed",
                      "memTotal", "diskUsed", "diskTotal"):
            assert field in p, p
        now = int(time.time())
        r = call(d, "GET", "/sandboxes/%s/metrics?start=%d&end=%d" % (sid, now + 3600, now + 7200), key)
        assert r.status == 200 and r.json == [], r
        assert_e2b_error(call(d, "GET", "/sandboxes/%s/metrics?start=x" % sid, key), 400)
        assert_e2b_error(call(d, "GET", "/sandboxes/nosuchbox/metrics", key), 404)
    finally:
        kill(d, key, sid)


def test_templates(d, key):
    r = call(d, "GET", "/templates", key)
    assert r.status == 200, r
    by_id = {t["templateID"]: t for t in r.json}
    assert set(by_id) >= {"python", "node", "general", "minimal"}, by_id
    py = by_id["python"]
    assert py["aliases"] == ["base", "code-interpreter-v1"], py
    assert py["names"] == ["python"] and py["cpuCount"] == 2 and py["memoryMB"] == 2048, py
    assert py["buildStatus"] == "ready" and SEMVER.fullmatch(py["envdVersion"]), py


def test_v1_create_resolves_aliases(d):
    r = d.api("POST", "/v1/sandboxes", {"template": "code-interpreter-v1"})
    assert r.status == 201, r
    try:
        assert r.json["template"] == "python", r.json
    finally:
        d.remove(r.json["sandbox_id"])
