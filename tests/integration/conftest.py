"""Fixtures of the integration tests: a real sandboxd, the real sbx CLI, the HTTP API over the
daemon's unix socket.

Binaries come from $SBX_BIN_DIR (default /work/main/build/bin). Every daemon gets its own short
temporary directory under /tmp (state dir and socket), its stderr (the logfmt log) goes to a
file that is attached to the report of a failing test, and its teardown sends SIGTERM and
asserts exit status 0 within 30 s and that no mount under its directory is left.

Run with Debian's interpreter: /usr/bin/python3 -m pytest -q tests/integration
"""
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

BIN_DIR = os.environ.get("SBX_BIN_DIR", "/work/main/build/bin")
SANDBOXD = os.path.join(BIN_DIR, "sandboxd")
SBX = os.path.join(BIN_DIR, "sbx")
# The guide's four templates on the host base: these tests need no template build (the default
# templates.json builds them from Debian; tests/integration/test_templates*.py cover that).
HOST_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "host_templates.json")
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30

# Daemons alive right now, so that a failing test's report can carry their logs.
_ACTIVE_DAEMONS = []


def unique_id(prefix="t"):
    """A sandbox id valid for [a-z0-9_]{1,64} and unique per call."""
    return "%s_%s" % (prefix, secrets.token_hex(5))


