"""Pure rules: a station's connection state, problems and attention; lag histograms; alert
firing, resolving and de-duplication."""

from __future__ import annotations

import random

from server_hub.core import alerts
from server_hub.core import health_model as hm
from server_hub.dashboard import lag

NOW = 1_790_000_000.0
TH = hm.Thresholds()


def facts(sid="S-1", **kw) -> hm.StationFacts:
    f = hm.StationFacts(station_id=sid, status_state="online", status_since=NOW - 3600,
                        status_received_at=NOW - 3600, health_received_at=NOW - 10,
                        health={"time": NOW - 10, "queue": {"pending": 0, "inflight": 0},
                                "readers": [{"rid": "aa" * 8, "label": "R-1", "online": True,
                                             "jfill": 3, "clock_offset_s": 0.3}]})
    for k, v in kw.items():
        setattr(f, k, v)
    return f


def rules(view) -> list[str]:
    return [p.rule for p in view.problems]


def offline_facts(minutes_ago: float, pending: int) -> hm.StationFacts:
    last_health = NOW - minutes_ago * 60
    return facts(status_state="offline", status_since=NOW - 5 * 3600,  # Last Will: connect time
                 status_received_at=last_health + 45, health_received_at=last_health,
                 health={"time": last_health, "queue": {"pending": pending, "inflight": 0,
                                                        "oldest_pending": NOW - 3600},
                         "readers": [{"rid": "bb" * 8, "label": "R-9", "online": True}]})


def test_online_station_with_nothing_wrong_is_ok():
    v = hm.evaluate(facts(), NOW, TH)
    assert (v.state, v.level, v.problems, v.backlog) == ("online", "ok", [], 0)


def test_offline_since_is_the_last_sign_of_life_not_the_will_connect_time():
    v = hm.evaluate(offline_facts(40, 342), NOW, TH)
    assert v.state == "offline"
    assert v.state_since == NOW - 40 * 60 and round(v.state_for_s) == 2400
    assert rules(v) == ["offline_backlog"] and v.level == hm.CRITICAL
    assert v.readers_online is None and v.readers_reported == 1  # last known, not live
    assert "offline for 40 min with 342 records waiting" in v.problems[0].text()


def test_offline_with_backlog_fires_only_after_the_threshold():
    assert rules(hm.evaluate(offline_facts(10, 342), NOW, TH)) == ["offline"]
    assert hm.evaluate(offline_facts(10, 342), NOW, TH).level == hm.INFO
    quiet = hm.evaluate(offline_facts(40, 0), NOW, TH)
    assert rules(quiet) == ["offline"] and quiet.level == hm.WARNING


def test_a_clean_stop_dates_offline_from_its_own_since():
    f = offline_facts(40, 0)
    f.status_since = NOW - 20 * 60  # agent stopped cleanly after its last health
    assert hm.evaluate(f, NOW, TH).state_since == NOW - 20 * 60


def test_online_without_health_turns_silent_and_never_seen_is_unknown():
    v = hm.evaluate(facts(health_received_at=NOW - 600), NOW, TH)
    assert v.state == "silent" and rules(v) == ["silent"]
    v = hm.evaluate(hm.StationFacts("S-9"), NOW, TH)
    assert v.state == "unknown" and rules(v) == ["never_seen"] and v.level == hm.INFO


def test_old_unsynced_records_are_critical():
    f = facts()
    f.health["queue"] = {"pending": 5, "inflight": 2, "oldest_pending": NOW - 5 * 3600}
    v = hm.evaluate(f, NOW, TH)
    assert v.backlog == 7 and round(v.oldest_unsynced_s) == 5 * 3600
    assert rules(v) == ["unsynced_old"] and v.level == hm.CRITICAL


def test_reader_journal_clock_and_link():
    f = facts()
    f.health["readers"] = [
        {"rid": "01" * 8, "label": "R-1", "online": True, "jfill": 85, "clock_offset_s": 0.1},
        {"rid": "02" * 8, "label": "R-2", "online": True, "jfill": 97, "clock_offset_s": -900},
        {"rid": "03" * 8, "label": "R-3", "online": False, "jfill": 2}]
    v = hm.evaluate(f, NOW, TH)
    got = {(p.rule, p.subject, p.severity) for p in v.problems}
    assert got == {("journal_full", "R-1", "warning"), ("journal_full", "R-2", "critical"),
                   ("clock_skew", "R-2", "warning"), ("reader_offline", "R-3", "warning")}
    assert v.max_journal_pct == 97 and v.max_clock_offset_s == -900
    assert (v.readers_online, v.readers_reported) == (2, 3)


def test_pi_clock_off_the_hub():
    f = facts()
    f.health["time"] = f.health_received_at + 700
    v = hm.evaluate(f, NOW, TH)
    assert [(p.rule, p.subject) for p in v.problems] == [("clock_skew", "pi")]


