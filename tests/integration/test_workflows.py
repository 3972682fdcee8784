"""Workflows through the real daemon and CLI (docs/events.md): `sbx workflow create|list|run|
history`, a signed GitHub push delivery starting the matching workflow (a bad signature: 401,
nothing started), and a cron-scheduled workflow running at its time (the scheduler is
minute-granular, so that test waits up to ~65 s)."""
import hashlib
import hmac
import json
import os
import time
import uuid

import pytest

from conftest import Daemon, _stop_and_check

GITHUB_SECRET = "It's a Secret to Everybody"


@pytest.fixture(scope="module")
def wf_daemon():
    old = os.environ.get("GITHUB_WEBHOOK_SECRET")
    os.environ["GITHUB_WEBHOOK_SECRET"] = GITHUB_SECRET
    try:
        d = Daemon().start()
    finally:
        if old is None:
            del os.environ["GITHUB_WEBHOOK_SECRET"]
        else:
            os.environ["GITHUB_WEBHOOK_SECRET"] = old
    yield d
    _stop_and_check(d)


def wait_run(d, run_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = d.api("GET", "/v1/lifecycles/" + run_id).json
        if run["state"] != "running":
            return run
        time.sleep(0.3)
    raise AssertionError("run %s still running after %ss" % (run_id, timeout))


def test_workflow_cli_create_list_run_history(wf_daemon):
    d = wf_daemon
    wf = d.sbx_ok("workflow", "create", "--name", "my-workflow", "--trigger", "manual",
                  "--template", "python")
    assert wf["name"] == "my-workflow" and wf["trigger"] == {"type": "manual"}
    assert wf["lifecycle"]["template"] == "python"
    code, out = d.sbx("workflow", "create", "--name", "my-workflow", "--trigger", "manual")
    assert code == 2 and out["error_code"] == "already_exists"
    d.sbx_ok("workflow", "create", "--name", "with-script", "--trigger", "manual",
             "--script", "import os, json; print(json.loads(os.environ['SBX_TRIGGER'])['type'])")
    names = [w["name"] for w in d.sbx_ok("workflow", "list")["workflows"]]
    assert "my-workflow" in names and "with-script" in names

    run = d.sbx_ok("workflow", "run", "my-workflow", "--wait")
    assert run["state"] == "succeeded" and run["sandbox_removed"] is True
    run2 = d.sbx_ok("workflow", "run", "with-script", "--wait")
    assert run2["state"] == "succeeded"
    assert run2["scripts"][0]["attempts"][0]["stdout"].strip() == "manual"
    # A workflow run always removes its sandbox.
    assert d.api("GET", "/v1/sandboxes/" + run2["sandbox_id"]).status == 404

    hist = d.sbx_ok("workflow", "history", "my-workflow")
    assert [r["id"] for r in hist["runs"]] == [run["id"]]
    assert hist["runs"][0]["trigger"]["type"] == "manual"
    shown = d.sbx_ok("workflow", "show", "with-script")
    assert shown["lifecycle"]["scripts"]
    types = [e["type"] for e in d.api(
        "GET", "/v1/events?order=asc&sandbox_id=" + run2["sandbox_id"]).json["events"]]
    assert types[0] == "workflow_started" and types[-1] == "workflow_finished"
    d.sbx_ok("workflow", "rm", "with-script")
    code, out = d.sbx("workflow", "run", "with-script")
    assert code == 2 and out["error_code"] == "not_found"


def github_post(d, body, secret=GITHUB_SECRET, event="push", delivery=None, signature=None):
    raw = json.dumps(body).encode()
    sig = signature or "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return d.api("POST", "/v1/hooks/github", raw=raw, headers={
        "Content-Type": "application/json", "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-Hub-Signature-256": sig})