def mounts_under(path):
    """Mount points (from /proc/self/mountinfo) at or below path."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return found


CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_dirs(sandbox_id):
    """Directories named sandbox_id below a sandboxd-* directory in any cgroup hierarchy."""
    found = []
    for hier in sorted(os.listdir(CGROUP_ROOT)):
        top = os.path.join(CGROUP_ROOT, hier)
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        for dirpath, dirnames, _ in os.walk(top):
            if os.path.basename(dirpath).startswith("sandboxd-") and sandbox_id in dirnames:
                found.append(os.path.join(dirpath, sandbox_id))
    return found


def parse_logfmt(line):
    """key=value pairs of one logfmt line (values may be "quoted")."""
    out = {}
    for m in re.finditer(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S*)', line):
        v = m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            try:
                v = json.loads(v)
            except ValueError:
                v = v[1:-1]
        out[m.group(1)] = v
    return out


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX socket."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._unix_path)
        self.sock = s


class ApiResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body  # bytes
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "ApiResponse(%d, %r)" % (self.status, self.body[:2000])


def http_call(conn, method, path, body=None, raw=None, headers=None):
    """One request on conn (closed afterwards): a JSON body, or raw bytes; -> ApiResponse."""
    try:
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return ApiResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
    finally:
        conn.close()


class Daemon:
    def __init__(self, extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix="sbxt", dir="/tmp")
        self.state_dir = os.path.join(self.tmp, "state")
        self.socket = os.path.join(self.tmp, "api.sock")
        self.log_path = os.path.join(self.tmp, "sandboxd.log")
        extra_args = list(extra_args)
        if "--templates" not in extra_args:
            extra_args = ["--templates", HOST_TEMPLATES] + extra_args
        # Each daemon picks a free block of the sandboxd subuid entry (the host's registry keeps
        # parallel daemons, also of other test processes, apart); small blocks leave room.
        if "--id-range" not in extra_args and "--id-slots" not in extra_args:
            extra_args += ["--id-slots", "256"]
        self.extra_args = extra_args
        self.proc = None
        self.ready_line = None
        self.stdout_lines = []
        self.port = None
        # The daemon's own cgroup directories (sandboxd-*), learnt from its first sandbox.
        self.instance_cgroups = set()

    # ---- lifecycle ----
    def start(self):
        assert os.access(SANDBOXD, os.X_OK), "no sandboxd at %s (set SBX_BIN_DIR)" % SANDBOXD
        # Append: a test may kill -9 the daemon and start it again on the same state dir.
        self._log = open(self.log_path, "ab")
        self.ready_line = None
        self.proc = subprocess.Popen(
            [SANDBOXD, "--state-dir", self.state_dir, "--socket", self.socket] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
            start_new_session=True)
        if self not in _ACTIVE_DAEMONS:
            _ACTIVE_DAEMONS.append(self)
        ready = threading.Event()

        def pump():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                if line.startswith("sandboxd ready") and self.ready_line is None:
                    self.ready_line = line
                    ready.set()
            ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        ready.wait(READY_TIMEOUT_S)
        if self.ready_line is None:
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
                self.proc.wait()
            raise AssertionError(
                "sandboxd did not print 'sandboxd ready' within %ds (exit status %r)\n"
                "stdout: %r\nlog:\n%s" % (READY_TIMEOUT_S, rc, self.stdout_lines, self.log_text()))
        m = re.search(r"\bport=(\d+)", self.ready_line)
        if m:
            self.port = int(m.group(1))
        return self

    def kill9(self):
        """SIGKILL, as a crash would: nothing of the daemon runs its shutdown. The sandboxes'
        inits live on; start() again on the same state dir."""
        self.proc.kill()
        self.proc.wait()
        self._pump.join(5)
        self._log.close()

    def terminate(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, wait; returns the exit status (None if it did not exit in time: then it
        is killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def close(self):
        """After terminate: forgets the daemon and removes its directory if nothing is mounted
        below it (a leaked mount is never traversed: it could be a host directory)."""
        if self in _ACTIVE_DAEMONS:
            _ACTIVE_DAEMONS.remove(self)
        if hasattr(self, "_pump"):
            self._pump.join(5)
        try:
            self._log.close()
        except Exception:
            pass
        if not mounts_under(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return "(no log: %s)" % e

    def log_events(self, event):
        """Parsed logfmt lines of the daemon log that mention event (e.g. 'sandbox.created')."""
        out = []
        for line in self.log_text().splitlines():
            if re.search(r"(^|\s|=)%s(\s|$)" % re.escape(event), line):
                out.append(parse_logfmt(line))
        return out

    def init_pid(self, sandbox_id):
        """Host pid of the sandbox's init, from the log line `sandbox.created ... pid=N`."""
        pids = [int(e["pid"]) for e in self.log_events("sandbox.created")
                if e.get("sandbox_id") == sandbox_id and e.get("pid", "").isdigit()]
        assert pids, "no 'sandbox.created sandbox_id=%s ... pid=N' in the daemon log:\n%s" % (
            sandbox_id, self.log_text()[-4000:])
        return pids[-1]

    def id_range(self):
        """(start, count) of the daemon's host uid/gid range, as recorded in its state dir."""
        with open(os.path.join(self.state_dir, "id-range")) as f:
            start, count = f.read().strip().split(":")
        return int(start), int(count)

    def sandbox_dir(self, sandbox_id):
        return os.path.join(self.state_dir, "sandboxes", sandbox_id)

    def read_upper_file(self, sandbox_id, path):
        """Content (str) of a file of the sandbox's writable layer, read on the host: path is
        relative to upper/. With a disk quota upper/ is on the sandbox's own file system
        (disk.img, mounted at disk/ while it runs; read with debugfs, without mounting, when
        it is stopped); with --disk-quota off it is <sandbox>/upper."""
        d = self.sandbox_dir(sandbox_id)
        image = os.path.join(d, "disk.img")
        if not os.path.exists(image):
            with open(os.path.join(d, "upper", path)) as f:
                return f.read()
        if os.stat(os.path.join(d, "disk")).st_dev != os.stat(d).st_dev:
            with open(os.path.join(d, "disk", "upper", path)) as f:
                return f.read()
        out = subprocess.run(["/usr/sbin/debugfs", "-R", "cat /upper/" + path, image],
                             capture_output=True, timeout=30)
        assert out.returncode == 0 and b"not found" not in out.stderr, (path, out.stderr)
        return out.stdout.decode()

    # ---- the CLI ----
    def sbx_raw(self, *args, timeout=120, stdin=None, socket_path=None):
        argv = [SBX, "--socket", socket_path or self.socket] + [str(a) for a in args]
        return run_sbx(argv, timeout=timeout, stdin=stdin)

    def sbx(self, *args, **kw):
        """Runs sbx; returns (exit status, parsed JSON of stdout)."""
        r = self.sbx_raw(*args, **kw)
        return r.returncode, r.json

    def sbx_ok(self, *args, **kw):
        """Runs sbx, asserts exit status 0 and success true; returns the JSON."""
        r = self.sbx_raw(*args, **kw)
        assert r.returncode == 0 and r.json.get("success") is True, (
            "sbx %s: exit %d\nstdout: %s\nstderr: %s" % (
                " ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r.json

    # ---- the HTTP API ----
    def api(self, method, path, body=None, raw=None, headers=None, timeout=120):
        return http_call(UnixHTTPConnection(self.socket, timeout=timeout), method, path,
                         body=body, raw=raw, headers=headers)

    def create(self, template="python", sandbox_id=None, **fields):
        sid = sandbox_id or unique_id()
        body = dict(template=template, sandbox_id=sid, **fields)
        r = self.api("POST", "/v1/sandboxes", body)
        assert r.status == 201, "create %s: %r\nlog:\n%s" % (sid, r, self.log_text()[-3000:])
        assert r.json["sandbox_id"] == sid
        self.note_cgroups(sid)
        return sid

    def note_cgroups(self, sandbox_id):
        if not self.instance_cgroups:
            self.instance_cgroups = {os.path.dirname(p) for p in cgroup_dirs(sandbox_id)}

    def remove(self, sandbox_id):
        return self.api("DELETE", "/v1/sandboxes/" + sandbox_id)

    def exec(self, sandbox_id, code, language="python", timeout=60, user=None, **fields):
        body = dict(language=language, code=code, timeout=timeout, **fields)
        if user:
            body["user"] = user
        r = self.api("POST", "/v1/sandboxes/%s/exec" % sandbox_id, body, timeout=timeout + 60)
        assert r.status == 200, "exec in %s: %r" % (sandbox_id, r)
        return r.json

    def exec_ok(self, sandbox_id, code, **kw):
        res = self.exec(sandbox_id, code, **kw)
        assert res["status"] == "completed" and res["exit_code"] == 0, (
            "exec in %s did not complete: %s" % (sandbox_id, json.dumps(res, indent=1)[:6000]))
        return res

    def py_json(self, sandbox_id, code, **kw):
        """Runs python code that prints one JSON document as its last stdout line."""
        res = self.exec_ok(sandbox_id, code, **kw)
        lines = [l for l in res["stdout"].splitlines() if l.strip()]
        assert lines, "no output: %r" % res
        return json.loads(lines[-1])


class CliResult:
    def __init__(self, argv, cp):
        self.argv = argv
        self.returncode = cp.returncode
        self.stdout = cp.stdout.decode("utf-8", "replace")
        self.stderr = cp.stderr.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.stdout)
        except ValueError:
            raise AssertionError("sbx did not print one JSON document: %s\nexit %d\nstdout: %r\n"
                                 "stderr: %r" % (" ".join(argv), self.returncode, self.stdout,
                                                 self.stderr))
        assert isinstance(self.json, dict), "sbx printed JSON that is not an object: %r" % (
            self.stdout,)


def run_sbx(argv, timeout=120, stdin=None):
    assert os.access(argv[0], os.X_OK), "no sbx at %s (set SBX_BIN_DIR)" % argv[0]
    cp = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=timeout)
    return CliResult(argv, cp)


