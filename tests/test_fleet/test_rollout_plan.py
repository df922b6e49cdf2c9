"""Rollout planning (server_hub/fleet/rollout.py), the update state machine and the resumable
download — pure, no broker or reader."""

import hashlib
import os

import pytest

from protocol import updatestate as us
from agent.download import Download, DownloadError
from server_hub.fleet.rollout import CANCELLED, Rollout, plan_targets, station_state, waves

STATIONS = ["S-{:04d}".format(n) for n in range(1, 21)]


def test_targets_all_list_percent_and_canaries_first():
    assert plan_targets("RO-1", STATIONS) == STATIONS
    assert plan_targets("RO-1", STATIONS, canary=["S-0007"])[0] == "S-0007"
    assert plan_targets("RO-1", STATIONS, target="list", listed=["S-0003", "S-0002"]) == ["S-0002", "S-0003"]
    picked = plan_targets("RO-1", STATIONS * 50 + ["S-{:04d}".format(n) for n in range(21, 2001)],
                          target="percent", percent=25)
    assert 0.18 < len(picked) / 2000 < 0.32
    assert picked == plan_targets("RO-1", list(reversed(STATIONS)) + ["S-{:04d}".format(n) for n in range(21, 2001)],
                                  target="percent", percent=25)      # stable
    assert plan_targets("RO-1", STATIONS, target="percent", percent=0) == []
    with pytest.raises(ValueError):
        plan_targets("RO-1", STATIONS, target="some")


def test_waves_cut_canary_then_fixed_size():
    assert waves(list("abcdefg"), 1, 3) == [["a"], ["b", "c", "d"], ["e", "f", "g"]]
    assert waves(list("abc"), 0, 2) == [["a", "b"], ["c"]]


def finish(r, station, state=us.DONE, readers=("R1", "R2")):
    for reader in readers:
        r.report(station, reader, state, None if state == us.DONE else "why")
    r.report(station, "", us.DONE)          # the agent closes the station row last


def test_next_wave_only_after_the_previous_is_final_and_failures_pause():
    r = Rollout("RO-1", "0.9", "sha", ["A", "B", "C", "D", "E"], canary=1, wave_size=2)
    assert r.to_offer() == ["A"]
    r.report("A", "", us.DOWNLOADING)
    assert r.to_offer() == ["A"]
    finish(r, "A")
    assert r.to_offer() == ["B", "C"]
    finish(r, "B")
    r.report("C", "R1", us.DONE)
    r.report("C", "R2", us.ROLLED_BACK, "not healthy")
    assert r.state_of("C") == (us.ROLLED_BACK, "not healthy")
    assert r.to_offer() == []                       # one failure > max_failures 0: paused
    assert r.paused and "1 station" in r.paused_reason
    s = r.summary()
    assert s["counts"] == {us.DONE: 2, us.ROLLED_BACK: 1, us.PENDING: 2} and not s["finished"]


def test_station_state_is_its_least_advanced_reader():
    assert station_state([]) == (us.PENDING, None)
    assert station_state([("", us.DOWNLOADING, None)]) == (us.DOWNLOADING, None)
    assert station_state([("", us.DOWNLOADING, None), ("R1", us.DONE, None),
                          ("R2", us.WAITING, "3 records")]) == (us.WAITING, "3 records")
    assert station_state([("", us.FAILED, "bad-signature")])[0] == us.FAILED


def test_a_station_is_final_only_once_its_agent_closes_the_station_row():
    one_reader_done = [("", us.DOWNLOADING, None), ("R1", us.DONE, None)]
    assert station_state(one_reader_done)[0] == us.APPLYING       # R2 may be next
    assert station_state([("", us.DONE, None), ("R1", us.DONE, None)]) == (us.DONE, None)
    assert station_state([("", us.DONE, None), ("R1", us.DONE, None),
                          ("R2", us.ROLLED_BACK, "x")]) == (us.ROLLED_BACK, "x")
    r = Rollout("RO-1", "0.9", "sha", ["A", "B"], canary=1, wave_size=1)
    r.report("A", "", us.DOWNLOADING)
    r.report("A", "R1", us.DONE)
    assert r.to_offer() == ["A"]                                   # B waits for A's close
    r.report("A", "", us.DONE)
    assert r.to_offer() == ["B"]


