"""Issue #21: an offline station's backlog is the newest one it reported, as a lower bound.

Pure parts: the agent's pacing of its retained status (agent/backlogstatus.py), the hub's
merge of a Last Will with the stored status (core/backlog.py) and the health model's
"≥ N waiting, as of T" with the offline-with-backlog alert (core/health_model.py)."""

from __future__ import annotations

from agent.backlogstatus import BacklogStatus, figures
from server_hub.core import backlog
from server_hub.core import health_model as hm

NOW = 1_780_000_000.0
TH = hm.Thresholds(offline_s=0)


def test_status_follows_the_queue_at_most_once_per_interval_and_catches_up():
    b = BacklogStatus(min_interval_s=2.0)
    assert b.should_publish(0.0, 0) and b.due(0.0) == 0.0
    b.sent(0.0, 0)
    assert not b.should_publish(0.5, 0) and b.due(0.5) is None      # nothing changed
    assert not b.should_publish(0.5, 3)                             # changed, too soon
    assert b.due(0.5) == 2.0                                        # ...but it will go out
    assert not b.should_publish(1.9, 4)
    assert b.should_publish(2.0, 4)
    b.sent(2.0, 4)
    assert b.due(2.1) is None
    b.reset()                                                       # link up: send again
    assert b.should_publish(4.5, 4)


def test_status_figures_from_the_queue_counts():
    f = figures({"pending": 5, "inflight": 2, "oldest_pending": NOW - 90.5}, NOW)
    assert f == {"pending": 5, "inflight": 2, "oldest_pending": int(NOW - 90.5),
                 "as_of": int(NOW)}
    assert figures({"pending": 0, "inflight": 0, "oldest_pending": None}, NOW)["oldest_pending"] \
        is None


def status(state, pending=None, as_of=None):
    doc = {"v": 1, "state": state, "since": NOW - 3600, "agent": "1"}
    if pending is not None:
        doc["queue"] = {"pending": pending, "inflight": 0, "oldest_pending": NOW - 600,
                        "as_of": as_of}
    return doc


def test_a_last_will_with_older_figures_keeps_the_newer_ones():
    online = status("online", 7, NOW - 20)
    will = status("offline", 0, NOW - 3600)         # figures as of the agent's connect
    kept = backlog.carry(online, will)
    assert kept["state"] == "offline" and kept["queue"]["pending"] == 7
    assert backlog.carry(online, status("offline"))["queue"]["pending"] == 7   # none at all
    newer = status("offline", 9, NOW)                 # a clean stop says the latest
    assert backlog.carry(online, newer)["queue"]["pending"] == 9
    assert backlog.carry(None, will) is will


def test_hostile_figures_are_ignored_not_trusted():
    for queue in ({"pending": "7", "as_of": NOW}, {"pending": True, "as_of": NOW},
                  {"pending": 1e300, "as_of": NOW}, {"pending": 3}, [], None,
                  {"pending": 3, "as_of": float("nan")}):
        assert backlog.figures(queue, None) is None, queue
    assert backlog.figures({"pending": -4, "inflight": 2, "as_of": NOW}, None)["waiting"] == 2
    garbage = {"state": "offline", "queue": {"pending": "lots"}}
    assert backlog.carry(status("online", 7, NOW), garbage)["queue"]["pending"] == 7


def offline_facts(status_queue, health_pending=0):
    last = NOW - 300
    return hm.StationFacts(
        station_id="S-0002", status_state="offline", status_since=NOW - 3600,
        status_received_at=last, status_queue=status_queue, health_received_at=last - 30,
        health={"time": last - 30, "queue": {"pending": health_pending, "inflight": 0,
                                              "oldest_pending": None}})


def test_offline_station_shows_its_last_reported_backlog_as_a_lower_bound_with_the_alert():
    v = hm.evaluate(offline_facts({"pending": 5, "inflight": 0, "oldest_pending": NOW - 400,
                                   "as_of": NOW - 310}), NOW, TH)
    assert (v.state, v.backlog, v.backlog_as_of, v.backlog_at_least) == \
        ("offline", 5, NOW - 310, True)
    assert round(v.state_for_s) == 310 and v.oldest_unsynced_s == 400   # its status: alive then
    (p,) = v.problems
    assert (p.rule, p.severity, p.alert, p.values["backlog"], p.values["as_of"]) == \
        ("offline_backlog", hm.CRITICAL, True, 5, NOW - 310)
    assert "with 5 records waiting (or more" in p.text()
    assert v.to_dict()["backlog_at_least"] is True


