"""Commands through the SDK and sandboxd's envd gateway: streams, stdin, signals, PTY."""


def test_on_stdout_streams_while_the_command_runs(e2b):
    r = e2b.run_js("onStdout")
    calls = r["calls"]
    assert [c["data"] for c in calls] == ["line1\n", "line2\n", "line3\n"], r
    # Each line arrives about 200 ms after the one before, not all at the end.
    gaps = [b["ms"] - a["ms"] for a, b in zip(calls, calls[1:])]
    assert all(g >= 120 for g in gaps), r
    assert r["stdout"] == "line1\nline2\nline3\n", r


def test_send_stdin_reaches_a_running_cat(e2b):
    r = e2b.run_js("stdinToCat")
    assert r["echoed"] is True and r["stdout"] == "hello from stdin\n" and r["exitCode"] == 0, r


def test_kill_of_a_background_command(e2b):
    r = e2b.run_js("killBackground")
    assert r["listedBefore"] and r["killed"] is True, r
    assert r["waited"]["threw"], r  # wait() of a killed command: CommandExitError
    assert r["goneFromList"] is True and r["killAgain"] is False, r


def test_command_exit_error_carries_the_exit_code(e2b):
    r = e2b.run_js("exitCode")
    assert r["threw"] and r["isCommandExitError"], r
    assert r["exitCode"] == 3 and r["stdout"] == "out\n" and r["stderr"] == "err\n", r


def test_pty_session_runs_tty(e2b):
    r = e2b.run_js("pty")
    assert r["sawEnd"] is True, r
    assert r["tty"] and r["tty"].startswith("/dev/pts/"), r
    assert r["size"] == "40 120", r  # resize reached the terminal


def test_connect_to_a_running_command(e2b):
    r = e2b.run_js("connectCommand")
    assert r["stdout"] == "late\n" and r["exitCode"] == 0, r
    assert r["missing"]["threw"], r


def test_sandbox_env_vars_reach_every_command(e2b):
    r = e2b.run_js("envVars")
    assert r["stdout"] == "wide-cmd\n", r
    assert r["cwd"] == "/tmp\n" and r["rootUid"] == "0\n", r
