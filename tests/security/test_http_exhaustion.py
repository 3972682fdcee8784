"""Issue 10, finding 1: an unauthenticated TCP client could exhaust the daemon. The whole body
(up to 101 MiB) was read before the API key was checked, one 512-connection cap was shared by
the unix socket and TCP, and the 120 s limit was per read, so slowloris connections kept out
the administrator.

Now: the gate runs on the header, before any body byte is read; the unix socket and TCP have
separate pools; unauthenticated connections evict each other oldest first (per address and in
all); headers and bodies have absolute deadlines; requests in flight are capped per key
(docs/security.md, "API input and what it may cost the daemon").

Every connection goes to 127.0.0.1 only. Timing bounds are generous (2 shared cores).
"""
import http.client
import json
import os
import resource
import socket
import threading
import time

import pytest

from conftest import Daemon, _stop_and_check

MIB = 1 << 20


def raise_nofile(n=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


raise_nofile()


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


def new_key(d, tenant):
    out = d.sbx_ok("keys", "create", "--tenant", tenant, "--name", "exhaustion")
    return out["key"]


def tcp_get(d, path, key=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"X-API-Key": key} if key else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def read_status(sock, timeout):
    """The status code of the first response on sock (None if it closed without one)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return None, data
    return int(data[9:12]), data


def start_daemon(*args):
    return Daemon(["--listen", "127.0.0.1:0"] + list(args)).start()


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(rss_mb(self.pid))
            time.sleep(0.1)


class Slowloris(threading.Thread):
    """n connections that each send part of a header and then one more header line per second,
    never finishing; a connection the daemon closes is opened again at the next round."""

    def __init__(self, port, n):
        super().__init__(daemon=True)
        self.port, self.n, self.stop = port, n, threading.Event()
        self.socks = [None] * n
        self.reconnects = 0
        self.max_open = 0

    def run(self):
        while not self.stop.is_set():
            for i in range(self.n):
                s = self.socks[i]
                if s is None:
                    try:
                        s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                        s.setblocking(False)
                        s.send(b"GET /v1/sandboxes HTTP/1.1\r\nHost: x\r\n")
                        self.socks[i] = s
                        self.reconnects += 1
                    except OSError:
                        continue
                    continue
                try:
                    if s.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                        raise OSError("closed")
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    self.socks[i] = None
                    continue
                try:
                    s.send(b"X-Slow: %d\r\n" % i)
                except OSError:
                    s.close()
                    self.socks[i] = None
            self.max_open = max(self.max_open, sum(1 for s in self.socks if s is not None))
            self.stop.wait(1.0)
        for s in self.socks:
            if s is not None:
                s.close()


def big_body_sender(port, stop, size, results):
    """Sends real unauthenticated bodies of `size` bytes, one after another, until stop."""
    chunk = b"x" * MIB
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"PUT /v1/sandboxes/nosuch/files?path=/tmp/f HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % size)
            sent = 0
            while sent < size and not stop.is_set():
                s.sendall(chunk[:min(MIB, size - sent)])
                sent += min(MIB, size - sent)
            status, _ = read_status(s, 5)
            results.append(status)
            s.close()
        except OSError as e:
            results.append(type(e).__name__)
            time.sleep(0.2)


def timed(fn):
    t0 = time.monotonic()
    out = fn()
    return time.monotonic() - t0, out


def test_slowloris_and_unauthenticated_bodies_leave_admin_and_keyed_clients_served():
    d = start_daemon()
    try:
        key = new_key(d, "flood")
        base = rss_mb(d.proc.pid)
        sampler = RssSampler(d.proc.pid)
        sampler.start()
        loris = Slowloris(d.port, 500)
        loris.start()
        stop = threading.Event()
        results = []
        senders = [threading.Thread(target=big_body_sender, args=(d.port, stop, 99 * MIB, results),
                                    daemon=True) for _ in range(20)]
        for t in senders:
            t.start()
        admin, keyed = [], []
        try:
            time.sleep(3)  # the flood is on
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                dt, r = timed(lambda: d.api("GET", "/v1/sandboxes", timeout=10))
                assert r.status == 200, r
                admin.append(dt)
                dt, (status, body) = timed(lambda: tcp_get(d, "/v1/sandboxes", key=key))
                assert status == 200, (status, body)
                keyed.append(dt)
                time.sleep(0.5)
        finally:
            stop.set()
            loris.stop.set()
            for t in senders:
                t.join(30)
            loris.join(30)
            sampler.stop.set()
            sampler.join(5)
        peak = max(sampler.samples)
        print("rss base %.0f MB peak %.0f MB; admin max %.3f s, keyed max %.3f s over %d probes; "
              "slowloris open max %d, reconnects %d; body answers %s" % (
                  base, peak, max(admin), max(keyed), len(admin), loris.max_open,
                  loris.reconnects, sorted(set(map(str, results)))))
        assert loris.max_open >= 50, "the slowloris flood never held connections"
        assert len(results) >= 20, "the big-body senders did not get through: %r" % results
        assert peak < 300, "daemon RSS reached %.0f MB under the flood (base %.0f)" % (peak, base)
        assert max(admin) < 1.0, "admin requests took up to %.2f s: %r" % (max(admin), admin)
        assert max(keyed) < 1.0, "keyed requests took up to %.2f s: %r" % (max(keyed), keyed)
    finally:
        _stop_and_check(d)


def test_unauthenticated_body_is_refused_before_it_is_read():
    d = start_daemon()
    try:
        base = rss_mb(d.proc.pid)
        socks = []
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            s.sendall(b"PUT /v1/sandboxes/x/files?path=/tmp/f HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % (99 * MIB))
            s.sendall(b"y" * MIB)  # 1 MiB of 99: the answer must not wait for the rest
            socks.append(s)
        for s in socks:
            status, data = read_status(s, 10)
            assert status == 401, data[:500]
            assert b"no API key given" in data or b"Connection: close" in data, data[:500]
        peak = rss_mb(d.proc.pid)
        for s in socks:
            s.close()
        assert peak - base < 50, "RSS grew by %.0f MB for 10 refused bodies" % (peak - base)
    finally:
        _stop_and_check(d)


def test_header_trickled_past_its_deadline_is_cut():
    d = start_daemon("--header-timeout", "2")
    try:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        t0 = time.monotonic()
        s.sendall(b"GET /health HTTP/1.1\r\n")
        closed_at = None
        while time.monotonic() - t0 < 15:
            try:
                s.sendall(b"X: y\r\n")  # one header line every 0.3 s, never the end
            except OSError:
                closed_at = time.monotonic() - t0
                break
            s.settimeout(0.3)
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            closed_at = time.monotonic() - t0
            if data:
                assert data.startswith(b"HTTP/1.1 408"), data[:300]
            break
        assert closed_at is not None, "a trickled header was still read after 15 s"
        assert 1.5 <= closed_at < 6, "cut after %.1f s (header deadline 2 s)" % closed_at
        assert d.log_events("http.header_timeout")
    finally:
        _stop_and_check(d)


def test_body_stalled_past_its_deadline_is_cut():
    d = start_daemon("--body-timeout", "2", "--body-min-rate", str(MIB))
    try:
        key = new_key(d, "stall")
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        t0 = time.monotonic()
        s.sendall(b"PUT /v1/sandboxes/nosuch/files?path=/tmp/f HTTP/1.1\r\nHost: x\r\n"
                  b"X-API-Key: " + key.encode() + b"\r\nContent-Length: %d\r\n\r\n" % MIB)
        s.sendall(b"z" * 1024)  # then nothing: the deadline is 2 s + 1 MiB at 1 MiB/s
        status, data = read_status(s, 15)
        dt = time.monotonic() - t0
        assert status == 408, data[:500]
        assert b"did not arrive within 2 s" in data, data[:500]
        assert 2.5 <= dt < 8, "cut after %.1f s (body deadline 3 s)" % dt
        s.close()
    finally:
        _stop_and_check(d)


def test_requests_in_flight_per_key_are_capped():
    d = start_daemon("--max-requests-per-key", "2")
    try:
        key = new_key(d, "inflight")
        other = new_key(d, "inflight2")
        held = []
        for _ in range(2):  # two requests whose bodies are still coming: in flight
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            s.sendall(b"PUT /v1/sandboxes/nosuch/files?path=/tmp/f HTTP/1.1\r\nHost: x\r\n"
                      b"X-API-Key: " + key.encode() + b"\r\nContent-Length: 1000\r\n\r\n")
            held.append(s)
        time.sleep(0.5)
        status, body = tcp_get(d, "/v1/sandboxes", key=key)
        assert status == 429, body
        msg = json.loads(body)["error"]["message"]
        assert "too many requests in flight" in msg and "at most 2" in msg, msg
        status, _ = tcp_get(d, "/v1/sandboxes", key=other)  # another key is not affected
        assert status == 200
        for s in held:
            s.sendall(b"a" * 1000)
            status, _ = read_status(s, 10)
            assert status == 404
            s.close()
        status, _ = tcp_get(d, "/v1/sandboxes", key=key)
        assert status == 200
    finally:
        _stop_and_check(d)


def test_preauth_connections_evict_the_oldest_and_admin_has_its_own_pool():
    d = start_daemon("--max-preauth-per-peer", "4", "--max-preauth-connections", "8",
                     "--max-tcp-connections", "16")
    try:
        key = new_key(d, "evict")
        idle = [socket.create_connection(("127.0.0.1", d.port), timeout=5) for _ in range(10)]
        time.sleep(0.5)
        status, _ = tcp_get(d, "/v1/sandboxes", key=key)  # evicts the oldest idle one
        assert status == 200
        closed = 0
        for s in idle:
            s.settimeout(0.2)
            try:
                closed += s.recv(1) == b""
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        # 10 idle + 1 keyed from one address with room for 4: at least 7 were evicted.
        assert closed >= 7, "only %d of 10 idle connections were evicted" % closed
        assert d.api("GET", "/v1/sandboxes").status == 200
        for s in idle:
            s.close()
    finally:
        _stop_and_check(d)


def test_body_budget_full_gives_503_after_a_bounded_wait():
    # Body limit 2 MiB (--max-file-size 1 MiB + 1 MiB), budget exactly one such body.
    d = start_daemon("--max-file-size", str(MIB), "--max-body-bytes-in-flight", str(2 * MIB),
                     "--body-budget-wait", "1")
    try:
        key = new_key(d, "budget")
        head = (b"PUT /v1/sandboxes/nosuch/files?path=/tmp/f HTTP/1.1\r\nHost: x\r\nX-API-Key: " +
                key.encode() + b"\r\nContent-Length: %d\r\n\r\n" % (2 * MIB))
        holder = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        holder.sendall(head + b"h")  # its 2 MiB are reserved while the body comes
        time.sleep(0.5)
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        t0 = time.monotonic()
        s.sendall(head)
        status, data = read_status(s, 10)
        dt = time.monotonic() - t0
        assert status == 503, data[:500]
        assert b"Retry-After" in data and b"request bodies in memory" in data, data[:500]
        assert 0.8 <= dt < 5, "503 after %.1f s (wait 1 s)" % dt
        s.close()
        holder.sendall(b"h" * (2 * MIB - 1))  # the holder finishes and is served
        status, _ = read_status(holder, 10)
        assert status == 413  # read whole, then refused by the route: over --max-file-size
        holder.close()
        status, _ = tcp_get(d, "/v1/sandboxes", key=key)
        assert status == 200
    finally:
        _stop_and_check(d)
