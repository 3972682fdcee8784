"""Fixtures of the security tests: the integration tests' daemon, CLI and HTTP helpers
(tests/integration/conftest.py), loaded under another module name so that both suites can
run in one machine, each in its own pytest process.

Each test here is one attack, from outside (the HTTP API, unauthenticated or with a tenant's
key) or from inside a sandbox (code running as the sandbox's root or user), and asserts that
it is contained. Tests that reproduce a finding of the hardening review (issue 10) say which.

Run with Debian's interpreter: /usr/bin/python3 -m pytest -q tests/security
"""
import importlib.util
import os
import time

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "conftest.py")
_spec = importlib.util.spec_from_file_location("sbx_integration_conftest", _PATH)
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

# Fixtures, hooks and helpers: everything public of the integration conftest.
globals().update({k: v for k, v in vars(_integration).items() if not k.startswith("__")})


def wait_for(pred, timeout_s, what):
    """pred()'s first truthy value, polled every 0.2 s; fails after timeout_s naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.2)
