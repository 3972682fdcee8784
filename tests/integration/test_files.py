"""File transfer through the API: gzip in both directions where it pays (the guide's ratio
< 0.9), sha256 on both sides, the size limit (413), gzip bombs refused, paths confined by the
kernel inside the sandbox."""
import gzip
import hashlib
import os
import urllib.parse

import pytest

from conftest import Daemon, _stop_and_check

MIB = 1 << 20


def put(d, sid, path, body, headers=None):
    return d.api("PUT", "/v1/sandboxes/%s/files?path=%s" % (sid, urllib.parse.quote(path)),
                 raw=body, headers=headers or {})


def get(d, sid, path, headers=None):
    return d.api("GET", "/v1/sandboxes/%s/files?path=%s" % (sid, urllib.parse.quote(path)),
                 headers=headers or {})


@pytest.mark.parametrize("kind", ["compressible", "random"])
def test_gzip_round_trip_of_10_mib(daemon, sandbox, kind):
    if kind == "compressible":
        data = (b"sandboxd compresses text that repeats itself. " * 300000)[:10 * MIB]
    else:
        data = os.urandom(10 * MIB)
    digest = hashlib.sha256(data).hexdigest()
    body = gzip.compress(data, compresslevel=6)
    pays = len(body) < 0.9 * len(data)
    if pays:
        r = put(daemon, sandbox, "/home/user/blob.bin", body,
                {"Content-Encoding": "gzip", "X-Content-SHA256": digest})
    else:  # the client stores it uncompressed, as the guide says
        r = put(daemon, sandbox, "/home/user/blob.bin", data, {"X-Content-SHA256": digest})
    assert r.status == 200, r
    assert r.json["hash"] == digest
    assert r.json["compressed"] is pays
    assert r.json["stored_size"] == len(data)
    assert pays is (kind == "compressible")
    inside = daemon.exec_ok(sandbox, "import hashlib; print(hashlib.sha256(open('/home/user/blob.bin','rb').read()).hexdigest())")
    assert inside["stdout"].strip() == digest

    back = get(daemon, sandbox, "/home/user/blob.bin", {"Accept-Encoding": "gzip"})
    assert back.status == 200, back
    # The sha256 is the trailer of a chunked body (http.client drops trailers: the security
    # tests read it, tests/security/test_downloads.py); the size is announced first.
    assert back.headers.get("x-content-size") == str(len(data))
    encoded = back.headers.get("content-encoding") == "gzip"
    assert encoded is (kind == "compressible")
    raw = gzip.decompress(back.body) if encoded else back.body
    assert hashlib.sha256(raw).hexdigest() == digest
    if encoded:
        assert len(back.body) < 0.9 * len(data)


def test_sha256_mismatch_writes_nothing(daemon, sandbox):
    r = put(daemon, sandbox, "/home/user/x.txt", b"hello", {"X-Content-SHA256": "0" * 64})
    assert r.status == 400, r
    assert "sha256 mismatch" in r.json["error"]["message"]
    assert get(daemon, sandbox, "/home/user/x.txt").status == 404


def test_gzip_bomb_and_oversized_uploads_are_refused():
    d = Daemon(["--max-file-size", str(1 * MIB)]).start()
    try:
        sid = d.create("python")
        bomb = gzip.compress(b"\0" * (64 * MIB))  # 64 KiB on the wire
        r = put(d, sid, "/home/user/bomb", bomb, {"Content-Encoding": "gzip"})
        assert r.status == 413, r
        assert "decompressed" in r.json["error"]["message"]
        r = put(d, sid, "/home/user/big", os.urandom(MIB + 1))
        assert r.status == 413, r
        r = put(d, sid, "/home/user/bad", b"not gzip at all", {"Content-Encoding": "gzip"})
        assert r.status == 400, r
        r = put(d, sid, "/home/user/enc", b"x", {"Content-Encoding": "br"})
        assert r.status == 400 and "br" in r.json["error"]["message"], r
        # The daemon keeps serving.
        assert d.exec_ok(sid, "print('still here')")["stdout"] == "still here\n"
        assert put(d, sid, "/home/user/ok", b"fine").status == 200
        d.remove(sid)
    finally:
        _stop_and_check(d)


def test_paths_resolve_inside_the_sandbox(daemon, sandbox):
    secret = "host-only-%s" % os.urandom(6).hex()
    host_file = os.path.join(daemon.state_dir, "planted-secret")
    with open(host_file, "w") as f:
        f.write(secret)
    try:
        for p in ("/../../../../" + host_file, host_file, "/proc/1/root" + host_file):
            r = get(daemon, sandbox, p)
            assert r.status in (403, 404), (p, r)
            assert secret.encode() not in r.body
        # Writing "outside" lands inside the sandbox, not on the host.
        r = put(daemon, sandbox, "/../../tmp/escaped-%s" % secret, b"x")
        assert r.status == 200, r
        assert not os.path.exists("/tmp/escaped-%s" % secret)
        r = put(daemon, sandbox, "/proc/sys/kernel/hostname", b"evil")
        assert r.status >= 400, r
    finally:
        os.unlink(host_file)
