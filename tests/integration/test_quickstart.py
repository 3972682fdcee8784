"""The guide's quick start (steps 2-5) and the everyday flags of the sbx CLI, end to end:
real sandboxd, real sbx, real sbx-agent."""
import hashlib
import os
import secrets
import time

from conftest import unique_id


def _find(listing, sandbox_id):
    sandboxes = listing.get("sandboxes")
    assert isinstance(sandboxes, list), "`sbx status` printed no sandboxes list: %r" % listing
    for s in sandboxes:
        if s.get("sandbox_id") == sandbox_id:
            return s
    return None


def test_quickstart_create_exec_status_stop_cleanup(daemon):
    sid = "my_first_sandbox"
    try:
        # Step 2: create.
        out = daemon.sbx_ok("create", "--template", "python", "--sandbox-id", sid)
        assert out["success"] is True
        assert out["sandbox_id"] == sid
        assert out["template"] == "python"
        assert out["files_uploaded"] == 0
        assert list(out)[:4] == ["success", "sandbox_id", "template", "files_uploaded"], (
            "the guide's fields come first, in its order: %r" % list(out))

        # Step 3: exec.
        out = daemon.sbx_ok("exec", "--sandbox-id", sid, "--language", "python",
                            "--code", "print('hello from sandbox')")
        assert out["success"] is True
        assert out["stdout"] == "hello from sandbox\n"
        assert out["exit_code"] == 0
        assert out["status"] == "completed"
        assert isinstance(out["execution_time"], (int, float)) and out["execution_time"] > 0

        # A file written before stop must survive the stop.
        token = secrets.token_hex(16)
        daemon.sbx_ok("exec", "--sandbox-id", sid, "--code",
                      "open('/home/user/kept.txt','w').write(%r)" % token)

        # Step 4: status, all and one.
        rc, listing = daemon.sbx("status")
        assert rc == 0 and listing["success"] is True, listing
        entry = _find(listing, sid)
        assert entry is not None, "my_first_sandbox missing from `sbx status`: %r" % listing
        assert entry["state"] == "running"
        one = daemon.sbx_ok("status", "--sandbox-id", sid)
        assert one["sandbox_id"] == sid and one["state"] == "running"
        assert one["template"] == "python"

        # Step 5: stop keeps the files, cleanup removes everything.
        stopped = daemon.sbx_ok("stop", "--sandbox-id", sid)
        assert stopped["state"] == "stopped"
        assert daemon.sbx_ok("status", "--sandbox-id", sid)["state"] == "stopped"
        assert daemon.read_upper_file(sid, "home/user/kept.txt") == token

        rc, out = daemon.sbx("exec", "--sandbox-id", sid, "--code", "print(1)")
        assert rc != 0 and out["success"] is False, "exec in a stopped sandbox: %r" % out

        out = daemon.sbx_ok("cleanup", "--sandbox-id", sid)
        assert out["success"] is True and out["sandbox_id"] == sid
        rc, out = daemon.sbx("status", "--sandbox-id", sid)
        assert rc != 0
        assert out["success"] is False and sid in out["error"], out
        assert not os.path.exists(daemon.sandbox_dir(sid))
        rc, listing = daemon.sbx("status")
        assert rc == 0 and _find(listing, sid) is None
    finally:
        daemon.remove(sid)


def test_env_flags_reach_the_code(daemon):
    sid = unique_id("env")
    try:
        daemon.sbx_ok("create", "--template", "python", "--sandbox-id", sid,
                      "--env", "GREETING=hi there", "--env", "WITH_EQ=a=b", "--env", "EMPTY=")
        out = daemon.sbx_ok(
            "exec", "--sandbox-id", sid, "--code",
            "import os; print(repr((os.environ['GREETING'], os.environ['WITH_EQ'], "
            "os.environ['EMPTY'])))")
        assert out["stdout"] == "('hi there', 'a=b', '')\n"
        # Per-exec environment adds to (and overrides) the sandbox's.
        out = daemon.sbx_ok("exec", "--sandbox-id", sid, "--env", "GREETING=override",
                            "--env", "ONLY_HERE=1", "--code",
                            "import os; print(os.environ['GREETING'], os.environ['ONLY_HERE'])")
        assert out["stdout"] == "override 1\n"
    finally:
        daemon.remove(sid)


