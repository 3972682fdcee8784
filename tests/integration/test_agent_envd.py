"""envd features the E2B SDK gates on envdVersion 0.6.4, spoken straight to a real sandbox's
agent socket (the E2B gateway forwards SDK traffic to it unchanged): file metadata as xattrs on
the sandbox's own file system, WatchDir and the polling watchers as the sandbox's default
user, GET /envs, and a PTY session."""
import base64
import glob
import json
import os
import socket
import struct

from conftest import UnixHTTPConnection, http_call


def agent_socket(daemon):
    socks = glob.glob(os.path.join(daemon.state_dir, "a", "*.sock"))
    assert len(socks) == 1, socks
    return socks[0]


def call(daemon, method, path, body=None, raw=None, headers=None):
    return http_call(UnixHTTPConnection(agent_socket(daemon), timeout=30), method, path,
                     body=body, raw=raw, headers=headers)


def rpc(daemon, method, body):
    return call(daemon, "POST", "/filesystem.Filesystem/" + method, body=body)


def stream_frames(daemon, service_method, body, timeout_ms, during=None):
    """A Connect server stream; `during` runs once the first frame has arrived. -> frames."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(agent_socket(daemon))
    payload = json.dumps(body).encode()
    env = b"\0" + struct.pack(">I", len(payload)) + payload
    s.sendall(("POST /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Type: application/connect+json\r\nConnect-Timeout-Ms: %d\r\n"
               "Content-Length: %d\r\n\r\n" % (service_method, timeout_ms, len(env))).encode()
              + env)
    raw = b""
    ran = during is None
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        raw += chunk
        if not ran and b"\r\n\r\n" in raw and len(raw.split(b"\r\n\r\n", 1)[1]) > 10:
            during()
            ran = True
    s.close()
    body = raw.split(b"\r\n\r\n", 1)[1]
    data = b""
    while body:  # de-chunk
        size_line, rest = body.split(b"\r\n", 1)
        n = int(size_line, 16)
        if n == 0:
            break
        data += rest[:n]
        body = rest[n + 2:]
    frames = []
    while len(data) >= 5:
        flags, n = data[0], struct.unpack(">I", data[1:5])[0]
        frames.append((flags, json.loads(data[5:5 + n])))
        data = data[5 + n:]
    return frames


def test_metadata_is_kept_on_the_sandbox_file_system(daemon, sandbox):
    r = call(daemon, "POST", "/files?path=/home/user/m.txt", raw=b"data",
             headers={"Content-Type": "application/octet-stream", "X-Metadata-Team": "core"})
    assert r.status == 200, r
    assert r.json[0]["metadata"] == {"team": "core"}
    st = rpc(daemon, "Stat", {"path": "/home/user/m.txt"})
    assert st.status == 200, st
    assert st.json["entry"]["metadata"] == {"team": "core"}
    assert st.json["entry"]["owner"] == "user"


def test_watch_dir_stream_and_polling_watcher_as_the_default_user(daemon, sandbox):
    made = rpc(daemon, "MakeDir", {"path": "/home/user/w"})
    assert made.status == 200, made

    def touch():
        daemon.exec_ok(sandbox, "import os\nos.makedirs('/home/user/w/sub')\n"
                                "open('/home/user/w/sub/f.txt', 'w').write('x')\n")

    frames = stream_frames(daemon, "filesystem.Filesystem/WatchDir",
                           {"path": "/home/user/w", "recursive": True, "includeEntry": True},
                           4000, during=touch)
    assert frames[0] == (0, {"start": {}})
    assert frames[-1] == (2, {})
    events = [f[1]["filesystem"] for f in frames if "filesystem" in f[1]]
    names = {(e["name"], e["type"]) for e in events}
    assert ("sub", "EVENT_TYPE_CREATE") in names, events
    assert ("sub/f.txt", "EVENT_TYPE_CREATE") in names, events
    entry = next(e["entry"] for e in events if e["name"] == "sub/f.txt" and "entry" in e)
    assert entry["path"] == "/home/user/w/sub/f.txt" and entry["owner"] == "user"

    # Root's directory is not the default user's to watch.
    denied = stream_frames(daemon, "filesystem.Filesystem/WatchDir", {"path": "/root"}, 1000)
    assert denied[-1][1]["error"]["code"] == "permission_denied", denied

    w = rpc(daemon, "CreateWatcher", {"path": "/home/user/w"})
    assert w.status == 200, w
    wid = w.json["watcherId"]
    daemon.exec_ok(sandbox, "open('/home/user/w/polled.txt', 'w').write('y')")
    got = rpc(daemon, "GetWatcherEvents", {"watcherId": wid})
    assert got.status == 200, got
    assert {"name": "polled.txt", "type": "EVENT_TYPE_CREATE"} in got.json["events"], got.json
    assert rpc(daemon, "RemoveWatcher", {"watcherId": wid}).status == 200
    assert rpc(daemon, "GetWatcherEvents", {"watcherId": wid}).status == 404


def test_envs_and_a_pty_session(daemon, sandbox):
    r = call(daemon, "GET", "/envs")
    assert r.status == 200 and isinstance(r.json, dict), r

    body = {"process": {"cmd": "/bin/sh", "args": ["-c", "tty; stty size"]},
            "pty": {"size": {"cols": 77, "rows": 11}}}
    frames = stream_frames(daemon, "process.Process/Start", body, 10000)
    out = b"".join(base64.b64decode(f[1]["event"]["data"]["pty"]) for f in frames
                   if "event" in f[1] and "data" in f[1]["event"])
    assert b"/dev/pts/" in out, out
    assert b"11 77" in out, out
    assert frames[-1] == (2, {})
