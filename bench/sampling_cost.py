#!/usr/bin/env python3
"""The cost of monitoring in the real daemon: sandboxd's own CPU time per second with N idle
sandboxes sampled every second, against the same daemon with none. Prints figures; asserts
nothing. Usage (root): bench/sampling_cost.py [--sandboxes 100] [--seconds 20]"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(sock, method, path, body=None):
    c = Unix(sock)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid, seconds):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0) * 100.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandboxes", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sbxb", dir="/tmp")
    sock = os.path.join(tmp, "api.sock")
    proc = subprocess.Popen(
        [os.path.join(args.bin, "sandboxd"), "--state-dir", os.path.join(tmp, "state"),
         "--socket", sock, "--templates",
         os.path.join(ROOT, "tests", "integration", "host_templates.json")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=dict(os.environ, SANDBOXD_MONITOR_INTERVAL_MS="1000"))
    try:
        proc.stdout.readline()  # "sandboxd ready ..."
        time.sleep(2)
        idle = measure(proc.pid, args.seconds)
        for i in range(args.sandboxes):
            st, body = call(sock, "POST", "/v1/sandboxes",
                            {"template": "minimal", "sandbox_id": "b%d" % i, "timeout": 3600})
            assert st == 201, body
        time.sleep(3)  # first samples, first disk walks
        loaded = measure(proc.pid, args.seconds)
        print("sandboxd CPU, %% of one core, over %.0f s, sampling every 1 s" % args.seconds)
        print("  0 sandboxes:   %6.2f %%" % idle)
        print("  %d sandboxes: %6.2f %%  (%.2f ms of CPU per sandbox per second)"
              % (args.sandboxes, loaded,
                 max(loaded - idle, 0) * 10.0 / args.sandboxes))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