def test_create_with_file_upload(daemon, tmp_path):
    sid = unique_id("file")
    content = "line one\n%s\n" % secrets.token_hex(32)
    local = tmp_path / "input.txt"
    local.write_text(content)
    try:
        out = daemon.sbx_ok("create", "--template", "python", "--sandbox-id", sid,
                            "--file", "%s:/home/user/data/input.txt" % local)
        assert out["files_uploaded"] == 1
        out = daemon.sbx_ok("exec", "--sandbox-id", sid, "--code",
                            "import sys; sys.stdout.write(open('/home/user/data/input.txt').read())")
        assert out["stdout"] == content
        # Uploaded as the sandbox user.
        out = daemon.sbx_ok("exec", "--sandbox-id", sid, "--code",
                            "import os; s=os.stat('/home/user/data/input.txt'); print(s.st_uid)")
        assert out["stdout"].strip() == "1000"
    finally:
        daemon.remove(sid)


def test_languages_node_bash_sh(daemon, sandbox):
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--language", "node",
                        "--code", "console.log('node', 6 * 7, typeof process.versions.node)")
    assert out["stdout"] == "node 42 string\n"
    # [[ ]] and arrays exist in bash only.
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--language", "bash",
                        "--code", "a=(x y z); [[ ${#a[@]} -eq 3 ]] && echo bash ${a[1]}")
    assert out["stdout"] == "bash y\n"
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--language", "sh",
                        "--code", "x=4; echo sh $((x * 2))")
    assert out["stdout"] == "sh 8\n"
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--language", "bash",
                        "--code", "echo to-stderr >&2; exit 0")
    assert out["stderr"] == "to-stderr\n" and out["stdout"] == ""


def test_code_file(daemon, sandbox, tmp_path):
    path = tmp_path / "prog.py"
    marker = secrets.token_hex(8)
    path.write_text("import sys\nfor i in range(3):\n    print('%s', i)\n" % marker)
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--language", "python",
                        "--code-file", str(path))
    assert out["stdout"] == "".join("%s %d\n" % (marker, i) for i in range(3))


def test_cwd(daemon, sandbox):
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--code", "import os; print(os.getcwd())")
    assert out["stdout"] == "/home/user\n", "default cwd is the user's home"
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--cwd", "/tmp",
                        "--code", "import os; print(os.getcwd())")
    assert out["stdout"] == "/tmp\n"


def test_nonzero_exit_is_failed(daemon, sandbox):
    rc, out = daemon.sbx("exec", "--sandbox-id", sandbox, "--code",
                         "import sys; print('before'); sys.exit(3)")
    assert rc != 0
    assert out["success"] is False
    assert out["status"] == "failed"
    assert out["exit_code"] == 3
    assert out["stdout"] == "before\n"
    rc, out = daemon.sbx("exec", "--sandbox-id", sandbox, "--code", "raise ValueError('boom')")
    assert rc != 0 and out["status"] == "failed" and out["exit_code"] == 1
    assert "ValueError: boom" in out["stderr"]


