"""The daemon serves its OpenAPI document; every route it lists exists, with the documented
methods, and HTTP metrics label each one with its own route template (never "unmatched")."""
import re
import time

import yaml

METHODS = ("get", "put", "post", "patch", "delete")

# Path parameters: ids that do not exist (a route must be labelled whatever it answers). GETs of
# /v1/templates/{name} use a template that exists, as in the first version of this test.
MISSING = {"id": "no_such_sandbox", "eid": "exec_no_such", "name": "no_such_name",
           "run_id": "run_no_such", "delivery_id": "1", "token": "no_such_token"}

# Requests that would otherwise stream until the daemon stops get a query that is refused
# at once (the route still answers, and is still observed under its label).
QUERY = {("get", "/v1/events/stream"): "?limit=0"}

# A body no documented POST/PUT/PATCH accepts as a valid request, so that nothing is created.
BAD_BODY = {"no_such_field_for_the_test": 1}

SAMPLE = re.compile(r'^sandboxd_http_requests_total\{(.*)\} (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def load_doc(daemon):
    r = daemon.api("GET", "/v1/openapi.yaml")
    assert r.status == 200, r
    doc = yaml.safe_load(r.body)
    assert doc["openapi"].startswith("3.")
    return doc


def concrete(path, method):
    def sub(m):
        name = m.group(1)
        if name == "name" and method == "get" and path.startswith("/v1/templates/"):
            return "python"
        assert name in MISSING, "no test value for path parameter {%s} of %s" % (name, path)
        return MISSING[name]
    return re.sub(r"\{(\w+)\}", sub, path) + QUERY.get((method, path), "")


def request(daemon, method, path):
    body = BAD_BODY if method in ("put", "post", "patch") else None
    return daemon.api(method.upper(), concrete(path, method), body=body, timeout=30)


def http_counts(daemon):
    """{(route, method): requests} from GET /metrics, summed over status codes."""
    r = daemon.api("GET", "/metrics")
    assert r.status == 200, r
    counts = {}
    for line in r.body.decode().splitlines():
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(1)))
        key = (labels["route"], labels["method"])
        counts[key] = counts.get(key, 0) + float(m.group(2))
    return counts


def operations(doc):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method


def test_openapi_document_is_served_and_its_routes_exist(daemon):
    doc = load_doc(daemon)
    paths = doc["paths"]
    for p in ("/v1/sandboxes", "/v1/sandboxes/{id}/exec", "/v1/sandboxes/{id}/files",
              "/v1/executions", "/v1/templates", "/metrics", "/v1/keys", "/v1/events",
              "/v1/webhooks", "/v1/lifecycles", "/v1/workflows", "/v1/hooks/github"):
        assert p in paths, p
    # Each documented operation answers with something other than the router's 404 "no such
    # endpoint" (a 404 for an unknown id is fine) and other than "method not allowed" (the
    # document names a method the route does not take).
    for path, method in operations(doc):
        resp = request(daemon, method, path)
        text = resp.body.decode("utf-8", "replace")
        assert not (resp.status == 404 and "no such endpoint" in text), (method, path, resp)
        assert "is not allowed on" not in text, (method, path, resp)


def test_every_documented_route_has_its_own_metrics_label(daemon):
    doc = load_doc(daemon)
    missing = []
    for path, method in operations(doc):
        key = (path, method.upper())
        before = http_counts(daemon)
        resp = request(daemon, method, path)
        # Streamed answers are observed once their last chunk is written: wait a little.
        deadline = time.monotonic() + 5
        while True:
            after = http_counts(daemon)
            if after.get(key, 0) > before.get(key, 0) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        unmatched = sum(after.get(k, 0) - before.get(k, 0) for k in after if k[0] == "unmatched")
        if after.get(key, 0) <= before.get(key, 0) or unmatched:
            labels = sorted(k for k in after if after[k] != before.get(k, 0))
            missing.append((method.upper(), path, resp.status, labels))
    assert not missing, "requests not labelled with their route template:\n" + "\n".join(
        map(repr, missing))
