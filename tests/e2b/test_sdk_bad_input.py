"""Bad input at the E2B surfaces: unknown sandboxes, Hosts naming nothing, broken Connect
envelopes. Each gets a clear answer and the daemon keeps serving."""
import http.client
import json
import struct

from conftest import DOMAIN


def raw(e2b, method, path, headers, body=b""):
    c = http.client.HTTPConnection("127.0.0.1", e2b.d.port, timeout=30)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def test_envd_routes_of_an_unknown_sandbox_are_502(e2b):
    for path in ("/health", "/files?path=/etc/hostname", "/process.Process/List"):
        status, body = raw(e2b, "POST" if "Process" in path else "GET", path,
                           {"E2b-Sandbox-Id": "nosuchsandbox", "E2b-Sandbox-Port": "49983",
                            "Content-Type": "application/json"}, b"{}" if "Process" in path else b"")
        assert status == 502, (path, status, body)
        j = json.loads(body)
        assert j["code"] == 502 and j["sandboxId"] == "nosuchsandbox", j
    status, body = raw(e2b, "GET", "/", {"Host": "49983-nosuchsandbox." + DOMAIN})
    assert status == 502 and b"not found" in body, (status, body)


def test_malformed_and_oversized_envelopes_get_clear_errors(e2b):
    sid = e2b.run_js("createOne", {"metadata": {}})["sandboxId"]
    try:
        tok = e2b.run_js("envdToken", {"sandboxId": sid})["token"]
        hdrs = {"E2b-Sandbox-Id": sid, "X-Access-Token": tok,
                "Content-Type": "application/connect+json", "Connect-Protocol-Version": "1"}
        # A length that claims more than was sent, then one far above any limit.
        cut = b"\x00" + struct.pack(">I", 500) + b'{"process":'
        huge = b"\x00" + struct.pack(">I", 0x7FFFFFFF) + b"{}"
        for body in (cut, huge, b"not an envelope"):
            status, data = raw(e2b, "POST", "/process.Process/Start", hdrs, body)
            # Connect reports stream errors in the end frame (200) or with a 4xx status.
            assert status in (200, 400, 413), (status, data)
            assert b"error" in data or status != 200, data
        # The daemon and the sandbox still serve.
        status, _ = raw(e2b, "GET", "/health", {"E2b-Sandbox-Id": sid})
        assert status == 204
        assert e2b.d.api("GET", "/health").status == 200
    finally:
        e2b.run_js("killOne", {"sandboxId": sid})