def test_cp_upload_and_download(daemon, sandbox, tmp_path):
    data = secrets.token_bytes(300 * 1024) + b"\x00\n end"
    up = tmp_path / "blob.bin"
    up.write_bytes(data)
    daemon.sbx_ok("cp", str(up), "%s:/home/user/blob.bin" % sandbox)
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--code",
                        "import hashlib; d=open('/home/user/blob.bin','rb').read(); "
                        "print(len(d), hashlib.sha256(d).hexdigest())")
    assert out["stdout"] == "%d %s\n" % (len(data), hashlib.sha256(data).hexdigest())

    # A file made inside the sandbox comes back byte for byte.
    seed = secrets.randbelow(1 << 30)
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--code",
                        "import hashlib, random; r=random.Random(%d); "
                        "d=bytes(r.getrandbits(8) for _ in range(200000)); "
                        "open('/tmp/made.bin','wb').write(d); print(hashlib.sha256(d).hexdigest())"
                        % seed)
    inside_sha = out["stdout"].strip()
    down = tmp_path / "made.bin"
    daemon.sbx_ok("cp", "%s:/tmp/made.bin" % sandbox, str(down))
    got = down.read_bytes()
    assert len(got) == 200000
    assert hashlib.sha256(got).hexdigest() == inside_sha
    # And the uploaded one downloads identical to the original.
    back = tmp_path / "back.bin"
    daemon.sbx_ok("cp", "%s:/home/user/blob.bin" % sandbox, str(back))
    assert back.read_bytes() == data


def test_shell_metacharacters_are_literal(daemon, sandbox):
    code = 'print("$(id) ; rm -rf / `")'
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--code", code)
    assert out["stdout"] == "$(id) ; rm -rf / `\n"
    code = "print('a\"b', \"c'd\", '\\\\', '$HOME', '&& echo pwned', '|', '>x')"
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--code", code)
    assert out["stdout"] == "a\"b c'd \\ $HOME && echo pwned | >x\n"
    # Nothing was created by a redirection.
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--code",
                        "import os; print(os.path.exists('x'), os.path.exists('/home/user/x'))")
    assert out["stdout"] == "False False\n"
    # A bash program is given to bash as one argument, not re-split.
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--language", "bash",
                        "--code", "echo '$(id)' \"`echo no`\"")
    assert out["stdout"] == "$(id) no\n"


def test_exec_as_root_flag(daemon, sandbox):
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox, "--user", "root",
                        "--code", "import os; print(os.getuid(), os.getcwd())")
    assert out["stdout"] == "0 /root\n"
    out = daemon.sbx_ok("exec", "--sandbox-id", sandbox,
                        "--code", "import os, pwd; print(os.getuid(), pwd.getpwuid(os.getuid()).pw_name)")
    assert out["stdout"] == "1000 user\n"


def test_tcp_listen(tmp_path):
    """--listen 127.0.0.1:0 serves the same API on loopback TCP; the ready line gives the port."""
    import http.client
    from conftest import SBX, Daemon, _stop_and_check, run_sbx
    d = Daemon(extra_args=["--listen", "127.0.0.1:0"]).start()
    try:
        assert d.port and d.port > 0, "no port=N in the ready line: %r" % d.ready_line
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        conn.request("GET", "/health")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 200 and b'"ok"' in body, body
        sid = unique_id("tcp")
        url = "http://127.0.0.1:%d" % d.port
        # TCP needs an API key (docs/auth.md); the unix socket issues one.
        key = d.api("POST", "/v1/keys", {"tenant": "quickstart"}).json["key"]
        r = run_sbx([SBX, "--url", url, "--api-key", key, "create", "--template", "python", "--sandbox-id", sid])
        assert r.returncode == 0 and r.json["sandbox_id"] == sid, r.stdout + r.stderr
        d.note_cgroups(sid)
        r = run_sbx([SBX, "--url", url, "--api-key", key, "exec", "--sandbox-id", sid, "--code", "print('tcp')"])
        assert r.returncode == 0 and r.json["stdout"] == "tcp\n", r.stdout + r.stderr
        # The unix socket sees the same sandbox.
        assert d.api("GET", "/v1/sandboxes/" + sid).json["state"] == "running"
        r = run_sbx([SBX, "--url", url, "--api-key", key, "cleanup", "--sandbox-id", sid])
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        _stop_and_check(d)