def leftover_instance_cgroups(d):
    """The daemon's sandboxd-* cgroup directories still there after it exited. They are
    removed here (they are empty; rmdir fails on a busy cgroup) so that a failing run does not
    litter the machine, and returned for the test to report."""
    left = sorted(p for p in d.instance_cgroups if os.path.isdir(p))
    for p in left:
        try:
            os.rmdir(p)
        except OSError:
            pass
    return left


def _stop_and_check(d):
    rc = d.terminate()
    leaked = mounts_under(d.tmp)
    log = d.log_text()
    # Leftover sandboxd-* cgroup directories are removed here but asserted on only in
    # test_leaks.py::test_sigterm_with_running_sandboxes, so that one test reports them.
    if rc is not None:
        leftover_instance_cgroups(d)
    d.close()
    assert rc == 0, "sandboxd exit status %r after SIGTERM (expected 0 within %ds)\nlog:\n%s" % (
        rc, STOP_TIMEOUT_S, log[-6000:])
    assert not leaked, "mounts left under %s after sandboxd exited: %s" % (d.tmp, leaked)



@pytest.fixture(scope="module")
def daemon():
    """One sandboxd per test module. Tests use their own sandbox ids and remove their sandboxes."""
    d = Daemon().start()
    yield d
    _stop_and_check(d)


