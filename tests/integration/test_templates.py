"""Templates as real root filesystems (docs/templates.md), end to end through sandboxd and sbx:
an OCI archive made here (two layers, a whiteout, an opaque directory) imports and a sandbox on
it sees exactly its files; rebuilds happen when the definition changes and only then, and a
sandbox started before a rebuild keeps working; a failing startup fails the create.

The Debian builds (mmdebstrap from the mirror, 30 s to 2 min each) are in test_templates_debian.py.
"""
import hashlib
import io
import json
import os
import shutil
import signal
import tarfile
import time

import pytest

from conftest import Daemon, _stop_and_check, unique_id


def _tar(entries, gzip=False):
    """entries: (name, kind, data) with kind 'f' file, 'd' dir, 'l' symlink (data = target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gzip else "w") as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif kind == "l":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            else:
                info.mode = 0o755 if name.endswith(("sh", ".so.2", ".so.6")) else 0o644
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _shell_layer():
    """The host's dash with its two libraries: enough for `sh -c` inside the image."""
    return [("bin", "d", b""), ("bin/sh", "f", _read("/usr/bin/dash")),
            ("lib", "d", b""), ("lib/x86_64-linux-gnu", "d", b""),
            ("lib/x86_64-linux-gnu/libc.so.6", "f", _read("/lib/x86_64-linux-gnu/libc.so.6")),
            ("lib64", "d", b""),
            ("lib64/ld-linux-x86-64.so.2", "f", _read("/lib64/ld-linux-x86-64.so.2"))]


