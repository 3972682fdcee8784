"""Batch file transfer through the real daemon: many files in one tar / tar.gz request, whole
directories back as one archive with a sha256 per member, hostile archives refused with the
right status while the daemon keeps serving, and `sbx upload` / `sbx download`."""
import gzip
import hashlib
import io
import json
import os
import tarfile
import urllib.parse

import pytest

from conftest import Daemon, _stop_and_check

MIB = 1 << 20
SHA_KEY = "SCHILY.xattr.user.sbx.sha256"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def make_tar(members, gz=False):
    """members: list of (name, bytes) for files, (name, None) for directories, or TarInfo
    objects (with data) for anything else."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            if isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], tarfile.TarInfo):
                info, data = m
                t.addfile(info, io.BytesIO(data) if data is not None else None)
                continue
            name, data = m
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload(d, sid, body, dir=None, headers=None):
    q = "?dir=" + urllib.parse.quote(dir) if dir else ""
    h = {"Content-Type": "application/x-tar"}
    h.update(headers or {})
    return d.api("POST", "/v1/sandboxes/%s/files/batch%s" % (sid, q), raw=body, headers=h)


def archive(d, sid, paths, gz="auto", user=None):
    body = {"paths": paths, "gzip": gz}
    if user:
        body["user"] = user
    return d.api("POST", "/v1/sandboxes/%s/files/archive" % sid, body)


def read_archive(resp):
    """{name: (bytes or None for a directory, sha256 record, mode)} of an archive answer."""
    assert resp.status == 200, resp
    ctype = resp.headers["content-type"]
    assert ctype in ("application/x-tar", "application/gzip"), ctype
    out = {}
    with tarfile.open(fileobj=io.BytesIO(resp.body), mode="r:gz" if ctype == "application/gzip"
                      else "r:") as t:
        for m in t.getmembers():
            assert m.isfile() or m.isdir(), m.name
            data = t.extractfile(m).read() if m.isfile() else None
            out[m.name] = (data, m.pax_headers.get(SHA_KEY), m.mode)
    return out


def sha256sum_inside(d, sid, paths):
    """{path: sha256} computed by sha256sum inside the sandbox."""
    res = d.exec_ok(sid, "sha256sum " + " ".join("'%s'" % p for p in paths), language="bash")
    out = {}
    for line in res["stdout"].splitlines():
        digest, path = line.split(None, 1)
        out[path.strip()] = digest
    return out


def test_ten_files_in_one_batch_request_verified_inside_and_back(daemon, sandbox):
    files = {"f%02d.bin" % i: os.urandom(1000 + 4096 * i) for i in range(10)}
    files["f03.bin"] = b"a compressible line of text\n" * 5000
    body = make_tar([("data", None)] + [("data/" + n, b) for n, b in sorted(files.items())])
    r = upload(daemon, sandbox, body, dir="/home/user/batch")
    assert r.status == 200, r
    j = r.json
    assert j["success"] is True and j["count"] == 10, j
    assert len(j["files"]) == 10 and j["compressed"] is False
    assert [x["path"] for x in j["directories"]] == ["/home/user/batch/data"]
    for f in j["files"]:
        name = f["name"].split("/", 1)[1]
        assert f["path"] == "/home/user/batch/data/" + name
        assert f["size"] == len(files[name]) == f["stored_size"]
        assert f["hash"] == sha(files[name])
        assert f["compressed"] is False
    inside = sha256sum_inside(daemon, sandbox, [f["path"] for f in j["files"]])
    assert inside == {f["path"]: f["hash"] for f in j["files"]}
    # Owned by the sandbox user, not root.
    owner = daemon.exec_ok(sandbox, "stat -c %U /home/user/batch/data/f00.bin", language="bash")
    assert owner["stdout"].strip() == "user"

    # Back through the archive endpoint: the directory, each member with its sha256 record.
    back = archive(daemon, sandbox, ["/home/user/batch/data"], gz=False)
    assert back.headers["x-files-count"] == "10", back.headers
    assert back.headers["x-directories-count"] == "1"
    members = read_archive(back)
    assert members["data"][0] is None
    for name, data in files.items():
        got, record, _ = members["data/" + name]
        assert got == data
        assert record == sha(data)


def test_tar_gz_batch_by_magic_and_by_header(daemon, sandbox):
    files = [("a.txt", b"alpha\n" * 1000), ("sub/b.txt", b"beta\n" * 2000)]
    gz = make_tar(files, gz=True)
    # Detected by the gzip magic even when the request says application/x-tar ...
    r = upload(daemon, sandbox, gz, dir="/tmp/g1")
    assert r.status == 200, r
    assert r.json["compressed"] is True and r.json["count"] == 2
    assert all(f["compressed"] is True for f in r.json["files"])
    assert r.json["transferred_size"] == len(gz)
    # ... and declared with Content-Encoding, or as application/gzip; no dir: the home.
    r = upload(daemon, sandbox, gz, headers={"Content-Encoding": "gzip"})
    assert r.status == 200, r
    assert sorted(f["path"] for f in r.json["files"]) == ["/home/user/a.txt", "/home/user/sub/b.txt"]
    r = upload(daemon, sandbox, gz, dir="/tmp/g2", headers={"Content-Type": "application/gzip"})
    assert r.status == 200, r
    inside = sha256sum_inside(daemon, sandbox, ["/tmp/g1/a.txt", "/tmp/g2/sub/b.txt"])
    assert inside == {"/tmp/g1/a.txt": sha(files[0][1]), "/tmp/g2/sub/b.txt": sha(files[1][1])}
    # gzip declared but not sent is a clear 400.
    r = upload(daemon, sandbox, make_tar(files), headers={"Content-Encoding": "gzip"})
    assert r.status == 400 and "not gzip" in r.json["error"]["message"], r


def test_directory_download_gzip_modes_and_limits(daemon, sandbox):
    daemon.exec_ok(sandbox, """
