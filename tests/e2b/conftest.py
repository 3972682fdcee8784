"""Fixtures of the E2B SDK tests: a real sandboxd with a TCP listener, API keys of two
tenants, and `run_js`, which runs one scenario of js/run.mjs with E2B's own npm SDK configured
only by the environment, as a user switching from E2B's cloud would:

    E2B_API_KEY=<a sandboxd key>  E2B_API_URL=E2B_SANDBOX_URL=http://127.0.0.1:<port>
    E2B_DOMAIN=sandboxd.test      (the domain of getHost(port): <port>-<id>.sandboxd.test)

The daemon's helpers come from tests/integration/conftest.py, loaded under another module
name (as tests/security does), so the suites can run side by side.
"""
import importlib.util
import json
import os
import subprocess

import pytest

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "conftest.py")
_spec = importlib.util.spec_from_file_location("sbx_integration_conftest_e2b", _PATH)
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
globals().update({k: v for k, v in vars(_integration).items() if not k.startswith("__")})

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_JS = os.path.join(HERE, "js", "run.mjs")
DOMAIN = "sandboxd.test"


def node_ready():
    assert os.path.isdir(os.path.join(HERE, "node_modules", "e2b")), (
        "the e2b SDK is not installed: run scripts/setup.sh (npm ci in tests/e2b)")


class E2B:
    """A daemon for E2B clients: `env` has alpha's key, `env_beta` another tenant's."""

    def __init__(self, daemon):
        self.d = daemon
        self.key_alpha = self.new_key("e2b-alpha")
        self.key_beta = self.new_key("e2b-beta")

    def _env(self, key):
        # The port of now: a test may restart the daemon, which listens on a new one.
        base = "http://127.0.0.1:%d" % self.d.port
        env = dict(os.environ, E2B_API_URL=base, E2B_SANDBOX_URL=base, E2B_DOMAIN=DOMAIN,
                   E2B_API_KEY=key)
        env.pop("E2B_DEBUG", None)
        return env

    @property
    def env(self):
        return self._env(self.key_alpha)

    @property
    def env_beta(self):
        return self._env(self.key_beta)

    def new_key(self, tenant):
        return self.d.sbx_ok("keys", "create", "--tenant", tenant, "--format", "e2b")["key"]

    def run_js(self, scenario, args=None, env=None, timeout=150, ok=True):
        """The scenario's JSON. With ok, an uncaught SDK error fails the test with its text."""
        argv = ["node", RUN_JS, scenario] + ([json.dumps(args)] if args is not None else [])
        p = subprocess.run(argv, env=env or self.env, cwd=HERE, capture_output=True,
                           timeout=timeout)
        out = p.stdout.decode("utf-8", "replace").strip().splitlines()
        detail = "scenario %s: exit %d\nstdout: %s\nstderr: %s\nlog tail:\n%s" % (
            scenario, p.returncode, "\n".join(out)[-3000:],
            p.stderr.decode("utf-8", "replace")[-3000:], self.d.log_text()[-3000:])
        assert out, detail
        res = json.loads(out[-1])
        if ok:
            assert "uncaught" not in res and p.returncode == 0, detail
        return res


@pytest.fixture(scope="module")
def e2b():
    node_ready()
    d = Daemon(["--listen", "127.0.0.1:0", "--e2b-domain", DOMAIN]).start()
    assert d.port, d.ready_line
    yield E2B(d)
    _stop_and_check(d)
