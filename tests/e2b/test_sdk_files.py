"""Files through the SDK: batches, binary round trips, watches, stat-like calls."""


def test_write_fifty_files_in_one_call(e2b):
    r = e2b.run_js("writeFifty")
    assert r["written"] == 50 and r["listed"] == 50, r
    assert r["cat"] == "file 7\nfile 49\n", r


def test_binary_round_trip_of_20_mib(e2b):
    r = e2b.run_js("binaryRoundTrip", {"mib": 20})
    assert r["bytes"] == 20 << 20, r
    assert r["sent"] == r["received"] == r["inSandbox"], r


def test_watch_dir_reports_a_file_a_command_created(e2b):
    r = e2b.run_js("watchDir")
    assert r["sawCreate"] is True, r


def test_exists_info_make_dir_rename_remove(e2b):
    r = e2b.run_js("fsCalls")
    assert r["existsBefore"] is False and r["existsAfter"] is True, r
    assert r["makeDir"] is True and r["makeDirAgain"] is False, r
    info = r["info"]
    assert info["name"] == "x.txt" and info["type"] == "file" and info["size"] == 5, r
    assert info["permissions"] == "-rw-r--r--" and info["owner"] == "user", r
    assert r["renamed"] == "/home/user/d/y.txt" and r["readMoved"] == "hello", r
    assert r["existsRemoved"] is False, r
    assert r["readMissing"]["threw"] and r["readMissing"]["name"] == "FileNotFoundError", r
    assert r["listMissing"]["threw"], r