def _oci_archive(path, layers, env=()):
    def digest(b):
        return "sha256:" + hashlib.sha256(b).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": list(env)}, "rootfs": {"type": "layers"}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest(l), "size": len(l)} for l in layers]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": digest(manifest), "size": len(manifest)}]}).encode()
    entries = [("oci-layout", "f", b'{"imageLayoutVersion":"1.0.0"}'), ("blobs", "d", b""),
               ("blobs/sha256", "d", b""), ("index.json", "f", index)]
    for blob in list(layers) + [config, manifest]:
        entries.append(("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), "f", blob))
    with open(path, "wb") as f:
        f.write(_tar(entries))


def _write_templates(path, templates):
    with open(path, "w") as f:
        json.dump({"templates": templates}, f)


@pytest.fixture
def tdaemon():
    """A daemon on a templates.json of the test's own (written before start, edited later)."""
    d = Daemon()
    d.templates_path = os.path.join(d.tmp, "templates.json")
    d.extra_args = ["--templates", d.templates_path, "--default-template", "hostbase"]
    yield d
    if d.proc is not None and d.proc.poll() is None:
        _stop_and_check(d)


HOSTBASE = {"name": "host base", "baseImage": "host"}


def test_oci_archive_imports_exactly(tdaemon):
    d = tdaemon
    layer1 = _tar(_shell_layer() + [
        ("app", "d", b""), ("app/main.py", "f", b"print('v1')\n"),
        ("app/secret.txt", "f", b"remove me"),
        ("cache", "d", b""), ("cache/a", "f", b"a"), ("cache/b", "f", b"b")], gzip=True)
    layer2 = _tar([("app/.wh.secret.txt", "f", b""), ("app/main.py", "f", b"print('v2')\n"),
                   ("cache", "d", b""), ("cache/.wh..wh..opq", "f", b""),
                   ("cache/c", "f", b"c")])
    archive = os.path.join(d.tmp, "image.tar")
    _oci_archive(archive, [layer1, layer2], env=["IMAGE_VAR=from-image"])
    _write_templates(d.templates_path, {
        "hostbase": HOSTBASE,
        "img": {"name": "imported", "baseImage": "oci-archive:" + archive,
                "environment": {"TPL_VAR": "from-template"}}})
    d.start()
    built = d.sbx_ok("template", "build", "img")
    assert built["cached"] is False and built["size_bytes"] > 0
    sid = unique_id("oci")
    d.sbx_ok("create", "--template", "img", "--sandbox-id", sid)
    try:
        r = d.sbx_ok("exec", "--sandbox-id", sid, "--language", "sh", "--code",
                     'echo /app/* /cache/*; while read -r l; do echo "$l"; done < /app/main.py;'
                     ' echo "$IMAGE_VAR $TPL_VAR"; echo /usr/bin/*')
        lines = r["stdout"].splitlines()
        assert lines[0] == "/app/main.py /cache/c", r
        assert lines[1] == "print('v2')", r
        assert lines[2] == "from-image from-template", r
        assert lines[3] == "/usr/bin/*", "the host's /usr leaked into the image: %r" % r
    finally:
        d.sbx_ok("cleanup", "--sandbox-id", sid)


def test_rebuild_only_when_the_definition_changes(tdaemon):
    d = tdaemon
    v1 = os.path.join(d.tmp, "v1.tar")
    v2 = os.path.join(d.tmp, "v2.tar")
    with open(v1, "wb") as f:
        f.write(_tar(_shell_layer() + [("version", "f", b"one\n")]))
    with open(v2, "wb") as f:
        f.write(_tar(_shell_layer() + [("version", "f", b"two\n")]))
    _write_templates(d.templates_path, {
        "hostbase": HOSTBASE, "t": {"baseImage": "rootfs:" + v1, "cpus": 1}})
    d.start()
    first = d.sbx_ok("template", "build", "t")
    assert first["cached"] is False
    again = d.sbx_ok("template", "build", "t")
    assert again["cached"] is True and again["version"] == first["version"]
    old_sid = unique_id("old")
    d.sbx_ok("create", "--template", "t", "--sandbox-id", old_sid)
    try:
        # Run-time fields do not rebuild; the base does.
        _write_templates(d.templates_path, {
            "hostbase": HOSTBASE, "t": {"baseImage": "rootfs:" + v1, "cpus": 2,
                                        "environment": {"X": "1"}}})
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert d.sbx_ok("template", "build", "t")["cached"] is True
        _write_templates(d.templates_path, {
            "hostbase": HOSTBASE, "t": {"baseImage": "rootfs:" + v2}})
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        shown = d.sbx_ok("template", "show", "t")
        assert shown["up_to_date"] is False and shown["version"] == first["version"]
        second = d.sbx_ok("template", "build", "t")
        assert second["cached"] is False and second["version"] != first["version"]
        new_sid = unique_id("new")
        d.sbx_ok("create", "--template", "t", "--sandbox-id", new_sid)
        read = 'while read -r l; do echo "$l"; done < /version'
        assert d.sbx_ok("exec", "--sandbox-id", old_sid, "--language", "sh",
                        "--code", read)["stdout"] == "one\n"
        assert d.sbx_ok("exec", "--sandbox-id", new_sid, "--language", "sh",
                        "--code", read)["stdout"] == "two\n"
        versions = sorted(os.listdir(os.path.join(d.state_dir, "templates", "t")))
        assert first["version"] in versions and second["version"] in versions
        d.sbx_ok("cleanup", "--sandbox-id", new_sid)
    finally:
        d.sbx_ok("cleanup", "--sandbox-id", old_sid)
    # The old version goes with its last sandbox.
    versions = os.listdir(os.path.join(d.state_dir, "templates", "t"))
    assert first["version"] not in versions and second["version"] in versions


def test_unbuilt_template_and_failing_startup(tdaemon):
    d = tdaemon
    _write_templates(d.templates_path, {
        "hostbase": HOSTBASE,
        "later": {"baseImage": "rootfs:/nonexistent/image.tar"},
        "boot": {"baseImage": "host", "startup": ["echo prepared > /tmp/boot", "true"]},
        "broken": {"baseImage": "host", "startup": ["echo to-stdout; echo to-stderr >&2; exit 7"]}})
    d.start()
    rc, out = d.sbx("create", "--template", "later", "--sandbox-id", unique_id())
    assert rc == 2 and out["error_code"] == "failed_precondition", out
    assert "sbx template build later" in out["error"], out
    sid = unique_id("boot")
    d.sbx_ok("create", "--template", "boot", "--sandbox-id", sid)
    assert d.sbx_ok("exec", "--sandbox-id", sid, "--language", "sh",
                    "--code", "cat /tmp/boot")["stdout"] == "prepared\n"
    d.sbx_ok("cleanup", "--sandbox-id", sid)
    bad = unique_id("bad")
    rc, out = d.sbx("create", "--template", "broken", "--sandbox-id", bad)
    assert rc == 2 and out["error_code"] == "failed_precondition", out
    for part in ("exit status 7", "to-stdout", "to-stderr"):
        assert part in out["error"], out
    assert not os.path.exists(d.sandbox_dir(bad))
    rc, out = d.sbx("status", "--sandbox-id", bad)
    assert out["error_code"] == "not_found", out
