"""Tenants against shared resources (issue 10, findings 4 and 11).

Finding 4: template removal and forced rebuilds were open to any tenant key. Templates are shared
by every tenant, so building, rebuilding and removing one is the administrator's (unix socket).
Finding 11: a lifecycle started with a tenant's key created its sandbox without that tenant, so
the tenant could not see it and it escaped the tenant's caps.
"""
import http.client
import json
import re
import time

import pytest

from conftest import Daemon, _stop_and_check, http_call, unique_id


def tcp(d, method, path, key, body=None):
    return http_call(http.client.HTTPConnection("127.0.0.1", d.port, timeout=60), method, path,
                     body=body, headers={"X-API-Key": key})


def new_key(d, tenant):
    out = d.sbx_ok("keys", "create", "--tenant", tenant, "--name", "security")
    assert re.fullmatch(r"sbx_[0-9A-Za-z]{40}", out["key"]), out
    return out["key"]


@pytest.fixture(scope="module")
def tcp_daemon():
    d = Daemon(["--listen", "127.0.0.1:0"]).start()
    assert d.port, d.ready_line
    yield d
    _stop_and_check(d)


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/v1/templates/python"),
    ("POST", "/v1/templates/python/build?force=true"),
    ("POST", "/v1/templates/python/build"),
])
def test_template_administration_is_refused_to_tenant_keys(tcp_daemon, method, path):
    key = new_key(tcp_daemon, "acme")
    before = tcp_daemon.api("GET", "/v1/templates/python").json
    r = tcp(tcp_daemon, method, path, key, body={"force": True} if "build" in path else None)
    assert r.status == 403, r
    assert r.json["error"]["code"] == "permission_denied", r.json
    assert "administrator" in r.json["error"]["message"], r.json
    # Nothing changed, and the template still serves creates.
    assert tcp_daemon.api("GET", "/v1/templates/python").json == before
    r = tcp(tcp_daemon, "POST", "/v1/sandboxes", key, body={"template": "python"})
    assert r.status == 201, r
    assert tcp(tcp_daemon, "DELETE", "/v1/sandboxes/" + r.json["sandbox_id"], key).status == 200
    # Reading templates stays open to keys.
    assert tcp(tcp_daemon, "GET", "/v1/templates", key).status == 200
    assert tcp(tcp_daemon, "GET", "/v1/templates/python", key).status == 200


def test_template_administration_stays_open_to_the_administrator(tcp_daemon):
    # The unix socket is the administrator's: the same request is served (the host templates
    # have nothing to build, so the answer is the streamed result, not a 403).
    r = tcp_daemon.api("POST", "/v1/templates/python/build", {"force": False})
    assert r.status == 200, r
    last = json.loads(r.body.decode().strip().splitlines()[-1])
    assert last.get("error", {}).get("code") != "permission_denied", last


def wait_run(d, key, run_id, timeout_s=120):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        r = tcp(d, "GET", "/v1/lifecycles/" + run_id, key)
        assert r.status == 200, r
        if r.json["state"] not in ("pending", "running"):
            return r.json
        time.sleep(0.2)
    raise AssertionError("lifecycle run %s did not end within %ds" % (run_id, timeout_s))


def test_lifecycle_sandbox_belongs_to_the_key_tenant(tcp_daemon):
    key = new_key(tcp_daemon, "tenant_lc")
    other = new_key(tcp_daemon, "tenant_other")
    sid = unique_id("lc")
    r = tcp(tcp_daemon, "POST", "/v1/lifecycles", key,
            body={"sandbox_id": sid, "template": "python", "timeout": 120,
                  "scripts": ["print('hello from a lifecycle')"]})
    assert r.status == 202, r
    run = wait_run(tcp_daemon, key, r.json["id"])
    assert run["state"] == "succeeded", run
    # The tenant sees (and may remove) the sandbox its lifecycle created.
    mine = tcp(tcp_daemon, "GET", "/v1/sandboxes", key).json["sandboxes"]
    assert sid in [s["sandbox_id"] for s in mine], mine
    assert tcp(tcp_daemon, "GET", "/v1/sandboxes/" + sid, key).status == 200
    # Another tenant does not.
    assert tcp(tcp_daemon, "GET", "/v1/sandboxes/" + sid, other).status == 404
    theirs = tcp(tcp_daemon, "GET", "/v1/sandboxes", other).json["sandboxes"]
    assert sid not in [s["sandbox_id"] for s in theirs]
    # The administrator sees its tenant.
    listed = tcp_daemon.api("GET", "/v1/sandboxes/" + sid).json
    assert listed.get("tenant") in (None, "tenant_lc"), listed
    assert tcp(tcp_daemon, "DELETE", "/v1/sandboxes/" + sid, key).status == 200
