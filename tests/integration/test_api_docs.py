"""The daemon serves its OpenAPI document, and every route it lists exists."""
import yaml


def test_openapi_document_is_served_and_its_routes_exist(daemon):
    r = daemon.api("GET", "/v1/openapi.yaml")
    assert r.status == 200, r
    doc = yaml.safe_load(r.body)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ("/v1/sandboxes", "/v1/sandboxes/{id}/exec", "/v1/sandboxes/{id}/files",
              "/v1/executions", "/v1/templates"):
        assert p in paths, p
    # Each documented GET without required parameters answers with something other than 404
    # "no such endpoint" (a 404 for an unknown sandbox id is fine).
    for path, ops in paths.items():
        if "get" not in ops:
            continue
        concrete = path.replace("{id}", "no_such_sandbox").replace("{name}", "python")
        resp = daemon.api("GET", concrete)
        if resp.status == 404:
            assert "no such endpoint" not in resp.body.decode(), (path, resp)