@pytest.fixture
def fresh_daemon():
    """A sandboxd for this test alone; the test may stop it itself (d.terminate())."""
    d = Daemon().start()
    yield d
    if d.proc.poll() is None:
        _stop_and_check(d)
    else:
        leftover_instance_cgroups(d)
        d.close()


@pytest.fixture
def sandbox(daemon):
    """A python-template sandbox for one test, removed afterwards."""
    sid = daemon.create("python")
    yield sid
    daemon.remove(sid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in list(_ACTIVE_DAEMONS):
            text = d.log_text()
            lines = text.splitlines()
            tail = "\n".join(lines[-150:])
            rep.sections.append(("sandboxd log %s (last %d of %d lines)" % (
                d.log_path, min(150, len(lines)), len(lines)), tail))


# ---- probes shared by several test files ----

PROC_LIST = r'''
import json, os
procs = {}
for p in os.listdir('/proc'):
    if not p.isdigit():
        continue
    try:
        comm = open('/proc/%s/comm' % p).read().strip()
        cmd = open('/proc/%s/cmdline' % p, 'rb').read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
        state = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[0]
    except OSError:
        continue
    procs[p] = [comm, cmd, state]
print(json.dumps({"procs": procs, "self": os.getpid()}))
'''


def proc_list(daemon, sid):
    out = daemon.py_json(sid, PROC_LIST)
    return out["procs"], out["self"]


def live_procs(procs):
    """Processes that are not zombies."""
    return {p: v for p, v in procs.items() if v[2] != "Z"}


def host_cmdlines():
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    out[int(p)] = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            except OSError:
                pass
    return out


# ---- leak probes over a whole daemon (test_stress.py; test_leaks.py checks single sandboxes) ----

def _proc_status(pid):
    """(ppid, real uid, state letter) of a host process, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(l.split(":", 1) for l in f if ":" in l)
        return (int(fields["PPid"]), int(fields["Uid"].split()[0]),
                fields["State"].strip()[:1])
    except (OSError, KeyError, ValueError):
        return None


def _proc_cgroup_paths(pid):
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            return [l.rstrip("\n").split(":", 2)[-1] for l in f]
    except OSError:
        return []


def leftover_processes(d):
    """Host processes sandboxd d should no longer have, as {pid: reason}: descendants of the
    daemon, processes in a cgroup below the daemon's sandboxd-* directories, and processes in
    the daemon's host uid range (Daemon.id_range) unless another daemon's sandboxd-* cgroup
    holds them (a daemon started after this one stopped may have taken the range over)."""
    mine = {os.path.basename(p) for p in d.instance_cgroups}
    id_start, id_count = d.id_range()
    status = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            st = _proc_status(int(p))
            if st:
                status[int(p)] = st
    children = {}
    for pid, (ppid, _, _) in status.items():
        children.setdefault(ppid, []).append(pid)
    found = {}
    todo = list(children.get(d.proc.pid, []))
    while todo:
        pid = todo.pop()
        found[pid] = "descendant of sandboxd %d: %s" % (d.proc.pid, host_cmdlines().get(pid, "?"))
        todo.extend(children.get(pid, []))
    for pid, (ppid, uid, state) in status.items():
        parts = [x for path in _proc_cgroup_paths(pid) for x in path.split("/")]
        instances = {x for x in parts if x.startswith("sandboxd-")}
        if instances & mine and pid != d.proc.pid:
            found.setdefault(pid, "in cgroups %r" % sorted(instances))
        elif state == "Z" and ppid not in found and ppid != d.proc.pid:
            # Dead, and not the daemon's to reap: the init of a sandbox adopted after a
            # `kill -9` of an earlier daemon is PID 1's child, and PID 1 reaps it when it will.
            continue
        elif id_start <= uid < id_start + id_count and not instances - mine:
            found.setdefault(pid, "host uid %d is in the sandboxes' range" % uid)
    return found


def instance_cgroup_children(d):
    """Directories (sandbox cgroups) left below the daemon's own sandboxd-* directories."""
    return sorted(os.path.join(top, x) for top in d.instance_cgroups if os.path.isdir(top)
                  for x in os.listdir(top) if os.path.isdir(os.path.join(top, x)))
