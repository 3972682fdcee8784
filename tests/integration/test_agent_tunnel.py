"""Port tunnels through a real sandbox's agent (docs/architecture.md, "Port tunnels"): a server
started inside the sandbox is reached with CONNECT on the agent's socket, and a server on the
host's loopback is not (the agent dials from the sandbox's own network namespace)."""
import glob
import json
import os
import socket
import threading
import time

import pytest


def agent_socket(daemon):
    socks = glob.glob(os.path.join(daemon.state_dir, "a", "*.sock"))
    assert len(socks) == 1, socks
    return socks[0]


def connect_tunnel(sock_path, port, timeout=10):
    """Sends CONNECT; returns (status line, header block, socket)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port))
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 16384:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return head.split(b"\r\n", 1)[0], head, s


def read_all(s, limit=1 << 20):
    out = b""
    while len(out) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def test_server_in_sandbox_is_reached_through_the_tunnel(daemon, sandbox):
    port = 8123
    daemon.exec_ok(sandbox, (
        "import subprocess\n"
        "subprocess.Popen(['python3', '-m', 'http.server', '%d', '--bind', '127.0.0.1',"
        " '--directory', '/tmp'], start_new_session=True,"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "open('/tmp/hello.txt', 'w').write('through the tunnel')\n") % port)
    sock_path = agent_socket(daemon)
    deadline = time.time() + 20
    while True:
        status, _, s = connect_tunnel(sock_path, port)
        if status.startswith(b"HTTP/1.1 200") or time.time() > deadline:
            break
        s.close()
        time.sleep(0.2)
    assert status == b"HTTP/1.1 200 Connection Established", status
    with s:
        s.sendall(b"GET /hello.txt HTTP/1.0\r\nHost: x\r\n\r\n")
        reply = read_all(s)
    assert reply.startswith(b"HTTP/1.0 200"), reply[:200]
    assert reply.endswith(b"through the tunnel")


def test_host_loopback_is_out_of_reach(daemon, sandbox):
    # A listener on the host's 127.0.0.1: the agent's 127.0.0.1 is the sandbox's own.
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(4)
    port = host.getsockname()[1]
    accepted = []
    host.settimeout(0.1)

    def accept_loop():
        end = time.time() + 3
        while time.time() < end:
            try:
                accepted.append(host.accept()[0])
            except socket.timeout:
                pass

    t = threading.Thread(target=accept_loop)
    t.start()
    try:
        status, head, s = connect_tunnel(agent_socket(daemon), port)
        with s:
            body = read_all(s)
        assert status == b"HTTP/1.1 502 Bad Gateway", head
        assert json.loads(body) == {
            "code": 502, "message": "nothing listens on port %d in the sandbox" % port}
    finally:
        t.join()
        host.close()
    assert not accepted, "the tunnel reached the host's loopback"


@pytest.mark.parametrize("target", [b"10.0.2.2:80", b"[::ffff:127.0.0.1]:22", b"127.0.0.1:0"])
def test_other_targets_are_refused(daemon, sandbox, target):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(agent_socket(daemon))
    with s:
        s.sendall(b"CONNECT " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_all(s)
    assert reply.startswith(b"HTTP/1.1 400"), reply
