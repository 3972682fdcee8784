"""Templates built from Debian with mmdebstrap (the Debian mirror must answer; 1-5 minutes):
the guide's quick start on the built python template prints Debian's numpy on a host that has
no numpy, and a broken package name fails the build naming the package while the previous
version keeps serving new sandboxes."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import Daemon, _stop_and_check, unique_id

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config",
                      "templates.json")


@pytest.fixture(scope="module")
def ddaemon():
    d = Daemon()
    d.templates_path = os.path.join(d.tmp, "templates.json")
    with open(CONFIG) as f:
        cfg = json.load(f)
    cfg["templates"]["tiny"] = {"name": "tiny", "baseImage": "debian:bookworm",
                                "packages": ["jq"], "memory": "256MB"}
    with open(d.templates_path, "w") as f:
        json.dump(cfg, f)
    d.cfg = cfg
    d.extra_args = ["--templates", d.templates_path]
    d.start()
    yield d
    _stop_and_check(d)


def test_quickstart_numpy_on_the_built_python_template(ddaemon):
    d = ddaemon
    host = subprocess.run(["/usr/bin/python3", "-c", "import numpy"], capture_output=True)
    assert host.returncode != 0, "this test wants a host without numpy"
    built = d.sbx_ok("template", "build", "python", timeout=900)
    assert "python3-numpy" in built["debian_packages"], built
    sid = "my_first_sandbox_" + unique_id("q")[2:]
    d.sbx_ok("create", "--template", "python", "--sandbox-id", sid)
    try:
        r = d.sbx_ok("exec", "--sandbox-id", sid, "--language", "python", "--code",
                     "import numpy; print('NumPy version:', numpy.__version__)")
        assert r["stdout"].startswith("NumPy version: 1.24"), r  # bookworm's python3-numpy
        r = d.sbx_ok("exec", "--sandbox-id", sid, "--language", "python", "--code",
                     "import pandas, sklearn, matplotlib; print('ok')")
        assert r["stdout"] == "ok\n", r
    finally:
        d.sbx_ok("cleanup", "--sandbox-id", sid)


def test_broken_package_fails_and_the_old_version_serves(ddaemon):
    d = ddaemon
    first = d.sbx_ok("template", "build", "tiny", timeout=600)
    d.cfg["templates"]["tiny"]["packages"] = ["jq", "sbx-no-such-package"]
    with open(d.templates_path, "w") as f:
        json.dump(d.cfg, f)
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    r = d.sbx_raw("template", "build", "tiny", timeout=600)
    assert r.returncode == 2, r.stdout
    assert "'sbx-no-such-package' not found in bookworm" in r.json["error"], r.json
    assert "build log:" in r.json["error"], r.json
    shown = d.sbx_ok("template", "show", "tiny")
    assert shown["version"] == first["version"] and shown["up_to_date"] is False
    sid = unique_id("tiny")
    d.sbx_ok("create", "--template", "tiny", "--sandbox-id", sid)
    try:
        r = d.sbx_ok("exec", "--sandbox-id", sid, "--language", "bash", "--code",
                     "echo '{\"a\": 41}' | jq .a")
        assert r["stdout"] == "41\n", r
    finally:
        d.sbx_ok("cleanup", "--sandbox-id", sid)
