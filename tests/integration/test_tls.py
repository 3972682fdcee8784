"""TLS on the TCP listener (docs/security.md, "TLS"): a real sandboxd with --tls-cert and
--tls-key, a throwaway CA and server certificate made with the openssl command line in a
temporary directory for this run (no key is ever committed), and real clients: Python's
http.client + ssl, the sbx CLI (libcurl), raw sockets.

Covered: API calls over https with the CA and a key; `sbx --url https://... --cacert`;
verification failures without the CA or with a wrong host name; TLS 1.0/1.1 refused; plain
HTTP to the TLS port answered with a plain 400 and the daemon still serving; silent clients
dropped after the handshake timeout without holding up others; a streamed response (the
events SSE stream, `sbx events --follow`) over TLS; bad certificate/key files refusing the start
with a message naming the file; the warning for a key others can read; SIGHUP reloading the
certificate (and keeping the old one when the new files are bad).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import (HOST_TEMPLATES, SANDBOXD, SBX, Daemon, _stop_and_check, http_call,
                      run_sbx, unique_id)

HANDSHAKE_TIMEOUT_S = 10  # ServerOptions::tls_handshake_timeout_s


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr.decode())


def make_server_cert(d, ca, name):
    """A P-256 key and a certificate for 127.0.0.1 and localhost signed by ca; mode 0600."""
    key, csr, pem, ext = (os.path.join(d, name + s) for s in (".key", ".csr", ".pem", ".ext"))
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", csr, "-CA", ca["cert"], "-CAkey", ca["key"],
            "-CAcreateserial", "-days", "2", "-out", pem, "-extfile", ext, cwd=d)
    os.chmod(key, 0o600)
    return {"cert": pem, "key": key}


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="sbxtls")
    try:
        ca = {"key": os.path.join(d, "ca.key"), "cert": os.path.join(d, "ca.pem")}
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", ca["key"], "-out", ca["cert"], "-days", "2",
                "-subj", "/CN=sandboxd test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        server = make_server_cert(d, ca, "server")
        other = make_server_cert(d, ca, "other")  # a valid key that belongs to another cert
        yield {"dir": d, "ca": ca["cert"], "ca_key": ca["key"], "cert": server["cert"],
               "key": server["key"], "other_key": other["key"], "ca_dict": ca}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def tls_args(cert, key):
    return ["--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key]


@pytest.fixture(scope="module")
def tls_daemon(pki):
    d = Daemon(tls_args(pki["cert"], pki["key"])).start()
    assert d.port and " tls=1" in d.ready_line, d.ready_line
    d.key = d.sbx_ok("keys", "create", "--tenant", "tls_tenant")["key"]
    yield d
    _stop_and_check(d)


def ca_context(pki):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


def https(d, pki, method, path, key=None, body=None, host="127.0.0.1", ctx=None, timeout=60):
    hdrs = {"X-API-Key": key} if key else {}
    conn = http.client.HTTPSConnection(host, d.port, timeout=timeout,
                                       context=ctx or ca_context(pki))
    return http_call(conn, method, path, body=body, headers=hdrs)


def sbx_https(d, pki, *args, cacert=True, env=None, timeout=120):
    argv = [SBX, "--url", "https://127.0.0.1:%d" % d.port]
    if cacert:
        argv += ["--cacert", pki["ca"]]
    argv += [str(a) for a in args]
    cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                        env=dict(os.environ, **(env or {})))
    out = cp.stdout.decode()
    try:
        parsed = json.loads(out)
    except ValueError:
        parsed = None
    return cp.returncode, parsed, out, cp.stderr.decode()


def still_serving(d, pki):
    r = https(d, pki, "GET", "/v1/sandboxes", key=d.key, timeout=10)
    assert r.status == 200, r


# ---- the happy path ----

def test_api_over_https_with_the_ca_and_a_key(tls_daemon, pki):
    d = tls_daemon
    r = https(d, pki, "GET", "/v1/sandboxes", key=d.key)
    assert r.status == 200 and r.json["success"] is True, r
    # The host name is verified too: localhost is in the certificate.
    assert https(d, pki, "GET", "/v1/templates", key=d.key, host="localhost").status == 200
    # TLS does not replace the API key.
    assert https(d, pki, "GET", "/v1/sandboxes").status == 401
    # The negotiated protocol is TLS 1.2 or 1.3, and ALPN, when asked, is HTTP/1.1.
    ctx = ca_context(pki)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
            assert s.selected_alpn_protocol() == "http/1.1"
    lines = [e for e in d.log_events("http.request") if e.get("transport") == "tls"]
    assert any(e.get("path") == "/v1/sandboxes" and e.get("status") == "200" for e in lines), (
        d.log_text()[-3000:])


def s_client(port, *args):
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def test_old_protocols_and_weak_suites_are_refused_by_the_server(tls_daemon):
    port = tls_daemon.port
    # SECLEVEL=0 lets the client offer what Debian's policy would stop it from offering, so
    # the refusal seen is the server's alert (the same client completes TLS 1.1 with a server
    # that allows it).
    for flag in ("-tls1", "-tls1_1"):
        code, out = s_client(port, flag, "-cipher", "DEFAULT@SECLEVEL=0")
        assert code != 0 and "alert protocol version" in out, out
    # TLS 1.2 with a CBC suite (OpenSSL's default list has them; ours does not).
    code, out = s_client(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0")
    assert code != 0 and "alert handshake failure" in out, out
    # TLS 1.2 with a forward-secret AEAD suite works.
    code, out = s_client(port, "-tls1_2")
    assert code == 0 and "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" in out, out


def test_cli_over_https(tls_daemon, pki):
    d = tls_daemon
    code, out, raw, err = sbx_https(d, pki, "--api-key", d.key, "status")
    assert code == 0 and out["success"] is True, (raw, err)
    # The CA from the environment instead of the flag.
    code, out, raw, err = sbx_https(d, pki, "--api-key", d.key, "templates", cacert=False,
                                    env={"SBX_CACERT": pki["ca"]})
    assert code == 0 and out["success"] is True, (raw, err)
    # --insecure is an explicit opt-out of verification.
    code, out, raw, err = sbx_https(d, pki, "--api-key", d.key, "--insecure", "status",
                                    cacert=False)
    assert code == 0 and out["success"] is True, (raw, err)
    # A full round trip: create, exec, cleanup through TLS.
    sid = unique_id("tls")
    code, out, raw, err = sbx_https(d, pki, "--api-key", d.key, "create", "--template",
                                    "python", "--sandbox-id", sid)
    assert code == 0 and out["success"] is True, (raw, err)
    try:
        code, out, raw, err = sbx_https(d, pki, "--api-key", d.key, "exec", "--sandbox-id", sid,
                                        "--language", "python", "--code", "print(6*7)")
        assert code == 0 and out["stdout"].strip() == "42", (raw, err)
    finally:
        code, out, raw, err = sbx_https(d, pki, "--api-key", d.key, "cleanup", "--sandbox-id",
                                        sid)
        assert code == 0, (raw, err)


def test_clients_without_the_ca_or_with_a_wrong_name_fail_verification(tls_daemon, pki):
    d = tls_daemon
    with pytest.raises(ssl.SSLCertVerificationError):
        https(d, pki, "GET", "/v1/sandboxes", key=d.key, ctx=ssl.create_default_context())
    # Right CA, but the name asked for is not in the certificate.
    ctx = ca_context(pki)
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            ctx.wrap_socket(raw, server_hostname="sandboxd.example.org")
    assert "sandboxd.example.org" in str(e.value) or "match" in str(e.value), e.value
    # The CLI without --cacert: a clear error, exit 2, nothing sent.
    code, out, raw, err = sbx_https(d, pki, "--api-key", d.key, "status", cacert=False)
    assert code == 2 and out["error_code"] == "unavailable", (raw, err)
    assert "not trusted" in out["error"] and "--cacert" in out["error"], out
    # --cacert with a plain http:// URL is a usage mistake.
    r = run_sbx([SBX, "--url", "http://127.0.0.1:%d" % d.port, "--cacert", pki["ca"], "status"])
    assert r.returncode == 2 and "https://" in r.json["error"], r.stdout
    still_serving(d, pki)


def test_https_url_to_a_plain_port_is_a_clear_cli_error(pki):
    d = Daemon(["--listen", "127.0.0.1:0"]).start()
    try:
        assert " tls=1" not in d.ready_line
        r = run_sbx([SBX, "--url", "https://127.0.0.1:%d" % d.port, "--cacert", pki["ca"],
                     "status"], timeout=60)
        assert r.returncode == 2 and r.json["error_code"] == "unavailable", r.stdout
        assert "TLS handshake" in r.json["error"] and "http://" in r.json["error"], r.json
    finally:
        _stop_and_check(d)


# ---- hostile or confused clients ----

def test_plain_http_to_the_tls_port_gets_a_plain_400_and_the_daemon_keeps_serving(
        tls_daemon, pki):
    d = tls_daemon
    with socket.create_connection(("127.0.0.1", d.port), timeout=15) as s:
        s.sendall(b"GET /v1/sandboxes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " +
                  d.key.encode() + b"\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break  # the server closed: the answer is complete
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), data
    err = json.loads(body)
    assert err["success"] is False and "https://" in err["error"]["message"], err
    assert b"sandbox" not in body.replace(b"sandboxd", b""), body  # nothing of the API
    # The CLI with http:// to the TLS port shows that message.
    r = run_sbx([SBX, "--url", "http://127.0.0.1:%d" % d.port, "--api-key", d.key, "status"])
    assert r.returncode == 2 and "https://" in r.json["error"], r.stdout
    # Garbage that is neither HTTP nor TLS: the connection is closed, nothing is answered.
    with socket.create_connection(("127.0.0.1", d.port), timeout=15) as s:
        s.sendall(b"\x00\x01\x02 not a client hello \xff" * 20)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
    assert not got.startswith(b"HTTP/"), got
    still_serving(d, pki)
    assert d.proc.poll() is None


def test_silent_clients_are_dropped_and_do_not_hold_up_others(tls_daemon, pki):
    d = tls_daemon
    silent = []
    for i in range(4):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=HANDSHAKE_TIMEOUT_S + 10)
        if i % 2:
            # Starts a TLS record and stops: the handshake deadline, not only the peek, applies.
            s.sendall(b"\x16\x03\x01")
        silent.append(s)
    t0 = time.monotonic()
    try:
        # Others are served at once, while the silent ones wait.
        for _ in range(3):
            still_serving(d, pki)
        assert time.monotonic() - t0 < 5
        # The silent connections are closed by the server within the handshake timeout.
        for s in silent:
            try:
                assert s.recv(1024) == b""
            except ConnectionResetError:
                pass
        elapsed = time.monotonic() - t0
        assert elapsed < HANDSHAKE_TIMEOUT_S + 5, elapsed
    finally:
        for s in silent:
            s.close()
    failed = d.log_events("http.tls_handshake_failed")
    assert len(failed) >= 4, d.log_text()[-3000:]
    still_serving(d, pki)


# ---- streamed responses ----

def test_event_stream_and_cli_follow_over_tls(tls_daemon, pki):
    d = tls_daemon
    conn = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=60, context=ca_context(pki))
    conn.request("GET", "/v1/events/stream?type=sandbox_created", headers={"X-API-Key": d.key})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    assert resp.getheader("Transfer-Encoding") == "chunked"
    follow = subprocess.Popen(
        [SBX, "--url", "https://127.0.0.1:%d" % d.port, "--cacert", pki["ca"], "--api-key",
         d.key, "--compact", "events", "--follow", "--type", "sandbox_created",
         "--max-events", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sid = unique_id("tlsev")
    try:
        time.sleep(1)  # both streams are open before the event is published
        r = https(d, pki, "POST", "/v1/sandboxes", key=d.key,
                  body={"template": "python", "sandbox_id": sid})
        assert r.status == 201, r
        got = None
        deadline = time.time() + 30
        cur = {}
        while time.time() < deadline and got is None:
            line = resp.readline()
            assert line, "the stream ended"
            line = line.decode().rstrip("\r\n")
            if line == "" and "data" in cur:
                ev = json.loads(cur["data"])
                if ev["sandbox_id"] == sid:
                    got = ev
                cur = {}
            elif line and not line.startswith(":"):
                k, _, v = line.partition(": ")
                cur[k] = v
        assert got and got["type"] == "sandbox_created", got
        out, err = follow.communicate(timeout=60)
        assert follow.returncode == 0, (out, err)
        ev = json.loads(out.decode().splitlines()[0])
        assert ev["type"] == "sandbox_created" and ev["sandbox_id"] == sid, out
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
        conn.close()
        https(d, pki, "DELETE", "/v1/sandboxes/" + sid, key=d.key)
    still_serving(d, pki)


# ---- start-up refusals, key permissions, reload ----

def start_expecting_failure(args):
    tmp = tempfile.mkdtemp(prefix="sbxtf", dir="/tmp")
    try:
        r = subprocess.run([SANDBOXD, "--state-dir", os.path.join(tmp, "state"), "--socket",
                            os.path.join(tmp, "api.sock"), "--templates", HOST_TEMPLATES] + args,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = r.stdout.decode()
    assert r.returncode != 0 and "sandboxd ready" not in out, (r.returncode, out)
    return r.stderr.decode()


def test_bad_certificate_or_key_files_refuse_the_start_naming_the_file(pki):
    d = pki["dir"]
    missing = os.path.join(d, "nope.pem")
    err = start_expecting_failure(tls_args(missing, pki["key"]))
    assert "TLS certificate " + missing in err and "No such file" in err, err

    err = start_expecting_failure(tls_args(pki["cert"], pki["other_key"]))
    assert ("TLS private key %s does not match the certificate %s" % (
        pki["other_key"], pki["cert"])) in err, err

    garbage = os.path.join(d, "garbage.key")
    with open(garbage, "w") as f:
        f.write("this is not a key\n")
    os.chmod(garbage, 0o600)
    err = start_expecting_failure(tls_args(pki["cert"], garbage))
    assert "TLS private key " + garbage + ": not a PEM private key" in err, err

    # The key where the certificate belongs, and the other way round.
    err = start_expecting_failure(tls_args(pki["key"], pki["key"]))
    assert "TLS certificate " + pki["key"] + ": not a PEM certificate chain" in err, err

    encrypted = os.path.join(d, "encrypted.key")
    openssl("pkey", "-in", pki["key"], "-aes256", "-passout", "pass:secret", "-out", encrypted,
            cwd=d)
    err = start_expecting_failure(tls_args(pki["cert"], encrypted))
    assert "TLS private key " + encrypted + ": encrypted keys are not supported" in err, err

    err = start_expecting_failure(["--listen", "127.0.0.1:0", "--tls-cert", pki["cert"]])
    assert "--tls-cert, --tls-key and --listen" in err, err
    err = start_expecting_failure(["--tls-cert", pki["cert"], "--tls-key", pki["key"]])
    assert "--tls-cert, --tls-key and --listen" in err, err


def peer_cert_der(port, pki):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ca_context(pki).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def test_exposed_key_warning_and_sighup_reload(pki):
    d_dir = tempfile.mkdtemp(prefix="sbxtr", dir="/tmp")
    cert = os.path.join(d_dir, "live.pem")
    key = os.path.join(d_dir, "live.key")
    shutil.copy(pki["cert"], cert)
    shutil.copy(pki["key"], key)
    os.chmod(key, 0o644)  # readable by everyone: started, with a warning naming the file
    d = Daemon(tls_args(cert, key)).start()
    try:
        warns = [e for e in d.log_events("tls.key_exposed") if e.get("file") == key]
        assert warns and "others" in warns[0]["why"], d.log_text()[-3000:]
        first = peer_cert_der(d.port, pki)
        with open(pki["cert"], "rb") as f:
            assert ssl.DER_cert_to_PEM_cert(first).strip() == f.read().decode().strip()

        # A renewed certificate: written over the files, then SIGHUP.
        renewed = make_server_cert(d_dir, pki["ca_dict"], "renewed")
        shutil.copy(renewed["cert"], cert)
        shutil.copy(renewed["key"], key)
        os.chmod(key, 0o600)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and not d.log_events("http.tls_reloaded"):
            time.sleep(0.1)
        assert d.log_events("http.tls_reloaded"), d.log_text()[-3000:]
        second = peer_cert_der(d.port, pki)
        assert second != first

        # Bad files on reload: logged, and the certificate in use stays.
        with open(key, "w") as f:
            f.write("broken\n")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and not d.log_events("tls.reload_failed"):
            time.sleep(0.1)
        failed = d.log_events("tls.reload_failed")
        assert failed and key in failed[0]["error"], d.log_text()[-3000:]
        assert peer_cert_der(d.port, pki) == second
        assert d.proc.poll() is None
    finally:
        _stop_and_check(d)
        shutil.rmtree(d_dir, ignore_errors=True)
