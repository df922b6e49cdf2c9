"""Issue #21: the fleet's trend history (core/trend.py, dashboard/trends.py, migration 11):
folded by the monitor into two bounded resolutions, read back over 1 h … 7 d after a hub
restart, with records/s and lag percentiles; per-station sparklines and the offline growth
estimate on the stations page (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from dashkit import Hub, make_config, seed_fleet, write_history
from server_hub.core import trend
from server_hub.dashboard import fleet, trends
from server_hub.dashboard import lag as lagmod
from server_hub.dashboard.monitor import Monitor
from server_hub.store.history_tables import fleet_history


def obs(waiting, offline=0, accepted=0, lags=(), at_least=False):
    hist = lagmod.empty()
    for x in lags:
        lagmod.add(hist, x)
    return trend.observation({"stations": 3, "states": {"offline": offline, "silent": 0},
                              "backlog": waiting, "backlog_at_least": at_least}, accepted, hist)


def test_fold_keeps_the_worst_and_adds_the_lag():
    a = trend.fold(None, obs(5, 1, 100, [3]))
    b = trend.fold(a, obs(2, 0, 130, [40, 40], at_least=True))
    assert (b["waiting"], b["offline"], b["accepted"], b["waiting_at_least"]) == (5, 1, 130, True)
    assert sum(b["lag_hist"]) == 3


def test_tiers_and_rates():
    assert trend.pick_tier(3600) == 60 and trend.pick_tier(86400) == 60
    assert trend.pick_tier(7 * 86400) == 900
    rows = [{"at": 0, "accepted": 10}, {"at": 60, "accepted": 70}, {"at": 120, "accepted": 5},
            {"at": 180, "accepted": 5}]
    assert trend.rates(rows) == [None, 1.0, None, 0.0]     # a total that fell: no rate


def test_spark_buckets_carry_the_last_change():
    pts = [(5, 1), (15, 7), (16, 3), (45, 0)]
    assert trend.spark(pts, 10, 50, 4) == [7, 3, 3, 0]
    assert trend.spark([], 0, 10, 2) == [None, None]
    assert trend.spark([(-5, 4)], 0, 10, 2) == [4, 4]
    assert trend.spark([(2, 1), (10, 6)], 0, 10, 2) == [1, 6]   # a point at `end` is the last


def test_history_survives_a_restart_bounded_and_downsampled(db_url, tmp_path):
    cfg = make_config(dashboard__sample_every_s=60)
    hub = Hub(db_url, cfg)
    now = time.time()
    seed_fleet(hub, now)
    t0 = trend.bucket_start(now - 30 * 3600, 900)
    # 30 h of observations every 10 min straight into the store (what the monitor folds)
    trends.record(hub.store, [(t0 + k * 600, obs(k % 50, k % 3, 10 * k, [5] * (k % 4)))
                              for k in range(30 * 6)])
    with hub.store.read() as conn:
        n = dict(conn.execute(sa.select(fleet_history.c.res_s, sa.func.count())
                              .group_by(fleet_history.c.res_s)).fetchall())
    assert n[60] <= 26 * 6 + 1          # the 1 min tier keeps 26 h, not 30
    assert n[900] == 30 * 4              # 15 min buckets over 30 h
    hub.close()
    hub = Hub(db_url, cfg)               # a restarted hub reads the same history
    day = trends.fleet_series(hub.store, "24h", t0 + 30 * 3600)
    assert day["res_s"] == 60 and len(day["at"]) == 24 * 6
    assert day["accepted_per_s"][-1] == pytest.approx(10 / 600)
    assert max(day["waiting"]) == 49
    assert all(v is None or v <= 10 for v in day["lag_p99"]) and any(day["lag_p50"])
    week = trends.fleet_series(hub.store, "7d", t0 + 30 * 3600)
    assert week["res_s"] == 900 and len(week["at"]) == 30 * 4
    assert week["waiting"][0] == 1   # a bucket keeps its worst
    hub.close()


def test_monitor_folds_the_fleet_and_the_page_has_sparklines_and_growth(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config(dashboard__sample_every_s=60))
    # 55 minutes into an hour (an hour ago): S-GRO05's 30 offline minutes and its taps of the
    # weeks before (15 minutes before it) fall in one hour of the week, whatever the minute
    # the test runs at (a CI run at 23:1xZ found 2.5 shown, 2.53 counted: 8 where 7 was worked out)
    now = (int(time.time()) // 3600 - 1) * 3600 + 55 * 60
    roles = seed_fleet(hub, now)
    off = roles["offline"]
    write_history(hub, off, [(now - 5 * 3600 + k * 900, "online", 20 * k, [5, 40])
                             for k in range(20)])
    # a station that had 10 taps in this hour of the week for three weeks, then went away
    # 30 min ago with 5 waiting
    sim = hub.add_station("S-GRO05")[0]
    for week in (1, 2, 3):
        at = int(now - week * 7 * 86400 - 15 * 60)
        hub.ingest("S-GRO05", [sim.tap(bytes([4, week, i, 9]), at=at + i) for i in range(10)],
                   now=at + 20)
    hub.online("S-GRO05", now - 7200, since=now - 7200)
    hub.health("S-GRO05", now - 30 * 60, pending=5, last_ack=now - 31 * 60)
    hub.offline("S-GRO05", since=now - 7200, now=now - 29 * 60)
    mon = Monitor(hub.store, hub.config, now=now - 120)
    mon.tick(now)
    got = trends.fleet_series(hub.store, "1h", now + 1)
    assert got["waiting"][-1] >= 342 + 5 and got["offline"][-1] == 2
    assert got["waiting_at_least"][-1] is True
    snap = mon.fleet.snapshot(max_age_s=0, now=now)
    page = fleet.page(hub.store, snap, now=now, tz=hub.config.tz)
    rows = {d["station_id"]: d for d in page["items"]}
    assert len(rows[off]["spark"]["waiting"]) == trends.SPARK_POINTS
    assert max(x for x in rows[off]["spark"]["waiting"] if x is not None) == 380   # history
    assert rows[off]["spark"]["waiting"][-1] == 342           # ... and the monitor's sample now
    assert rows[off]["backlog_growth"] == {"reported": 342, "expected_new": 0.0,
                                          "estimate": 342}   # never tapped: no growth guessed
    g = rows["S-GRO05"]["backlog_growth"]
    assert g["reported"] == 5 and 4.5 <= g["expected_new"] <= 5.5, g   # 10 an hour, 30 min: 5
    assert g["estimate"] == 10, g
    assert "backlog_growth" not in rows[roles["online"]]
    hub.close()


def test_tap_profiles_are_read_once_an_hour_per_station(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config())
    try:
        now = time.time()
        sim = hub.add_station("S-CACHE")[0]
        at = int(now - 7 * 86400)
        hub.ingest("S-CACHE", [sim.tap(bytes([4, 1, 1, i]), at=at + i) for i in range(7)],
                   now=at + 30)
        with hub.store.read() as conn:
            first = trends.tap_rates(conn, ["S-CACHE"], now, hub.config.tz)["S-CACHE"]
        hub.ingest("S-CACHE", [sim.tap(bytes([4, 1, 2, i]), at=at + 60 + i) for i in range(5)],
                   now=at + 90)
        with hub.store.read() as conn:
            again = trends.tap_rates(conn, ["S-CACHE"], now + 60, hub.config.tz)["S-CACHE"]
            later = trends.tap_rates(conn, ["S-CACHE"], now + trends.RATES_TTL_S + 1,
                                     hub.config.tz)["S-CACHE"]
    finally:
        hub.close()
    assert sum(first) == 7 and again == first        # within the hour: the same profile
    # after it: read afresh — 12 taps, and that hour of the week has now come round twice
    assert sum(later) == 6


def test_an_offline_station_that_reported_nothing_waiting_alerts_on_its_expected_taps(tmp_path):
    """The offline-with-backlog alert fires on the forecast alone: S-GROW0 said 0 waiting when
    it went away 45 min ago, but it has 20 taps in this hour of the week, three weeks running;
    S-QUIET0, as long offline, never tapped at these hours and only gets the plain warning."""
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config(alerts__offline_min=15))
    try:
        # 55 minutes into an hour (an hour ago): the 45 offline minutes and the taps of the
        # weeks before (20 minutes before it) all fall in that one hour of the week, whatever
        # the wall clock's minute when the test runs
        now = (int(time.time()) // 3600 - 1) * 3600 + 55 * 60
        for sid, taps in (("S-GROW0", 20), ("S-QUIET0", 0)):
            sim = hub.add_station(sid)[0]
            for week in (1, 2, 3):
                at = int(now - week * 7 * 86400 - 20 * 60)
                if taps:
                    hub.ingest(sid, [sim.tap(bytes([4, week, i, 7]), at=at + i)
                                     for i in range(taps)], now=at + 30)
            hub.online(sid, now - 7200, since=now - 7200)
            hub.health(sid, now - 45 * 60, pending=0, last_ack=now - 46 * 60)
            hub.offline(sid, since=now - 7200, now=now - 44 * 60)
        snap = fleet.compute(hub.store, hub.config, now=now)
    finally:
        hub.close()
    grow, quiet = snap.by_id["S-GROW0"], snap.by_id["S-QUIET0"]
    assert grow.backlog == 0 and grow.level == "critical"
    (p,) = [p for p in grow.problems if p.rule == "offline_backlog"]
    assert p.alert and p.values["estimated"] is True and p.values["backlog"] == 0
    assert 13 <= p.values["expected"] <= 17, p.values        # 20 an hour, for 45 min: 15
    assert f"about {p.values['expected']} taps expected" in p.text()
    assert [p.rule for p in quiet.problems] == ["offline"] and quiet.level == "warning"
