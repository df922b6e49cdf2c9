"""doctor's judgement, pure: facts in, OK/WARN/FAIL lines with fixes out."""

import hashlib

from provisioning.doctor import evaluate

PK = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
RID = hashlib.sha256(bytes.fromhex(PK)).hexdigest()[:16]
NOW = 1_790_000_000.0
MANIFEST = {"fw": "0.1.0", "mpy": "6.3", "arch": "x64", "files": {"/main.py": "aa", "/app.mpy": "bb"}}


def healthy(**over):
    h = {"rid": RID, "pk": PK, "fw": "0.1.0", "label": "R-0007", "station": "S-0001",
         "time": int(NOW) + 1, "jfill": 3, "unsynced": 0, "heap": 60000}
    h.update(over)
    return h


def facts(**over):
    f = {"health": healthy(), "answer_s": 0.05, "noise": 0, "manifest": MANIFEST,
         "hashes": {"/main.py": "aa", "/app.mpy": "bb"}, "restarted": True,
         "hub": {"status": "active", "station_id": "S-0001"}}
    f.update(over)
    return f


def by_check(lines):
    return {line.check: line for line in lines}


def test_a_healthy_reader_is_all_ok():
    lines = evaluate(facts(), expected_fw="0.1.0", now=NOW)
    assert [line.status for line in lines] == ["OK"] * len(lines), lines
    assert {"link", "firmware", "manifest", "key", "config", "hub", "clock", "journal",
            "sync"} <= set(by_check(lines))


def test_every_problem_names_its_fix():
    lines = by_check(evaluate(facts(
        health=healthy(fw="0.0.9", time=int(NOW) - 600, jfill=93, unsynced=1840, test=True),
        hashes={"/main.py": "aa", "/app.mpy": None},
        hub={"status": "revoked", "station_id": "S-0001"}), expected_fw="0.1.0", now=NOW,
        port="/dev/ttyACM0"))
    assert by_check([lines["firmware"]])["firmware"].status == "WARN"
    assert "flash --port /dev/ttyACM0" in lines["firmware"].fix
    assert lines["manifest"].status == "FAIL" and "1 missing (/app.mpy)" in lines["manifest"].detail
    assert lines["hub"].status == "FAIL" and "--rekey" in lines["hub"].fix
    assert lines["clock"].status == "FAIL" and "offset -600 s" in lines["clock"].detail
    assert lines["journal"].status == "FAIL" and "93%" in lines["journal"].detail
    assert lines["sync"].status == "WARN" and "1840 records" in lines["sync"].detail
    assert lines["config"].status == "WARN" and "TEST MODE" in lines["config"].detail
    for line in lines.values():
        assert line.status == "OK" or line.fix, line


def test_a_silent_reader_fails_the_link_and_skips_what_it_cannot_know():
    lines = by_check(evaluate(facts(health=None, restarted=None), expected_fw="0.1.0", now=NOW))
    assert lines["link"].status == "FAIL" and "flash" in lines["link"].fix
    assert "clock" not in lines and "key" not in lines


def test_no_manifest_and_no_key_fail():
    lines = by_check(evaluate(facts(manifest=None, health=healthy(rid=None, pk=None)),
                              expected_fw=None, now=NOW))
    assert lines["manifest"].status == "FAIL"
    assert lines["key"].status == "FAIL" and "enroll" in lines["key"].fix


def test_a_key_that_does_not_hash_to_the_reader_id_fails():
    lines = by_check(evaluate(facts(health=healthy(rid="00" * 8)), expected_fw=None, now=NOW))
    assert lines["key"].status == "FAIL" and "does not match" in lines["key"].detail


def test_clock_unknown_and_small_offsets():
    assert by_check(evaluate(facts(health=healthy(time=0)), expected_fw=None,
                             now=NOW))["clock"].status == "WARN"
    assert by_check(evaluate(facts(health=healthy(time=int(NOW) + 30)), expected_fw=None,
                             now=NOW))["clock"].status == "WARN"


def test_hub_views():
    assert by_check(evaluate(facts(hub="unknown"), expected_fw=None, now=NOW))["hub"].status == "FAIL"
    assert by_check(evaluate(facts(hub="skipped"), expected_fw=None, now=NOW))["hub"].status == "WARN"
    wrong = by_check(evaluate(facts(hub={"status": "active", "station_id": "S-0002"}),
                              expected_fw=None, now=NOW))["hub"]
    assert wrong.status == "FAIL" and "S-0002" in wrong.fix
    err = by_check(evaluate(facts(hub={"error": "hub unreachable"}), expected_fw=None, now=NOW))
    assert err["hub"].status == "FAIL"


def test_update_leftovers_are_judged():
    def line(update):
        return by_check(evaluate(facts(update=update), expected_fw="0.1.0", now=NOW))["update"]

    clean = {"swap": None, "next": [], "prev": [], "prev_manifest": None}
    assert line(clean).status == "OK" and "no firmware update" in line(clean).detail
    kept = dict(clean, prev=[["/fw.prev/app.mpy", 2048], ["/fw.prev/firmware.json", 1024]],
                prev_manifest='{"fw": "0.0.9"}')
    assert line(kept).status == "OK" and "0.0.9" in line(kept).detail and "3 kB" in line(kept).detail
    staged = dict(clean, next=[["/fw.next/app.mpy", 5120]])
    assert line(staged).status == "WARN" and "1 file (5 kB)" in line(staged).detail
    assert "fs rm -r :/fw.next" in line(staged).fix
    half = dict(clean, swap='{"dir": "back", "write": []}')
    assert line(half).status == "FAIL" and "a rollback is half-swapped" in line(half).detail
    assert "power-cycle" in line(half).fix
    assert "unreadable" in line(dict(clean, swap="{")).detail
    assert "update" not in by_check(evaluate(facts(), expected_fw="0.1.0", now=NOW))