def test_download_resumes_from_its_part_file_and_checks_the_hash(tmp_path):
    data = os.urandom(100_000)
    offer = {"bundle": hashlib.sha256(data).hexdigest(), "size": len(data), "chunk": 30_000}
    d = Download(tmp_path, offer)
    req = d.next_request()
    assert req == {"bundle": offer["bundle"], "offset": 0, "length": 30_000}
    assert d.feed(0, data[:30_000]) and not d.feed(0, data[:30_000])      # duplicate ignored
    assert not d.feed(60_000, data[60_000:90_000])                         # out of order ignored
    d = Download(tmp_path, offer)                                           # agent restarted
    assert d.next_request()["offset"] == 30_000
    while (req := d.next_request()) is not None:
        d.feed(req["offset"], data[req["offset"]:req["offset"] + req["length"]])
    assert d.finish() == data
    assert Download(tmp_path, offer).next_request() is None               # kept as .bundle
    bad = dict(offer, bundle="0" * 64)
    d = Download(tmp_path / "x", bad)
    d.feed(0, data)
    with pytest.raises(DownloadError):
        d.finish()
    assert d.have == 0                                                      # downloaded again
    with pytest.raises(DownloadError):
        Download(tmp_path, dict(offer, chunk=0))


def test_cancel_offers_nothing_and_tells_stations_at_work_to_stop():
    r = Rollout("RO-1", "0.9", "sha", ["A", "B", "C"], canary=1, wave_size=2)
    finish(r, "A")
    r.report("B", "", us.DOWNLOADING)
    c = Rollout("RO-1", "0.9", "sha", ["A", "B", "C"], canary=1, wave_size=2,
                cancelled="wrong build")
    c.rows = r.rows
    assert c.to_offer() == [] and c.to_cancel() == ["B"]
    assert c.state_of("C")[0] == CANCELLED and "wrong build" in c.state_of("C")[1]
    assert c.state_of("B")[0] == us.DOWNLOADING and not c.finished()
    assert not c.report("B", "R1", CANCELLED)              # only the station row closes so
    c.report("B", "R1", us.DONE)
    c.report("B", "R2", us.WAITING, "3 records")
    c.report("B", "", CANCELLED, "cancelled by the hub after 1 reader(s) updated")
    assert c.state_of("B") == (CANCELLED, "cancelled by the hub after 1 reader(s) updated")
    s = c.summary()
    assert s["finished"] and s["state"] == "cancelled" and c.to_cancel() == []
    assert s["counts"] == {us.DONE: 1, CANCELLED: 2}
    assert s["stations"]["B"]["readers"]["R2"]["state"] == CANCELLED
    assert s["stations"]["B"]["readers"]["R1"]["state"] == us.DONE
    assert s["progress"] == {"closed": 3, "total": 3}


def test_a_station_stopped_by_a_cancel_that_had_a_rollback_counts_as_rolled_back():
    rows = [("", CANCELLED, "x"), ("R1", us.ROLLED_BACK, "not healthy"), ("R2", us.PENDING, None)]
    assert station_state(rows) == (us.ROLLED_BACK, "not healthy")
    assert station_state([("", CANCELLED, "x"), ("R1", us.DONE, None)]) == (us.DONE, None)


def test_past_its_deadline_a_rollout_is_expired():
    r = Rollout("RO-1", "0.9", "sha", ["A"], expires_at=100.0, now=99.0)
    assert r.to_offer() == ["A"] and r.summary()["state"] == "running"
    r = Rollout("RO-1", "0.9", "sha", ["A"], expires_at=100.0, now=100.0)
    assert r.to_offer() == [] and r.summary()["state"] == "expired"
    assert r.summary()["counts"] == {CANCELLED: 1}


def test_planning_ten_thousand_stations_offers_the_wave_in_progress():
    stations = ["S-{:05d}".format(n) for n in range(10_000)]
    r = Rollout("RO-1", "0.9", "sha", stations, canary=1, wave_size=10, max_failures=5)
    for s in stations[:5001]:
        r.report(s, "R1", us.DONE)
        r.report(s, "", us.DONE)
    assert r.to_offer() == stations[5001:5011]       # the wave in progress
    assert r.summary()["progress"] == {"closed": 5001, "total": 10_000}