def test_signed_github_push_starts_the_matching_workflow_and_a_bad_signature_starts_nothing(
        wf_daemon):
    d = wf_daemon
    d.sbx_ok("workflow", "create", "--name", "on-push", "--trigger", "webhook",
             "--source", "github", "--repository", "octo/demo", "--branch", "main",
             "--script", "import os; print(os.environ['SBX_TRIGGER'])")
    d.sbx_ok("workflow", "create", "--name", "other-repo", "--trigger", "webhook",
             "--repository", "octo/other")
    push = {"ref": "refs/heads/main", "after": "a" * 40,
            "repository": {"full_name": "octo/demo"}}

    # Bad signature, missing signature: 401, nothing starts.
    r = github_post(d, push, secret="wrong secret")
    assert r.status == 401, r
    r = github_post(d, push, signature="sha256=" + "0" * 64)
    assert r.status == 401, r
    assert d.sbx_ok("workflow", "history", "on-push")["runs"] == []
    assert d.sbx_ok("workflow", "history", "other-repo")["runs"] == []

    assert github_post(d, {"zen": "hi"}, event="ping").status == 200
    delivery = str(uuid.uuid4())
    r = github_post(d, push, delivery=delivery)
    assert r.status == 202, r
    assert len(r.json["started_runs"]) == 1
    run = wait_run(d, r.json["started_runs"][0])
    assert run["state"] == "succeeded", json.dumps(run)[:3000]
    trig = json.loads(run["scripts"][0]["attempts"][0]["stdout"])
    assert trig["source"] == "github" and trig["repository"] == "octo/demo"
    assert trig["branch"] == "main" and trig["sha"] == "a" * 40 and trig["delivery"] == delivery
    assert [x["id"] for x in d.sbx_ok("workflow", "history", "on-push")["runs"]] == [run["id"]]
    assert d.sbx_ok("workflow", "history", "other-repo")["runs"] == []

    # The same delivery again (GitHub's redelivery): acknowledged, nothing starts.
    r = github_post(d, push, delivery=delivery)
    assert r.status == 200 and r.json["started_runs"] == [], r
    # Another branch: no workflow matches.
    r = github_post(d, dict(push, ref="refs/heads/dev"))
    assert r.status == 200 and r.json["started_runs"] == [], r
    assert len(d.sbx_ok("workflow", "history", "on-push")["runs"]) == 1


def test_github_hook_without_a_configured_secret_is_404(daemon):
    r = daemon.api("POST", "/v1/hooks/github", raw=b"{}", headers={
        "X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"})
    assert r.status == 404, r


def test_token_hook_starts_its_workflow(wf_daemon):
    d = wf_daemon
    r = d.api("POST", "/v1/workflows", {"name": "zap", "trigger": {"type": "webhook",
                                                                    "source": "zapier"},
                                        "scripts": ["print('zap')"]})
    assert r.status == 201, r
    token = r.json["hook_token"]
    assert d.api("POST", "/v1/hooks/token/hook_" + "0" * 40, raw=b"{}").status == 401
    r = d.api("POST", "/v1/hooks/token/" + token, body={"lead": 42})
    assert r.status == 202, r
    run = wait_run(d, r.json["started_runs"][0])
    assert run["state"] == "succeeded" and run["trigger"]["payload"] == {"lead": 42}
    assert "hook_token" not in d.sbx_ok("workflow", "show", "zap")


def test_scheduled_workflow_runs_at_its_time(wf_daemon):
    d = wf_daemon
    wf = d.sbx_ok("workflow", "create", "--name", "every-minute", "--trigger", "schedule",
                  "--cron", "* * * * *", "--script", "print('tick')")
    assert wf["trigger"] == {"type": "schedule", "cron": "* * * * *"}
    next_at = wf["next_run_at"]
    deadline = time.time() + 75  # the next whole minute, the scheduler's 1 s tick, the run
    runs = []
    while time.time() < deadline:
        runs = d.sbx_ok("workflow", "history", "every-minute")["runs"]
        if runs and runs[0]["state"] != "running":
            break
        time.sleep(1)
    assert runs, "no scheduled run within 75 s (next_run_at %s)" % next_at
    run = runs[0]
    assert run["state"] == "succeeded", json.dumps(run)[:3000]
    assert run["trigger"]["type"] == "schedule"
    assert run["trigger"]["scheduled_for"] == next_at
    assert run["scripts"][0]["attempts"][0]["stdout"].strip() == "tick"
    d.sbx_ok("workflow", "rm", "every-minute")
