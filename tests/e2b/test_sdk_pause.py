"""pause() and Sandbox.connect() through the SDK: a paused sandbox keeps its processes and
files, uses no CPU, survives kill -9 of sandboxd, and resumes where it stopped."""
import time


def counter(e2b, sid):
    return int(e2b.d.read_upper_file(sid, "home/user/counter").strip() or 0)


def cpu_seconds(e2b, sid):
    return e2b.d.api("GET", "/v1/sandboxes/" + sid).json.get("cpu_seconds")


def test_pause_connect_and_kill9_while_paused(e2b):
    started = e2b.run_js("startCounter")
    sid = started["sandboxId"]
    assert started["value"] > 0, started
    try:
        p = e2b.run_js("pause", {"sandboxId": sid})
        assert p["paused"] is True and p["pausedAgain"] is False, p  # 409: already paused
        assert p["state"] == "paused" and p["listedPaused"] is True, p
        assert p["running"] is False, p  # envd does not answer for a paused sandbox
        # Frozen: neither the counter nor the sandbox's CPU time moves.
        c0, cpu0 = counter(e2b, sid), cpu_seconds(e2b, sid)
        time.sleep(1.0)
        assert counter(e2b, sid) == c0
        cpu1 = cpu_seconds(e2b, sid)
        if cpu0 is not None and cpu1 is not None:
            assert cpu1 - cpu0 < 0.01, (cpu0, cpu1)

        # kill -9 of the daemon while paused; the restarted daemon adopts the paused sandbox.
        e2b.d.kill9()
        e2b.d.start()
        assert e2b.d.api("GET", "/v1/sandboxes/" + sid).json["state"] == "paused"
        assert counter(e2b, sid) == c0

        r = e2b.run_js("resume", {"sandboxId": sid})
        assert r["state"] == "running", r
        assert r["first"] >= c0 and r["later"] > r["first"], (c0, r)
    finally:
        e2b.d.api("DELETE", "/v1/sandboxes/" + sid)
