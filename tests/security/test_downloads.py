"""Finding 2 of the hardening review (issue 10): downloads were not capped and were buffered
whole. `GET /v1/sandboxes/{id}/files` returned a 1 GiB file although the limit is 100 MiB, and
each such download raised the daemon's peak RSS by about 1 GB.

Now a download streams from the agent to the client through bounded buffers, its size is known
first (the agent's Content-Length), and a file over E2B_MAX_FILE_SIZE is a 413 naming the limit
before any content is sent. The daemon's memory is read from /proc/<pid>/status: VmHWM (the
peak) and VmRSS sampled every 20 ms while the downloads run.
"""
import hashlib
import os
import socket
import threading
import time

from conftest import Daemon, _stop_and_check

MIB = 1 << 20
DEFAULT_LIMIT = 100 * MIB  # E2B_MAX_FILE_SIZE's default


def vm_bytes(pid, key):
    """VmRSS / VmHWM of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


class RssSampler:
    """Samples VmRSS every 20 ms while in the with block; .peak is the highest seen."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, vm_bytes(self.pid, "VmRSS"))
            time.sleep(0.02)

    def __enter__(self):
        self.peak = vm_bytes(self.pid, "VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def read_fields(f):
    """Header (or trailer) fields up to the empty line, names lower-cased."""
    fields = {}
    while True:
        line = f.readline().decode().rstrip("\r\n")
        if not line:
            return fields
        k, v = line.split(":", 1)
        fields[k.strip().lower()] = v.strip()


def stream_get(sock_path, target, headers=None, timeout=300):
    """GET over the daemon's unix socket, reading the body in pieces and hashing it (never
    holding it whole). HTTP/1.1 by hand, so that a chunked body's trailer can be seen (Python's
    http.client drops it). -> dict(status, headers, size, sha256, trailers, complete, body
    (only for small error answers))."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        lines = ["GET %s HTTP/1.1" % target, "Host: localhost", "Connection: close"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        f = s.makefile("rb", buffering=1 << 16)
        status = int(f.readline().split()[1])
        hdrs = read_fields(f)
        digest = hashlib.sha256()
        size = 0
        small = b""
        trailers = {}
        complete = False

        def take(data):
            nonlocal size, small
            digest.update(data)
            size += len(data)
            if size <= 65536:
                small += data

        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            while True:
                head = f.readline()
                if not head:
                    break  # cut: no last chunk
                n = int(head.split(b";")[0].strip(), 16)
                if n == 0:
                    trailers = read_fields(f)
                    complete = True
                    break
                left = n
                while left:
                    data = f.read(min(left, MIB))
                    if not data:
                        break
                    take(data)
                    left -= len(data)
                if left or f.readline() != b"\r\n":
                    break
        elif "content-length" in hdrs:
            left = int(hdrs["content-length"])
            while left:
                data = f.read(min(left, MIB))
                if not data:
                    break
                take(data)
                left -= len(data)
            complete = left == 0
        return {"status": status, "headers": hdrs, "size": size,
                "sha256": digest.hexdigest(), "trailers": trailers, "complete": complete,
                "body": small}
    finally:
        s.close()


def files_target(sid, path):
    return "/v1/sandboxes/%s/files?path=%s" % (sid, path)


def test_finding2_a_1gib_file_is_refused_with_413_before_any_content_and_rss_stays_flat():
    d = Daemon().start()
    try:
        sid = d.create("python")
        d.exec_ok(sid, "truncate -s 1G /home/user/big.bin", language="bash")
        pid = d.proc.pid
        hwm0 = vm_bytes(pid, "VmHWM")
        rss0 = vm_bytes(pid, "VmRSS")
        with RssSampler(pid) as rss:
            # Plain, gzip-accepting and trailer-accepting clients all get the 413.
            for hdrs in ({}, {"Accept-Encoding": "gzip"}, {"TE": "trailers"}):
                t0 = time.monotonic()
                r = stream_get(d.socket, files_target(sid, "/home/user/big.bin"), hdrs)
                took = time.monotonic() - t0
                assert r["status"] == 413, (hdrs, r["status"], r["body"][:500])
                msg = r["body"].decode()
                assert "1073741824" in msg and str(DEFAULT_LIMIT) in msg, msg
                assert "E2B_MAX_FILE_SIZE" in msg, msg
                assert r["size"] < 4096, r["size"]  # the error, not the content
                # Refused on the announced size, without reading 1 GiB (generous bound: the
                # machine may be busy).
                assert took < 10, took
            # The archive route applies the same limit.
            a = d.api("POST", "/v1/sandboxes/%s/files/archive" % sid,
                      {"paths": ["/home/user/big.bin"]})
            assert a.status == 413, a
            assert "E2B_MAX_FILE_SIZE" in a.json["error"]["message"], a
        grew_hwm = vm_bytes(pid, "VmHWM") - hwm0
        grew_rss = rss.peak - rss0
        print("1 GiB refused: VmHWM +%.1f MB, sampled VmRSS peak +%.1f MB" % (
            grew_hwm / 1e6, grew_rss / 1e6))
        assert grew_hwm < 50e6, grew_hwm
        assert grew_rss < 50e6, grew_rss
        # The daemon keeps serving downloads under the limit.
        d.exec_ok(sid, "printf hello > /home/user/small.txt", language="bash")
        r = stream_get(d.socket, files_target(sid, "/home/user/small.txt"))
        assert r["status"] == 200 and r["size"] == 5 and r["complete"], r
        d.remove(sid)
    finally:
        _stop_and_check(d)


def test_finding2_twenty_parallel_downloads_of_90mib_stream_with_bounded_memory():
    d = Daemon().start()
    try:
        sid = d.create("python")
        size = 90 * MIB
        res = d.exec_ok(sid, "head -c %d /dev/urandom > /home/user/r.bin && "
                             "sha256sum /home/user/r.bin" % size, language="bash", timeout=120)
        inside = res["stdout"].split()[0]
        pid = d.proc.pid
        # Settle: the exec's own allocations are not the downloads'.
        time.sleep(0.5)
        hwm0 = vm_bytes(pid, "VmHWM")
        rss0 = vm_bytes(pid, "VmRSS")
        results = [None] * 20
        errors = []

        def one(i):
            try:
                # Half ask for the sha256 trailer (chunked), half get a Content-Length.
                hdrs = {"TE": "trailers"} if i % 2 == 0 else {}
                results[i] = stream_get(d.socket, files_target(sid, "/home/user/r.bin"), hdrs)
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append((i, repr(e)))

        t0 = time.monotonic()
        with RssSampler(pid) as rss:
            threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
        took = time.monotonic() - t0
        assert not errors, errors
        for i, r in enumerate(results):
            assert r is not None, i
            assert r["status"] == 200, (i, r["status"], r["body"][:300])
            assert r["complete"] and r["size"] == size, (i, r["size"], r["complete"])
            assert r["sha256"] == inside, i
            assert r["headers"]["x-content-size"] == str(size), r["headers"]
            if i % 2 == 0:
                assert r["headers"].get("transfer-encoding") == "chunked", r["headers"]
                assert r["trailers"].get("x-content-sha256") == inside, r["trailers"]
            else:
                assert r["headers"].get("content-length") == str(size), r["headers"]
        grew_hwm = vm_bytes(pid, "VmHWM") - hwm0
        grew_rss = rss.peak - rss0
        print("20 x 90 MiB in %.1f s (%.0f MiB/s in all): daemon VmRSS %.1f MB before, "
              "sampled peak +%.1f MB, VmHWM +%.1f MB" % (
                  took, 20 * size / MIB / took, rss0 / 1e6, grew_rss / 1e6, grew_hwm / 1e6))
        assert grew_hwm < 200e6, grew_hwm
        assert grew_rss < 200e6, grew_rss
        d.remove(sid)
    finally:
        _stop_and_check(d)


def test_finding2_a_file_growing_during_downloads_is_never_sent_beyond_its_announced_size():
    limit = 8 * MIB
    d = Daemon(["--max-file-size", str(limit)]).start()
    try:
        sid = d.create("python")
        d.exec_ok(sid, "head -c %d /dev/urandom > /home/user/grow.bin" % (4 * MIB),
                  language="bash")
        # Appends 64 KiB about every 25 ms (~2.5 MiB/s) until the file has 12 MiB: past the
        # limit, while downloads run.
        writer_code = (
            "import os, time\n"
            "with open('/home/user/grow.bin', 'ab') as f:\n"
            "    while f.tell() < 12 * 1024 * 1024:\n"
            "        f.write(os.urandom(65536)); f.flush(); time.sleep(0.025)\n")
        done = threading.Event()
        writer_result = {}

        def writer():
            try:
                writer_result["r"] = d.exec(sid, writer_code, timeout=60)
            finally:
                done.set()

        w = threading.Thread(target=writer)
        w.start()
        ok, refused = [], 0
        deadline = time.monotonic() + 90
        while not done.is_set() and time.monotonic() < deadline:
            r = stream_get(d.socket, files_target(sid, "/home/user/grow.bin"),
                           {"TE": "trailers"} if len(ok) % 2 else {})
            if r["status"] == 413:
                assert str(limit) in r["body"].decode(), r["body"]
                refused += 1
                continue
            assert r["status"] == 200, (r["status"], r["body"][:300])
            announced = int(r["headers"]["x-content-size"])
            # Exactly what was announced, never more, and never over the limit.
            assert r["complete"] and r["size"] == announced <= limit, (r["size"], announced)
            if "x-content-sha256" in r["trailers"]:
                assert r["trailers"]["x-content-sha256"] == r["sha256"]
            ok.append((announced, r["sha256"]))
        w.join(60)
        assert writer_result.get("r", {}).get("status") == "completed", writer_result
        # The file now has 12 MiB: refused whole.
        r = stream_get(d.socket, files_target(sid, "/home/user/grow.bin"))
        assert r["status"] == 413 and str(limit) in r["body"].decode(), r
        assert ok, "no download finished while the file was under the limit"
        assert len({n for n, _ in ok}) > 1, "the file did not grow during the downloads: %r" % ok
        # Each download is a prefix of the final file (it only grew): the bytes are real ones.
        sizes = sorted({n for n, _ in ok})
        out = d.py_json(sid, "import hashlib, json\n"
                             "data = open('/home/user/grow.bin', 'rb').read()\n"
                             "print(json.dumps({n: hashlib.sha256(data[:n]).hexdigest() "
                             "for n in %r}))" % sizes)
        for n, digest in ok:
            assert out[str(n)] == digest, n
        print("growing file: %d downloads of %d sizes, %d refused" % (len(ok), len(sizes), refused))
        d.remove(sid)
    finally:
        _stop_and_check(d)