def test_rejection_spike_holds_and_equivocation():
    v = hm.evaluate(facts(rejected_recent={"bad_signature": 19}), NOW, TH)
    assert rules(v) == []
    v = hm.evaluate(facts(rejected_recent={"bad_signature": 15, "unknown_reader": 6},
                          holds=3, alarms={"equivocation": 1}), NOW, TH)
    assert rules(v) == ["rejection_spike", "integrity_hold", "equivocation"]
    assert v.problems[0].values["reason"] == "bad_signature"
    off = hm.Thresholds(integrity_holds=False, equivocation=False)
    assert rules(hm.evaluate(facts(holds=3, alarms={"equivocation": 1}), NOW, off)) == []


def test_attention_order_critical_then_warning_then_backlog():
    views = [hm.evaluate(facts("S-A"), NOW, TH),
             hm.evaluate(facts("S-B", holds=1), NOW, TH),
             hm.evaluate(offline_facts(40, 5), NOW, TH),
             hm.evaluate(hm.StationFacts("S-D"), NOW, TH)]
    views[2].station_id = "S-C"
    order = [v.station_id for v in sorted(views, key=hm.StationView.sort_key)]
    assert order == ["S-C", "S-B", "S-D", "S-A"]


def test_garbage_health_does_not_raise():
    for health in ({"queue": "x", "readers": "y"}, {"readers": [1, None, {"jfill": "full"}]},
                   {"queue": {"pending": True}}, {}):
        v = hm.evaluate(facts(health=health), NOW, TH)
        assert v.state == "online"


def test_lag_percentiles_are_within_their_bucket():
    rng = random.Random(7)
    values = sorted(rng.expovariate(1 / 40) for _ in range(5000))
    hist = lag.empty()
    for x in values:
        lag.add(hist, x)
    for q in (0.5, 0.9, 0.99):
        exact = values[int(q * len(values)) - 1]
        b = lag.bucket(exact)
        lo = 0 if b == 0 else lag.BOUNDS[b - 1]
        hi = lag.BOUNDS[b] if b < len(lag.BOUNDS) else float("inf")
        assert lo <= lag.percentile(hist, q) <= hi
    assert lag.decode(lag.encode(hist)) == hist and lag.percentile(lag.empty(), 0.5) is None
    assert lag.cumulative(hist)[-1] == ("+Inf", 5000)


def _views(**station_facts):
    return [hm.evaluate(f, NOW, TH) for f in station_facts.values()]


def test_alerts_fire_once_resolve_once_and_retry_failed_delivery():
    bad = {"a": offline_facts(40, 10), "b": facts("S-2", holds=2)}
    states, changed = alerts.step({}, alerts.active(_views(**bad)), NOW)
    assert {s.key for s in changed} == {"offline_backlog/S-1/", "integrity_hold/S-2/"}
    assert {s.key for s in alerts.due(states, NOW)} == {s.key for s in changed}
    # delivery failed: nothing marked, so both are still due next round
    states, changed = alerts.step(states, alerts.active(_views(**bad)), NOW + 30)
    assert changed == [] and len(alerts.due(states, NOW + 30)) == 2
    alerts.delivered(states, alerts.due(states, NOW + 30), NOW + 30)
    assert alerts.due(states, NOW + 60) == []
    # S-2's hold is reviewed: one resolution, then quiet
    states, changed = alerts.step(states, alerts.active(_views(a=bad["a"])), NOW + 90)
    assert [(s.key, s.state) for s in changed] == [("integrity_hold/S-2/", "resolved")]
    due = alerts.due(states, NOW + 90)
    assert [(s.key, s.state) for s in due] == [("integrity_hold/S-2/", "resolved")]
    alerts.delivered(states, due, NOW + 90)
    assert alerts.due(states, NOW + 120) == []
    # it comes back: fires again
    states, changed = alerts.step(states, alerts.active(_views(**bad)), NOW + 150)
    assert [(s.key, s.state) for s in changed] == [("integrity_hold/S-2/", "firing")]
    body = alerts.payload(alerts.due(states, NOW + 150), NOW + 150)
    assert body["alerts"][0]["status"] == "firing" and body["alerts"][0]["station_id"] == "S-2"


def test_a_flap_nobody_was_told_about_is_not_sent_and_repeat_is_optional():
    bad = {"a": offline_facts(40, 10)}
    states, _ = alerts.step({}, alerts.active(_views(**bad)), NOW)
    states, _ = alerts.step(states, {}, NOW + 30)
    assert alerts.due(states, NOW + 30) == []
    states, _ = alerts.step(states, alerts.active(_views(**bad)), NOW + 60)
    alerts.delivered(states, alerts.due(states, NOW + 60), NOW + 60)
    assert alerts.due(states, NOW + 3000, repeat_s=3600) == []
    assert len(alerts.due(states, NOW + 3700, repeat_s=3600)) == 1