def test_the_newer_report_wins_between_health_and_status():
    older_status = {"pending": 5, "inflight": 0, "as_of": NOW - 4000}
    v = hm.evaluate(offline_facts(older_status, health_pending=2), NOW, TH)
    assert v.backlog == 2 and v.backlog_as_of == NOW - 330
    v = hm.evaluate(offline_facts(None, health_pending=0), NOW, TH)   # nothing waiting
    assert (v.backlog, v.backlog_at_least, hm.LEVEL_RANK[v.level] < 3) == (0, False, True)
    assert [p.rule for p in v.problems] == ["offline"]


def test_an_online_station_draining_shows_the_latest_count_not_a_lower_bound():
    f = offline_facts({"pending": 40, "inflight": 10, "as_of": NOW - 2}, health_pending=300)
    f.status_state, f.health_received_at = "online", NOW - 10
    v = hm.evaluate(f, NOW, TH)
    assert (v.state, v.backlog, v.inflight, v.backlog_at_least) == ("online", 50, 10, False)


def test_a_draining_station_reports_its_rate_and_eta_and_the_hub_shows_them_only_online():
    est = {"waiting": 300, "rate": 41.5, "eta_s": 7}
    f = figures({"pending": 250, "inflight": 50, "oldest_pending": None}, NOW, est)
    assert (f["rate"], f["eta_s"]) == (41.5, 7)
    assert "rate" not in figures({"pending": 3}, NOW, {"waiting": 3, "rate": 0.0, "eta_s": None})
    facts = offline_facts(f, health_pending=300)
    facts.status_state, facts.health_received_at = "online", NOW - 10
    v = hm.evaluate(facts, NOW, TH)
    assert (v.backlog, v.drain_rate, v.drain_eta_s) == (300, 41.5, 7)
    facts.status_state = "offline"                      # an offline station drains nothing
    v = hm.evaluate(facts, NOW, TH)
    assert (v.backlog_at_least, v.drain_rate, v.drain_eta_s) == (True, None, None)
    assert hm.fleet_summary([v], NOW)["backlog_at_least"] is True
    bad = dict(f, rate=-1.0)
    assert backlog.figures(bad, None)["eta_s"] is None


def test_the_hub_intake_keeps_the_newer_figures_across_a_will_in_sqlite(tmp_path):
    import collections
    import json
    import logging

    from server_hub.ingest import stationmsg
    from server_hub.store.db import open_store

    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}", migrate=True)
    stats = collections.Counter()
    log = logging.getLogger("test")
    try:
        def stored():
            with store.read() as conn:
                return json.loads(conn.exec_driver_sql(
                    "SELECT payload FROM station_status WHERE station_id = 'S-1'").scalar())

        def send(doc):
            stationmsg.save(store, stats, "S-1", "status", json.dumps(doc).encode(), log)

        send(status("online", 7, NOW - 20))
        send(status("offline", 0, NOW - 3600))            # the Will: figures of its connect
        doc = stored()
        assert (doc["state"], doc["queue"]["pending"]) == ("offline", 7)
        send(status("online", 0, NOW))                    # back, drained
        assert stored()["queue"]["pending"] == 0
        stationmsg.save(store, stats, "S-1", "status", b"{\"state\": [1", log)   # refused
        assert stats["status"] == 3 and stored()["state"] == "online"
    finally:
        store.close()


def test_the_alert_fires_on_expected_taps_when_the_last_report_said_none_and_says_so():
    f = offline_facts(None, health_pending=0)
    assert [p.rule for p in hm.evaluate(f, NOW, TH).problems] == ["offline"]
    f.expected_new = 0.4                                   # less than one tap: still nothing
    assert [p.rule for p in hm.evaluate(f, NOW, TH).problems] == ["offline"]
    f.expected_new = 6.6
    v = hm.evaluate(f, NOW, TH)
    (p,) = v.problems
    assert (p.rule, p.severity, p.values["backlog"], p.values["expected"],
            p.values["estimated"]) == ("offline_backlog", hm.CRITICAL, 0, 7, True)
    assert "about 7 taps expected waiting (none reported" in p.text()
    # a reported backlog stays the figure the alert speaks of (a lower bound, not an estimate)
    f = offline_facts({"pending": 5, "inflight": 0, "as_of": NOW - 310})
    f.expected_new = 6.6
    (p,) = hm.evaluate(f, NOW, TH).problems
    assert (p.values["backlog"], p.values["estimated"]) == (5, False)
    assert "with 5 records waiting" in p.text()
