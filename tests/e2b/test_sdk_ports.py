"""getHost(port): servers started inside a sandbox, reached through sandboxd."""
from conftest import DOMAIN


def test_http_server_in_the_sandbox_by_host_and_by_header(e2b):
    r = e2b.run_js("httpServer")
    assert r["host"] == "8000-%s.%s" % (r["sandboxId"], DOMAIN), r
    assert r["byHost"] == {"status": 200, "body": "hello from the sandbox\n"}, r
    assert r["byHeader"] == {"status": 200, "body": "hello from the sandbox\n"}, r
    assert r["closed"]["status"] == 502, r   # nothing listens on 8001
    assert r["noSandbox"]["status"] == 502 and "not found" in r["noSandbox"]["body"], r


def test_websocket_echo_in_the_sandbox(e2b):
    r = e2b.run_js("websocketEcho")
    assert r["replies"] == ["echo: one", "echo: two"], r