set -e
mkdir -p /home/user/tree/a/b /home/user/tree/empty
yes 'compressible text' | head -c 200000 > /home/user/tree/a/b/text.txt
head -c 50000 /dev/urandom > /home/user/tree/a/random.bin
echo top > /home/user/tree/top.txt
chmod 750 /home/user/tree/a
chmod 600 /home/user/tree/top.txt
ln -s /etc/passwd /home/user/tree/link
""", language="bash")
    auto = archive(daemon, sandbox, ["/home/user/tree", "/etc/hostname"])
    assert auto.status == 200, auto
    assert auto.headers["content-type"] == "application/gzip"  # pays for this content
    assert auto.headers["x-files-count"] == "4"
    assert auto.headers["x-skipped-count"] == "1"  # the symlink
    members = read_archive(auto)
    assert set(members) == {"tree", "tree/a", "tree/a/b", "tree/a/b/text.txt", "tree/a/random.bin",
                            "tree/empty", "tree/top.txt", "hostname"}
    assert members["tree/a"][2] == 0o750 and members["tree/top.txt"][2] == 0o600
    inside = sha256sum_inside(daemon, sandbox, ["/home/user/tree/a/b/text.txt",
                                                "/home/user/tree/a/random.bin"])
    assert members["tree/a/b/text.txt"][1] == inside["/home/user/tree/a/b/text.txt"]
    assert sha(members["tree/a/random.bin"][0]) == inside["/home/user/tree/a/random.bin"]
    plain = archive(daemon, sandbox, ["/home/user/tree"], gz=False)
    assert plain.headers["content-type"] == "application/x-tar"
    random_only = archive(daemon, sandbox, ["/home/user/tree/a/random.bin"], gz="auto")
    assert random_only.headers["content-type"] == "application/x-tar"  # gzip would not pay
    forced = archive(daemon, sandbox, ["/home/user/tree/a/random.bin"], gz=True)
    assert forced.headers["content-type"] == "application/gzip"
    assert read_archive(forced)["random.bin"][0] == members["tree/a/random.bin"][0]
    # Errors: missing path 404, a symlink asked for by name 400, bad bodies 400.
    assert archive(daemon, sandbox, ["/home/user/nope"]).status == 404
    r = archive(daemon, sandbox, ["/home/user/tree/link"])
    assert r.status == 400 and "symbolic link" in r.json["error"]["message"], r
    for body in ({}, {"paths": []}, {"paths": [1]}, {"paths": ["/x"], "gzip": "yes"}):
        r = daemon.api("POST", "/v1/sandboxes/%s/files/archive" % sandbox, body)
        assert r.status == 400, (body, r)
    r = archive(daemon, sandbox, ["/home/user/tree/top.txt", "/tmp/../home/user/tree/top.txt"])
    assert r.status == 400 and "both give the member" in r.json["error"]["message"], r
    assert archive(daemon, "no_such_box", ["/x"]).status == 404


def hostile_tar(kind):
    if kind == "dotdot":
        return make_tar([("ok.txt", b"fine"), ("../../etc/evil", b"x")])
    if kind == "absolute":
        return make_tar([("/etc/evil", b"x")])
    if kind == "symlink":
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        return make_tar([("ok.txt", b"fine"), (info, None)])
    if kind == "hardlink":
        info = tarfile.TarInfo("hard")
        info.type = tarfile.LNKTYPE
        info.linkname = "ok.txt"
        return make_tar([("ok.txt", b"fine"), (info, None)])
    if kind == "device":
        info = tarfile.TarInfo("null")
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = 1, 3
        return make_tar([(info, None)])
    raise ValueError(kind)


@pytest.mark.parametrize("kind,needle", [("dotdot", "'..'"), ("absolute", "absolute"),
                                         ("symlink", "symbolic link"), ("hardlink", "hard link"),
                                         ("device", "device")])
def test_hostile_members_are_refused_and_nothing_is_written(daemon, sandbox, kind, needle):
    r = upload(daemon, sandbox, hostile_tar(kind), dir="/home/user/hostile_" + kind)
    assert r.status == 400, r
    assert needle in r.json["error"]["message"], r.json
    # Checked before anything was written: not even the good member.
    probe = daemon.exec(sandbox, "test -e /home/user/hostile_%s || echo absent" % kind,
                        language="bash")
    assert probe["stdout"].strip() == "absent", probe
    assert not os.path.exists("/etc/evil")


def test_broken_and_oversized_archives_and_the_daemon_keeps_serving():
    d = Daemon(["--max-file-size", str(1 * MIB)]).start()
    try:
        sid = d.create("python")
        good = make_tar([("big.bin", os.urandom(300000)), ("other.bin", os.urandom(300000))])
        cases = [
            (good[:len(good) // 2], 400, "runcated"),  # cut inside a member's data
            (gzip.compress(good)[:5000], 400, "truncated gzip"),
            (b"definitely not a tar archive" * 100, 400, "not a tar"),
            (b"", 400, "empty body"),
            # One member of 64 MiB of zeros: 64 KiB on the wire, refused at its header.
            (gzip.compress(make_tar([("zeros", bytes(64 * MIB))])), 413, "exceeds the limit"),
            # Four members within the per-file limit, too much together.
            (make_tar([("p%d" % i, bytes(300000)) for i in range(4)]), 413, "in total"),
            # gzip of nothing but zeros: an empty archive.
            (gzip.compress(bytes(8 * MIB)), 400, "no files"),
        ]
        for body, status, needle in cases:
            r = upload(d, sid, body, dir="/home/user/broken")
            assert r.status == status, (needle, r)
            assert needle in r.json["error"]["message"], (needle, r.json)
        r = upload(d, sid, make_tar([("x", b"1")]), headers={"Content-Encoding": "br"})
        assert r.status == 400 and "br" in r.json["error"]["message"], r
        probe = d.exec(sid, "test -e /home/user/broken || echo absent", language="bash")
        assert probe["stdout"].strip() == "absent", probe
        # Downloads over the limit: 413 before anything is sent.
        d.exec_ok(sid, "head -c 700000 /dev/urandom > /tmp/a; head -c 700000 /dev/urandom > /tmp/b; "
                       "head -c 1100000 /dev/zero > /tmp/c", language="bash")
        r = archive(d, sid, ["/tmp/a", "/tmp/b"])
        assert r.status == 413 and "per batch" in r.json["error"]["message"], r
        r = archive(d, sid, ["/tmp/c"])
        assert r.status == 413 and "per file" in r.json["error"]["message"], r
        # The daemon keeps serving: a good batch goes through.
        r = upload(d, sid, good, dir="/home/user/good")
        assert r.status == 200 and r.json["count"] == 2, r
        assert d.exec_ok(sid, "print('still here')")["stdout"] == "still here\n"
        d.remove(sid)
    finally:
        _stop_and_check(d)


def test_a_member_that_cannot_be_written_is_reported_with_what_was_written(daemon, sandbox):
    body = make_tar([("one.txt", b"1"), ("two.txt", b"2"), ("three.txt", b"3")])
    # two.txt belongs to root: the user cannot write it, so the batch stops there.
    daemon.exec_ok(sandbox, "mkdir -p /home/user/partial", language="bash")
    daemon.exec_ok(sandbox, "echo root > /home/user/partial/two.txt", language="bash", user="root")
    r = upload(daemon, sandbox, body, dir="/home/user/partial")
    assert r.status == 403, r
    j = r.json
    assert j["success"] is False
    assert [f["name"] for f in j["files"]] == ["one.txt"]
    assert j["files"][0]["hash"] == sha(b"1")
    assert j["failed"] == {"name": "two.txt", "path": "/home/user/partial/two.txt"}
    assert j["not_written"] == ["three.txt"]
    assert "member 'two.txt'" in j["error"]["message"]
    probe = daemon.exec_ok(sandbox, "cat /home/user/partial/two.txt; ls /home/user/partial",
                           language="bash")
    assert probe["stdout"] == "root\none.txt\ntwo.txt\n", probe


def test_sbx_upload_and_download_several_files(daemon, sandbox, tmp_path):
    src = tmp_path / "src"
    (src / "dir" / "nested").mkdir(parents=True)
    payload = {
        "one.txt": b"first file\n",
        "two.bin": os.urandom(70000),
        "dir/a.txt": b"A" * 10000,
        "dir/nested/b.txt": b"B" * 30000,
    }
    for name, data in payload.items():
        (src / name).write_bytes(data)
    os.symlink("/etc/passwd", str(src / "dir" / "link"))  # not uploaded: links are skipped

    # One file: the single-file PUT.
    one = daemon.sbx_ok("upload", sandbox, str(src / "one.txt"), "--to", "/home/user/up1")
    assert one["count"] == 1 and one["batch"] is False
    assert one["files"][0]["path"] == "/home/user/up1/one.txt"
    assert one["files"][0]["hash"] == sha(payload["one.txt"])

    # Several files and a directory: one tar.gz batch.
    j = daemon.sbx_ok("upload", sandbox, str(src / "one.txt"), str(src / "two.bin"),
                      str(src / "dir"), "--to", "/home/user/up")
    assert j["batch"] is True and j["compressed"] is True
    assert j["count"] == 4, j
    assert j["skipped"] == [str(src / "dir" / "link")]
    by_path = {f["path"]: f for f in j["files"]}
    want = {"/home/user/up/" + n: sha(b) for n, b in payload.items()}
    assert {p: f["hash"] for p, f in by_path.items()} == want
    assert sha256sum_inside(daemon, sandbox, list(want)) == want

    # Back: one file, then several paths with a directory, into a local directory.
    out = tmp_path / "out"
    k = daemon.sbx_ok("download", sandbox, "/home/user/up/two.bin", "--to", str(out))
    assert k["batch"] is False and k["count"] == 1
    assert (out / "two.bin").read_bytes() == payload["two.bin"]
    k = daemon.sbx_ok("download", sandbox, "/home/user/up/dir", "/home/user/up/one.txt",
                      "--to", str(out))
    assert k["batch"] is True and k["count"] == 3, k
    assert (out / "dir" / "nested" / "b.txt").read_bytes() == payload["dir/nested/b.txt"]
    assert (out / "dir" / "a.txt").read_bytes() == payload["dir/a.txt"]
    assert (out / "one.txt").read_bytes() == payload["one.txt"]
    assert all(f["hash"] == sha(payload[f["name"]]) for f in k["files"]), k
    # A single remote directory goes through the archive too.
    k = daemon.sbx_ok("download", sandbox, "/home/user/up/dir/nested", "--to", str(tmp_path / "o2"))
    assert k["batch"] is True and (tmp_path / "o2" / "nested" / "b.txt").exists()

    # A local symlink planted where a member's directory goes is never written through.
    victim = tmp_path / "victim"
    victim.mkdir()
    trap = tmp_path / "trap"
    trap.mkdir()
    os.symlink(str(victim), str(trap / "dir"))
    rc, err = daemon.sbx("download", sandbox, "/home/user/up/dir", "/home/user/up/one.txt",
                         "--to", str(trap))
    assert rc == 2 and "symlink" in err["error"], err
    assert list(victim.iterdir()) == []

    # Errors are the guide's JSON with exit status 2.
    rc, err = daemon.sbx("upload", sandbox, str(tmp_path / "missing"), "--to", "/tmp")
    assert rc == 2 and err["success"] is False, err
    rc, err = daemon.sbx("download", sandbox, "/home/user/nope", "--to", str(out))
    assert rc == 2 and err["error_code"] == "not_found", err


def modes_inside(d, sid, paths):
    """{path: "755"} from `stat -c %a` inside the sandbox."""
    res = d.exec_ok(sid, "stat -c '%a %n' " + " ".join("'%s'" % p for p in paths),
                    language="bash")
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in res["stdout"].splitlines()}


def test_batch_upload_keeps_member_modes_and_the_script_runs(daemon, sandbox):
    def member(name, data, mode):
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        return (info, data)

    body = make_tar([member("bin/run.sh", b"#!/bin/sh\necho script ran\n", 0o755),
                     member("secret.txt", b"s3cret\n", 0o600),
                     # Set-id bits in an archive are dropped, never applied.
                     member("suid.sh", b"#!/bin/sh\n", 0o4755)], gz=True)
    r = upload(daemon, sandbox, body, dir="/home/user/modes")
    assert r.status == 200 and r.json["count"] == 3, r
    base = "/home/user/modes/"
    assert modes_inside(daemon, sandbox, [base + "bin/run.sh", base + "secret.txt",
                                          base + "suid.sh", base + "bin"]) == {
        base + "bin/run.sh": "755", base + "secret.txt": "600", base + "suid.sh": "755",
        base + "bin": "755"}
    ran = daemon.exec_ok(sandbox, base + "bin/run.sh", language="bash")
    assert ran["stdout"] == "script ran\n", ran
    # Back through the archive endpoint with the same modes.
    members = read_archive(archive(daemon, sandbox, [base + "bin/run.sh", base + "secret.txt"]))
    assert members["run.sh"][2] == 0o755 and members["secret.txt"][2] == 0o600


def test_single_file_put_with_mode(daemon, sandbox):
    def put(path, data, mode=None):
        q = "?path=" + urllib.parse.quote(path)
        if mode is not None:
            q += "&mode=" + urllib.parse.quote(mode)
        return daemon.api("PUT", "/v1/sandboxes/%s/files%s" % (sandbox, q), raw=data,
                          headers={"Content-Type": "application/octet-stream"})

    r = put("/home/user/m/tool.sh", b"#!/bin/sh\necho tool\n", "750")
    assert r.status == 200, r
    r = put("/home/user/m/plain.txt", b"plain\n")
    assert r.status == 200, r
    r = put("/home/user/m/key", b"k", "0600")
    assert r.status == 200, r
    assert modes_inside(daemon, sandbox, ["/home/user/m/tool.sh", "/home/user/m/plain.txt",
                                          "/home/user/m/key"]) == {
        "/home/user/m/tool.sh": "750", "/home/user/m/plain.txt": "644", "/home/user/m/key": "600"}
    assert daemon.exec_ok(sandbox, "/home/user/m/tool.sh", language="bash")["stdout"] == "tool\n"
    # An existing file takes the new mode.
    assert put("/home/user/m/tool.sh", b"#!/bin/sh\n", "700").status == 200
    assert modes_inside(daemon, sandbox, ["/home/user/m/tool.sh"]) == {"/home/user/m/tool.sh": "700"}
    # Refused with a 400 naming the parameter; nothing is written.
    for bad, needle in (("4755", "setuid"), ("2755", "setuid"), ("1777", "sticky"),
                        ("8", "octal"), ("rwx", "octal"), ("", "empty"), ("77777", "too long")):
        r = put("/home/user/m/refused", b"x", bad)
        assert r.status == 400, (bad, r)
        msg = r.json["error"]["message"]
        assert "'mode'" in msg and needle in msg, (bad, msg)
    probe = daemon.exec(sandbox, "test -e /home/user/m/refused || echo absent", language="bash")
    assert probe["stdout"].strip() == "absent", probe


def test_sbx_upload_keeps_local_modes(daemon, sandbox, tmp_path):
    script = tmp_path / "go.sh"
    script.write_bytes(b"#!/bin/sh\necho uploaded script\n")
    script.chmod(0o755)
    j = daemon.sbx_ok("upload", sandbox, str(script), "--to", "/home/user/cli")
    assert j["batch"] is False, j
    # A directory of scripts travels as a batch, with each file's mode.
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "a.sh").write_bytes(b"#!/bin/sh\necho a\n")
    (scripts / "a.sh").chmod(0o755)
    (scripts / "private").write_bytes(b"p")
    (scripts / "private").chmod(0o600)
    k = daemon.sbx_ok("upload", sandbox, str(scripts), "--to", "/home/user/cli")
    assert k["batch"] is True and k["count"] == 2, k
    # `sbx cp` goes through the same single-file upload.
    daemon.sbx_ok("cp", str(script), "%s:/home/user/cli/copied.sh" % sandbox)
    got = modes_inside(daemon, sandbox, ["/home/user/cli/go.sh", "/home/user/cli/scripts/a.sh",
                                         "/home/user/cli/scripts/private",
                                         "/home/user/cli/copied.sh"])
    assert got == {"/home/user/cli/go.sh": "755", "/home/user/cli/scripts/a.sh": "755",
                   "/home/user/cli/scripts/private": "600", "/home/user/cli/copied.sh": "755"}, got
    ran = daemon.exec_ok(sandbox, "/home/user/cli/go.sh && /home/user/cli/scripts/a.sh",
                         language="bash")
    assert ran["stdout"] == "uploaded script\na\n", ran
