"""E2B's quick start and control plane through the unmodified npm SDK (docs/e2b.md)."""
import re
import secrets

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def test_quickstart_unmodified(e2b):
    r = e2b.run_js("quickstart")
    assert re.fullmatch(r"[a-z0-9]+", r["sandboxId"]), r  # the Host form can carry it
    assert r["echo"] == {"stdout": "hi\n", "stderr": "", "exitCode": 0}, r
    assert r["written"] == {"path": "/home/user/a.txt", "name": "a.txt", "type": "file"}, r
    assert r["read"] == "x", r
    assert {"name": "a.txt", "type": "file", "path": "/home/user/a.txt", "size": 1} in r["list"], r
    assert r["backgroundPid"] > 0 and r["waited"] == {"stdout": "done\n", "exitCode": 0}, r
    assert r["killed"] is True and r["runningAfterKill"] is False, r
    # Killed means gone, as E2B's kill.
    assert e2b.d.api("GET", "/v1/sandboxes/" + r["sandboxId"]).status == 404


def test_list_filters_by_metadata_and_pages(e2b):
    tag = "t" + secrets.token_hex(4)
    r = e2b.run_js("listPagination", {"tag": tag})
    pages = r["pages"]
    assert [len(p) for p in pages] == [2, 1], r
    seen = [s["sandboxId"] for p in pages for s in p]
    assert sorted(seen) == sorted(r["created"]) and r["other"] not in seen, r
    for s in (s for p in pages for s in p):
        assert s["state"] == "running" and s["metadata"]["suite"] == tag, s
        assert ISO.match(s["startedAt"]) and ISO.match(s["endAt"]), s
    assert r["onlyOne"] == [r["created"][1]], r


def test_info_timeout_metrics_and_is_running(e2b):
    r = e2b.run_js("infoTimeoutMetrics")
    info = r["info"]
    assert info["state"] == "running" and info["templateId"], r
    assert info["cpuCount"] >= 1 and info["memoryMB"] >= 16, r
    # setTimeout(600 s) moved the end to about ten minutes from now (default: 300 s).
    assert r["endAtAfter"] > info["endAt"], r
    assert r["running"] is True, r
    assert r["metrics"], r
    m = r["metrics"][-1]
    assert m["memTotal"] > 0 and m["memUsed"] > 0 and m["cpuCount"] >= 1, m


def test_unknown_sandbox_is_not_found_on_the_control_plane(e2b):
    r = e2b.run_js("unknownSandbox")
    assert r["kill"] is False, r
    for call in ("connect", "info", "setTimeout"):
        assert r[call]["threw"] and "NotFound" in r[call]["name"], (call, r)


def test_wrong_and_missing_keys_raise_authentication_errors(e2b):
    bad = dict(e2b.env, E2B_API_KEY="e2b_" + "0" * 40)
    r = e2b.run_js("wrongKey", env=bad)
    for call in ("create", "list"):
        assert r[call]["threw"] and r[call]["name"] == "AuthenticationError", (call, r)
    missing = dict(e2b.env)
    missing.pop("E2B_API_KEY")
    r = e2b.run_js("wrongKey", env=missing)
    assert r["create"]["threw"] and r["create"]["name"] == "AuthenticationError", r


def test_another_tenants_sandbox_is_not_found(e2b):
    theirs = e2b.run_js("createOne", {"metadata": {"owner": "beta"}}, env=e2b.env_beta)["sandboxId"]
    try:
        r = e2b.run_js("otherTenant", {"sandboxId": theirs})
        assert r["kill"] is False, r
        assert r["connect"]["threw"] and "NotFound" in r["connect"]["name"], r
        assert r["info"]["threw"] and "NotFound" in r["info"]["name"], r
        assert theirs not in r["listed"], r
        # Still there for its owner.
        assert e2b.d.api("GET", "/v1/sandboxes/" + theirs).json["state"] == "running"
    finally:
        assert e2b.run_js("killOne", {"sandboxId": theirs}, env=e2b.env_beta)["killed"] is True
